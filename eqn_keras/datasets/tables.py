"""User tables: CSV / TSV / JSONL files with a text column and a label column (names or integer ids,
several per cell with `label_sep` or a JSON list). Row numbers in messages count data rows from 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .names import infer_label_names, parse_label_names
from .rows import SEPARATORS, LabelMap, cell_tokens, validate_rows
from .splits import DEV_FRACTION, TEST_FRACTION, DatasetSplits, TextDataset, split_dataset
from ..fileio import InputError, Param, parse_range, read_table, require_column


def _missing_column_hint(frame, path) -> str:
    if path == FRAME:
        return ""
    columns = [str(c) for c in frame.columns]
    if len(columns) == 1:
        for sep in SEPARATORS:
            if sep in columns[0]:
                shown = "tab" if sep == "\t" else repr(sep)
                return (f" (the header looks {shown}-separated: name a tab-separated file .tsv, a comma-separated "
                        f"one .csv; {Path(path).suffix or 'no extension'} was read as "
                        f"{'TSV' if Path(path).suffix.lower() in ('.tsv', '.tab') else 'CSV'})")
    return ""


def require(frame, column: str, path, what: str) -> None:
    """InputError naming the columns found (and a separator hint) when `column` is missing."""
    try:
        require_column(frame, column, path)
    except InputError as err:
        raise InputError(f"{err} (expected the {what} column){_missing_column_hint(frame, path)}") from None


FRAME = "DataFrame"  # how messages name an in-memory table (its rows are counted from 1, as a file's)


def _frame_cell(cell):
    """A DataFrame's label cell as a file's would be: integer ids as text, a list's items as text, NaN missing."""
    if isinstance(cell, (list, tuple, np.ndarray)):
        return [_frame_cell(c) for c in cell]
    if isinstance(cell, (bool, np.bool_)):
        return str(cell)
    if isinstance(cell, (int, np.integer)):
        return str(int(cell))
    if isinstance(cell, (float, np.floating)):
        return None if np.isnan(cell) else (str(int(cell)) if float(cell).is_integer() else str(cell))
    return cell


def _table(source) -> tuple:
    """(where, frame) of a user table: a CSV / TSV / JSONL file read as text, or a pandas DataFrame as it is."""
    if isinstance(source, pd.DataFrame):
        return FRAME, source.reset_index(drop=True)
    path = Path(source).expanduser()
    if path.is_dir():
        raise InputError(f"{path}: is a directory; expected a .csv, .tsv or .jsonl file")
    return path, read_table(path)


def _read_cells(source, text_col, label_col) -> tuple:
    """(where, texts, label cells, text column, label column) of a user table (a file or a DataFrame)."""
    path, frame = _table(source)
    text_col = text_col or "text"
    require(frame, text_col, path, "text")
    if label_col is None:
        label_col = next((c for c in ("label", "labels") if c in frame.columns), "label")
        if label_col not in frame.columns:
            found = ", ".join(repr(str(c)) for c in frame.columns)
            raise InputError(f"{path}: no column 'label' or 'labels'; found columns {found} "
                             f"(pass label_col to name the label column){_missing_column_hint(frame, path)}")
    else:
        require(frame, label_col, path, "label")
    if len(frame) == 0:
        raise InputError(f"{path}: no data rows; expected a header and at least one row")
    cells = frame[label_col].tolist()
    if path == FRAME:
        cells = [_frame_cell(cell) for cell in cells]
    return path, frame[text_col].tolist(), cells, text_col, label_col


def _validate(table, label_map: LabelMap) -> TextDataset:
    path, texts, cells, text_col, label_col = table
    dataset, _ = validate_rows(path, range(1, len(texts) + 1), texts, cells, label_map,
                               columns=(f"column '{text_col}'", f"column '{label_col}'"))
    return dataset


def _label_map(tables, names, label_sep) -> LabelMap:
    """The label map of user files: `names` if given, else inferred from every cell of `tables`."""
    if names is None:
        names = infer_label_names(t for table in tables for cell in table[2] for t in cell_tokens(cell, label_sep))
    return LabelMap(names, sep=label_sep, sep_hint=True)


def load_user_table(path, label_names: list | None, text_col, label_col, label_sep) -> TextDataset:
    """One user file read with the given label names (a named dataset's replacement test file)."""
    table = _read_cells(path, text_col, label_col)
    return _validate(table, _label_map([table], label_names, label_sep))


def load_user_data(data, test_data, text_col, label_col, label_sep, label_names, seed) -> DatasetSplits:
    """A user file or DataFrame split seeded into train / dev / test (or train / dev with `test_data` as test)."""
    tables = {"train": _read_cells(data, text_col, label_col)}
    path = tables["train"][0]
    if test_data is not None:
        tables["test"] = _read_cells(test_data, text_col, label_col)
    label_map = _label_map(tables.values(), parse_label_names(label_names), label_sep)
    sets = {role: _validate(table, label_map) for role, table in tables.items()}
    any_list = any(isinstance(cell, list) for table in tables.values() for cell in table[2])
    multi = bool(label_sep) or any_list or any(len(l) > 1 for d in sets.values() for l in d.labels)
    notes = {**_source_notes(path, "user file"), "seed": seed,
             "label_names_from": "label_names argument" if label_names is not None else "inferred from the labels",
             "dropped": {}}
    train, dev, test = _split_user_sets(sets, path, test_data, seed, notes)
    return DatasetSplits(_table_name(path), label_map.names, multi, train, dev, test, notes)


def _source_notes(path, what: str) -> dict:
    """The notes' source and files of a user table (a DataFrame has no file)."""
    if path == FRAME:
        return {"source": f"{what} (a pandas DataFrame in memory)", "files": {}}
    return {"source": what, "files": {"data": {"path": str(path), "origin": "user file"}}}


def _table_name(path) -> str:
    """A user dataset's name: its file's stem, or 'dataframe'."""
    return "dataframe" if path == FRAME else path.stem


def _split_user_sets(sets, path, test_data, seed, notes) -> tuple:
    """(train, dev, test) of a user file's sets: `test_data`'s set as test and dev carved from the file, else an
    80 / 10 / 10 seeded split; `notes` records the split and the sizes."""
    if test_data is not None:
        in_memory = isinstance(test_data, pd.DataFrame)
        if not in_memory:
            notes["files"]["test"] = {"path": str(Path(test_data).expanduser()), "origin": "test_data"}
        train, dev, _, rule = split_dataset(sets["train"], (DEV_FRACTION, 0), seed, path)
        test = sets["test"]
        notes["split"] = (f"test from {'the test_data DataFrame' if in_memory else test_data}; dev carved from "
                          f"{'the DataFrame' if path == FRAME else path.name}: {rule}")
    else:
        train, dev, test, rule = split_dataset(sets["train"], (DEV_FRACTION, TEST_FRACTION), seed, path)
        notes["split"] = rule
    notes["rows"] = {"train": len(train), "dev": len(dev), "test": len(test)}
    return train, dev, test


def _read_ratings(source, text_col, target_cols) -> tuple:
    """(where, texts, ratings [N, C] with NaN for empty cells) of a graded user file or DataFrame; errors name
    row and column."""
    path, frame = _table(source)
    text_col = text_col or "text"
    require(frame, text_col, path, "text")
    for column in target_cols:
        require(frame, column, path, "target")
    if len(frame) == 0:
        raise InputError(f"{path}: no data rows; expected a header and at least one row")
    ratings = np.full((len(frame), len(target_cols)), np.nan)
    for j, column in enumerate(target_cols):
        for i, cell in enumerate(frame[column].tolist()):
            missing = cell is None or (isinstance(cell, (float, np.floating)) and np.isnan(cell))
            cell = "" if missing else str(cell).strip()
            if not cell:
                continue  # not rated: label regression fills it in
            try:
                ratings[i, j] = float(cell)
            except ValueError:
                ratings[i, j] = np.nan
            if not np.isfinite(ratings[i, j]):
                raise InputError(f"{path}: row {i + 1}: column '{column}' holds {cell!r}; expected a number "
                                 "(or an empty cell for a label that was not rated)")
    texts = frame[text_col].tolist()
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}: row {i + 1}: text in column '{text_col}' is empty; expected non-empty text")
    return path, texts, ratings


def _graded(path, texts, ratings, scale) -> TextDataset:
    """A TextDataset of rated texts: labels are the labels rated above the scale's bottom."""
    low, high = scale
    bad = np.argwhere((ratings < low) | (ratings > high))
    if len(bad):
        i, j = bad[0]
        raise InputError(f"{path}: row {i + 1}: rating {ratings[i, j]:g} is outside ",
                         Param("target_range", f"{low:g},{high:g}"))
    labels = [tuple(int(j) for j in np.flatnonzero(row > low)) for row in ratings]
    return TextDataset(list(texts), labels, ratings)


def load_graded_data(data, test_data, text_col, target_cols, target_range, seed) -> DatasetSplits:
    """A user file whose label cells are numbers (one column per label, `target_cols`), split like
    `load_user_data`. Ratings keep their units; `rating_scale` is `target_range`, else the lowest and highest
    rating of the data file. An empty cell is a label that was not rated. `data` and `test_data` may be DataFrames."""
    names = parse_label_names(target_cols.split(",") if isinstance(target_cols, str) else list(target_cols))
    tables = {"train": _read_ratings(data, text_col, names)}
    path = tables["train"][0]
    if test_data is not None:
        tables["test"] = _read_ratings(test_data, text_col, names)
    scale = parse_range(target_range, "target_range")
    if scale is None:
        rated = tables["train"][2][~np.isnan(tables["train"][2])]
        if rated.size == 0 or rated.min() == rated.max():
            raise InputError(f"{path}: the ratings do not span a range; pass ", Param("target_range", "LO,HI"))
        scale = (float(rated.min()), float(rated.max()))
    sets = {role: _graded(*table, scale) for role, table in tables.items()}
    notes = {**_source_notes(path, "user file, graded targets"), "seed": seed, "target_cols": names, "rating_scale": list(scale),
             "rating_scale_from": "target_range" if target_range is not None else "the data file's ratings",
             "dropped": {}}
    train, dev, test = _split_user_sets(sets, path, test_data, seed, notes)
    return DatasetSplits(_table_name(path), names, True, train, dev, test, notes, rating_scale=scale)
