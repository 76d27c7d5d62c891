"""Scoring texts with a trained run: annotate files, score lists of texts, re-evaluate a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .fileio import InputError, atomic_write, read_table, require_column, table_format, write_json
from .labels import threshold_annotate
from .metrics import evaluation_report
from .sequence import tokenize
from .training import load_run, load_scores, predict_scores, read_run_config, split_text_model


class Annotator:
    """A trained run's model: `score(texts)` gives energy scores [N, C] with `label_names` columns."""

    def __init__(self, run_dir, stage: str | None = None):
        self.config, self.stage, model = load_run(run_dir, stage)
        self.vectorizer, self.core = split_text_model(model)
        self.label_names = list(self.config["dataset"]["label_names"])

    def score(self, texts, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        return predict_scores(self.core, tokenize(self.vectorizer, list(texts)), batch_size, verbose)

    def annotate(self, texts, threshold: float | None = None) -> pd.DataFrame:
        scores = self.score(texts)
        if threshold is not None:
            scores = threshold_annotate(scores, threshold)
        return pd.DataFrame(scores, columns=self.label_names)


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


def annotate_file(run_dir, input_path, output_path, text_col: str = "text", threshold: float | None = None,
                  stage: str | None = None, batch_size: int = 256, shard: str | None = None) -> int:
    """Read a CSV/TSV/JSONL file, append one energy column per label (2 decimals), write it atomically.

    With `shard='i/n'` only the i-th of n contiguous parts of the rows is annotated, so n machines can split
    a corpus and their outputs concatenate back in order.
    """
    part, parts = parse_shard(shard)
    fmt_out = table_format(output_path)
    annotator = Annotator(run_dir, stage)
    frame = read_table(input_path)
    if parts > 1:
        frame = frame.iloc[part * len(frame) // parts:(part + 1) * len(frame) // parts]
    texts = _check_texts(frame, text_col, input_path)
    clash = [n for n in annotator.label_names if n in frame.columns]
    if clash:
        raise InputError(f"{input_path}: column '{clash[0]}' has a label's name; rename it so the scores can be added")
    out_dir = Path(output_path).parent
    if not out_dir.is_dir():
        raise InputError(f"{output_path}: directory '{out_dir}' does not exist")
    scores = annotator.score(texts, batch_size=batch_size, verbose=1)
    if threshold is not None:
        scores = threshold_annotate(scores, threshold)
    result = pd.concat([frame.reset_index(drop=True),
                        pd.DataFrame(np.round(scores, 2), columns=annotator.label_names)], axis=1)
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
