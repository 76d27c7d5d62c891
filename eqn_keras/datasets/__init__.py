"""Dataset loaders: the paper's named datasets (with cards in `datasets/<name>.json`), user files and
TensorFlow Datasets.

Every loader returns a `DatasetSplits` whose labels are tuples of label ids in `label_names` order.

Named datasets are looked up as `<data_dir>/<name>/<file>` (the `data_dir` argument, else the
`EQN_DATA_DIR` environment variable); when a file is not there it is downloaded from the card's URL
into `$EQN_CACHE_DIR/<name>/` (default `~/.cache/eqn-keras/datasets/<name>/`) and its sha256 is
checked against the card.

User files (CSV / TSV / JSONL, by extension) need a text column and a label column; a label cell
holds label names or integer ids (several, split on `label_sep`, for multi-label data). Row numbers in
error messages count data rows from 1 (the header is not a row).

Modules: `cards` (dataset cards), `files` (data folder, cache, downloads), `splits` (the returned types
and the seeded split), `names` (label names), `rows` (the one row validator), `tables` (user files),
`readers` (the named datasets), `tfds` (TensorFlow Datasets).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..downloads import ChecksumError
from ..fileio import InputError, Param
from .cards import DATASET_NAMES, GOLD_NAMES, card_dirs, card_path, load_card, load_gold_card
from .files import default_cache_dir, fetch_file
from .names import infer_label_names, parse_label_names
from .readers import READERS, load_named
from .rows import LabelMap, validate_rows
from .splits import DEV_FRACTION, TEST_FRACTION, DatasetSplits, TextDataset, split_dataset
from .tables import load_graded_data, load_user_data, load_user_table
from .tfds import TFDS_PREFIX, load_tfds

__all__ = [
    "DATASET_NAMES", "DEV_FRACTION", "as_frame", "in_memory", "GOLD_NAMES", "READERS", "TEST_FRACTION", "TFDS_PREFIX", "ChecksumError", "DatasetSplits",
    "LabelMap", "TextDataset", "card_dirs", "card_path", "default_cache_dir", "fetch_file", "infer_label_names",
    "load_card", "load_dataset", "load_gold_card", "load_named", "load_graded_data", "load_tfds", "load_user_data", "load_user_table",
    "parse_label_names", "split_dataset", "validate_rows",
]


def in_memory(data) -> bool:
    """Whether `data` is a DataFrame or a (texts, labels) pair rather than a name or a path."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return True
    return isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], str) \
        and hasattr(data[0], "__len__") and hasattr(data[1], "__len__")


def as_frame(data):
    """A DataFrame as it is; a (texts, labels) pair as a DataFrame with columns `text` and `labels`."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if not in_memory(data):
        raise InputError(f"test_data: got {type(data).__name__}; with in-memory data expected a DataFrame or a "
                         "(texts, labels) pair")
    texts, labels = data
    if len(texts) != len(labels):
        raise InputError(f"(texts, labels): {len(texts)} texts and {len(labels)} label entries; expected one "
                         "label entry (a name, an id or a list of them) per text")
    return pd.DataFrame({"text": list(texts), "labels": list(labels)})


def load_dataset(data, data_dir=None, *, test_data=None, text_col=None, label_col=None,
                 label_sep=None, label_names=None, seed: int = 0, target_cols=None,
                 target_range=None) -> DatasetSplits:
    """Load a named dataset (goemotions, 3tfn, 6emotions, 3tsa, 7health), `tfds:NAME`, a user file by path, or
    data already in memory.

    - data: a dataset name, `tfds:NAME[/CONFIG]`, a path to a .csv / .tsv / .jsonl file, a pandas DataFrame
      (read like a user file: a text column and a label column whose cells hold a label name or id, a list of
      them, or several joined by `label_sep`; or, with `target_cols`, one rating column per label), a pair
      (texts, labels) of lists (each label entry a name or id, or a list of them), or a `DatasetSplits`
      (returned as it is). A DataFrame or a pair is split like a user file; its name is "dataframe".
    - data_dir: folder holding `<name>/<file>` for named datasets (default `$EQN_DATA_DIR`, then the
      download cache); for TFDS, its data dir (default TFDS's own).
    - test_data: a file (or, with an in-memory `data`, a DataFrame or a pair) used as the test split (same
      columns as `data`); dev is then carved from the training data. For a named dataset it replaces the card's test split.
    - text_col / label_col: column names in user files (default "text" and "label" or "labels"), or
      feature names of a TFDS dataset.
    - label_sep: separator of several labels in one cell (multi-label); None means one label per row.
    - label_names: a list, a comma-separated string, or a file of one name per line; label cells may
      hold names or integer ids. Without it, integer ids give names "0".."max", other labels their
      sorted unique values.
    - seed: seed of every random split.
    - target_cols: graded data: the columns of a user file that hold each label's rated intensity (numbers,
      an empty cell for a label not rated); they name the labels. target_range: their scale as (low, high)
      or "LO,HI" (default: the lowest and highest rating in `data`).

    Raises InputError (one line naming the file and row or column) on any bad input.
    """
    if isinstance(data, DatasetSplits):
        return data
    if in_memory(data):
        data, test_data = as_frame(data), None if test_data is None else as_frame(test_data)
        if target_cols is not None:
            return load_graded_data(data, test_data, text_col, target_cols, target_range, seed)
        if target_range is not None:
            raise InputError("target_range: only with target_cols (the columns it is the scale of)")
        return load_user_data(data, test_data, text_col, label_col, label_sep, label_names, seed)
    if data is None or str(data).strip() == "":
        raise InputError(f"no dataset given; expected one of {', '.join(DATASET_NAMES)} or a path to a "
                         ".csv, .tsv or .jsonl file")
    if target_cols is not None:
        if str(data).strip().lower() in DATASET_NAMES or str(data).strip().lower().startswith(TFDS_PREFIX):
            raise InputError(Param("target_cols"), f": '{data}' has label names, not ratings; graded targets come from a "
                             "user file with one numeric column per label")
        return load_graded_data(data, test_data, text_col, target_cols, target_range, seed)
    if target_range is not None:
        raise InputError(Param("target_range"), ": only with ", Param("target_cols"), " (the columns it is the scale of)")
    if str(data).strip().lower().startswith(TFDS_PREFIX):
        return load_tfds(str(data), data_dir, test_data, text_col, label_col, label_sep, label_names, seed)
    key = str(data).strip().lower()
    if key in DATASET_NAMES and not Path(data).is_file():
        return load_named(key, data_dir, test_data, text_col, label_col, label_sep, label_names, seed)
    path = Path(data).expanduser()
    if not path.exists() and not path.suffix and os.sep not in str(data):
        raise InputError(f"unknown dataset '{data}'; expected one of {', '.join(DATASET_NAMES)} or a path to a "
                         ".csv, .tsv or .jsonl file")
    return load_user_data(path, test_data, text_col, label_col, label_sep, label_names, seed)
