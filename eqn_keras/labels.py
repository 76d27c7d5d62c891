"""Full labels (paper eqs. 1-3 and 8): initialization, label regression and threshold annotation.

Pure NumPy. A "full label" row holds one energy score per label name, between `min_value` and
`max_value` (the paper uses 0.0 and 10.0).
"""

from __future__ import annotations

import numbers
from itertools import chain

import numpy as np

from .options import MAX_VALUE, MIN_VALUE  # noqa: F401  (the energy range, 0-10)


def _row_labels(item) -> tuple:
    if isinstance(item, (numbers.Integral, np.integer)) and not isinstance(item, bool):
        return (item,)
    return tuple(item)


def annotated_mask(labels, num_labels: int) -> np.ndarray:
    """Boolean [N, C] matrix: True where a text carries that label (a bare int is one label; repeats count once)."""
    rows = [_row_labels(item) for item in labels]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.asarray(list(chain.from_iterable(rows)))
    if flat.size and flat.dtype.kind not in "iu":
        raise ValueError(f"label ids must be integers, got {flat.dtype} values such as {flat.flat[0]!r}")
    flat = flat.astype(np.int64, copy=False)
    if flat.size and (flat.min() < 0 or flat.max() >= num_labels):
        bad = int(flat[(flat < 0) | (flat >= num_labels)][0])
        raise ValueError(f"label id {bad} is outside 0..{num_labels - 1}")
    mask = np.zeros((len(rows), num_labels), dtype=bool)
    mask[np.repeat(np.arange(len(rows)), lengths), flat] = True
    return mask


def init_full_labels(labels, num_labels: int, max_value: float = MAX_VALUE,
                     min_value: float = MIN_VALUE) -> np.ndarray:
    """Eq. 2: annotated labels get `max_value`, all others `min_value` (float32 [N, C])."""
    mask = annotated_mask(labels, num_labels)
    return np.where(mask, np.float32(max_value), np.float32(min_value)).astype(np.float32)


def rescale_ratings(ratings, scale, max_value: float = MAX_VALUE, min_value: float = MIN_VALUE) -> np.ndarray:
    """Graded data's ratings on `scale` = (low, high) as energies from `min_value` to `max_value` (float32 [N, C]);
    NaN (not rated) stays NaN. BRIGHTER's 0, 1, 2, 3 become 0, 3.33, 6.67, 10."""
    low, high = scale
    ratings = np.asarray(ratings, dtype=np.float64)
    return (min_value + (ratings - low) / (high - low) * (max_value - min_value)).astype(np.float32)


def graded_full_labels(energies, min_value: float = MIN_VALUE) -> np.ndarray:
    """Eq. 2 for graded data: each rated label starts at its rated energy, an unrated one (NaN) at `min_value`."""
    energies = np.asarray(energies, dtype=np.float32)
    return np.where(np.isnan(energies), np.float32(min_value), energies).astype(np.float32)


def soften_scores(scores, temperature: float, max_value: float = MAX_VALUE,
                  min_value: float = MIN_VALUE) -> np.ndarray:
    """A temperature on energies: logit((s - min) / (max - min)) / T, mapped back to [min, max].

    T > 1 lifts small scores toward the middle (softer targets), T < 1 pushes them to min (toward CoEQN's
    hard 0/10 labels); T = 1 returns the clipped scores unchanged.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    scores = np.clip(np.asarray(scores, dtype=np.float32), min_value, max_value)
    if temperature == 1:
        return scores
    span = np.float64(max_value - min_value)
    p = np.clip((scores - min_value) / span, 1e-6, 1 - 1e-6)
    logits = np.log(p) - np.log1p(-p)
    return (min_value + span / (1.0 + np.exp(-logits / temperature))).astype(np.float32)


def regress_labels(labels, scores, max_value: float = MAX_VALUE,
                   min_value: float = MIN_VALUE, temperature: float = 1.0, rated=None) -> np.ndarray:
    """Eq. 3: annotated labels go back to `max_value`; the rest keep the model's scores, clipped to range.

    `temperature` (not in the paper) softens or sharpens the kept scores, see `soften_scores`. `rated` (graded
    data, energies [N, C] from `rescale_ratings`): every rated cell keeps its rating; only the unrated (NaN)
    ones take the model's scores.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2 or scores.shape[0] != len(labels):
        raise ValueError(f"scores must be [N={len(labels)}, C], got shape {scores.shape}")
    kept = soften_scores(scores, temperature, max_value, min_value)
    if rated is not None:
        rated = np.asarray(rated, dtype=np.float32)
        return np.where(np.isnan(rated), kept, rated).astype(np.float32)
    mask = annotated_mask(labels, scores.shape[1])
    return np.where(mask, np.float32(max_value), kept).astype(np.float32)


def clip_energies(scores, energy_range) -> np.ndarray:
    """Energies as users see them: scores clipped to `energy_range` = (min, max), e.g. (0, 10).

    An energy head is linear and trained unclipped (so gradients flow), so its raw output can leave the range.
    `energy_range=None` (a baseline head's 0-1 probabilities) returns the scores as they are.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if energy_range is None:
        return scores
    low, high = energy_range
    return np.clip(scores, np.float32(low), np.float32(high))


def passes_threshold(scores, threshold) -> np.ndarray:
    """Eq. 8's rule as a boolean [N, C] matrix: True where score >= h."""
    return np.asarray(scores, dtype=np.float32) >= threshold


def threshold_annotate(scores, threshold: float, shown=None, fill: float = 0.0) -> np.ndarray:
    """Eq. 8: scores at or above the threshold h are kept, the rest become 0.

    `shown` (same shape) are the values kept instead of `scores` (e.g. the clipped energies of raw `scores`,
    so the rule is decided on the scores the threshold was tuned on); `fill` replaces 0 (e.g. a run's minimum).
    """
    scores = np.asarray(scores, dtype=np.float32)
    kept = scores if shown is None else np.asarray(shown, dtype=np.float32)
    return np.where(passes_threshold(scores, threshold), kept, np.float32(fill))


def threshold_label_names(scores, threshold: float, label_names, sep: str = "|") -> list:
    """Eq. 8 as names: per row, the label names whose score is >= h, joined by `sep` ('' when none)."""
    names = np.asarray(list(label_names), dtype=object)
    return [sep.join(names[row]) for row in passes_threshold(scores, threshold)]
