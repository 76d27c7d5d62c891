"""The JSON presets: model parameters (`models/<arch>.json`) and dataset cards (`datasets/<name>.json`).

They are package data, in `eqn_keras/presets/models/` and `eqn_keras/presets/datasets/` (the repository's
top-level `models/` and `datasets/` are links to these folders), read with `importlib.resources`: a source
checkout, an editable install, a wheel, `--user` and `--target` installs all read the same files.
"""

from __future__ import annotations

from importlib import resources

KINDS = ("models", "datasets")


def preset_dirs(kind: str) -> list:
    """Where `<kind>/*.json` is looked up: the package's `presets/<kind>/` folder."""
    if kind not in KINDS:
        raise ValueError(f"unknown preset kind '{kind}'; expected one of {', '.join(KINDS)}")
    return [resources.files(__name__) / kind]


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
