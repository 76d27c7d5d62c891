"""Tables read and written a chunk at a time (CSV / TSV / JSONL, Parquet with pyarrow), for inputs of any size.

`TableReader` yields DataFrame chunks of a fixed number of records, each record with its place in the file
(text formats: the line its record starts on, 1-based, counting the header; Parquet: the 1-based row) and,
for a record that cannot be used, why. CSV is parsed with the stdlib `csv` reader because it reports the
line of every record (quoted newlines make records and lines differ); pandas' chunked reader does not.
`PartWriter` appends chunks to `<output>.part` and can be cut back to a recorded size, so an interrupted
job resumes after its last complete chunk; `merge_tables` concatenates the parts of a sharded job.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .fileio import InputError, _json_cell, atomic_write, exclusive, lock_path, refuse_existing, table_format
from .options import CHUNK_SIZE  # noqa: F401  (records per chunk by default)

SEPARATORS = {"csv": ",", "tsv": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")
_JSON_BLANK = " \t\r\n"  # JSON's whitespace: a line of only these is no record
_BLOCK = 1 << 20


def stream_format(path) -> str:
    """'csv', 'tsv', 'jsonl' or 'parquet', from the file name."""
    if Path(path).suffix.lower() in PARQUET_SUFFIXES:
        return "parquet"
    try:
        return table_format(path)
    except InputError:
        raise InputError(f"{path}: unknown table format '{Path(path).suffix}'; expected .csv, .tsv, .jsonl "
                         "or .parquet") from None


def require_pyarrow(path):
    """The pyarrow module (with pyarrow.parquet), or an InputError saying `path` needs it."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InputError(f"{path}: Parquet needs pyarrow; pip install pyarrow") from None
    return pyarrow


def _parquet_file(path):
    """A pyarrow ParquetFile, or an InputError when `path` is not a Parquet file."""
    pa = require_pyarrow(path)
    try:
        return pa.parquet.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{path}: cannot read as Parquet ({err}); expected a Parquet file") from None


def utf8_error(path) -> InputError:
    """The first byte of `path` that is not UTF-8, as an InputError naming its line and column."""
    base, lines, last_newline, carry = 0, 0, -1, b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_BLOCK)
            data, eof = carry + block, not block
            try:
                data.decode("utf-8")
                good = len(data)
            except UnicodeDecodeError as err:
                if not eof and err.end == len(data) and len(data) - err.start < 4:
                    good = err.start  # a character cut by the block boundary
                else:
                    pos = err.start
                    newline = data.rfind(b"\n", 0, pos)
                    column = pos - newline if newline >= 0 else base + pos - last_newline
                    line = lines + data.count(b"\n", 0, pos) + 1
                    return InputError(f"{path}:{line}: byte 0x{data[pos]:02x} at column {column} is not UTF-8; "
                                      "expected a UTF-8 text file")
            if eof:
                return InputError(f"{path}: not UTF-8; expected a UTF-8 text file")
            lines += data.count(b"\n", 0, good)
            newline = data.rfind(b"\n", 0, good)
            if newline >= 0:
                last_newline = base + newline
            base, carry = base + good, data[good:]


def fingerprint(path) -> dict:
    """What identifies an input file cheaply: size, modification time and the sha256 of its first MiB."""
    path = Path(path)
    stat = path.stat()
    with open(path, "rb") as handle:
        head = hashlib.sha256(handle.read(_BLOCK)).hexdigest()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head_sha256": head}


@dataclass
class Chunk:
    """Consecutive records of a table: `frame` holds them all ('' in every cell of an unusable record),
    `where` their lines (or rows), `error` why each is unusable ('' when it is fine)."""

    frame: pd.DataFrame
    where: np.ndarray
    error: np.ndarray

    def __len__(self):
        return len(self.where)

    @property
    def good(self) -> np.ndarray:
        return self.error == ""


class TableReader:
    """Reads records [start, stop) of a table as `Chunk`s of `chunk_size` records.

    Records before `start` are skipped without being turned into frames. JSONL columns are the keys of the
    table's first `chunk_size` records, in order of appearance (the same for every shard and resumed run);
    a later record with another key is unusable. Blank lines are records (empty) in CSV/TSV, as in
    pandas.read_csv(skip_blank_lines=False), and are not records in JSONL.
    """

    def __init__(self, path, chunk_size: int, start: int = 0, stop: int | None = None):
        self.path = Path(path)
        self.fmt = stream_format(path)
        if not self.path.is_file():
            raise InputError(f"{path}: file not found")
        if self.fmt != "parquet" and not _has_content(self.path):
            raise InputError(f"{path}: file is empty; expected at least one row")
        self.chunk_size, self.start, self.stop = int(chunk_size), int(start), stop
        self.where_name = "row" if self.fmt == "parquet" else "line"
        self.columns = self._columns()

    def _columns(self) -> list:
        if self.fmt == "parquet":
            return list(_parquet_file(self.path).schema_arrow.names)
        if self.fmt == "jsonl":
            keys = {}
            for _, row, error in self._guard(self._jsonl_records(0, self.chunk_size)):
                if not error:
                    keys.update(dict.fromkeys(row))
            return list(keys)
        with self._text(newline="") as handle:
            header = next(self._guard(csv.reader(handle, delimiter=SEPARATORS[self.fmt], strict=True)), None)
        columns = [str(c).strip() for c in header or []]
        dup = next((c for c in columns if columns.count(c) > 1), None)
        if dup is not None:
            raise InputError(f"{self.path}:1: column '{dup}' appears twice in the header; expected unique names")
        return columns

    def __iter__(self):
        if self.fmt == "parquet":
            yield from self._parquet_chunks()
            return
        reader = self._jsonl_records if self.fmt == "jsonl" else self._csv_records
        records = reader(self.start, self.stop)
        try:
            while True:
                batch = list(itertools.islice(records, self.chunk_size))
                if not batch:
                    return
                yield self._chunk(batch)
        except UnicodeDecodeError:
            raise utf8_error(self.path) from None

    def count_upto(self, limit: int) -> int:
        """The records from `start` (to `stop`), counted only up to `limit`: "are there at least n?" without
        reading a large file to its end."""
        if self.fmt == "parquet":
            rows = _parquet_file(self.path).metadata.num_rows if self.stop is None else self.stop
            return max(0, min(rows, self.start + limit) - self.start)
        reader = self._jsonl_records if self.fmt == "jsonl" else self._csv_records
        try:
            return sum(1 for _ in itertools.islice(reader(self.start, self.stop), limit))
        except UnicodeDecodeError:
            raise utf8_error(self.path) from None

    def count(self, exact: bool = True) -> int | None:
        """The table's number of records: from the Parquet footer, the JSONL lines, or the CSV lines when no
        quoted field spans lines (else by parsing when `exact`, or None)."""
        if self.fmt == "parquet":
            return _parquet_file(self.path).metadata.num_rows
        lines, spanning = 0, False
        with open(self.path, "rb") as handle:
            for line in handle:
                if self.fmt == "jsonl":
                    lines += bool(line.strip(_JSON_BLANK.encode()))
                else:
                    lines += 1
                    spanning = spanning or bool(line.count(b'"') & 1)
        if self.fmt == "jsonl":
            return lines
        if not spanning:
            return max(lines - 1, 0)
        if not exact:
            return None
        return sum(1 for _ in self._guard(self._csv_records(0, None)))

    # -- text formats --------------------------------------------------------------------------------------

    def _text(self, newline):
        return open(self.path, encoding="utf-8", newline=newline)

    def _guard(self, iterator):
        """`iterator` with bad UTF-8 turned into an InputError naming the line."""
        try:
            yield from iterator
        except UnicodeDecodeError:
            raise utf8_error(self.path) from None

    def _csv_records(self, start, stop):
        """(first line, values, error) per record from `start` (up to `stop`); records before are only counted."""
        width = len(self.columns)
        old_limit = csv.field_size_limit()
        csv.field_size_limit(max(old_limit, 1 << 24))  # long texts are fine; a runaway quote still stops
        try:
            with self._text(newline="") as handle:
                reader = csv.reader(handle, delimiter=SEPARATORS[self.fmt], strict=True)
                next(reader)
                index, stop = 0, math.inf if stop is None else stop
                while index < start:  # a csv.Error counts as a record, as below
                    with contextlib.suppress(csv.Error):
                        if next(reader, None) is None:
                            return
                    index += 1
                previous = reader.line_num
                while index < stop:
                    try:
                        for values in reader:
                            line, previous = previous + 1, reader.line_num
                            if len(values) == width:
                                yield line, values, ""
                            elif len(values) > width:
                                yield line, [""] * width, f"expected {width} fields, found {len(values)}"
                            else:  # a short record gets empty cells, as pandas.read_csv gives it
                                yield line, values + [""] * (width - len(values)), ""
                            index += 1
                            if index >= stop:
                                return
                        return
                    except csv.Error as err:
                        line, previous = previous + 1, reader.line_num
                        yield line, [""] * width, f"cannot parse as {self.fmt.upper()} ({err})"
                        index += 1
        finally:
            csv.field_size_limit(old_limit)

    def _jsonl_records(self, start, stop):
        """(line, object, error) per non-blank line from `start` (up to `stop`); lines before are not parsed."""
        index = 0
        with self._text(newline="\n") as handle:
            for line_number, line in enumerate(handle, 1):
                if not line.strip(_JSON_BLANK):
                    continue
                if stop is not None and index >= stop:
                    return
                if index >= start:
                    row, error = None, ""
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        error = f"invalid JSON ({err.msg}); expected one JSON object per line"
                    if error == "" and not isinstance(row, dict):
                        row, error = None, f"expected a JSON object, got {type(row).__name__}"
                    yield line_number, row, error
                index += 1

    def _chunk(self, records) -> Chunk:
        lines, rows, errors = zip(*records)
        where = np.array(lines, dtype=np.int64)
        error = np.array(errors, dtype=object)
        if self.fmt == "jsonl":
            known, rows = set(self.columns), list(rows)
            for i, row in enumerate(rows):
                extra = [] if error[i] else [k for k in row if k not in known]
                if extra:
                    error[i] = f"key '{extra[0]}' is not a column (the columns are the keys of the first records)"
                rows[i] = [""] * len(self.columns) if error[i] else [_json_cell(row.get(c)) for c in self.columns]
        return Chunk(pd.DataFrame(list(rows), columns=self.columns, dtype=object), where, error)

    # -- Parquet -------------------------------------------------------------------------------------------

    def _parquet_chunks(self):
        """Chunks cut from the row groups that overlap [start, stop); memory holds a chunk and a batch."""
        pa = require_pyarrow(self.path)
        handle = _parquet_file(self.path)
        meta = handle.metadata
        stop = meta.num_rows if self.stop is None else min(self.stop, meta.num_rows)
        groups, position, offset = [], None, 0
        for g in range(meta.num_row_groups):
            rows = meta.row_group(g).num_rows
            if offset + rows > self.start and offset < stop:
                groups.append(g)
                position = offset if position is None else position
            offset += rows
        if not groups:
            return
        buffer = None  # table rows [position, position + len(buffer))
        for batch in handle.iter_batches(batch_size=self.chunk_size, row_groups=groups):
            batch = pa.Table.from_batches([batch])
            buffer = batch if buffer is None else pa.concat_tables([buffer, batch])
            if position < self.start:
                drop = min(self.start - position, len(buffer))
                buffer, position = buffer.slice(drop), position + drop
            while len(buffer) and (len(buffer) >= self.chunk_size or position + len(buffer) >= stop):
                n = min(self.chunk_size, stop - position)
                yield self._parquet_chunk(buffer.slice(0, n), position)
                buffer, position = buffer.slice(n), position + n
                if position >= stop:
                    return

    def _parquet_chunk(self, table, start) -> Chunk:
        frame = table.to_pandas()
        frame.index = pd.RangeIndex(len(frame))
        where = np.arange(start + 1, start + 1 + len(frame), dtype=np.int64)
        return Chunk(frame, where, np.full(len(frame), "", dtype=object))


def _has_content(path) -> bool:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            if block.strip():
                return True
    return False


# -- writing --------------------------------------------------------------------------------------------------

def encode_chunk(frame: pd.DataFrame, fmt: str, header: bool) -> bytes:
    """A frame as the bytes a text output gets for it (what `DataFrame.to_csv` / `to_json` write)."""
    if fmt == "jsonl":
        return frame.to_json(orient="records", lines=True, force_ascii=False).encode("utf-8") if len(frame) else b""
    return frame.to_csv(index=False, header=header, sep=SEPARATORS[fmt], lineterminator="\n").encode("utf-8")


def _sync_dir(directory) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class PartWriter:
    """An output built as `<path>.part`, one chunk at a time, renamed to `path` by `finish`.

    Text formats append to one file whose size after a chunk is its `position`; `open(position)` cuts it
    back to that size. Parquet keeps one file per chunk in the `.part` folder (a Parquet file's footer is
    written last, so one file cannot be cut back); `finish` copies their row groups into one file.
    """

    def __init__(self, path, fmt: str):
        self.path, self.fmt = Path(path), fmt
        self.part = self.path.with_name(self.path.name + ".part")
        self._handle = None
        self._count = 0
        self.schema = None

    def size(self) -> int:
        """The current position: bytes of the part file, or the number of Parquet chunk files."""
        if self.fmt == "parquet":
            return len(list(self.part.glob("*.parquet"))) if self.part.is_dir() else 0
        return self.part.stat().st_size if self.part.is_file() else 0

    def open(self, position: int = 0) -> None:
        """Start, or continue from `position` (a size `sync` returned before), dropping anything after it."""
        if position == 0:
            self.discard()
        if self.fmt == "parquet":
            self.part.mkdir(exist_ok=True)
            for path in self.part.iterdir():
                if not (path.suffix == ".parquet" and path.stem.isdigit() and int(path.stem) < position):
                    path.unlink()
            self._count = position
            if position:
                self.schema = require_pyarrow(self.part).parquet.read_schema(self._chunk_path(0))
            return
        self._handle = open(self.part, "r+b" if position else "wb")
        self._handle.truncate(position)
        self._handle.seek(position)

    def _chunk_path(self, index) -> Path:
        return self.part / f"{index:08d}.parquet"

    def append(self, frame: pd.DataFrame, header: bool = False) -> None:
        if self.fmt != "parquet":
            self._handle.write(encode_chunk(frame, self.fmt, header))
            return
        pa = require_pyarrow(self.part)
        if self.schema is None:
            self.schema = _frame_schema(pa, frame)
        try:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise InputError(f"{self.path}: a chunk's values do not fit the column types of the first chunk "
                             f"({err}); expected one type per column") from None
        tmp = self.part / f".{self._count:08d}.tmp"
        with open(tmp, "wb") as handle:
            pa.parquet.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._chunk_path(self._count))
        self._count += 1

    def sync(self) -> int:
        """Flush to disk; the position to record."""
        if self.fmt == "parquet":
            _sync_dir(self.part)
            return self._count
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def finish(self) -> None:
        """Rename (text) or assemble (Parquet) the part into `path`."""
        self.close()
        if self.fmt == "parquet":
            _merge([self._chunk_path(i) for i in range(self._count)], self.path, "parquet")  # under the job's lock
            shutil.rmtree(self.part)
        else:
            os.replace(self.part, self.path)
        _sync_dir(self.path.parent)

    def discard(self) -> None:
        self.close()
        if self.part.is_dir():
            shutil.rmtree(self.part)
        elif self.part.exists():
            self.part.unlink()


def _frame_schema(pa, frame):
    """The arrow schema of an output chunk; a column with no values yet is taken as text."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False).remove_metadata()
    for i, field in enumerate(schema):
        if pa.types.is_null(field.type):
            schema = schema.set(i, field.with_type(pa.string()))
    return schema


# -- merging --------------------------------------------------------------------------------------------------

def _csv_header(handle) -> bytes:
    """The header record's bytes (its lines, up to an even number of quotes)."""
    header = b""
    for line in handle:
        header += line
        if header.count(b'"') % 2 == 0:
            break
    return header


def merge_tables(parts, output, fmt: str | None = None, overwrite: bool = True) -> None:
    """Concatenate tables of one format (e.g. the `--shard` outputs, in order) into `output`, atomically.

    CSV/TSV keep the first header and require every part to have the same; JSONL parts are joined as they
    are; Parquet parts must share one schema and are copied a row group at a time. An existing `output` is
    replaced only with `overwrite`; one merge at a time writes it (`<output>.lock`).
    """
    fmt = fmt or stream_format(output)
    parts = [Path(p) for p in parts]
    refuse_existing([output], overwrite)
    directory = Path(output).parent
    if not directory.is_dir():
        raise InputError(f"{output}: directory '{directory}' does not exist")
    with exclusive(lock_path(output), output):
        refuse_existing([output], overwrite)
        _merge(parts, Path(output), fmt)


def _merge(parts, output, fmt):
    if not parts:
        raise InputError("annotate-merge: expected at least one part")
    for part in parts:
        if not part.is_file():
            raise InputError(f"{part}: file not found")
        if stream_format(part) != fmt:
            raise InputError(f"{part}: a {stream_format(part)} file; expected {fmt} like the output {output}")
    if fmt == "parquet":
        pa = require_pyarrow(output)
        schema = pa.parquet.read_schema(parts[0])
        with atomic_write(output, "wb") as sink:
            with pa.parquet.ParquetWriter(sink, schema) as writer:
                for part in parts:
                    source = pa.parquet.ParquetFile(part)
                    if not source.schema_arrow.equals(schema):
                        raise InputError(f"{part}: columns differ from {parts[0]}'s ({source.schema_arrow.names})")
                    for g in range(source.metadata.num_row_groups):
                        table = source.read_row_group(g)
                        if len(table):
                            writer.write_table(table)
        return
    with atomic_write(output, "wb") as sink:
        header = None
        for part in parts:
            with open(part, "rb") as handle:
                if fmt != "jsonl":
                    mine = _csv_header(handle)
                    if header is None:
                        header = mine
                        sink.write(header)
                    elif mine != header:
                        raise InputError(f"{part}: header differs from {parts[0]}'s; expected parts of one annotation")
                last = b"\n"
                for block in iter(lambda: handle.read(_BLOCK), b""):
                    sink.write(block)
                    last = block[-1:]
                if last != b"\n":
                    sink.write(b"\n")


# -- resumable outputs ----------------------------------------------------------------------------------------

PROGRESS_VERSION = 1
_COUNTS = ("chunks", "records", "rows", "skipped", "bytes", "side_bytes")


def progress_path(output) -> Path:
    """Where an unfinished annotation of `output` records how far it got: `<output>.progress.json`."""
    output = Path(output)
    return output.with_name(output.name + ".progress.json")


class ResumableOutput:
    """An output (and an optional CSV side file) written chunk by chunk as `.part` files, with
    `<output>.progress.json` recording after each complete chunk how far they are (flushed and fsync'd).

    `resume(identity)` compares the recorded input fingerprint and options with this job's and returns
    the counts to continue from (zeros for a fresh start); `open` cuts the parts back to the recorded
    sizes; `finish` renames them into place and removes the progress file, so a file under the final name
    is always complete. `finish` records that it has begun first: a job stopped while renaming (a full disk
    while Parquet parts are assembled, a signal) resumes as `finishing` and `complete` ends the renames.
    """

    def __init__(self, output, fmt: str, side=None):
        self.output = Path(output)
        self.progress = progress_path(self.output)
        self.finishing = False
        self.main = PartWriter(output, fmt)
        self.side = PartWriter(side, "csv") if side is not None else None
        self.identity = None

    def parts(self) -> list:
        return [w.part for w in (self.main, self.side) if w is not None]

    def resume(self, identity: dict):
        """(counts, note): where to continue and, when it is not a fresh start or a clean resume, why."""
        self.identity = identity
        fresh = dict.fromkeys(_COUNTS, 0)
        if not self.progress.is_file():
            return fresh, None
        try:
            old = json.loads(self.progress.read_text(encoding="utf-8"))
            counts = {k: int(old["counts"][k]) for k in _COUNTS}
            if old["version"] != PROGRESS_VERSION:
                raise ValueError("another version")
        except (ValueError, KeyError, TypeError):
            return fresh, f"{self.progress}: unreadable; starting over"
        leftovers = " and ".join(str(p) for p in [*self.parts(), self.progress] if p.exists())
        if old.get("input") != identity["input"]:
            raise InputError(f"{self.progress}: an unfinished annotation of {old.get('input', {}).get('path')} as it "
                             f"was then; the input has changed since (size, time or first MiB); delete {leftovers} "
                             "to start over")
        theirs, mine = old.get("options", {}), identity["options"]
        for key in sorted(set(theirs) | set(mine)):
            if theirs.get(key) != mine.get(key):
                raise InputError(f"{self.progress}: an unfinished annotation with {key}={theirs.get(key)!r}, this one "
                                 f"has {mine.get(key)!r}; rerun with the same options to resume it, or delete "
                                 f"{leftovers} to start over")
        if old.get("finishing"):
            writers = [w for w in (self.main, self.side) if w is not None]
            if all(w.part.exists() or w.path.exists() for w in writers):
                self.finishing = True
                return counts, None
            return fresh, f"{self.progress}: a part file is missing; starting over"
        if self.main.size() < counts["bytes"] or (self.side is not None and self.side.size() < counts["side_bytes"]):
            return fresh, f"{self.progress}: the part files are shorter than recorded; starting over"
        return counts, None

    def open(self, counts: dict) -> None:
        self.main.open(counts["bytes"])
        if self.side is not None:
            self.side.open(counts["side_bytes"])

    def commit(self, counts: dict, finishing: bool = False) -> None:
        """Record a complete chunk: the parts on disk first, then the progress file that points at them."""
        counts["bytes"] = self.main.sync()
        if self.side is not None:
            counts["side_bytes"] = self.side.sync()
        self._record(counts, finishing)

    def _record(self, counts: dict, finishing: bool = False) -> None:
        with atomic_write(self.progress) as handle:
            json.dump({"version": PROGRESS_VERSION, **self.identity, "counts": counts,
                       **({"finishing": True} if finishing else {})}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        _sync_dir(self.progress.parent)

    def finish(self, counts: dict) -> None:
        """Every part is complete: record that the renames begin, then rename (or assemble) each into place."""
        self.commit(counts, finishing=True)
        self.complete(counts, reopen=False)

    def complete(self, counts: dict, reopen: bool = True) -> None:
        """Rename the parts still under their `.part` names into place (all of them, or what a stopped `finish`
        left; `reopen`: this process did not write them, so they are opened at their recorded sizes first), then
        remove the progress file."""
        for writer, position in ((self.side, counts.get("side_bytes", 0)), (self.main, counts["bytes"])):
            if writer is None:
                continue
            if reopen:
                if not writer.part.exists():
                    continue  # put in place before the stop (`resume` checked that it is there)
                writer.open(position)
            writer.finish()
        self.progress.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove the parts and the progress file (the job cannot be resumed: its input is bad)."""
        for writer in (self.main, self.side):
            if writer is not None:
                writer.discard()
        self.progress.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the parts; on the way out of a failed job (after `finish` nothing is buffered), so a second
        error flushing what the failure left unwritten does not hide the first: the progress file is what counts."""
        for writer in (self.main, self.side):
            if writer is not None:
                with contextlib.suppress(OSError):
                    writer.close()
