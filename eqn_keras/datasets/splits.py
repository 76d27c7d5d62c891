"""What every loader returns (`TextDataset`, `DatasetSplits`) and the seeded, stratified split used
when a dataset has no official dev or test split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..fileio import InputError, Param

DEV_FRACTION = 0.1
TEST_FRACTION = 0.1


@dataclass
class TextDataset:
    """Texts and their annotated label ids (a tuple per text; one id for single-label data).

    Graded data also has `ratings` [N, C]: each label's rated intensity in the file's own units (NaN where a
    text has no rating for it); its `labels` are then the labels rated above the scale's bottom.
    """

    texts: list
    labels: list
    ratings: np.ndarray | None = None

    def __len__(self):
        return len(self.texts)

    def subset(self, indices) -> "TextDataset":
        indices = list(indices)
        ratings = None if self.ratings is None else self.ratings[np.asarray(indices, dtype=np.int64)]
        return TextDataset([self.texts[i] for i in indices], [self.labels[i] for i in indices], ratings)

    def sample(self, n: int | None, seed: int = 0) -> "TextDataset":
        """A seeded random subset of `n` rows in their original order (`train(max_train=n)` trains on
        `splits.train.sample(n, seed)`); the whole split when `n` is None or at least its length."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise InputError(Param("n", n), ": expected a positive number of rows")
        return self.subset(np.sort(np.random.default_rng(seed).permutation(len(self))[:n]))


@dataclass
class DatasetSplits:
    """Train / dev / test splits of one dataset and what is known about it."""

    name: str
    label_names: list
    multi_label: bool
    train: TextDataset
    dev: TextDataset
    test: TextDataset
    notes: dict = field(default_factory=dict)
    rating_scale: tuple | None = None  # (low, high) of graded data's ratings, rescaled to the energy range

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def _split_off(indices: list, strata: list, n_take: int, seed: int) -> tuple:
    """Split `indices` into (keep, take) with `n_take` taken; stratified on `strata` when possible."""
    from sklearn.model_selection import train_test_split

    try:
        keep, take = train_test_split(indices, test_size=n_take, random_state=seed, stratify=strata)
        stratified = True
    except ValueError:  # a class with too few rows for a stratified split
        keep, take = train_test_split(indices, test_size=n_take, random_state=seed)
        stratified = False
    return sorted(keep), sorted(take), stratified


def _fraction_count(n: int, fraction: float) -> int:
    return max(1, int(n * fraction + 0.5))


def split_dataset(dataset: TextDataset, fractions=(DEV_FRACTION, TEST_FRACTION), seed: int = 0, path=None):
    """Seeded split stratified on each row's first label: (train, dev, test, rule).

    `fractions` is (dev, test); a fraction of 0 gives an empty split. Falls back to an unstratified split
    when a class has too few rows. Rows keep their file order inside each split.
    """
    dev_fraction, test_fraction = fractions
    n = len(dataset)
    n_dev = _fraction_count(n, dev_fraction) if dev_fraction else 0
    n_test = _fraction_count(n, test_fraction) if test_fraction else 0
    if n - n_dev - n_test < 1:
        need = 1 + (1 if n_dev else 0) + (1 if n_test else 0)
        raise InputError(f"{path or 'dataset'}: {n} rows are too few to split; expected at least {need}")
    indices = list(range(n))
    strata = [labels[0] if labels else -1 for labels in dataset.labels]  # -1: a graded text rated 0 everywhere
    stratified = True
    test_idx: list = []
    dev_idx: list = []
    if n_test:
        indices, test_idx, ok = _split_off(indices, strata, n_test, seed)
        stratified &= ok
    if n_dev:
        indices, dev_idx, ok = _split_off(indices, [strata[i] for i in indices], n_dev, seed)
        stratified &= ok
    how = "stratified on the first label" if stratified else "unstratified (a class had too few rows to stratify)"
    parts = [f"{round(100 * (1 - dev_fraction - test_fraction))}% train"]
    if n_dev:
        parts.append(f"{round(100 * dev_fraction)}% dev")
    if n_test:
        parts.append(f"{round(100 * test_fraction)}% test")
    rule = f"seeded random split, {' / '.join(parts)}, seed {seed}, {how}"
    return dataset.subset(indices), dataset.subset(dev_idx), dataset.subset(test_idx), rule
