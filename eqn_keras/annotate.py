"""Scoring texts with a trained model (a run directory, a preset or an `EQNModel`): annotate files, score lists of
texts; re-evaluate a run.

Users see energies clipped to the model's range (a run's min_value / max_value, the paper's 0-10); the
raw head output, on which a run's metrics and its dev-tuned threshold were computed, stays in
`scores_<stage>.npz` and `Annotator.raw_scores`. A threshold h (eq. 8) is decided on the raw scores, the ones
it was tuned on: for min < h <= max that is the same as deciding on the clipped energies.
"""

from __future__ import annotations

import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .distribute import inference_jit
from .fileio import (InputError, Param, atomic_write, exclusive, lock_path, read_table, refuse_existing,
                     require_column, write_json)
from .labels import clip_energies, threshold_annotate, threshold_label_names
from .options import BAD_ROW_POLICIES, JIT_MODES, XLA_MIN_ROWS, AnnotateOptions
from .sequence import tokenize
from .tablestream import (ResumableOutput, TableReader, encode_chunk, fingerprint, progress_path, require_pyarrow,
                          stream_format)
from .rundir import load_scores, predict_scores, read_run_config, with_precision

TUNED = "tuned"
LABELS_COLUMN = "annotated_labels"
LABEL_SEP = AnnotateOptions.label_sep  # the default separator of the names in annotated_labels
PREDICT_BATCH_SIZE = 256  # texts per forward pass unless models/<arch>.json sets predict_batch_size


def parse_threshold(value):
    """None, 'tuned', or a finite number (also as a string, as the command line gives it); else an InputError."""
    if value is None or (isinstance(value, str) and value.strip().lower() == TUNED):
        return None if value is None else TUNED
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InputError(Param("threshold", value), f": expected a number or '{TUNED}' (the run's dev-tuned threshold)")
    return number


def energy_frame(raw, label_names, energy_range, h=None, label_h=None, label_sep: str = LABEL_SEP) -> pd.DataFrame:
    """Raw scores [N, C] as the annotated frame: clipped energies, one column per label name; those whose raw
    score is below `h` at the range's minimum (eq. 8); with `label_h`, a column `annotated_labels` naming the
    labels whose raw score is >= `label_h`, joined by `label_sep`."""
    energies = clip_energies(raw, energy_range)
    if h is not None:
        low = energy_range[0] if energy_range else 0.0
        energies = threshold_annotate(raw, h, shown=energies, fill=low)
    frame = pd.DataFrame(energies, columns=list(label_names))
    if label_h is not None:
        frame[LABELS_COLUMN] = threshold_label_names(raw, label_h, label_names, label_sep)
    return frame


class Annotator:
    """A trained stage's model: `score(texts)` gives energy scores [N, C] with `label_names` columns.

    `model`: a run directory (its last stage, or `stage`), a preset (a folder written by `EQNModel.save_to_preset`,
    or an hf:// / kaggle:// handle) or an `EQNModel`; see `ModelSource`. The label names, the energy range, the
    texts per forward pass and the dev-tuned threshold are the model's (`EQNModel`'s config).

    Energies are clipped to the model's range (`energy_range`, 0-10 by default); `raw_scores` gives the head's
    unclipped output, on which the run's metrics and thresholds were computed. A baseline head's
    probabilities are never clipped (`energy_range` is None). `precision`: float32 (exact, the default),
    bfloat16, or auto (bfloat16 for BERT on CPUs with native bf16 matmuls; see `inference_precision`).
    `jit_compile`: score through XLA or not (None: Keras's choice, on only where a GPU is visible); `jit` sets it
    later, see `inference_jit` for when it pays on CPU.
    """

    def __init__(self, model, stage: str | None = None, precision: str = "float32",
                 jit_compile: bool | None = None):
        from .distribute import inference_precision
        from .model import ModelSource

        self.source = ModelSource.of(model)
        self.model = self.source.load(stage)
        self.stage = self.model.stage
        self.run_dir = Path(self.source.location) if self.source.kind == "run" else None
        self.precision = inference_precision(precision, self.model.arch)
        self.vectorizer = self.model.preprocessor
        # the token-ids path (backbone, head) as a plain Keras model: what `with_precision` can rebuild
        self.core = with_precision(keras.Model(self.model.input, self.model.output, name=f"{self.model.name}_ids"),
                                   self.precision)
        if jit_compile is not None:
            self.jit = jit_compile
        self.label_names = list(self.model.label_names)
        self.energy_range = self.model.energy_range
        self.batch_size = int(self.model.predict_batch_size)  # texts per forward pass when none is given
        self._identity = None

    @property
    def jit(self) -> bool:
        """Whether scoring compiles with XLA (the scoring model's `jit_compile`)."""
        return bool(self.core.jit_compile)

    @jit.setter
    def jit(self, on: bool) -> None:
        self.core.jit_compile = bool(on)

    @property
    def tuned_threshold(self) -> float:
        """This stage's dev-tuned threshold (the model's `threshold`), what `threshold='tuned'` uses."""
        if self.model.threshold is None:
            raise self.source.missing_threshold(self.stage)
        return self.model.threshold

    def identity(self) -> dict:
        """What identifies the model in a resumed job's record (`ModelSource.identity`)."""
        if self._identity is None:
            self._identity = self.source.identity(self.model)
        return dict(self._identity)

    def threshold(self, value) -> float | None:
        """A threshold argument resolved: None, 'tuned' (the stored one) or a number."""
        value = parse_threshold(value)
        return self.tuned_threshold if value == TUNED else value

    def token_ids(self, texts) -> np.ndarray:
        """The model's input for `texts`: token ids [N, seq_len]."""
        return tokenize(self.vectorizer, list(texts))

    def raw_scores(self, texts, batch_size: int | None = None, verbose: int = 0, token_ids=None) -> np.ndarray:
        """The head's unclipped output [N, C] (what metrics and threshold tuning use); `token_ids`: `texts`
        already tokenized by `token_ids`."""
        ids = self.token_ids(texts) if token_ids is None else token_ids
        return predict_scores(self.core, ids, self.batch_size if batch_size is None else batch_size, verbose)

    def score(self, texts, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """Energies [N, C], clipped to the run's range."""
        return clip_energies(self.raw_scores(texts, batch_size, verbose), self.energy_range)

    def annotate(self, texts, threshold=None, labels: bool = False, label_sep: str = LABEL_SEP,
                 batch_size: int | None = None, verbose: int = 0) -> pd.DataFrame:
        """One energy column per label name; see `annotate_scores` for `threshold` and `labels`."""
        return self.annotate_scores(self.raw_scores(texts, batch_size, verbose), threshold, labels, label_sep)

    def annotate_scores(self, raw, threshold=None, labels: bool = False, label_sep: str = LABEL_SEP) -> pd.DataFrame:
        """Clipped energies of raw scores [N, C] as a frame, one column per label name.

        `threshold` h (a number or 'tuned'): energies whose raw score is below h become the range's minimum,
        0 (eq. 8). `labels`: add the column `annotated_labels`, the names of the labels whose raw score is >= h
        (the tuned h when `threshold` is None), joined by `label_sep`.
        """
        h = self.threshold(threshold)
        label_h = (self.tuned_threshold if h is None else h) if labels else None
        return energy_frame(raw, self.label_names, self.energy_range, h, label_h, label_sep)


def check_columns(columns, text_col: str, label_names, path, labels: bool = False) -> None:
    """A table can be annotated: its text column exists, and no column is named like one annotation adds."""
    require_column(pd.DataFrame(columns=list(columns)), text_col, path)
    clash = [n for n in label_names if n in columns]
    if clash:
        raise InputError(f"{path}: column '{clash[0]}' has a label's name; rename it so the scores can be added")
    if labels and LABELS_COLUMN in columns:
        raise InputError(f"{path}: column '{LABELS_COLUMN}' exists; rename it so ", Param("labels"), " can add it")


class TableAnnotator:
    """A model's annotation of table chunks (`model`: see `Annotator`): `errors(frame)` finds the rows it cannot score, `frame_out = self(frame)`
    appends one energy column per label (clipped, 2 decimals) and, with `labels`, `annotated_labels`.

    The one scoring step of every file path (streaming, in memory, `--shard`), kept free of files so another
    driver (e.g. a Beam DoFn) can call it on its own batches. `options`: an `AnnotateOptions` (its scoring fields:
    stage, text_col, threshold, labels, label_sep, batch_size, precision), or its fields as keywords;
    `threshold` and `labels`: see `Annotator.annotate_scores`. XLA is the driver's choice (`choose_jit`).
    """

    def __init__(self, model, options: AnnotateOptions | None = None, **values):
        options = AnnotateOptions.with_values(options, **values)
        parse_threshold(options.threshold)  # bad values fail before the model loads
        if options.labels and not options.label_sep:
            raise InputError(Param("label_sep"), ": expected a non-empty separator for the annotated label names")
        if options.batch_size is not None and options.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {options.batch_size!r}")
        self.annotator = Annotator(model, options.stage, options.precision)
        self.threshold = self.annotator.threshold(options.threshold)  # a missing tuned threshold fails here
        self.label_threshold = (self.annotator.tuned_threshold if self.threshold is None else self.threshold) \
            if options.labels else None
        self.text_col, self.labels, self.label_sep = options.text_col, options.labels, options.label_sep
        self.batch_size = int(self.annotator.batch_size if options.batch_size is None else options.batch_size)
        self.given = options

    @property
    def label_names(self) -> list:
        return self.annotator.label_names

    def options(self, **resolved) -> dict:
        """Everything that decides the output's values (a resumed job must match them): the options' fields that
        affect the output (`AnnotateOptions.output_identity`) as this scorer resolved them (the stage, the tuned
        threshold, the precision and XLA chosen) or as a driver did (`resolved`, e.g. the shard), the model
        (`Annotator.identity`: a run's stage file, a preset's content), and the threshold the label names use."""
        resolved = self.given.output_identity(**{
            "stage": self.annotator.stage, "threshold": self.threshold,
            "label_sep": self.label_sep if self.labels else None, "batch_size": self.batch_size,
            "precision": self.annotator.precision, "jit_compile": self.annotator.jit, **resolved})
        return {**self.annotator.identity(), "label_threshold": self.label_threshold, **resolved}

    def choose_jit(self, requested: str, rows) -> bool:
        """Resolve --jit-compile (auto | on | off) for a job of `rows` texts (a count or a function giving it)."""
        self.annotator.jit = inference_jit(requested, self.annotator.model.arch,
                                           self.annotator.precision, rows)
        return self.annotator.jit

    def check_columns(self, columns, path) -> None:
        """The text column exists, and no column is named like one this adds."""
        check_columns(columns, self.text_col, self.label_names, path, self.labels)

    def texts(self, frame) -> pd.Series:
        return frame_texts(frame, self.text_col)

    def errors(self, frame) -> np.ndarray:
        """Why each row cannot be annotated ('' when it can): an empty or missing text."""
        return text_errors(frame, self.text_col)

    def prepare(self, frame) -> np.ndarray:
        """Token ids of a chunk's texts: the part of scoring that can run ahead, beside the model."""
        return self.annotator.token_ids(self.texts(frame).tolist())

    def __call__(self, frame, token_ids=None) -> pd.DataFrame:
        """`frame` annotated; `token_ids`: its texts already tokenized by `prepare`."""
        if len(frame):
            raw = self.annotator.raw_scores(self.texts(frame).tolist(), batch_size=self.batch_size,
                                            token_ids=token_ids)
        else:
            raw = np.zeros((0, len(self.label_names)), dtype=np.float32)
        scores = self.annotator.annotate_scores(raw, self.threshold, self.labels, self.label_sep)
        return annotated_frame(frame, scores, self.label_names)


def frame_texts(frame, text_col: str) -> pd.Series:
    """A table chunk's texts as strings, a missing value as ''."""
    column = frame[text_col]
    return column.where(column.notna(), "").astype(str)


def text_errors(frame, text_col: str) -> np.ndarray:
    """Why each row of a table chunk cannot be annotated ('' when it can): an empty or missing text."""
    blank = frame_texts(frame, text_col).str.strip().eq("").to_numpy(dtype=bool)
    return np.where(blank, f"column '{text_col}' is empty; expected non-empty text", "").astype(object)


def annotated_frame(frame, scores: pd.DataFrame, label_names) -> pd.DataFrame:
    """The annotated table's layout: the input columns, then `scores` with its energy columns at 2 decimals."""
    scores[list(label_names)] = scores[list(label_names)].round(2)
    return pd.concat([frame.reset_index(drop=True), scores.reset_index(drop=True)], axis=1)


def parse_shard(shard: str | None):
    """'i/n' -> (i, n) with 0 <= i < n; None -> (0, 1)."""
    if shard is None:
        return 0, 1
    try:
        i, n = (int(part) for part in str(shard).split("/"))
    except ValueError:
        raise InputError(Param("shard", shard), ": expected i/n, e.g. 0/4 for the first of four parts") from None
    if n < 1 or not 0 <= i < n:
        raise InputError(Param("shard", shard), ": expected 0 <= i < n")
    return i, n


@dataclass
class AnnotateSummary:
    """What `annotate_file` did: rows written to `output`, rows skipped (listed in `skipped_path`), and the
    precision the model scored in, with or without XLA."""

    rows: int
    skipped: int = 0
    skipped_path: Path | None = None
    resumed_from: int = 0
    precision: str = "float32"
    jit_compile: bool = False


def skipped_path(output_path) -> Path:
    """Where `--on-bad-row skip` lists the skipped rows: `<output>.skipped.csv`."""
    return Path(str(output_path) + ".skipped.csv")


def _bad_row(reader, where, reason) -> InputError:
    """One line naming a bad record: FILE:LINE (the line it starts on) or, in Parquet, FILE: row N."""
    if reader.fmt == "parquet":
        place = f"{reader.path}: row {where}"
    else:
        place = f"{reader.path}:{where}"
    return InputError(f"{place}: {reason} (", Param("on_bad_row", "skip"), " annotates the other rows and lists the "
                      "skipped ones)")


def _chunk_errors(scorer, chunk) -> np.ndarray:
    """A chunk's unusable records: parse errors first, then what the annotator refuses."""
    return np.where(chunk.good, scorer.errors(chunk.frame), chunk.error)


def annotate_file(model, input_path, output_path, *, options: AnnotateOptions | None = None,
                  **values) -> AnnotateSummary:
    """Annotate a CSV/TSV/JSONL/Parquet file chunk by chunk: the same rows plus one energy column per label.

    `model`: a run directory, a preset (folder or hf:// / kaggle:// handle) or an `EQNModel` (see `Annotator`).

    `options`: an `AnnotateOptions`; or its fields as keywords (`annotate_file(run, src, dst, threshold="tuned")`),
    which set those fields of `options` (default: every field's default, what `eqn-keras annotate` does).

    Memory holds one chunk (`chunk_size` rows) whatever the input size. The output is written as
    `<output>.part` with `<output>.progress.json` after each chunk; the same call after a crash continues
    from the last complete chunk, and `output` appears only when complete (byte-identical to an
    uninterrupted run). `on_bad_row='error'` checks the rows first (no model) and stops at the first
    unusable one, naming its line; 'skip' annotates the rest and lists the skipped rows, with line and
    reason, in `<output>.skipped.csv`. `shard='i/n'` annotates the i-th of n contiguous parts of the rows
    (their outputs concatenate back in order, see `merge_tables`). `chunk_size=0` is the in-memory path
    (`annotate_file_in_memory`). `threshold`, `labels`, `label_sep`: see `Annotator.annotate_scores`;
    `precision`: see `Annotator` (auto by default); `jit_compile` (auto | on | off): XLA, see `inference_jit`.

    One job per output: it holds `<output>.lock` (see `exclusive`) while it writes, and another job on the same
    output fails at once. A file already at `output` (or the skipped-rows file) is refused unless `overwrite`;
    it is replaced only when the new one is complete.
    """
    options = AnnotateOptions.with_values(options, **values)
    if options.jit_compile not in JIT_MODES:
        raise InputError(Param("jit_compile", options.jit_compile), f": expected one of {', '.join(JIT_MODES)}")
    if options.chunk_size == 0:
        if options.on_bad_row != "error":
            raise InputError(Param("on_bad_row", options.on_bad_row), ": needs streaming; expected ",
                             Param("chunk_size"), " > 0")
        return annotate_file_in_memory(model, input_path, output_path, options=options)
    if options.chunk_size < 0:
        raise InputError(Param("chunk_size", options.chunk_size), ": expected a positive number of rows (0: whole "
                         "file in memory)")
    if options.on_bad_row not in BAD_ROW_POLICIES:
        raise InputError(Param("on_bad_row", options.on_bad_row), f": expected one of {', '.join(BAD_ROW_POLICIES)}")
    part, parts = parse_shard(options.shard)
    fmt_out = stream_format(output_path)
    out_dir = Path(output_path).parent
    if not out_dir.is_dir():
        raise InputError(f"{output_path}: directory '{out_dir}' does not exist")
    side = skipped_path(output_path) if options.on_bad_row == "skip" else None
    with exclusive(lock_path(output_path), output_path):
        if not progress_path(output_path).is_file():  # else the files are this job's, resumed below
            refuse_existing([output_path, side], options.overwrite, "output_path")
        return _annotate_stream(model, input_path, output_path, fmt_out, side, part, parts, options)


def _annotate_stream(model, input_path, output_path, fmt_out, side, part, parts, options):
    """`annotate_file`'s streaming path, run while the output's lock is held."""
    scorer = TableAnnotator(model, options)
    reader = TableReader(input_path, options.chunk_size)
    scorer.check_columns(reader.columns, input_path)
    lo, hi = 0, None
    if parts > 1:
        n = reader.count(exact=True)
        lo, hi = part * n // parts, (part + 1) * n // parts
    # auto needs only "at least XLA_MIN_ROWS rows?": counted no further than that
    scorer.choose_jit(options.jit_compile, lambda: reader.count_upto(XLA_MIN_ROWS) if hi is None else hi - lo)
    job = ResumableOutput(output_path, fmt_out, side)
    identity = {**scorer.options(shard=[part, parts]), "output_format": fmt_out}
    counts, note = job.resume({"input": fingerprint(input_path), "options": identity})
    if note:
        print(note, file=sys.stderr)
    if job.finishing:  # every row was written before the job stopped: only its files remain to be put in place
        job.complete(counts)
        return AnnotateSummary(counts["rows"], counts["skipped"], side, counts["records"],
                               scorer.annotator.precision, scorer.annotator.jit)
    total = _total(reader, scorer, lo, hi, counts["records"], options.on_bad_row)
    if counts["records"]:
        print(f"resuming {job.main.part}: {counts['records']} of {total or 'the'} rows done", file=sys.stderr)
    resumed_from = counts["records"]
    reader = TableReader(input_path, options.chunk_size, start=lo + resumed_from, stop=hi)
    job.open(counts)
    try:
        _stream(reader, scorer, job, counts, options.on_bad_row, total, options.verbose)
        job.finish(counts)
    except InputError:
        job.discard()
        raise
    except OSError as err:  # kept for the rerun to resume from; a write to an open part names no file
        if err.filename is None:
            err.filename = str(job.main.part)
        raise
    finally:
        job.close()
    return AnnotateSummary(counts["rows"], counts["skipped"], side, resumed_from, scorer.annotator.precision,
                           scorer.annotator.jit)


def _total(reader, scorer, lo, hi, done, on_bad_row):
    """The rows this job covers: with `on_bad_row='error'` found by checking every remaining row first
    (reading only, no model), so a bad row stops the job before any scoring; else a cheap count or None."""
    if on_bad_row == "error":
        n = done
        for chunk in TableReader(reader.path, reader.chunk_size, start=lo + done, stop=hi):
            error = _chunk_errors(scorer, chunk)
            bad = np.flatnonzero(error != "")
            if len(bad):
                raise _bad_row(reader, chunk.where[bad[0]], error[bad[0]])
            n += len(chunk)
        return n
    if hi is not None:
        return hi - lo
    return reader.count(exact=False)


def _stream(reader, scorer, job, counts, on_bad_row, total, verbose):
    """Score and append chunk after chunk, committing the progress after each one."""
    bar = keras.utils.Progbar(total, unit_name="row", stateful_metrics=["rows/s"]) if verbose else None
    start, first = time.perf_counter(), counts["records"]
    if bar is not None and first:
        bar.update(first)
    for chunk, error, token_ids in _read_ahead(reader, scorer):
        good = error == ""
        if on_bad_row == "error" and not good.all():
            bad = int(np.flatnonzero(~good)[0])
            raise _bad_row(reader, chunk.where[bad], error[bad])
        job.main.append(scorer(chunk.frame[good], token_ids), header=counts["chunks"] == 0)
        if job.side is not None:
            job.side.append(pd.DataFrame({reader.where_name: chunk.where[~good], "reason": error[~good]}),
                            header=counts["chunks"] == 0)
        counts["chunks"] += 1
        counts["records"] += len(chunk)
        counts["rows"] += int(good.sum())
        counts["skipped"] += int((~good).sum())
        job.commit(counts)
        if bar is not None:
            rate = (counts["records"] - first) / max(time.perf_counter() - start, 1e-9)
            bar.update(counts["records"], [("rows/s", round(rate))])
    if counts["chunks"] == 0:  # no rows: the output still gets its header (or schema)
        job.main.append(scorer(pd.DataFrame({c: pd.Series(dtype=object) for c in reader.columns})), header=True)
        if job.side is not None:
            job.side.append(pd.DataFrame({reader.where_name: [], "reason": []}), header=True)
        job.commit(counts)
    if bar is not None:
        bar.update(counts["records"], finalize=True)


def _read_ahead(reader, scorer):
    """(chunk, errors, token ids of its good rows), one chunk ahead in a worker thread: reading, parsing,
    checking and tokenizing chunk i + 1 overlap the model's scoring of chunk i (pandas' parser and TensorFlow
    release the GIL)."""
    chunks = iter(reader)

    def load():
        chunk = next(chunks, None)
        if chunk is None:
            return None
        error = _chunk_errors(scorer, chunk)
        return chunk, error, scorer.prepare(chunk.frame[error == ""])

    with ThreadPoolExecutor(1, thread_name_prefix="eqn-annotate-read") as pool:
        ahead = pool.submit(load)
        while (item := ahead.result()) is not None:
            ahead = pool.submit(load)
            yield item


def _read_whole(path):
    """The whole table in memory (the path before streaming): `read_table`, or pandas for Parquet."""
    if stream_format(path) != "parquet":
        return read_table(path)
    if not Path(path).is_file():
        raise InputError(f"{path}: file not found")
    require_pyarrow(path)
    return pd.read_parquet(path)


def annotate_file_in_memory(model, input_path, output_path, *, options: AnnotateOptions | None = None,
                            **values) -> AnnotateSummary:
    """The whole file read, scored and written at once (what `annotate` did before streaming; `chunk_size=0`).

    Memory grows with the file; kept as the reference the streaming path is measured and tested against.
    `options` (or its fields as keywords): as for `annotate_file`; `chunk_size` and `on_bad_row` do not apply.
    """
    options = AnnotateOptions.with_values(options, **values)
    part, parts = parse_shard(options.shard)
    fmt_out = stream_format(output_path)
    refuse_existing([output_path], options.overwrite, "output_path")  # before the model loads; again under the lock
    scorer = TableAnnotator(model, options)
    frame = _read_whole(input_path)
    if parts > 1:
        frame = frame.iloc[part * len(frame) // parts:(part + 1) * len(frame) // parts]
    scorer.check_columns(list(frame.columns), input_path)
    scorer.choose_jit(options.jit_compile, len(frame))
    blank = np.flatnonzero(scorer.errors(frame) != "")
    if len(blank):
        raise InputError(f"{input_path}: row {frame.index[blank[0]] + 1}, column '{options.text_col}': empty text; "
                         f"expected non-empty text ({len(blank)} empty row(s))")
    out_dir = Path(output_path).parent
    if not out_dir.is_dir():
        raise InputError(f"{output_path}: directory '{out_dir}' does not exist")
    with exclusive(lock_path(output_path), output_path):
        refuse_existing([output_path], options.overwrite, "output_path")
        result = scorer(frame)
        with atomic_write(output_path, "wb") as handle:
            if fmt_out == "parquet":
                result.to_parquet(handle, index=False)
            else:
                handle.write(encode_chunk(result, fmt_out, header=True))
    return AnnotateSummary(len(result), precision=scorer.annotator.precision, jit_compile=scorer.annotator.jit)


def evaluate_run(run_dir, stages=None, output=None) -> dict:
    """Recompute every stage's report (Tables 3-6) from the saved scores; write evaluation.json."""
    from .metrics import evaluation_report  # scikit-learn: not imported by annotating

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    names = config["dataset"]["label_names"]
    reports = {}
    for stage in stages or config["stages"]:
        path = run_dir / f"scores_{stage}.npz"
        if not path.is_file():
            raise InputError(f"{path}: no scores for stage '{stage}'; stages in this run: {', '.join(config['stages'])}")
        data = load_scores(path)
        reports[stage] = evaluation_report(data["test"][0], data["test"][1], names, config["dataset"]["multi_label"],
                                           dev_scores=data["dev"][0], dev_labels=data["dev"][1])
    write_json(Path(output) if output else run_dir / "evaluation.json", reports)
    return reports
