"""GoEmotions report: the paper's Tables 4, 5, 6 and Figs 8/9 (plus a Fig. 2-like 3tfn heatmap) from saved scores.

Reads the runs that `benchmarks/reproduce.py` recorded in `benchmarks/results/table3.jsonl`, loads each run's
`scores_<stage>.npz` (from its run directory, else the copy in `benchmarks/results/scores/`; never retrains) and
writes, for one architecture:

    <out>/goemotions_<arch>.md                    Tables 4, 5, 6 next to the paper's, macro-F1 under two threshold
                                                  rules, the Ekman and sentiment groupings, a summary table, ours
                                                  against each published figure, the exact threshold search
                                                  against a grid, each head's difference to the sigmoid head
                                                  (paired bootstrap over test texts; paired t-test over seeds),
                                                  provenance
    <out>/goemotions_<arch>_pearson_coeqn.png     Fig. 8-like heatmap (CoEQN stage, GoEmotions test set)
    <out>/goemotions_<arch>_pearson_eqn.png       Fig. 9-like heatmap (EQN stage)
    <out>/3tfn_<arch>_pearson_coeqn.png           Fig. 2-like heatmap (CoEQN stage on 3tfn), when such a run exists

    python -m benchmarks.goemotions_report --arch textcnn
    python -m benchmarks.goemotions_report --arch lstm --seed 1 --results /tmp/table3.jsonl --out /tmp/report

Per-run tables (4, 5, 6, per-group F1) and heatmaps use one seed (`--seed`, default 0); every table that sets
heads side by side (macro-F1 under both threshold rules, groupings, summary, published figures) gives mean ±
sample std (ddof=1) over the seeds every head has, and each head's difference to the sigmoid head is tested
with a paired t-test over the seeds both have. Thresholds are tuned on dev searching every distinct dev score
(exact, `eqn_keras.metrics`' default); the report also shows what a 200-point grid would have given. Our
numbers come from `eqn_keras.metrics.evaluation_report` (and `pearson_matrix`, `groupings.grouped_evaluation`); the paper's
are BERT-base, read from `benchmarks/paper/*.csv`. The Ekman and sentiment mapping files are found like the
dataset's files (`--data-dir`, else $EQN_DATA_DIR, then the download cache, then upstream); without them
those sections are skipped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # load_scores lives in a module that imports TensorFlow
from eqn_keras import groupings as G
from eqn_keras import metrics as M
from eqn_keras.datasets import load_card
from eqn_keras.fileio import InputError, atomic_write
from eqn_keras.rundir import load_scores

from .common import (PAIRED_TEST, RESULTS, ROOT, archive_dir, archived_scores, md_table, mean_std, paired_test,
                     paired_verdict, read_results, run_path, shared_seeds, stage_run)
from .reproduce import hit_epoch_limit

DATASET = "goemotions"
BASELINE_HEAD = "multi"
STAGES = ("multi", "coeqn", "eqn")  # report column order: sigmoid baseline, CoEQN, EQN
STAGE_NAMES = {"multi": "sigmoid baseline", "coeqn": "CoEQN", "eqn": "EQN"}

# ------------------------------------------------------------------------------------ the paper's numbers

PAPER_DIR = ROOT / "benchmarks" / "paper"


def paper_table(name: str, index: str) -> pd.DataFrame:
    """One of the paper's tables as printed, from `benchmarks/paper/<name>.csv` (see its README)."""
    return pd.read_csv(PAPER_DIR / f"{name}.csv", index_col=index)


# Table 4: texts, labels, CoEQN hits and hit rate, EQN hits and hit rate per number of true labels, then Total.
PAPER_TABLE4 = paper_table("table4", "class")
# Table 5 (the 4590 single-label texts): the printed hits column is Top1's hits, then the new hits of Top2
# and Top3 ("+761"), so the cumulative hits are its running sum. Its header says "EQN", but 2416 / 0.5264
# are the CoEQN row of Table 4 (EQN's is 2534 / 0.5521), so it is the CoEQN stage.
PAPER_TABLE5 = paper_table("table5", "class").assign(hits=lambda t: t["increment"].cumsum())
# Table 6, in the paper's row order (alphabetical: neutral sits between nervousness and optimism), then its
# macro-average and std rows (population std over labels). Columns: Literature [13] (the GoEmotions paper's
# BERT) P R F1 | CoEQN P R F1 | EQN P R F1.
PAPER_TABLE6 = paper_table("table6", "label")
PAPER_LABELS = [x for x in PAPER_TABLE6.index if x not in ("macro-average", "std")]

# Reported test macro-F1 per taxonomy: (who, value). The 28-label values are Table 6's macro-average row (the
# EQN paper does not say how its predictions were thresholded); "Literature [13]" is the GoEmotions paper's
# BERT-base (Demszky et al. 2020), whose Ekman and sentiment grouping values are in goemotions_groupings.csv.
GOEMOTIONS_PAPER = "GoEmotions paper BERT-base (Demszky et al. 2020)"
PAPER_MACRO_F1 = {
    "goemotions": [("paper CoEQN (BERT-base, Table 6)", PAPER_TABLE6.loc["macro-average", "coeqn_f1"]),
                   ("paper EQN (BERT-base, Table 6)", PAPER_TABLE6.loc["macro-average", "eqn_f1"]),
                   (GOEMOTIONS_PAPER, PAPER_TABLE6.loc["macro-average", "lit_f1"])],
    **{name: [(GOEMOTIONS_PAPER, value)]
       for name, value in paper_table("goemotions_groupings", "grouping")["macro_f1"].items()},
}
GROUPING_TITLES = {"ekman": "Ekman grouping", "sentiment": "sentiment grouping"}


# ------------------------------------------------------------------------------------------ run selection

def setup_of(row) -> tuple:
    """(epochs, max_train) of a results row: runs compared with each other must share it."""
    return row.get("epochs"), row.get("max_train")


def _preference(row) -> tuple:
    return row.get("max_train") is None, row.get("epochs") or 0


def select_runs(rows, arch: str, dataset: str, head: str, setup=None) -> dict:
    """seed -> the run to use (of `setup` only, when given): full-data runs (max_train null) over subsampled ones,
    then the most epochs, then the last line."""
    by_seed = {}
    for row in rows:
        if (row.get("arch"), row.get("dataset"), row.get("head")) != (arch, dataset, head):
            continue
        seed = row.get("seed")
        if seed is None or (setup is not None and setup_of(row) != setup):
            continue
        old = by_seed.get(seed)
        if old is None or _preference(row) >= _preference(old):
            by_seed[seed] = row
    return dict(sorted(by_seed.items()))


def label_names(run_dir: Path, dataset: str, num_labels: int) -> list:
    """Label names from the run's config.json, else its metrics.json, else the dataset card, else ids."""
    candidates = []
    try:
        candidates.append(json.loads((run_dir / "config.json").read_text())["dataset"]["label_names"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        stages = json.loads((run_dir / "metrics.json").read_text())["stages"]
        candidates.extend(s.get("label_names") for s in stages.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    try:
        candidates.append(load_card(dataset)["label_names"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for names in candidates:
        if isinstance(names, list) and len(names) == num_labels:
            return [str(x) for x in names]
    return [str(i) for i in range(num_labels)]


# -------------------------------------------------------------------------------------------- evaluation

def off_diagonal(matrix: pd.DataFrame) -> np.ndarray:
    values = np.asarray(matrix, dtype=np.float64)
    return values[~np.eye(values.shape[0], dtype=bool)]


def mean_abs_r(matrix: pd.DataFrame) -> float:
    """Mean |Pearson r| over the off-diagonal cells (NaN cells of constant columns ignored)."""
    off = off_diagonal(matrix)
    off = off[~np.isnan(off)]
    return float(np.abs(off).mean()) if off.size else float("nan")


def frame(records, index: str) -> pd.DataFrame:
    """A table of an `evaluation_report` dict as a DataFrame (its None, JSON's NaN, back to NaN)."""
    return pd.DataFrame.from_records(records).set_index(index).apply(pd.to_numeric)


def evaluate_stage(scores_by_role: dict, names: list, groupings=None) -> dict:
    """All report numbers of one stage: `evaluation_report` (Tables 4-6, macro/micro scores under the dev-tuned
    global threshold and per-label thresholds, hit rate) with its tables as DataFrames, the Pearson matrix,
    and the same threshold scores of each grouping (`groupings`: name -> mapping; "groups" maps a name to
    its evaluation, or to the reason it failed)."""
    dev_scores, dev_labels = scores_by_role["dev"]
    test_scores, test_labels = scores_by_role["test"]
    report = M.evaluation_report(test_scores, test_labels, names, True, dev_scores, dev_labels)
    groups = {}
    for name, mapping in (groupings or {}).items():
        try:
            groups[name] = G.grouped_evaluation(dev_scores, dev_labels, test_scores, test_labels, names, mapping)
        except ValueError as err:  # e.g. label names that are not GoEmotions'
            groups[name] = str(err)
    table5 = frame(report["topk_expansion"], "class")
    pearson = M.pearson_matrix(test_scores, names)
    grid = M.threshold_evaluation(dev_scores, dev_labels, test_scores, test_labels, names, grid=M.DEFAULT_GRID_SIZE)
    return {
        **report, "groups": groups, "grid": {k: v for k, v in grid.items() if not isinstance(v, pd.DataFrame)},
        "table4": frame(report["hits_by_label_count"], "class"),
        "table5": table5,
        "table6": frame(report["per_label"], "label"),
        "top1": float(table5["hit_rate"].iloc[0]), "top2": float(table5["hit_rate"].iloc[1]),
        "top3": float(table5["hit_rate"].iloc[2]),
        "pearson": pearson, "mean_abs_r": mean_abs_r(pearson), "test": (test_scores, test_labels),
        "mean_r": float(np.nanmean(off_diagonal(pearson))) if np.isfinite(off_diagonal(pearson)).any() else math.nan,
    }


def load_stage(row, stage: str, root: Path, results: Path, data_dir=None):
    """(scores by role, label names, problem or None, source file) of one recorded run's stage: from its run
    directory, else from the score archive beside `results` (`common.archive_scores`; labels re-read from the
    dataset)."""
    run_dir = run_path(stage_run(row, stage), root)
    path = run_dir / f"scores_{stage}.npz"
    archived = archive_dir(stage_run(row, stage), results) / path.name
    try:
        if path.is_file():
            source, scores = path, load_scores(path)
        elif archived.is_file():
            source, scores = archived, archived_scores(row, stage, results, data_dir)
        else:
            return None, None, f"{shown_path(path)} not found, nor {shown_path(archived)}", None
    except InputError as err:
        return None, None, str(err), None
    except (OSError, ValueError, KeyError) as err:
        return None, None, f"{path if path.is_file() else archived}: unreadable ({err})", None
    names = label_names(source.parent, row.get("dataset", DATASET), np.asarray(scores["test"][0]).shape[1])
    return scores, names, None, source


# ------------------------------------------------------------------------------------------- formatting

def f4(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def f2(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def signed(value: float) -> str:
    return f"{value:+.4f}"


# --------------------------------------------------------------------------------------------- sections

def table4_section(ev: dict) -> str:
    ours = {s: ev[s]["table4"] for s in STAGES if ev.get(s)}
    classes = list(dict.fromkeys(list(PAPER_TABLE4.index) + [c for t in ours.values() for c in t.index]))
    classes = [c for c in classes if c != "Total"] + ["Total"]
    header = ["class", "texts (paper / ours)", "labels (paper / ours)", "paper CoEQN hits", "paper CoEQN rate",
              "ours CoEQN hits", "ours CoEQN rate", "paper EQN hits", "paper EQN rate", "ours EQN hits",
              "ours EQN rate", "ours sigmoid hits", "ours sigmoid rate"]
    rows = []
    for c in classes:
        paper = PAPER_TABLE4.loc[c] if c in PAPER_TABLE4.index else None
        ref = next((t.loc[c] for t in ours.values() if c in t.index), None)

        def ours_cells(stage):
            t = ours.get(stage)
            if t is None or c not in t.index:
                return ["—", "—"]
            return [str(int(t.loc[c, "hits"])), f4(float(t.loc[c, "hit_rate"]))]

        def paper_cells(*columns):
            if paper is None:
                return ["—"] * len(columns)
            return [f4(float(paper[k])) if k.endswith("rate") else int(paper[k]) for k in columns]

        texts, labels = paper_cells("texts", "labels")
        rows.append([
            c,
            f"{texts} / {int(ref['corpus']) if ref is not None else '—'}",
            f"{labels} / {int(ref['labels']) if ref is not None else '—'}",
            *paper_cells("coeqn_hits", "coeqn_hit_rate"), *ours_cells("coeqn"),
            *paper_cells("eqn_hits", "eqn_hit_rate"), *ours_cells("eqn"), *ours_cells("multi"),
        ])
    text = ["## Table 4: hits by number of true labels (top-k_i, k_i = number of true labels)", "",
            md_table(header, rows), ""]
    if ev.get("coeqn") and ev.get("eqn"):
        d_paper = PAPER_TABLE4.loc["Total", "eqn_hit_rate"] - PAPER_TABLE4.loc["Total", "coeqn_hit_rate"]
        d_ours = ev["eqn"]["hit_rate"] - ev["coeqn"]["hit_rate"]
        text.append(f"Total hit rate EQN − CoEQN: paper {signed(d_paper)}, ours {signed(d_ours)} "
                    f"({'same direction as the paper' if d_ours > 0 else 'not the improvement the paper reports'}).")
        if ev.get("multi"):
            text.append(f"Ours vs the sigmoid baseline: CoEQN {signed(ev['coeqn']['hit_rate'] - ev['multi']['hit_rate'])}, "
                        f"EQN {signed(ev['eqn']['hit_rate'] - ev['multi']['hit_rate'])} (the paper has no baseline column).")
        text.append("")
    return "\n".join(text)


def table5_section(ev: dict) -> str:
    header = ["class", "texts (paper / ours)", "paper hits (printed 'EQN', = CoEQN)", "paper +new", "paper rate"]
    for s in ("coeqn", "eqn", "multi"):
        header += [f"ours {STAGE_NAMES[s]} hits", "+new", "rate"]
    rows = []
    for c, paper in PAPER_TABLE5.iterrows():
        ref = next((ev[s]["table5"] for s in STAGES if ev.get(s)), None)
        n = int(ref.loc[c, "corpus"]) if ref is not None and c in ref.index else "—"
        inc = int(paper["increment"])
        row = [c, f"{int(paper['texts'])} / {n}", int(paper["hits"]), inc if c == "Top1" else f"+{inc}",
               f4(float(paper["hit_rate"]))]
        for s in ("coeqn", "eqn", "multi"):
            t = ev[s]["table5"] if ev.get(s) else None
            if t is None or c not in t.index:
                row += ["—", "—", "—"]
            else:
                i = int(t.loc[c, "increment"])
                row += [int(t.loc[c, "hits"]), i if c == "Top1" else f"+{i}", f4(float(t.loc[c, "hit_rate"]))]
        rows.append(row)
    notes = ["The paper's Table 5 header says 'EQN Hits', but its Top1 row (2416, 0.5264) is the CoEQN row of "
             "Table 4 (EQN's is 2534, 0.5521), so it is compared with our CoEQN stage. "
             "Paper: Top2 is +0.1658 over Top1 and Top3 +0.2531 (its '17%' and '25%')."]
    for s in ("coeqn", "eqn", "multi"):
        if ev.get(s):
            e = ev[s]
            notes.append(f"Ours {STAGE_NAMES[s]}: Top2 {signed(e['top2'] - e['top1'])}, Top3 {signed(e['top3'] - e['top1'])} over Top1.")
    return "\n".join(["## Table 5: single-label texts, true label within the top-1/2/3 scores", "",
                      md_table(header, rows), "", *[f"- {n}" for n in notes], ""])


def table6_section(ev: dict) -> str:
    ours = {s: ev[s]["table6"] for s in STAGES if ev.get(s)}
    our_labels = next(iter(ours.values())).index.tolist() if ours else []
    labels = PAPER_LABELS + [x for x in our_labels if x not in PAPER_TABLE6.index]
    header = ["label", "support", "lit. [13] P", "R", "F1", "paper CoEQN P", "R", "F1", "paper EQN P", "R", "F1"]
    for s in STAGES:
        header += [f"ours {STAGE_NAMES[s]} P", "R", "F1"]
    rows = []
    for label in labels + ["macro-average", "std"]:
        ref = next((t for t in ours.values() if label in t.index), None)
        support = ref.loc[label, "support"] if ref is not None else float("nan")
        row = [f"**{label}**" if label in ("macro-average", "std") else label,
               "—" if pd.isna(support) else str(int(support))]
        for prefix in ("lit", "coeqn", "eqn"):
            if label in PAPER_TABLE6.index:
                row += [f2(float(PAPER_TABLE6.loc[label, f"{prefix}_{m}"])) for m in ("p", "r", "f1")]
            else:
                row += ["—"] * 3
        for s in STAGES:
            t = ours.get(s)
            if t is None or label not in t.index:
                row += ["—"] * 3
            else:
                row += [f2(float(t.loc[label, m])) for m in ("precision", "recall", "f1")]
        rows.append(row)

    lit_f1 = PAPER_TABLE6.loc[PAPER_LABELS, "lit_f1"]

    def beats(f1, common):
        return f"{int((f1 > lit_f1[common]).sum())} ({int((f1 >= lit_f1[common]).sum())} with ties) of {len(common)}"

    counts = [f"paper CoEQN {beats(PAPER_TABLE6.loc[PAPER_LABELS, 'coeqn_f1'], PAPER_LABELS)}",
              f"paper EQN {beats(PAPER_TABLE6.loc[PAPER_LABELS, 'eqn_f1'], PAPER_LABELS)}"]
    for s in STAGES:
        t = ours.get(s)
        if t is not None:
            common = [x for x in PAPER_LABELS if x in t.index]
            counts.append(f"ours {STAGE_NAMES[s]} {beats(t.loc[common, 'f1'], common)}")
    notes = [
        "Thresholds (one global threshold per stage, tuned for macro-F1 on that stage's dev scores with "
        "`eqn_keras.metrics.tune_threshold`, searching every distinct dev score, applied to test): "
        + ", ".join(f"{STAGE_NAMES[s]} {ev[s]['threshold']:.4g}" for s in STAGES if ev.get(s)) + ".",
        "Rows follow the paper's order; ours are matched by label name. 'std' is the population std over the "
        "28 labels (it reproduces the paper's std row from its per-label values).",
        "Labels whose F1 beats Literature [13] (strictly, then counting ties; rounded F1 for the paper's columns): "
        + "; ".join(counts) + ". The paper's text says 'our method improves the F1 score of 21 out of 28 "
        "categories', which its printed EQN column matches only if ties count.",
        "The paper does not say how its Table 6 predictions were thresholded; ours use the dev-tuned threshold "
        "(no test-set information, no oracle k).",
    ]
    return "\n".join(["## Table 6: per-label precision / recall / F1 on the test set (dev-tuned threshold)", "",
                      md_table(header, rows), "", *[f"- {n}" for n in notes], ""])


THRESHOLD_RULES = (("", "one global threshold (dev macro-F1)"),
                   (M.LABEL_RULE_SUFFIX, "per-label thresholds (each label's dev F1)"))


def on_seeds(evaluations: dict, seeds) -> dict:
    """stage -> {seed: evaluation} kept to `seeds`."""
    return {s: {k: v for k, v in (evs or {}).items() if k in seeds} for s, evs in evaluations.items()}


def seeds_note(all_seeds: dict, shared: list) -> str:
    """Which seeds the head-vs-head numbers are over, and which seeds of a head they leave out."""
    left_out = [f"{STAGE_NAMES[s]} seed {k}" for s in STAGES for k in sorted(set(all_seeds.get(s, {})) - set(shared))]
    return (f"over the {len(shared)} seed{'s' if len(shared) != 1 else ''} every head has "
            f"({', '.join(map(str, shared)) or 'none'})"
            + (f"; left out of the means: {', '.join(left_out)}" if left_out else ""))


def rules_table(references, evaluations: dict, shared: list) -> str:
    """Reported macro-F1 values, then ours under both threshold rules (mean ± std over the `shared` seeds, and each
    seed's values, a seed outside them marked, so the seed spread can be set against the differences between heads).

    evaluations: stage -> {seed: `threshold_evaluation`-like dict}."""
    header = ["model", "threshold rule", "macro-F1", "micro-F1", "macro-F1 / micro-F1 per seed"]
    rows = [[who, "as reported", f"{value:.2f}", "not reported", "—"] for who, value in references]
    used = on_seeds(evaluations, shared)
    for s in STAGES:
        evs = evaluations.get(s)
        if not evs:
            continue
        for suffix, rule in THRESHOLD_RULES:
            rows.append([f"ours {STAGE_NAMES[s]}", rule,
                         mean_std([e["macro_f1" + suffix] for e in used[s].values()], show_n=True),
                         mean_std([e["micro_f1" + suffix] for e in used[s].values()], show_n=True),
                         ", ".join(f"seed {seed}{'' if seed in shared else ' (not in the mean)'}: "
                                   f"{f4(e['macro_f1' + suffix])} / {f4(e['micro_f1' + suffix])}"
                                   for seed, e in sorted(evs.items()))])
    gains = [f"{STAGE_NAMES[s]} "
             + signed(float(np.mean([e["macro_f1" + M.LABEL_RULE_SUFFIX] - e["macro_f1"] for e in evs.values()])))
             for s, evs in used.items() if evs]
    return "\n".join([md_table(header, rows), "",
                      "Macro-F1, per-label thresholds − one global threshold (mean over the same seeds): "
                      + (", ".join(gains) if gains else "no stage") + "."])


def threshold_rules_section(all_seeds: dict, shared: list) -> str:
    evaluations = {s: dict(all_seeds.get(s, {})) for s in STAGES}
    return "\n".join([
        "## Macro-F1 under two threshold rules (28 labels)", "",
        "The way GoEmotions work reports it: macro-F1 over the 28 labels on the test set, with thresholds tuned on "
        "dev only. Rule 1 is one global threshold chosen for dev macro-F1 (`eqn_keras.metrics.tune_threshold`, as in "
        "Table 6 above); rule 2, the common practice in later GoEmotions work, gives each label its own threshold, "
        "chosen for that label's dev F1 (`tune_label_thresholds`). Both search every distinct dev score, so each "
        f"finds its exact dev optimum. Ours: mean ± sample std {seeds_note(all_seeds, shared)}. The reported "
        "values are BERT-base, for orientation; the EQN paper does not say how its Table 6 predictions were "
        "thresholded.", "",
        rules_table(PAPER_MACRO_F1["goemotions"], evaluations, shared), ""])


SHA256_WORDS = {"ok": "sha256 as in the dataset card", "unverified": "sha256 not checked",
                "mismatch": "**sha256 differs from the dataset card: not the upstream file**"}


def grouping_section(name: str, all_seeds: dict, ev: dict, info, seed: int, shared: list) -> str:
    title = f"## {GROUPING_TITLES[name].capitalize()}"
    if not isinstance(info, dict):
        return "\n".join([title, "", f"Skipped: no {name} mapping ({info}).", ""])
    evaluations = {s: {seed: e["groups"][name] for seed, e in all_seeds.get(s, {}).items()
                       if isinstance(e["groups"].get(name), dict)} for s in STAGES}
    ours = {s: ev[s]["groups"][name] for s in STAGES if ev.get(s) and isinstance(ev[s]["groups"].get(name), dict)}
    checked = SHA256_WORDS.get(info.get("sha256"), f"sha256 {info.get('sha256')}")
    text = [title, "",
            f"The 27 emotions grouped as in the GoEmotions paper (`{Path(info['path']).name}`, from {info['origin']}, "
            f"{checked}); neutral stays neutral. A text's score for a group is the max of its member "
            "labels' scores (`eqn_keras.groupings.group_scores`), its group labels the union of its labels' groups; "
            "both threshold rules are tuned on the grouped dev split and applied to the grouped test split; ours "
            f"are {seeds_note(all_seeds, shared)}.", "",
            rules_table(PAPER_MACRO_F1[name], evaluations, shared), ""]
    if ours:
        names = next(iter(ours.values()))["group_names"]
        header = ["group", "support"]
        for s in ours:
            header += [f"ours {STAGE_NAMES[s]} F1 (global h)", "F1 (per-group h)"]
        rows, ref = [], next(iter(ours.values()))["per_label"]
        for group in names + ["macro-average"]:
            row = [f"**{group}**" if group == "macro-average" else group, str(int(ref.loc[group, "support"]))]
            for e in ours.values():
                row += [f4(float(e["per_label"].loc[group, "f1"])),
                        f4(float(e["per_label_at_label_thresholds"].loc[group, "f1"]))]
            rows.append(row)
        thresholds = "; ".join(
            f"{STAGE_NAMES[s]} global {e['threshold']:.4g}, per group "
            + ", ".join(f"{g} {h:.4g}" for g, h in zip(e["group_names"], e["label_thresholds"]))
            for s, e in ours.items())
        text += [f"Per-group F1 on the test set (seed {seed}):", "", md_table(header, rows), "",
                 f"- Dev-tuned thresholds: {thresholds}.", ""]
    return "\n".join(text)


SUMMARY_METRICS = [
    ("macro_f1", "macro-F1 (dev-tuned threshold)"), ("micro_f1", "micro-F1 (dev-tuned threshold)"),
    ("macro_precision", "macro-precision"), ("macro_recall", "macro-recall"),
    ("hit_rate", "hit rate (top-k_i, Table 4 Total)"), ("top1", "single-label Top1 rate"),
    ("top2", "single-label Top2 rate"), ("top3", "single-label Top3 rate"),
    ("mean_abs_r", "mean |Pearson r| off-diagonal (test scores)"), ("threshold", "dev-tuned threshold"),
]


# The paper's (BERT) value of each summary metric, (CoEQN, EQN); None = not reported.
PAPER_SUMMARY = {
    **{f"macro_{m}": tuple(float(PAPER_TABLE6.loc["macro-average", f"{stage}_{col}"]) for stage in ("coeqn", "eqn"))
       for m, col in (("f1", "f1"), ("precision", "p"), ("recall", "r"))},
    **{key: tuple(float(PAPER_TABLE4.loc[row, f"{stage}_hit_rate"]) for stage in ("coeqn", "eqn"))
       for key, row in (("hit_rate", "Total"), ("top1", "1 label"))},
    **{key: (float(PAPER_TABLE5.loc[row, "hit_rate"]), None) for key, row in (("top2", "Top2"), ("top3", "Top3"))},
}


def summary_section(all_seeds: dict, seed: int, shared: list) -> str:
    header = ["metric", "paper CoEQN (BERT)", "paper EQN (BERT)"] + [f"ours {STAGE_NAMES[s]}" for s in STAGES]
    used = on_seeds(all_seeds, shared)
    rows = []
    for key, name in SUMMARY_METRICS:
        paper = PAPER_SUMMARY.get(key, (None, None))
        row = [name] + ["not reported" if v is None else (f"{v:.2f}" if key.startswith("macro") else f"{v:.4f}")
                        for v in paper]
        for s in STAGES:
            row.append(mean_std([e[key] for e in used.get(s, {}).values()], show_n=True))
        rows.append(row)
    lines = ["## What the paper does not report", "",
             "Threshold-based scores with a threshold tuned on dev (the paper's Table 6 gives no micro-F1 and no "
             "tuning rule), a conventional sigmoid baseline trained with the same encoder, and seed spread. "
             "The paper columns are BERT-base, copied from its Tables 4-6 for orientation (its macro-scores come "
             "from an unstated threshold).",
             ("Mean ± sample std (ddof=1) " if len(shared) > 1 else f"One seed only (seed {seed}); no spread yet: ")
             + f"{seeds_note(all_seeds, shared)}.", "", md_table(header, rows), ""]
    return "\n".join(lines)


# Published test figures set against ours: (who, metric name, our metric key, grouping or None, value as printed).
PUBLISHED = [
    *[(who, f"28-label macro-{name}", f"macro_{key}", None, float(PAPER_TABLE6.loc["macro-average", f"{prefix}_{col}"]))
      for who, prefix in (("EQN paper CoEQN (BERT-base, Table 6)", "coeqn"), ("EQN paper EQN (BERT-base, Table 6)", "eqn"),
                          (GOEMOTIONS_PAPER, "lit"))
      for name, key, col in (("F1", "f1", "f1"), ("precision", "precision", "p"), ("recall", "recall", "r"))],
    *[(GOEMOTIONS_PAPER, f"{GROUPING_TITLES[g]} macro-F1", "macro_f1", g, float(value))
      for g, refs in PAPER_MACRO_F1.items() if g in GROUPING_TITLES for _, value in refs],
]


def compare_published(ours: float, published: float) -> str:
    """ours against a published value, at the published value's precision (2 decimals)."""
    if ours is None or math.isnan(ours):
        return "—"
    mine = round(ours, 2)
    word = "higher" if mine > published else "lower" if mine < published else "equal at 2 decimals"
    return f"{ours:.4f} ({word})"


def published_section(all_seeds: dict, shared: list) -> str:
    """Every published figure next to each head of ours under both threshold rules (mean over the shared seeds),
    saying which is higher, and the published figures no head and rule of ours reaches."""
    used = on_seeds(all_seeds, shared)
    header = ["published", "metric", "value"] + [f"ours {STAGE_NAMES[s]}, {rule}" for s in STAGES if used.get(s)
                                                 for rule in ("global h", "per-label h")]
    rows, unreached, reached = [], [], []
    for who, metric, key, grouping, value in PUBLISHED:
        cells, best = [], -math.inf
        for s in STAGES:
            if not used.get(s):
                continue
            for suffix in ("", M.LABEL_RULE_SUFFIX):
                values = [(e["groups"].get(grouping) if grouping else e) for e in used[s].values()]
                values = [v[key + suffix] for v in values if isinstance(v, dict) and key + suffix in v]
                mean = float(np.mean(values)) if values else math.nan
                cells.append(compare_published(mean, value))
                best = max(best, round(mean, 2)) if values else best
        if best == -math.inf:
            continue
        rows.append([who, metric, f"{value:.2f}", *cells])
        (reached if best >= value else unreached).append(f"{who} {metric} {value:.2f} (ours at best {best:.2f})")
    if not rows:
        return ""
    return "\n".join([
        "## Ours against the published figures", "",
        f"Each published test figure (BERT-base) next to ours, {seeds_note(all_seeds, shared)}, under both threshold "
        "rules; ours are compared at the published precision (2 decimals). Our encoder is not BERT-base, and the "
        "EQN paper does not say how its Table 6 predictions were thresholded.", "",
        md_table(header, rows), "",
        f"- Reached or beaten by at least one head and rule of ours ({len(reached)} of {len(rows)}): "
        + ("; ".join(reached) or "none") + ".",
        f"- Reached by none ({len(unreached)} of {len(rows)}): " + ("; ".join(unreached) or "none") + ".", ""])


def threshold_search_section(all_seeds: dict, shared: list) -> str:
    """Macro-F1 under both rules with the exact threshold search (every distinct dev score, used everywhere in this
    report) against a 200-point grid, the tuning that `eqn_keras.metrics` used before: how much the choice moves."""
    used = on_seeds(all_seeds, shared)
    rows = []
    for s in STAGES:
        if not used.get(s):
            continue
        for suffix, rule in THRESHOLD_RULES:
            exact = [e["macro_f1" + suffix] for e in used[s].values()]
            grid = [e["grid"]["macro_f1" + suffix] for e in used[s].values()]
            rows.append([f"ours {STAGE_NAMES[s]}", rule, mean_std(exact, show_n=True), mean_std(grid, show_n=True),
                         signed(float(np.mean(exact) - np.mean(grid))),
                         ", ".join(f"seed {k}: {signed(a - b)}" for k, a, b in zip(used[s], exact, grid))])
    if not rows:
        return ""
    moves = [abs(float(r[4])) for r in rows]
    return "\n".join([
        "## Threshold search: exact against a grid", "",
        "Every threshold in this report is tuned on dev searching every distinct dev score (`eqn_keras.metrics`' "
        "default: the exact dev optimum). Searching a 200-point grid instead (`grid=200`: quantiles plus an even "
        f"spread) gives the test macro-F1 below ({seeds_note(all_seeds, shared)}). The grid moves a mean by up to "
        f"{max(moves):.4f}: differences between heads smaller than that depend on how the thresholds were searched.",
        "", md_table(["model", "threshold rule", "macro-F1, exact search", "macro-F1, 200-point grid",
                      "exact − grid (mean)", "exact − grid per seed"], rows), ""])


def pearson_section(ev: dict, pngs: dict, tfn_note: str) -> str:
    lines = ["## Pearson correlation heatmaps (Figs 8 and 9; Fig. 2-like)", ""]
    for s in ("coeqn", "eqn"):
        if s in pngs:
            lines += [f"![{STAGE_NAMES[s]} Pearson heatmap]({pngs[s].name})", ""]
    rows = []
    for s in STAGES:
        if ev.get(s):
            e = ev[s]
            off = off_diagonal(e["pearson"])
            n_nan = int(np.isnan(off).sum() // 2)
            rows.append([STAGE_NAMES[s], f4(e["mean_abs_r"]), f4(e["mean_r"]),
                         f4(float(np.nanmax(np.abs(off)))) if np.isfinite(off).any() else "—", n_nan])
    lines += [md_table(["stage", "mean |r| (off-diagonal)", "mean r", "max |r|", "NaN pairs"], rows), ""]
    if ev.get("coeqn") and ev.get("eqn"):
        a, b = ev["coeqn"]["pearson"], ev["eqn"]["pearson"]
        oa, ob = np.abs(off_diagonal(a)), np.abs(off_diagonal(b))
        ok = ~(np.isnan(oa) | np.isnan(ob))
        share = float((ob[ok] > oa[ok]).mean()) if ok.any() else float("nan")
        d = ev["eqn"]["mean_abs_r"] - ev["coeqn"]["mean_abs_r"]
        rel = d / ev["coeqn"]["mean_abs_r"] if ev["coeqn"]["mean_abs_r"] else float("nan")
        if d > 0 and share > 0.5:
            verdict = ("yes: ours increased clearly too" if rel >= 0.25 else
                       f"only slightly ({rel:+.0%} relative): an increase, but not a large one")
        elif d > 0:
            verdict = f"barely: mean |r| rose ({rel:+.0%} relative) but most label pairs did not"
        else:
            verdict = f"no: ours decreased ({rel:+.0%} relative)"
        lines.append(f"The paper says EQN's correlations 'largely increased' over CoEQN's (Figs 8 vs 9). "
                     f"Ours: mean |r| CoEQN {ev['coeqn']['mean_abs_r']:.4f} → EQN {ev['eqn']['mean_abs_r']:.4f} "
                     f"({signed(d)}); |r| larger under EQN for {share:.0%} of label pairs — **{verdict}**.")
        lines.append("")
    lines += [tfn_note, ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ test-set sampling noise

BOOTSTRAP_METRICS = (("hit_rate", "hit rate"), ("macro_f1", "macro-F1, global h"),
                     ("macro_f1" + M.LABEL_RULE_SUFFIX, "macro-F1, per-label h"), ("micro_f1", "micro-F1, global h"))
BOOTSTRAP_CONFIDENCE = 0.95


def _f1_from_counts(tp, fp, fn, average: str):
    """F1 from true/false positive and false negative counts [..., C], as scikit-learn's f1_score(zero_division=0)
    (tested against it): a label with no positives predicted or true scores 0. Counts, not f1_score, because they
    score a whole batch of resamples in one sum, where f1_score takes one resample per call."""
    if average == "micro":
        tp, fp, fn = tp.sum(axis=-1), fp.sum(axis=-1), fn.sum(axis=-1)
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(np.shape(tp)), where=denominator > 0)
    return f1 if average == "micro" else f1.mean(axis=-1)


def text_metrics(e: dict) -> dict:
    """metric key -> function of test-text indices [..., n] (a batch of resamples), for one stage's test scores at its
    dev-tuned thresholds, so that resamples of the test texts are scored without re-tuning anything."""
    scores, labels = e["test"]
    scores = np.asarray(scores, dtype=np.float64)
    truth = M.multi_hot(labels, scores.shape[1])
    k = truth.sum(axis=1)
    hits = (M.top_k_mask(scores, k) & truth).sum(axis=1)

    def f1(predicted, average):
        counts = np.stack([predicted & truth, predicted & ~truth, ~predicted & truth]).astype(np.float64)  # tp, fp, fn
        return lambda i: _f1_from_counts(*counts[:, i].sum(axis=-2), average)

    at_global, at_label = scores >= e["threshold"], scores >= np.asarray(e["label_thresholds"])
    return {"hit_rate": lambda i: hits[i].sum(axis=-1) / k[i].sum(axis=-1), "macro_f1": f1(at_global, "macro"),
            "macro_f1" + M.LABEL_RULE_SUFFIX: f1(at_label, "macro"), "micro_f1": f1(at_global, "micro")}


def bootstrap_differences(ours: dict, base: dict, n_resamples: int, seed: int = 0) -> list:
    """Paired bootstrap over test texts of ours − base for each BOOTSTRAP_METRICS key (scipy.stats.bootstrap,
    percentile interval; every metric sees the same resamples): (key, difference on the whole test set,
    interval low, high, share of resamples where ours is higher)."""
    a, b = text_metrics(ours), text_metrics(base)
    everything = np.arange(len(ours["test"][1]))
    out = []
    for key, _ in BOOTSTRAP_METRICS:
        def difference(i, axis=-1, key=key):
            return a[key](i) - b[key](i)

        res = stats.bootstrap((everything,), difference, n_resamples=n_resamples, batch=50, vectorized=True,
                              confidence_level=BOOTSTRAP_CONFIDENCE, method="percentile",
                              rng=np.random.default_rng(seed))
        share = float(np.mean(res.bootstrap_distribution > 0))
        out.append((key, float(difference(everything)), float(res.confidence_interval.low),
                    float(res.confidence_interval.high), share))
    return out


def noise_section(ev: dict, seed: int, n_resamples: int) -> str:
    title = "## Test-set noise of the differences to the sigmoid head"
    if not ev.get("multi") or not n_resamples:
        why = "no sigmoid baseline scores" if not ev.get("multi") else "--resamples 0"
        return "\n".join([title, "", f"Skipped: {why}.", ""])
    rows = []
    for stage in ("coeqn", "eqn"):
        if not ev.get(stage):
            continue
        if list(ev[stage]["test"][1]) != list(ev["multi"]["test"][1]):
            rows.append([f"{STAGE_NAMES[stage]} − sigmoid", "—", "—", "—", "—",
                         "not compared: the two runs' test label sets differ (not the same test set)"])
            continue
        for key, d, low, high, share in bootstrap_differences(ev[stage], ev["multi"], n_resamples, seed):
            verdict = "beyond test-set noise" if low > 0 or high < 0 else "within test-set noise"
            rows.append([f"{STAGE_NAMES[stage]} − sigmoid", dict(BOOTSTRAP_METRICS)[key], signed(d),
                         f"[{low:+.4f}, {high:+.4f}]", f"{share:.1%}", verdict])
    return "\n".join([
        title, "",
        f"Seed {seed}'s runs, scored on {n_resamples} resamples of the test texts (drawn with replacement, the same "
        "texts for both heads: a paired bootstrap, `scipy.stats.bootstrap`, percentile interval); each head keeps "
        "its dev-tuned thresholds. This is the noise of a test set of this size only: the spread over training "
        "seeds and over dev-tuning comes on top, so an interval that excludes 0 is necessary, not sufficient, for "
        "a difference that holds up.", "",
        md_table(["difference", "metric", "on the test set", f"{BOOTSTRAP_CONFIDENCE:.0%} interval",
                  "resamples where the first is higher", "verdict"], rows), ""])


def seed_noise_section(all_seeds: dict) -> str:
    """Each seed's CoEQN / EQN run minus the sigmoid run of the same seed, over the seeds both heads have, with a
    paired t-test over those seeds (its n, p and 95% confidence interval of the mean difference)."""
    title = "## Differences to the sigmoid head over seeds"
    base = all_seeds.get("multi", {})
    rows = []
    for stage in ("coeqn", "eqn"):
        for key, metric in BOOTSTRAP_METRICS:
            test = paired_test({s: e[key] for s, e in all_seeds.get(stage, {}).items()},
                               {s: e[key] for s, e in base.items()})
            if test is None:
                continue
            rows.append([f"{STAGE_NAMES[stage]} − sigmoid", metric,
                         ", ".join(f"seed {s}: {signed(d)}" for s, d in zip(test["seeds"], test["differences"])),
                         signed(test["mean"]), test["n"], "—" if test["p"] is None else f"{test['p']:.3f}",
                         "—" if test["low"] is None else f"[{test['low']:+.4f}, {test['high']:+.4f}]",
                         paired_verdict(test)])
    if not rows:
        return "\n".join([title, "", "Skipped: no seed has both a sigmoid baseline run and a CoEQN / EQN run.", ""])
    return "\n".join([
        title, "",
        "Each seed's run minus the sigmoid run of the same seed (same data order), each head at its dev-tuned "
        f"thresholds, over the seeds both heads have; the test is a {PAIRED_TEST}, with the 95% confidence "
        "interval of the mean difference. With so few seeds only a large, steady difference can show: p ≥ 0.05 "
        "means no detectable difference with that many seeds, not that the heads are equal.", "",
        md_table(["difference", "metric", "per seed", "mean", "n seeds", "p", "95% interval", "verdict"], rows), ""])


# --------------------------------------------------------------------------------------------------- main

def shown_path(path: Path) -> str:
    """`path` relative to the repository when it is inside it (a report names files a reader can find)."""
    for candidate in (Path(os.path.abspath(path)), Path(path).resolve()):  # a symlinked work/ stays inside
        try:
            return str(candidate.relative_to(ROOT))
        except ValueError:
            pass
    return str(path)


def provenance_rows(used) -> list:
    rows = []
    for role, row, sources in used:
        rows.append([role, row.get("seed"), ", ".join(f"`{shown_path(s)}`" for s in sources), row.get("commit") or "—",
                     row.get("machine") or "—", row.get("epochs"), row.get("max_train") or "full",
                     f"`{row.get('command') or '—'}`"])
    return rows


def consistency_notes(row, stage: str, e: dict) -> list:
    """Compare recomputed numbers with what reproduce.py recorded for the same run. The recorded threshold and
    macro-F1 are checked against a recomputation that searched the thresholds the run did: the ones its row
    names (`threshold_candidates`), else the 200-point grid that training used before rows named them."""
    recorded = (row.get("stages") or {}).get(stage) or {}
    searched = recorded.get("threshold_candidates")
    same = e if searched == e.get("threshold_candidates") else e["grid"] if searched is None else None
    notes, checked = [], 0
    for key, source in (("hit_rate", e), ("macro_f1", same), ("threshold", same)):
        if isinstance(recorded.get(key), (int, float)) and source is not None:
            checked += 1
            if not math.isclose(recorded[key], source[key], rel_tol=1e-6, abs_tol=1e-9):
                notes.append(f"{STAGE_NAMES[stage]} seed {row.get('seed')}: recomputed {key} {source[key]:.6g} "
                             f"differs from the {recorded[key]:.6g} recorded in the results file")
    return notes, checked


def heatmap_title(dataset: str, arch: str, stage: str, seed, value: float, fig: str) -> str:
    return (f"{dataset} test set, {arch} {STAGE_NAMES[stage]} scores (seed {seed})\n"
            f"Pearson r between labels; mean |r| off-diagonal = {value:.3f}\n(cf. paper {fig}, BERT)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="textcnn", help="architecture whose runs to report (default textcnn)")
    p.add_argument("--results", default=str(RESULTS / "table3.jsonl"),
                   help="reproduce.py results file (default benchmarks/results/table3.jsonl)")
    p.add_argument("--out", default=str(RESULTS),
                   help="output folder (default benchmarks/results)")
    p.add_argument("--seed", type=int, default=0, help="seed of the runs for Tables 4-6 and the heatmaps (default 0)")
    p.add_argument("--root", default=str(ROOT),
                   help="folder that relative run_dir paths are resolved against (default: the repository root)")
    p.add_argument("--resamples", type=int, default=1000,
                   help="bootstrap resamples of the test texts for the noise of the differences (default 1000; "
                        "0 skips that section)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding goemotions/ekman_mapping.json and sentiment_mapping.json (default "
                        "$EQN_DATA_DIR, then the download cache, then upstream)")
    return p


def load_groupings(data_dir) -> tuple:
    """(name -> mapping, name -> fetch info or the reason it could not be read) of every grouping."""
    mappings, infos = {}, {}
    for name in G.GROUPINGS:
        try:
            mappings[name], infos[name] = G.load_grouping(name, data_dir)
        except InputError as err:
            infos[name] = str(err)
    return mappings, infos


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = report(args)
    except InputError as err:
        print(f"goemotions_report: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


def report(args) -> Path:
    arch, seed, root, out = args.arch, args.seed, Path(args.root), Path(args.out)
    rows = read_results(args.results, missing_hint="run python -m benchmarks.reproduce first")
    eqn_runs = select_runs(rows, arch, DATASET, "eqn")
    if seed not in eqn_runs:
        have = sorted(eqn_runs) or "none"
        raise InputError(f"{args.results}: no {DATASET} {arch} eqn run for seed {seed} (seeds with one: {have})")
    # One setup for every head and seed: that of the chosen EQN run (other budgets are other experiments).
    setup = setup_of(eqn_runs[seed])
    eqn_runs = select_runs(rows, arch, DATASET, "eqn", setup)
    base_runs = select_runs(rows, arch, DATASET, BASELINE_HEAD, setup)

    notes, used, n_checked = [], [], 0
    groupings, grouping_info = load_groupings(args.data_dir)
    all_seeds = {s: {} for s in STAGES}  # stage -> seed -> evaluation
    names_used = None
    for head, runs, stages in (("eqn", eqn_runs, ("coeqn", "eqn")), (BASELINE_HEAD, base_runs, ("multi",))):
        for run_seed, row in runs.items():
            role = f"{DATASET} {head}"
            sources = []
            for stage in stages:
                scores, names, problem, source = load_stage(row, stage, root, Path(args.results), args.data_dir)
                if problem:
                    notes.append(f"{role} seed {run_seed}, stage {stage}: skipped ({problem})")
                    continue
                try:
                    e = evaluate_stage(scores, names, groupings)
                except ValueError as err:  # e.g. a test text without a label (top-k_i needs k_i >= 1)
                    notes.append(f"{role} seed {run_seed}, stage {stage}: skipped ({err})")
                    continue
                notes += [f"{STAGE_NAMES[stage]} seed {run_seed}: no {g} grouping ({why})"
                          for g, why in e["groups"].items() if isinstance(why, str)]
                all_seeds[stage][run_seed] = e
                if hit_epoch_limit(row, stage):
                    notes.append(f"{STAGE_NAMES[stage]} seed {run_seed}: the epoch limit ({row['epochs']}) "
                                 f"ended it, not early stopping (best epoch {row['stages'][stage]['best_epoch']}), "
                                 "so its dev loss may still have been falling: under-trained, not converged")
                mismatches, checked = consistency_notes(row, stage, e)
                notes += mismatches
                n_checked += checked
                if run_seed == seed and names_used is None:
                    names_used = names
                sources.append((stage, source))
            own_runs = row.get("stage_runs") or {}
            if own_runs:  # each stage trained in a run of its own: its own commit and command
                used += [(f"{role} ({stage})", {**row, **own_runs.get(stage, {})}, [source]) for stage, source in sources]
            elif sources:
                used.append((f"{role} ({'/'.join(s for s, _ in sources)})", row, [source for _, source in sources]))
    ev = {s: all_seeds[s].get(seed) for s in STAGES}
    if not ev["coeqn"] and not ev["eqn"]:
        raise InputError(f"{DATASET} {arch} eqn run for seed {seed}: no readable scores ({'; '.join(notes)})")
    if not ev["multi"]:
        notes.append(f"no {DATASET} {arch} {BASELINE_HEAD} (sigmoid baseline) scores for seed {seed}: "
                     "its columns are empty")

    out.mkdir(parents=True, exist_ok=True)
    pngs = {}
    for stage, fig in (("coeqn", "Fig. 8"), ("eqn", "Fig. 9")):
        if ev[stage]:
            target = out / f"goemotions_{arch}_pearson_{stage}.png"
            M.plot_pearson_heatmap(ev[stage]["pearson"], target,
                                   heatmap_title("GoEmotions", arch, stage, seed, ev[stage]["mean_abs_r"], fig))
            pngs[stage] = target

    # Fig. 2-like: the paper uses 7health with BERT CoEQN; we use 3tfn's CoEQN stage of the same arch.
    tfn_runs = select_runs(rows, arch, "3tfn", "eqn")
    tfn_note = f"Fig. 2-like heatmap: no 3tfn {arch} eqn run in {args.results}; skipped."
    if tfn_runs:
        tfn_seed = seed if seed in tfn_runs else next(iter(tfn_runs))
        tfn_row = tfn_runs[tfn_seed]
        scores, names, problem, source = load_stage(tfn_row, "coeqn", root, Path(args.results), args.data_dir)
        if problem:
            tfn_note = f"Fig. 2-like heatmap: 3tfn {arch} CoEQN seed {tfn_seed} skipped ({problem})."
        else:
            pearson = M.pearson_matrix(scores["test"][0], names)
            value = mean_abs_r(pearson)
            target = out / f"3tfn_{arch}_pearson_coeqn.png"
            M.plot_pearson_heatmap(pearson, target, heatmap_title("3tfn", arch, "coeqn", tfn_seed, value,
                                                                  "Fig. 2 (7health)"))
            pngs["3tfn"] = target
            used.append(("3tfn eqn (coeqn, Fig. 2-like heatmap only)", tfn_row, [source]))
            cells = ", ".join(f"{names[i]}–{names[j]} {pearson.iloc[i, j]:+.2f}"
                              for i in range(len(names)) for j in range(i + 1, len(names)))
            tfn_note = (f"Fig. 2-like heatmap (the paper's Fig. 2 is 7health with BERT CoEQN; 7health is not in this "
                        f"grid, so 3tfn's CoEQN test scores, seed {tfn_seed}): pairs {cells}; mean |r| {value:.4f}.\n\n"
                        f"![3tfn CoEQN Pearson heatmap]({target.name})")

    today = datetime.date.today().isoformat()
    results_shown = shown_path(args.results)
    n_seeds = {s: len(all_seeds[s]) for s in STAGES}
    shared = shared_seeds(*all_seeds.values())
    header = [
        f"# GoEmotions report: {arch} (paper Tables 4, 5, 6 and Figs 8/9)", "",
        f"Written by `benchmarks/goemotions_report.py --arch {arch}` on {today} from `{results_shown}` "
        "using the saved dev/test scores of the runs below (nothing retrained).", "",
        f"**The paper's numbers are BERT-base; ours are {arch}** (same GoEmotions test set: official "
        "train/dev/test split), so the comparison is of trends, not of absolute values.",
        f"Every GoEmotions run below has one setup, that of the seed-{seed} EQN run: at most {setup[0]} epochs, "
        f"{'all training texts' if setup[1] is None else f'{setup[1]} training texts'}. "
        f"Tables 4-6 and the heatmaps use seed {seed}. Recorded seeds of that setup: CoEQN {n_seeds['coeqn']}, "
        f"EQN {n_seeds['eqn']}, sigmoid baseline {n_seeds['multi']}; every table that sets heads side by side is "
        f"{seeds_note(all_seeds, shared)}, and each difference to the sigmoid head is over the seeds both have.",
        "CoEQN = first stage (regression on the initial full-label vectors); EQN = second stage (regression on "
        "the CoEQN-regressed training labels); sigmoid baseline = the same encoder with a multi-label sigmoid head "
        "(`--head multi`). Top-k_i tables rank each text's 28 scores and take k_i = its number of true labels.", "",
        "### Runs", "",
        md_table(["role", "seed", "scores read from", "commit", "machine", "epochs", "max_train", "command"],
                 provenance_rows(used)), "",
    ]
    mismatch = any("recorded in the results file" in n for n in notes)
    if n_checked and not mismatch:
        notes.insert(0, f"Recomputed from the saved scores, the hit rate, macro-F1 and dev-tuned threshold match "
                        f"what reproduce.py recorded in the results file ({n_checked} values checked; the threshold "
                        "and macro-F1 recomputed over the candidates each run searched, see 'Threshold search').")
    if notes:
        header += ["Notes:", "", *[f"- {n}" for n in notes], ""]
    body = [table4_section(ev), table5_section(ev), table6_section(ev), threshold_rules_section(all_seeds, shared),
            *[grouping_section(g, all_seeds, ev, grouping_info[g], seed, shared) for g in G.GROUPINGS],
            summary_section(all_seeds, seed, shared), published_section(all_seeds, shared),
            threshold_search_section(all_seeds, shared), noise_section(ev, seed, args.resamples),
            seed_noise_section(all_seeds), pearson_section(ev, pngs, tfn_note)]
    target = out / f"goemotions_{arch}.md"
    with atomic_write(target) as handle:
        handle.write("\n".join(header + body).rstrip() + "\n")
    return target


if __name__ == "__main__":
    sys.exit(main())
