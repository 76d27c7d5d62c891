"""File input/output shared by every reader and writer: strict UTF-8 tables and atomic writes.

Every user-facing read goes through `read_table` so that bad input always fails the same way:
one `InputError` line naming the file, line or column and what was expected.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import hashlib
import json
import os
import tempfile
from pathlib import Path

import pandas as pd


_NO_VALUE = object()


class Param:
    """A parameter named in an `InputError`, with the value given or none: a Python caller reads it as the
    parameter (`threshold='x'`), the command line as its flag (`--threshold x`)."""

    def __init__(self, name: str, value=_NO_VALUE):
        self.name, self.value = name, value

    def __str__(self) -> str:
        return self.name if self.value is _NO_VALUE else f"{self.name}={self.value!r}"

    def as_flag(self, flags: dict) -> str:
        """As the command line shows it; `flags` maps parameter names to flags (a name it lacks stays as is)."""
        flag = flags.get(self.name)
        if flag is None:
            return str(self)
        return flag if self.value is _NO_VALUE or isinstance(self.value, bool) else f"{flag} {self.value}"


class InputError(ValueError):
    """Bad user input; the CLI prints the message as one line and exits with status 2.

    The message is text and `Param`s (`InputError(Param("shard", s), ": expected i/n")`): `str(err)` names the
    library's parameters (shard='1': expected i/n), `for_command(flags)` the command's flags (--shard 1: ...).
    """

    def __init__(self, *parts):
        self.parts = parts
        super().__init__("".join(map(str, parts)))

    def for_command(self, flags: dict) -> str:
        """The message with each parameter shown as its flag (see `Param.as_flag`)."""
        return "".join(p.as_flag(flags) if isinstance(p, Param) else str(p) for p in self.parts)


class BusyError(InputError):
    """Another job holds the lock of the path this one would write (see `exclusive`)."""


# What to do about an operating-system error on a file, by errno; the rest say only what happened.
_OS_REMEDIES = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space (disk quota exceeded)",
    errno.EFBIG: "free some space or raise the file size limit (ulimit -f)",
    errno.EACCES: "make it writable (or choose another path)",
    errno.EPERM: "make it writable (or choose another path)",
    errno.EROFS: "remount it read-write (or choose another path)",
    errno.ENOENT: "check that it was not removed or moved while the job ran",
}


def os_error_line(err: OSError, path=None, then: str = "rerun the command") -> str:
    """An OSError as one line: the file (its own, else `path`), what happened and what to do, then `then`."""
    where = err.filename if err.filename is not None else path
    what = err.strerror or str(err)
    remedy = _OS_REMEDIES.get(err.errno)
    return f"{where}: {what}; " + (f"{remedy}, then {then}" if remedy else f"{then} once the cause is fixed")


def refuse_existing(paths, overwrite: bool = False, output: str = "output") -> None:
    """An InputError for the first of `paths` that already exists, unless `overwrite`: a file this job did not
    write is never replaced without being asked. `output`: the caller's name for the output parameter."""
    if overwrite:
        return
    for path in paths:
        if path is not None and Path(path).exists():
            raise InputError(f"{path}: already exists; pass ", Param("overwrite", True), " to replace it, or choose "
                             "another ", Param(output))


def lock_path(path) -> Path:
    """The lock file of an output: `<path>.lock` beside it."""
    return Path(str(path) + ".lock")


@contextlib.contextmanager
def exclusive(lock, target=None):
    """Hold an exclusive `flock` on the file `lock` (created if needed, holding this pid) while the block runs.

    Another holder makes it raise `BusyError` naming `target` (default: the lock file) and the holder's pid. The
    kernel drops the lock when its process dies, so a killed job never leaves a stale one; a clean exit
    removes the file.
    """
    lock, target = Path(lock), lock if target is None else target
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise BusyError(f"{target}: another eqn-keras job{f' (pid {holder})' if holder.isdigit() else ''} "
                            f"is writing it (lock {lock}); wait for it to finish, or stop it and rerun") from None
        try:  # the previous holder may have removed the file between our open and flock: lock the new one
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def read_text(path) -> str:
    """Read a whole file as strict UTF-8; name the line of the first bad byte."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise InputError(
            f"{path}:{line}: byte 0x{data[err.start]:02x} at column {column} is not UTF-8; "
            "expected a UTF-8 text file"
        ) from None


def table_format(path) -> str:
    """'csv', 'tsv' or 'jsonl', from the file name."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv",):
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    raise InputError(f"{path}: unknown table format '{suffix}'; expected .csv, .tsv or .jsonl")


def read_table(path, fmt: str | None = None, header: bool = True, names=None, sep: str | None = None):
    """Read a CSV / TSV / JSONL file into a DataFrame of strings (quoted newlines allowed)."""
    text = read_text(path)
    fmt = fmt or table_format(path)
    if not text.strip():
        raise InputError(f"{path}: file is empty; expected at least one row")
    if fmt == "jsonl":
        rows = [{k: _json_cell(v) for k, v in row.items()} for row in parse_jsonl(text, path)]
        return pd.DataFrame(rows, dtype=object).fillna("")
    sep = sep or {"csv": ",", "tsv": "\t"}[fmt]
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, header=0 if header else None, names=names, dtype=str,
            keep_default_na=False, quoting=csv.QUOTE_MINIMAL, engine="c", skip_blank_lines=False,
        )
    except pd.errors.ParserError as err:
        raise InputError(f"{path}: cannot parse as {fmt.upper()} ({err}); expected a '{sep}'-separated table") from None
    if header:
        frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def parse_range(value, option: str) -> tuple | None:
    """(low, high) from 'LO,HI' or a pair, for the parameter `option` (named in the error); None when not given."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        low, high = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise InputError(Param(option, value), ": expected LO,HI, e.g. 0,3") from None
    if not low < high:
        raise InputError(Param(option, value), ": expected LO < HI")
    return low, high


def sha256_file(path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json_object(path, what: str = "") -> dict:
    """A JSON file holding one object; errors name the parameter (`what`), the file, line and column."""
    prefix = (Param(what), " ") if what else ()
    try:
        obj = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise InputError(*prefix, f"{path}:{err.lineno}:{err.colno}: invalid JSON ({err.msg})") from None
    except InputError as err:
        raise InputError(*prefix, *err.parts) from None
    if not isinstance(obj, dict):
        raise InputError(*prefix, f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def parse_jsonl(text: str, path) -> list:
    """The JSON objects of a JSON-lines text (blank lines skipped); errors name `path` and the line."""
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{lineno}: invalid JSON ({err.msg}); expected one JSON object per line") from None
        if not isinstance(row, dict):
            raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def _json_cell(value):
    if isinstance(value, list):
        return value
    return "" if value is None else str(value)


def require_column(frame, column: str, path) -> None:
    """Fail with the columns that do exist when `column` is missing."""
    if column not in frame.columns:
        found = ", ".join(repr(str(c)) for c in frame.columns)
        raise InputError(f"{path}: no column '{column}'; found columns {found}")


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **kwargs):
    """Open a temporary file beside `path` and rename it into place only if the block succeeds."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"{path}: directory '{directory}' does not exist")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, obj) -> None:
    with atomic_write(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=False)
        handle.write("\n")


def write_csv(path, frame) -> None:
    with atomic_write(path) as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")
