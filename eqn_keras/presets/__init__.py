"""The JSON presets: model parameters (`models/<arch>.json`) and dataset cards (`datasets/<name>.json`).

One source of truth: the top-level `models/` and `datasets/` folders of the repository, where people
read and edit them. A source checkout (and so an editable install) reads those folders directly; a
built wheel carries copies as package data in `eqn_keras/presets/<kind>/` (setup.py's build_py copies
them at build time), read here with `importlib.resources`, so `pip install .`, a wheel, `--user` and
`--target` installs work from any directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

KINDS = ("models", "datasets")

# The repository root when this package is imported from a source checkout; setup.cfg tells it apart
# from site-packages, whose `datasets/` is the PyPI `datasets` package.
_ROOT = Path(__file__).resolve().parent.parent.parent


def _checkout_dir(kind: str) -> Path | None:
    folder = _ROOT / kind
    return folder if (_ROOT / "setup.cfg").is_file() and folder.is_dir() else None


def preset_dirs(kind: str) -> list:
    """Where `<kind>/*.json` is looked up, in order: the source checkout, then the package data."""
    if kind not in KINDS:
        raise ValueError(f"unknown preset kind '{kind}'; expected one of {', '.join(KINDS)}")
    dirs = [resources.files(__name__) / kind]
    checkout = _checkout_dir(kind)
    return [checkout, *dirs] if checkout is not None else dirs


def find_data_file(kind: str, name: str):
    """The preset file `<kind>/<name>.json` (a Path, or an importlib.resources Traversable from a zip).

    Raises FileNotFoundError naming the places searched.
    """
    for directory in preset_dirs(kind):
        path = directory / f"{name}.json"
        if path.is_file():
            return path
    looked = ", ".join(str(d) for d in preset_dirs(kind))
    raise FileNotFoundError(f"no {kind}/{name}.json in {looked}")
