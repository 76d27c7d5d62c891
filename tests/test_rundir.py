"""Inference on a run's core model: `predict_scores` against the model's own forward pass."""

import keras
import numpy as np
import pytest

from eqn_keras import rundir


def _core():
    keras.utils.set_random_seed(0)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(50, 8, mask_zero=True)(ids)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(ids, keras.layers.Dense(3)(x))


def test_predict_scores_keeps_order_and_follows_the_models_xla_setting(no_op_determinism):
    core = _core()
    ids = np.random.default_rng(0).integers(1, 50, size=(37, 12)).astype("int32")
    ids[::3, 4:] = 0  # short texts, so length-sorted batches reorder them
    ids[::5, 9:] = 0
    expected = np.asarray(core(ids, training=False))  # one batch at full width: padding is masked
    np.testing.assert_allclose(rundir.predict_scores(core, ids, batch_size=8), expected, atol=1e-5)
    assert not rundir._scorer(core)._jit_compile
    core.compile(loss="mse", jit_compile=True)  # what `predict_on_batch` would then run under XLA
    assert rundir._scorer(core)._jit_compile
    np.testing.assert_allclose(rundir.predict_scores(core, ids, batch_size=8), expected, atol=1e-5)
