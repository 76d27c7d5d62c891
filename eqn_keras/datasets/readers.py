"""The paper's five named datasets: one reader per file format, and the loader that fetches a named
dataset's files and splits them as its card says. Each reader returns (TextDataset, dropped-row counts)
from `validate_rows`."""

from __future__ import annotations

from pathlib import Path

from .cards import load_card
from .files import fetch_file
from .names import parse_label_names, show_names
from .rows import LabelMap, validate_rows
from .splits import DEV_FRACTION, TEST_FRACTION, DatasetSplits, split_dataset
from .tables import load_user_table, require
from ..fileio import InputError, read_table, read_text


def _rows(count: int) -> range:
    """Data row numbers 1..count of a table."""
    return range(1, count + 1)


def _read_goemotions(path, names) -> tuple:
    """Headerless TSV: text, comma-separated label ids, comment id."""
    frame = read_table(path, fmt="tsv", header=False, names=["text", "labels", "id"])
    return validate_rows(path, _rows(len(frame)), frame["text"].tolist(), frame["labels"].tolist(),
                         LabelMap(names, by_name=False, sep=","), columns=("column 1", "column 2"))


def _read_csv(path, text_col: str, label_col: str, label_map: LabelMap, drop_empty: bool = False) -> tuple:
    """CSV with a header, a text column and a label column."""
    frame = read_table(path, fmt="csv")
    require(frame, text_col, path, "text")
    require(frame, label_col, path, "label")
    return validate_rows(path, _rows(len(frame)), frame[text_col].tolist(), frame[label_col].tolist(), label_map,
                         columns=(f"column '{text_col}'", f"column '{label_col}'"), drop_empty=drop_empty)


def _read_3tfn(path, names) -> tuple:
    """Integer label ids in column 'label'."""
    return _read_csv(path, "text", "label", LabelMap(names, by_name=False))


def _read_6emotions(path, names) -> tuple:
    """One `text;label_name` per line; blank lines are skipped."""
    lines, texts, cells = [], [], []
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        text, sep, name = line.rpartition(";")
        if not sep:
            raise InputError(f"{path}:{lineno}: no ';' in the line; expected 'text;label_name'")
        lines.append(lineno)
        texts.append(text)
        cells.append(name)
    return validate_rows(path, lines, texts, cells, LabelMap(names, by_id=False), unit="line",
                         columns=("the part before ';'", "the part after ';'"))


def _read_3tsa(path, names) -> tuple:
    """Category -1 / 0 / 1 for negative / neutral / positive; empty comments are dropped and counted."""
    return _read_csv(path, "clean_comment", "category", LabelMap(names, by_id=False, values=["-1", "0", "1"]),
                     drop_empty=True)


def _read_7health(path, names) -> tuple:
    """Status names; empty statements are dropped and counted."""
    return _read_csv(path, "statement", "status", LabelMap(names, by_id=False), drop_empty=True)


READERS = {"goemotions": _read_goemotions, "3tfn": _read_3tfn, "6emotions": _read_6emotions,
           "3tsa": _read_3tsa, "7health": _read_7health}


def _read_named_test(name, card, test_data, text_col, label_col, label_sep) -> tuple:
    """A replacement test file for a named dataset: native format when its extension matches the
    dataset's own files and no column was named, else a user table with the card's label names."""
    path = Path(test_data).expanduser()
    native_suffix = Path(next(iter(card["files"].values()))["file"]).suffix.lower()
    if text_col is None and label_col is None and path.suffix.lower() == native_suffix:
        dataset, dropped = READERS[name](path, card["label_names"])
        return dataset, dropped, "native"
    return load_user_table(path, card["label_names"], text_col, label_col, label_sep), {}, "user table"


def load_named(name, data_dir, test_data, text_col, label_col, label_sep, label_names, seed) -> DatasetSplits:
    """Named dataset `name`: its card's files (data folder, cache or download), read and split."""
    card = load_card(name)
    names = list(card["label_names"])
    if label_names is not None and parse_label_names(label_names) != names:
        raise InputError(f"{name}: label_names {show_names(parse_label_names(label_names))} differ from the "
                         f"dataset card ({show_names(names)}); leave label_names unset for named datasets")
    roles = card["files"]
    wanted = [r for r in roles if not (r == "test" and test_data is not None)]
    reader = READERS[name]
    notes = {"source": "named dataset", "card": card["_path"], "files": {}, "seed": seed, "dropped": {}}
    sets = {}
    for role in wanted:
        path, info = fetch_file(card, role, data_dir)
        notes["files"][role] = info
        sets[role], dropped = reader(path, names)
        for key, count in dropped.items():
            notes["dropped"][f"{role}.{key}" if len(wanted) > 1 else key] = count
    if test_data is not None:
        sets["test"], dropped, how = _read_named_test(name, card, test_data, text_col, label_col, label_sep)
        notes["files"]["test"] = {"path": str(Path(test_data).expanduser()), "origin": "test_data", "format": how}
        for key, count in dropped.items():
            notes["dropped"][f"test.{key}"] = count
    if notes["dropped"]:
        notes["dropped"]["total"] = sum(notes["dropped"].values())

    if "data" in sets:  # one file, no official split
        if "test" in sets:
            train, dev, _, rule = split_dataset(sets["data"], (DEV_FRACTION, 0), seed, notes["files"]["data"]["path"])
            notes["split"] = f"test from {test_data}; {rule}"
        else:
            train, dev, test, rule = split_dataset(sets["data"], (DEV_FRACTION, TEST_FRACTION), seed,
                                                   notes["files"]["data"]["path"])
            sets["test"] = test
            notes["split"] = rule
    elif "dev" not in sets:  # train + test: carve dev from train
        train, dev, _, rule = split_dataset(sets["train"], (DEV_FRACTION, 0), seed, notes["files"]["train"]["path"])
        notes["split"] = (f"test from {test_data if test_data is not None else roles['test']['file']}; "
                          f"dev carved from {roles['train']['file']}: {rule}")
    else:
        train, dev = sets["train"], sets["dev"]
        notes["split"] = ("official train/dev files, test from " + str(test_data) if test_data is not None
                          else card["split_rule"])
    test = sets["test"]
    notes["card_split_rule"] = card["split_rule"]
    notes["rows"] = {"train": len(train), "dev": len(dev), "test": len(test)}
    multi = bool(card["multi_label"])
    return DatasetSplits(name, names, multi, train, dev, test, notes)
