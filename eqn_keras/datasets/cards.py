"""Dataset cards: `datasets/<name>.json`, what the loader knows about each of the paper's datasets and about
the human-rated intensity sets that `eqn_keras.intensity` scores runs against."""

from __future__ import annotations

import json

from ..fileio import InputError, read_text
from ..presets import find_data_file, preset_dirs

DATASET_NAMES = ("goemotions", "3tfn", "6emotions", "3tsa", "7health")
GOLD_NAMES = ("brighter-eng", "emoint")
_CARD_KEYS = ("name", "label_names", "multi_label", "files", "split_rule")
_GOLD_CARD_KEYS = ("name", "emotions", "scale", "files")
_FILE_KEYS = ("file", "url", "sha256")


def card_dirs() -> list:
    """Folders searched for `<name>.json`: the package data's `presets/datasets/`."""
    return preset_dirs("datasets")


def card_path(name: str, known=DATASET_NAMES):
    """Path of the card of dataset `name`; InputError if it is not one of the `known` datasets."""
    name = str(name).lower()
    if name not in known:
        raise InputError(f"unknown dataset '{name}'; expected one of {', '.join(known)}")
    try:
        return find_data_file("datasets", name)
    except FileNotFoundError:
        searched = ", ".join(str(d) for d in card_dirs())
        raise InputError(f"{name}.json: dataset card not found; searched {searched}") from None


def load_card(name: str, known=DATASET_NAMES, keys=_CARD_KEYS) -> dict:
    """The dataset card of `name` as a dict (checked for the fields the loader needs)."""
    path = card_path(name, known)
    try:
        card = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: invalid JSON ({err.msg}); expected a dataset card") from None
    if not isinstance(card, dict):
        raise InputError(f"{path}: expected a JSON object (dataset card)")
    for key in keys:
        if key not in card:
            raise InputError(f"{path}: dataset card has no '{key}' field")
    if not isinstance(card["files"], dict) or not card["files"]:
        raise InputError(f"{path}: 'files' must be a non-empty object of role -> file entry")
    for role, spec in card["files"].items():
        for key in _FILE_KEYS:
            if not isinstance(spec, dict) or key not in spec:
                raise InputError(f"{path}: files.{role} has no '{key}' field")
    card["_path"] = str(path)
    return card


def load_gold_card(name: str) -> dict:
    """The card of a human-rated intensity set (`GOLD_NAMES`): its emotions, rating scale and files."""
    return load_card(name, GOLD_NAMES, _GOLD_CARD_KEYS)
