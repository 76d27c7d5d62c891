"""The package as installed: lazy top-level imports (no TensorFlow for metrics / labels) and a built
wheel that carries the presets as package data and reads them from any directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

# What a build needs from the source tree (the sdist's contents, without tests).
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "eqn_keras")
PRESETS = ROOT / "eqn_keras" / "presets"


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


def test_top_level_preset_folders_are_the_package_data():
    """models/ and datasets/ at the top of the repository are links to the package's preset folders, not copies."""
    for kind in ("models", "datasets"):
        assert (ROOT / kind).is_symlink(), f"{kind}/ should link to eqn_keras/presets/{kind}"
        assert (ROOT / kind).resolve() == (PRESETS / kind).resolve()


def test_wheel_carries_the_presets(tmp_path):
    """Build a wheel (no network: --no-build-isolation), install it with --target and read every
    preset from another directory; the wheel's files are byte-identical to the package folders."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
          str(src)])
    wheel, = (tmp_path / "dist").glob("eqn_keras-*.whl")
    import eqn_keras

    assert wheel.name.startswith(f"eqn_keras-{eqn_keras.__version__}-"), (wheel.name, eqn_keras.__version__)
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
        for kind in ("models", "datasets"):
            files = sorted((PRESETS / kind).glob("*.json"))
            assert files
            for path in files:
                assert zf.read(f"eqn_keras/presets/{kind}/{path.name}") == path.read_bytes(), path
    assert not any(m.startswith(("share/", "models/", "datasets/")) or ".data/" in m for m in members)

    target = tmp_path / "target"
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)])
    code = ("import eqn_keras, sys; from eqn_keras.presets import find_data_file; "
            "from eqn_keras.datasets import load_card; from eqn_keras.datasets.readers import READERS; "
            "print(eqn_keras.__file__); print(find_data_file('models', 'ann')); print(load_card('3tfn')['_path']); "
            "assert 'tensorflow' not in sys.modules")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    lines = _run([sys.executable, "-c", code], cwd=elsewhere, env=env).splitlines()
    assert lines == [str(target / "eqn_keras" / "__init__.py"), str(target / "eqn_keras" / "presets" / "models" / "ann.json"),
                     str(target / "eqn_keras" / "presets" / "datasets" / "3tfn.json")]


def test_changelog_names_the_version():
    """CHANGELOG.md (Keep a Changelog) has an entry for the package's version, the newest release in it."""
    import re
    from datetime import date

    import eqn_keras

    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", text, flags=re.M)
    assert releases and releases[0][0] == eqn_keras.__version__, (releases[:1], eqn_keras.__version__)
    dates = [date.fromisoformat(d) for _, d in releases]
    assert dates == sorted(dates, reverse=True), "releases are listed newest first"
