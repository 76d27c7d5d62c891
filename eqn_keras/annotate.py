"""Scoring texts with a trained run: annotate files, score lists of texts, re-evaluate a run.

Users see energies clipped to the run's range (config.json's min_value / max_value, the paper's 0-10); the
raw head output, on which a run's metrics and its dev-tuned threshold were computed, stays in
`scores_<stage>.npz` and `Annotator.raw_scores`. A threshold h (eq. 8) is decided on the raw scores, the ones
it was tuned on: for min < h <= max that is the same as deciding on the clipped energies.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .fileio import InputError, atomic_write, read_table, require_column, table_format, write_json
from .labels import clip_energies, threshold_annotate, threshold_label_names
from .metrics import evaluation_report
from .sequence import tokenize
from .rundir import METRICS_FILE, energy_range, load_run, load_scores, predict_scores, read_run_config, split_text_model

TUNED = "tuned"
LABELS_COLUMN = "annotated_labels"
LABEL_SEP = "|"


def parse_threshold(value):
    """None, 'tuned', or a finite number (also as a string, as the command line gives it); else an InputError."""
    if value is None or (isinstance(value, str) and value.strip().lower() == TUNED):
        return None if value is None else TUNED
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise InputError(f"--threshold {value}: expected a number or '{TUNED}' (the run's dev-tuned threshold)")
    return number


def tuned_threshold(run_dir, stage: str) -> float:
    """The stage's threshold tuned for macro-F1 on the dev split, as stored in the run's metrics.json."""
    path = Path(run_dir) / METRICS_FILE
    stored = None
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8")).get("stages", {}).get(stage, {}).get("threshold")
    if stored is None:
        raise InputError(f"{path}: no dev-tuned threshold for stage '{stage}' (an unfinished run?); "
                         "pass a number to --threshold")
    return float(stored)


class Annotator:
    """A trained run's model: `score(texts)` gives energy scores [N, C] with `label_names` columns.

    Energies are clipped to the run's range (`energy_range`, 0-10 by default); `raw_scores` gives the head's
    unclipped output, on which the run's metrics and thresholds were computed. A baseline head's
    probabilities are never clipped (`energy_range` is None).
    """

    def __init__(self, run_dir, stage: str | None = None):
        self.run_dir = Path(run_dir)
        self.config, self.stage, model = load_run(run_dir, stage)
        self.vectorizer, self.core = split_text_model(model)
        self.label_names = list(self.config["dataset"]["label_names"])
        self.energy_range = energy_range(self.config)

    @property
    def tuned_threshold(self) -> float:
        """This stage's dev-tuned threshold (metrics.json), what `threshold='tuned'` uses."""
        return tuned_threshold(self.run_dir, self.stage)

    def threshold(self, value) -> float | None:
        """A threshold argument resolved: None, 'tuned' (the stored one) or a number."""
        value = parse_threshold(value)
        return self.tuned_threshold if value == TUNED else value

    def raw_scores(self, texts, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """The head's unclipped output [N, C] (what metrics and threshold tuning use)."""
        return predict_scores(self.core, tokenize(self.vectorizer, list(texts)), batch_size, verbose)

    def score(self, texts, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Energies [N, C], clipped to the run's range."""
        return clip_energies(self.raw_scores(texts, batch_size, verbose), self.energy_range)

    def annotate(self, texts, threshold=None, labels: bool = False, label_sep: str = LABEL_SEP,
                 batch_size: int = 256, verbose: int = 0) -> pd.DataFrame:
        """One energy column per label name; see `annotate_scores` for `threshold` and `labels`."""
        return self.annotate_scores(self.raw_scores(texts, batch_size, verbose), threshold, labels, label_sep)

    def annotate_scores(self, raw, threshold=None, labels: bool = False, label_sep: str = LABEL_SEP) -> pd.DataFrame:
        """Clipped energies of raw scores [N, C] as a frame, one column per label name.

        `threshold` h (a number or 'tuned'): energies whose raw score is below h become the range's minimum,
        0 (eq. 8). `labels`: add the column `annotated_labels`, the names of the labels whose raw score is >= h
        (the tuned h when `threshold` is None), joined by `label_sep`.
        """
        h = self.threshold(threshold)
        energies = clip_energies(raw, self.energy_range)
        if h is not None:
            low = self.energy_range[0] if self.energy_range else 0.0
            energies = threshold_annotate(raw, h, shown=energies, fill=low)
        frame = pd.DataFrame(energies, columns=self.label_names)
        if labels:
            frame[LABELS_COLUMN] = threshold_label_names(raw, self.tuned_threshold if h is None else h,
                                                         self.label_names, label_sep)
        return frame


def _check_texts(frame, text_col, path):
    require_column(frame, text_col, path)
    texts = frame[text_col].astype(str)
    blank = np.flatnonzero(texts.str.strip().eq("").to_numpy())
    if len(blank):
        raise InputError(f"{path}: row {frame.index[blank[0]] + 1}, column '{text_col}': empty text; expected non-empty text "
                         f"({len(blank)} empty row(s))")
    return texts.tolist()


def parse_shard(shard: str | None):
    """'i/n' -> (i, n) with 0 <= i < n; None -> (0, 1)."""
    if shard is None:
        return 0, 1
    try:
        i, n = (int(part) for part in str(shard).split("/"))
    except ValueError:
        raise InputError(f"--shard {shard}: expected i/n, e.g. 0/4 for the first of four parts") from None
    if n < 1 or not 0 <= i < n:
        raise InputError(f"--shard {shard}: expected 0 <= i < n")
    return i, n


def annotate_file(run_dir, input_path, output_path, text_col: str = "text", threshold=None,
                  stage: str | None = None, batch_size: int = 256, shard: str | None = None,
                  labels: bool = False, label_sep: str = LABEL_SEP) -> int:
    """Read a CSV/TSV/JSONL file, append one energy column per label (clipped, 2 decimals), write it atomically.

    `threshold` (a number or 'tuned', the run's dev-tuned one) zeroes the energies below it (eq. 8); `labels`
    adds the column `annotated_labels` with the label names at or above it (the tuned threshold when
    `threshold` is None), joined by `label_sep`. With `shard='i/n'` only the i-th of n contiguous parts of
    the rows is annotated, so n machines can split a corpus and their outputs concatenate back in order.
    """
    parse_threshold(threshold)  # bad values fail before the model loads
    part, parts = parse_shard(shard)
    if labels and not label_sep:
        raise InputError("--label-sep: expected a non-empty separator for the annotated label names")
    fmt_out = table_format(output_path)
    annotator = Annotator(run_dir, stage)
    if threshold is not None or labels:
        annotator.threshold(TUNED if threshold is None else threshold)  # a missing tuned threshold fails here
    frame = read_table(input_path)
    if parts > 1:
        frame = frame.iloc[part * len(frame) // parts:(part + 1) * len(frame) // parts]
    texts = _check_texts(frame, text_col, input_path)
    clash = [n for n in annotator.label_names if n in frame.columns]
    if clash:
        raise InputError(f"{input_path}: column '{clash[0]}' has a label's name; rename it so the scores can be added")
    if labels and LABELS_COLUMN in frame.columns:
        raise InputError(f"{input_path}: column '{LABELS_COLUMN}' exists; rename it so --labels can add it")
    out_dir = Path(output_path).parent
    if not out_dir.is_dir():
        raise InputError(f"{output_path}: directory '{out_dir}' does not exist")
    raw = annotator.raw_scores(texts, batch_size=batch_size, verbose=1)
    scores = annotator.annotate_scores(raw, threshold, labels, label_sep)
    scores[annotator.label_names] = scores[annotator.label_names].round(2)
    result = pd.concat([frame.reset_index(drop=True), scores], axis=1)
    with atomic_write(output_path) as handle:
        if fmt_out == "jsonl":
            result.to_json(handle, orient="records", lines=True, force_ascii=False)
        else:
            result.to_csv(handle, index=False, sep="\t" if fmt_out == "tsv" else ",", lineterminator="\n")
    return len(result)


def evaluate_run(run_dir, stages=None, output=None) -> dict:
    """Recompute every stage's report (Tables 3-6) from the saved scores; write evaluation.json."""
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
