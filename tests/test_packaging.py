"""The package as installed: lazy top-level imports (no TensorFlow for metrics / labels)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_metrics_and_labels_do_not_import_tensorflow():
    code = ("import eqn_keras.metrics, eqn_keras.labels, sys; "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')); "
            "assert not heavy, heavy")
    _run([sys.executable, "-c", code], cwd=ROOT)


def test_lazy_public_names():
    import eqn_keras

    assert set(eqn_keras.__all__) <= set(dir(eqn_keras))
    from eqn_keras import datasets, fileio, training

    assert eqn_keras.load_dataset is datasets.load_dataset and eqn_keras.InputError is fileio.InputError
    assert eqn_keras.TrainConfig is training.TrainConfig
    for name in eqn_keras.__all__:
        assert getattr(eqn_keras, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        eqn_keras.nope  # noqa: B018
