"""Coarser groupings of a label set for evaluation: GoEmotions' Ekman and sentiment groupings.

The GoEmotions paper (Demszky et al. 2020) also evaluates its 27 emotions grouped into Ekman's six basic
emotions and into positive / negative / ambiguous sentiment; in both, neutral stays neutral. A grouping
is a JSON object {"group": ["label", ...], ...} (upstream `ekman_mapping.json`, `sentiment_mapping.json`).

Pure NumPy (no TensorFlow); `load_grouping` finds the mapping files the way the dataset loader finds
dataset files (`eqn_keras.datasets.fetch_file`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .fileio import InputError, read_text
from .labels import annotated_mask
from .metrics import threshold_evaluation

GROUPINGS = ("ekman", "sentiment")
NEUTRAL = "neutral"

__all__ = ["GROUPINGS", "NEUTRAL", "read_grouping", "load_grouping", "group_members", "group_scores",
           "group_labels", "map_to_groups", "grouped_evaluation"]


def _checked(mapping, where: str) -> dict:
    if not isinstance(mapping, dict) or not mapping:
        raise InputError(f"{where}: expected a non-empty JSON object of group -> list of label names")
    for group, members in mapping.items():
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise InputError(f"{where}: group '{group}' must be a non-empty list of label names")
    return {str(g): list(m) for g, m in mapping.items()}


def read_grouping(path) -> dict:
    """A grouping file as {group: [label names]} (InputError naming the file when it is not one)."""
    path = Path(path)
    try:
        mapping = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: invalid JSON ({err.msg}); expected a label grouping") from None
    return _checked(mapping, str(path))


def load_grouping(name: str, data_dir=None, dataset: str = "goemotions") -> tuple:
    """(mapping, info) of a grouping named in the dataset card's "groupings" (ekman, sentiment).

    The file is looked up like the dataset's own files: `<data_dir or $EQN_DATA_DIR>/<dataset>/<file>`,
    then the download cache, then the card's URL (sha256-checked). info is fetch_file's
    {"path", "origin", "sha256"}.
    """
    from .datasets import fetch_file, load_card  # the dataset loader's lookup, not a copy of it

    card = load_card(dataset)
    groupings = card.get("groupings") or {}
    if name not in groupings:
        raise InputError(f"{card['_path']}: no grouping '{name}'; the card has {', '.join(groupings) or 'none'}")
    path, info = fetch_file({**card, "files": groupings}, name, data_dir)
    return read_grouping(path), info


def group_members(label_names, mapping: dict, neutral: str = NEUTRAL) -> tuple:
    """(group names, Boolean member matrix [C, G]) of a grouping over `label_names`.

    Groups keep the mapping's order; `neutral`, when it is a label the mapping does not place, becomes a
    last group of its own. Every member must be a label, and every label other than `neutral` must be in
    a group (ValueError otherwise), so a mapping for another label set cannot pass silently.
    """
    names = [str(x) for x in label_names]
    index = {n: j for j, n in enumerate(names)}
    mapping = _checked(mapping, "grouping")
    groups = list(mapping)
    placed = {m for members in mapping.values() for m in members}
    if neutral in index and neutral not in placed:
        if neutral in mapping:
            raise ValueError(f"grouping has a group '{neutral}' without the label '{neutral}' in it")
        mapping[neutral] = [neutral]
        groups.append(neutral)
        placed.add(neutral)
    unknown = sorted(placed - set(index))
    if unknown:
        raise ValueError(f"grouping names labels that are not among the {len(names)} labels: {', '.join(unknown)}")
    missing = [n for n in names if n not in placed]
    if missing:
        raise ValueError(f"labels in no group of the grouping: {', '.join(missing)}")
    members = np.zeros((len(names), len(groups)), dtype=bool)
    for g, group in enumerate(groups):
        members[[index[m] for m in mapping[group]], g] = True
    return groups, members


def group_scores(scores, members: np.ndarray) -> np.ndarray:
    """Group scores [N, G]: a text's score for a group is the max of its member labels' scores.

    Max is the natural group score for energies: an EQN energy is one emotion's intensity on a common
    0..10 scale, and a text shows a group as strongly as its strongest member emotion. The max stays on
    that scale (a sum or mean would depend on how many members a group has, so one threshold would mean
    different things for joy's 12 members and disgust's 1), and it keeps thresholds consistent: the group
    passes a threshold exactly when some member does. For sigmoid probabilities the max is a lower bound
    of P(any member).
    """
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != members.shape[0]:
        raise ValueError(f"scores of shape {arr.shape} for a grouping of {members.shape[0]} labels")
    return np.stack([arr[:, members[:, g]].max(axis=1) for g in range(members.shape[1])], axis=1)


def group_labels(labels, members: np.ndarray) -> list:
    """Group label tuples: the union of the groups of a text's labels (sorted group ids)."""
    grouped = (annotated_mask(labels, members.shape[0]).astype(np.int64) @ members.astype(np.int64)) > 0
    return [tuple(int(g) for g in np.flatnonzero(row)) for row in grouped]


def map_to_groups(scores, labels, label_names, mapping: dict, neutral: str = NEUTRAL) -> tuple:
    """(group scores [N, G], group label tuples, group names) of label-level scores and labels.

    Group score = max of the members' scores (see `group_scores`); group labels = union of the labels'
    groups (a text labelled admiration + anger is in joy and anger under Ekman's grouping).
    """
    names, members = group_members(label_names, mapping, neutral)
    return group_scores(scores, members), group_labels(labels, members), names


def grouped_evaluation(dev_scores, dev_labels, test_scores, test_labels, label_names, mapping: dict,
                       neutral: str = NEUTRAL) -> dict:
    """The threshold metrics of `metrics.threshold_evaluation` on the grouped problem (both threshold rules
    tuned on the grouped dev split), plus "group_names"."""
    dev_s, dev_l, names = map_to_groups(dev_scores, dev_labels, label_names, mapping, neutral)
    test_s, test_l, _ = map_to_groups(test_scores, test_labels, label_names, mapping, neutral)
    return {"group_names": names, **threshold_evaluation(dev_s, dev_l, test_s, test_l, names)}
