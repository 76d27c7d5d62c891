"""The Keras internals eqn_keras.compat relies on, one test each: a Keras release that changes one fails here."""

import inspect
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from eqn_keras import compat
from eqn_keras.callbacks import backup_epoch
from eqn_keras.heads import EnergyBCE, EnergySigmoid


def _tiny_model(dropout=0.0):
    inputs = keras.Input((4,))
    x = keras.layers.Dropout(dropout, seed=7)(inputs) if dropout else inputs
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_backup_and_restore_writes_the_files_compat_names(tmp_path):
    keras.utils.set_random_seed(0)
    model = _tiny_model()
    model.compile("sgd", "mse")
    backup = tmp_path / "backup"
    callback = keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True, delete_checkpoint=False)
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=3, verbose=0, callbacks=[callback])
    for name in (compat.BACKUP_METADATA, compat.BACKUP_WEIGHTS):
        assert (backup / name).is_file() and (backup / f"{name}.bkp").is_file()
    # the record counts finished epochs (the epoch a rerun starts at); the .bkp pair is one epoch behind
    assert json.loads((backup / compat.BACKUP_METADATA).read_text())["epoch"] == 3
    assert json.loads((backup / f"{compat.BACKUP_METADATA}.bkp").read_text())["epoch"] == 2
    assert backup_epoch(backup) == 3


def test_seed_generator_state_is_seed_and_counter():
    """Dropout masks follow the [seed, counter] state: the same counter, the same mask; another, another."""
    model = _tiny_model(dropout=0.5)
    (state,) = compat.seed_states(model)
    assert tuple(state.shape) == (2,)
    x = np.ones((64, 4), dtype="float32")

    def masks(counter):
        compat.set_seed_counter(state, counter)
        return model.layers[1](x, training=True).numpy()

    seed = state.numpy()[0]
    first = masks(5 << 20)
    np.testing.assert_array_equal(first, masks(5 << 20))
    assert not np.array_equal(first, masks(6 << 20))
    assert state.numpy()[0] == seed


def test_keras_sigmoid_leaves_its_logits_where_compat_reads_them():
    @tf.function
    def read(x):
        return compat.logits_of(keras.activations.sigmoid(x)) is x

    assert read(tf.zeros((1, 2)))


def test_energy_bce_reaches_the_logits_through_a_compiled_model():
    """A saturated logit (30) against target 0: the loss is the exact ~30, not the clipped-probability ~16.1
    it falls back to if Keras stops carrying the logits attribute from the layer to the loss."""
    inputs = keras.Input((1,))
    logits = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(30.0))(inputs)
    model = keras.Model(inputs, EnergySigmoid()(logits))
    model.compile("sgd", EnergyBCE())
    loss = model.evaluate(np.ones((2, 1)), np.zeros((2, 1)), verbose=0)
    assert loss == pytest.approx(30.0, abs=1e-3)


def test_trainer_internals_the_multiworker_patch_replaces():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    for method in (keras.Model._maybe_symbolic_build, keras.Model._symbolic_build):
        assert list(inspect.signature(method).parameters) == ["self", "iterator", "data_batch"]
    assert list(inspect.signature(tf_trainer.reduce_per_replica).parameters) == ["values", "strategy", "reduction"]
    assert callable(tf_trainer._collective_all_reduce_multi_worker)
    compat.patch_scalar_mean_reduction()
    patched = tf_trainer.reduce_per_replica
    assert patched._eqn_patched
    compat.patch_scalar_mean_reduction()
    assert tf_trainer.reduce_per_replica is patched  # once only


def _tiny_eqn_model():
    from eqn_keras import EQNModel

    vectorizer = keras.layers.TextVectorization(max_tokens=8, output_sequence_length=4)
    vectorizer.adapt(["happy glad day", "sad mad day"])
    ids = keras.Input((None,), dtype="int32")
    backbone = keras.Model(ids, keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(8, 3)(ids)))
    features = keras.Input((3,))
    head = keras.Model(features, keras.layers.Dense(2, name="scores")(features), name="eqn_head")
    return EQNModel(backbone, head, vectorizer, label_names=["joy", "anger"], energy_range=(0, 10))


def test_keras_hub_preset_loading_the_compat_functions_use(tmp_path):
    """keras-hub's preset helpers keep their names and signatures, read a local folder's files (FileNotFoundError
    for a missing one, which from_preset turns into its own error) and load a Task with or without its weights."""
    from eqn_keras import EQNModel

    utils = compat._preset_utils()
    for function, params in ((utils.get_file, ["preset", "path"]), (utils.load_json, ["preset", "config_file"]),
                             (utils.get_preset_loader, ["preset"])):
        assert list(inspect.signature(function).parameters) == params
    assert list(inspect.signature(utils.PresetLoader.load_task).parameters) == \
        ["self", "cls", "load_weights", "load_task_weights", "kwargs"]
    model = _tiny_eqn_model()
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    assert compat.preset_file(preset, "task.json") == str(tmp_path / "preset" / "task.json")
    assert compat.preset_json(preset, "task.json")["registered_name"] == "eqn_keras>EQNModel"
    for read in (compat.preset_file, compat.preset_json):
        with pytest.raises(FileNotFoundError):
            read(preset, "missing.json")
    loaded = compat.load_preset_task(preset, EQNModel)
    assert type(loaded) is EQNModel and loaded.label_names == ["joy", "anger"]
    for mine, theirs in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    fresh = compat.load_preset_task(preset, EQNModel, load_weights=False)
    assert not np.array_equal(fresh.head.get_layer("scores").kernel.numpy(),
                              model.head.get_layer("scores").kernel.numpy())
