"""User tables: CSV / TSV / JSONL files with a text column and a label column (names or integer ids,
several per cell with `label_sep` or a JSON list). Row numbers in messages count data rows from 1."""

from __future__ import annotations

from pathlib import Path

from .names import infer_label_names, parse_label_names
from .rows import SEPARATORS, LabelMap, cell_tokens, validate_rows
from .splits import DEV_FRACTION, TEST_FRACTION, DatasetSplits, TextDataset, split_dataset
from ..fileio import InputError, read_table, require_column


def _missing_column_hint(frame, path) -> str:
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


def _read_cells(path, text_col, label_col) -> tuple:
    """(path, texts, label cells, label column) of a user CSV / TSV / JSONL file."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{path}: is a directory; expected a .csv, .tsv or .jsonl file")
    frame = read_table(path)
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
    return path, frame[text_col].tolist(), frame[label_col].tolist(), text_col, label_col


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
    """A user file split seeded into train / dev / test (or train / dev with `test_data` as test)."""
    path = Path(data).expanduser()
    tables = {"train": _read_cells(path, text_col, label_col)}
    if test_data is not None:
        tables["test"] = _read_cells(test_data, text_col, label_col)
    label_map = _label_map(tables.values(), parse_label_names(label_names), label_sep)
    sets = {role: _validate(table, label_map) for role, table in tables.items()}
    any_list = any(isinstance(cell, list) for table in tables.values() for cell in table[2])
    multi = bool(label_sep) or any_list or any(len(l) > 1 for d in sets.values() for l in d.labels)
    notes = {"source": "user file", "files": {"data": {"path": str(path), "origin": "user file"}}, "seed": seed,
             "label_names_from": "label_names argument" if label_names is not None else "inferred from the labels",
             "dropped": {}}
    if test_data is not None:
        notes["files"]["test"] = {"path": str(Path(test_data).expanduser()), "origin": "test_data"}
        train, dev, _, rule = split_dataset(sets["train"], (DEV_FRACTION, 0), seed, path)
        test = sets["test"]
        notes["split"] = f"test from {test_data}; dev carved from {path.name}: {rule}"
    else:
        train, dev, test, rule = split_dataset(sets["train"], (DEV_FRACTION, TEST_FRACTION), seed, path)
        notes["split"] = rule
    notes["rows"] = {"train": len(train), "dev": len(dev), "test": len(test)}
    return DatasetSplits(path.stem, label_map.names, multi, train, dev, test, notes)
