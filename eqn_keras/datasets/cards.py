"""Dataset cards: `datasets/<name>.json`, what the loader knows about each of the paper's datasets."""

from __future__ import annotations

import json

from ..fileio import InputError, read_text
from ..presets import find_data_file, preset_dirs

DATASET_NAMES = ("goemotions", "3tfn", "6emotions", "3tsa", "7health")
_CARD_KEYS = ("name", "label_names", "multi_label", "files", "split_rule")
_FILE_KEYS = ("file", "url", "sha256")


def card_dirs() -> list:
    """Folders searched for `<name>.json`: the source checkout's `datasets/`, then the package data."""
    return preset_dirs("datasets")


def card_path(name: str):
    """Path of the card of dataset `name`; InputError if it is not a known dataset."""
    name = str(name).lower()
    if name not in DATASET_NAMES:
        raise InputError(f"unknown dataset '{name}'; expected one of {', '.join(DATASET_NAMES)}")
    try:
        return find_data_file("datasets", name)
    except FileNotFoundError:
        searched = ", ".join(str(d) for d in card_dirs())
        raise InputError(f"{name}.json: dataset card not found; searched {searched}") from None


def load_card(name: str) -> dict:
    """The dataset card of `name` as a dict (checked for the fields the loader needs)."""
    path = card_path(name)
    try:
        card = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: invalid JSON ({err.msg}); expected a dataset card") from None
    if not isinstance(card, dict):
        raise InputError(f"{path}: expected a JSON object (dataset card)")
    for key in _CARD_KEYS:
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
