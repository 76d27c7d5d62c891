"""Reproduce the paper's Table 3 grid with seeds: baseline head vs CoEQN vs EQN, resumable.

Each cell (arch, dataset, seed) trains the conventional baseline (softmax for single-label data, sigmoid
for GoEmotions) and the two-stage EQN run; one JSON line per finished run is appended to
`benchmarks/results/table3.jsonl`, so an interrupted grid resumes where it stopped. `table3.md` is
rewritten from every line after each run. An EQN cell is two runs, CoEQN then EQN regressed from it; the
CoEQN run (with its train scores) and every GoEmotions and 3tfn run whose run directory is on this machine are
copied to `benchmarks/results/scores/` (the run directories stay on the machine that trained them); the
"scores archived" column of `table3.md` counts, per cell, the stage runs whose scores are there.

    python -m benchmarks.reproduce --archs textcnn lstm --datasets goemotions 3tfn --seeds 3
    python -m benchmarks.reproduce --only textcnn:3tfn lstm:goemotions      # selected cells
    python -m benchmarks.reproduce --quick --results /tmp/quick.jsonl        # tiny grid (CI)
    python -m benchmarks.reproduce --report                                  # rewrite table3.md, archive scores
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from eqn_keras import ARCHS
from eqn_keras.datasets import DATASET_NAMES, load_card
from eqn_keras.metrics import DEFAULT_GRID_SIZE
from eqn_keras.options import PATIENCE

from .common import (
    RESULTS, ROOT, append_result, archive_dir, archive_run, archive_scores, git_commit, machine, md_table, mean_std,
    PAIRED_TEST, paired_difference, read_results, run_path, shared_seeds, stage_run, write_lines,
)

WORK = ROOT / "benchmarks" / "work"
# the paper's datasets whose files can be downloaded (a card giving every file's URL): 7health's are not public
DATASETS = [name for name in DATASET_NAMES if all(spec.get("url") for spec in load_card(name)["files"].values())]
MULTI_LABEL = {"goemotions"}
# Datasets whose runs' dev/test scores are copied beside the results (benchmarks/results/scores/) when their run
# directories are here: the ones goemotions_report.py reads, so its report outlives the run directories. Which
# runs' scores are really there is read from disk (`archived_count`), not assumed from this set.
ARCHIVED = {"goemotions", "3tfn"}


def paper_table3() -> dict:
    """The paper's Table 3 (benchmarks/paper/table3.csv): (arch, dataset) -> (S/M value, EQN value). Its
    "EQN" row is the CoEQN stage (section 4.3). GoEmotions: hit rate; the other datasets: accuracy."""
    table = pd.read_csv(ROOT / "benchmarks" / "paper" / "table3.csv")
    return {(r.arch, r.dataset): (float(r.baseline), float(r.eqn)) for r in table.itertuples()}


PAPER = paper_table3()


def set_work(path) -> None:
    """Put run directories (and cell claims) under `path`."""
    global WORK
    WORK = Path(path).resolve()


# What differs from the paper's setup, per dataset and per arch (shown in every row of table3.md).
DATASET_DIFF = {
    "goemotions": "official splits, as the paper",
    "3tfn": "test = sent_valid.csv, dev carved from train",
    "6emotions": "dair-ai 16k/2k/2k split, not the 417k Kaggle text",
    "3tsa": "Reddit half only (37k), seeded 80/10/10 split",
}
ARCH_DIFF = {"bert": "MiniLM-L6-H384 (all-MiniLM-L6-v2), not BERT-base"}


def hardware(machines) -> str:
    return "; ".join(sorted({"GPU" if "+" in m else "CPU" for m in machines}))


def hit_epoch_limit(row: dict, stage: str) -> bool:
    """Whether the epoch limit, not early stopping, ended a results row's stage: its best epoch lies within the
    patience of the limit (every cell here trains with `eqn-keras train`'s default patience), so the dev loss
    may still have been falling and the stage counts as under-trained rather than converged."""
    best = (row.get("stages", {}).get(stage) or {}).get("best_epoch")
    return best is not None and best + PATIENCE > row.get("epochs")


def baseline_head(dataset: str) -> str:
    return "multi" if dataset in MULTI_LABEL else "single"


def row_key(row) -> tuple:
    return (row["arch"], row["dataset"], row["head"], row["seed"], row["epochs"], row["max_train"])


def find_row(results: Path, key: tuple):
    """The finished run of a cell in the results file, or None."""
    return next((r for r in read_results(results) if row_key(r) == key), None)


def claim_path(key: tuple) -> Path:
    return WORK / ".claims" / ("-".join(map(str, key)) + ".pid")


def claim(key: tuple) -> bool:
    """Take a cell for this process (a file created exclusively, naming its pid); False if a live process holds it.

    Lets several grid or variant scripts share one results file without training a cell twice.
    """
    path = claim_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                os.kill(int(path.read_text() or 0), 0)
                return False  # its owner is alive
            except ProcessLookupError:
                path.unlink(missing_ok=True)  # a killed run's claim: remove it and try again
                continue
            except (ValueError, OSError):
                return False  # being written or unreadable: leave it to its owner
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return True
    return False


def archive_row(row, results: Path) -> None:
    """Archive a row's runs when goemotions_report.py may read them (`ARCHIVED`)."""
    if row.get("dataset") in ARCHIVED:
        archive_scores(row, results)


def ensure_cell(arch, dataset, head, seed, args, results: Path, lock=None):
    """The results row of a cell, training it (and appending it to `results`) unless done or claimed."""
    key = (arch, dataset, head, seed, args.epochs, args.max_train)
    row = find_row(results, key)
    if row is not None or not claim(key):
        return row
    try:
        row = find_row(results, key)  # finished by another process between the first look and the claim
        if row is not None:
            return row
        print(f"== {arch} {dataset} {head} seed {seed}", flush=True)
        row = run_cell(arch, dataset, head, seed, args, results)
        with lock or threading.Lock():
            append_result(results, row)
            write_markdown(read_results(results), results.with_suffix(".md"))
            archive_row(row, results)
        return row
    finally:
        claim_path(key).unlink(missing_ok=True)


def _attempts(out: Path) -> list:
    """The attempts recorded for a run directory; an attempt that was killed ends at its last written file."""
    path = out / "attempts.json"
    attempts = json.loads(path.read_text()) if path.is_file() else []
    if attempts and attempts[-1].get("end") is None:
        files = [f for f in out.rglob("*") if f.is_file() and f.name != "attempts.json"]
        attempts[-1]["end"] = max((f.stat().st_mtime for f in files), default=attempts[-1]["start"])
        attempts[-1]["killed"] = True
    return attempts


def _save_attempts(out: Path, attempts: list) -> None:
    write_lines(out / "attempts.json", [json.dumps(attempts)])


def run_suffix(args) -> str:
    """The end of a run directory's name: the budget it was trained with."""
    return f"-e{args.epochs}" + (f"-m{args.max_train}" if args.max_train else "")


def train_run(arch, dataset, head, seed, args, name: str, extra=()) -> tuple:
    """`eqn-keras train` in a fresh process (no graph or memory carried between runs) into WORK/<name>.

    Resumable: an interrupted run of the same cell at the same commit is continued (`train` resumes a run
    directory it finds unfinished); one from another commit is set aside and the cell starts over.
    Returns (metrics, provenance): the run's metrics.json and the row fields saying how it was made.
    """
    out = WORK / f"{name}{run_suffix(args)}"
    cmd = [sys.executable, "-m", "eqn_keras.cli", "train", "--arch", arch, "--data", dataset, "--head", head,
           "--seed", str(seed), "--epochs", str(args.epochs), *extra, "--out", str(out), "--quiet"]
    if args.max_train:
        cmd += ["--max-train", str(args.max_train)]
    if arch == "bert" and args.bert_preset:
        cmd += ["--bert-preset", args.bert_preset]
    code = git_commit()  # the code the run imports now; later edits do not change it
    if (out / "config.json").is_file():
        started_at = json.loads((out / "config.json").read_text()).get("commit")
        if started_at != code.split("+")[0] or code.endswith("+dirty"):
            out.rename(out.with_name(f"{out.name}.stale-{datetime.datetime.now():%Y%m%d%H%M%S}"))
    out.mkdir(parents=True, exist_ok=True)
    attempts = _attempts(out)
    if not (out / "metrics.json").is_file():
        attempts.append({"start": time.time(), "end": None})
        _save_attempts(out, attempts)
        proc = subprocess.Popen(cmd, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        attempts[-1].update(end=time.time(), peak_rss_mb=round(usage.ru_maxrss / 1024))
        _save_attempts(out, attempts)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, cmd)
    peaks = [a["peak_rss_mb"] for a in attempts if a.get("peak_rss_mb")]
    provenance = {"wall_s": round(sum(a["end"] - a["start"] for a in attempts), 1), "attempts": len(attempts),
                  "peak_rss_mb": max(peaks) if peaks else None, "commit": code, "machine": machine(),
                  "command": " ".join(["eqn-keras"] + cmd[3:]).replace(str(ROOT) + "/", ""),
                  "run_dir": str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out)}
    return json.loads((out / "metrics.json").read_text()), provenance


def stage_fields(report: dict) -> dict:
    """What a results row keeps of one stage of a run's metrics.json."""
    fields = {k: report.get(k) for k in ("table3_metric", "table3", "accuracy", "hit_rate", "macro_f1", "threshold",
                                         "threshold_candidates")}
    return {**fields, "best_epoch": report["history"]["best_epoch"]}


def has_train_scores(path: Path) -> bool:
    """Whether a scores file holds the train scores that `--regress-from` regresses."""
    if not path.is_file():
        return False
    with np.load(path) as data:
        return "train" in data.files


def coeqn_run(arch, dataset, seed, args, results: Path) -> tuple:
    """(metrics, provenance, source for --regress-from) of an EQN cell's CoEQN stage, trained in a run of its own.

    As soon as it has finished, its config, metrics, provenance and scores (train included) are archived
    beside the results. A complete archive is the stage's record from then on, whatever commit the code is at
    now: a cell whose machine is lost before its EQN stage ends goes on from there (delete the archive folder
    to train CoEQN again). One made with other options is refused.
    """
    name = f"{dataset}-{arch}-coeqn-s{seed}"
    out = WORK / f"{name}{run_suffix(args)}"
    archived = archive_dir(out, results)
    if all((archived / f).is_file() for f in ("config.json", "metrics.json", "provenance.json")) \
            and has_train_scores(archived / "scores_coeqn.npz"):
        options = json.loads((archived / "config.json").read_text())["config"]
        expected = {"arch": arch, "data": dataset, "head": "eqn", "stages": 1, "seed": seed, "epochs": args.epochs,
                    "max_train": args.max_train, "bert_preset": args.bert_preset if arch == "bert" else None}
        wrong = {k: options.get(k) for k, v in expected.items() if options.get(k) != v}
        if wrong:
            raise SystemExit(f"{archived}: a CoEQN run made with {wrong}, not {({k: expected[k] for k in wrong})}; "
                             "delete that folder to train this cell's CoEQN stage again")
        source = out if has_train_scores(out / "scores_coeqn.npz") else archived
        print(f"   CoEQN from the archive: {archived}", flush=True)
        return (json.loads((archived / "metrics.json").read_text()), json.loads((archived / "provenance.json").read_text()),
                source)
    metrics, provenance = train_run(arch, dataset, "eqn", seed, args, name, ["--stages", "1"])
    archive_run(provenance["run_dir"], ["coeqn"], results, with_train=True, provenance=provenance)
    return metrics, provenance, run_path(provenance["run_dir"])


def regress_source(row, stage, results: Path):
    """A folder `eqn-keras train --regress-from` can take for a results row's stage: the stage's run directory,
    else its archived copy when that holds the train scores; None when neither is here."""
    run_dir = run_path(stage_run(row, stage))
    if (run_dir / "config.json").is_file():
        return run_dir
    archived = archive_dir(stage_run(row, stage), results)
    if (archived / "config.json").is_file() and has_train_scores(archived / f"scores_{stage or row['head']}.npz"):
        return archived
    return None


def run_cell(arch, dataset, head, seed, args, results: Path) -> dict:
    """Train one grid cell; its results row.

    An EQN cell is two runs: CoEQN (`--stages 1`), then EQN regressed from it (`--regress-from`), which
    repeats the two-stage run exactly (each stage starts from the seed); the row adds up their wall times.
    """
    name = f"{dataset}-{arch}-{head}-s{seed}"
    if head != "eqn":
        metrics, provenance = train_run(arch, dataset, head, seed, args, name)
        stages, stage_runs = {stage: stage_fields(rep) for stage, rep in metrics["stages"].items()}, None
    else:
        metrics_1, provenance_1, source = coeqn_run(arch, dataset, seed, args, results)
        metrics, provenance = train_run(arch, dataset, head, seed, args, name, ["--regress-from", f"{source}:coeqn"])
        stages = {"coeqn": stage_fields(metrics_1["stages"]["coeqn"]), "eqn": stage_fields(metrics["stages"]["eqn"])}
        stage_runs = {"coeqn": provenance_1, "eqn": dict(provenance)}
        provenance = {**provenance, "wall_s": round(provenance_1["wall_s"] + provenance["wall_s"], 1),
                      "attempts": provenance_1["attempts"] + provenance["attempts"],
                      "peak_rss_mb": max(filter(None, (provenance_1["peak_rss_mb"], provenance["peak_rss_mb"])),
                                         default=None)}
    row = {"arch": arch, "dataset": dataset, "head": head, "seed": seed, "epochs": args.epochs,
           "max_train": args.max_train, "jobs": args.jobs, **provenance, "stages": stages}
    if stage_runs:
        row["stage_runs"] = stage_runs
    return row


# The thresholds searched by the runs recorded before metrics.json named them: `tune_threshold`'s grid then.
RECORDED_GRID = f"a {DEFAULT_GRID_SIZE}-point grid (default_threshold_grid)"
HEAD_NAMES = {"base": "baseline", "coeqn": "CoEQN", "eqn": "EQN"}


def archived_count(rows: list, results: Path) -> str:
    """How many of the stage runs behind `rows` have their per-text scores in the archive beside `results`
    (looked up on disk)."""
    stages = [(r, stage) for r in rows for stage in r["stages"]]
    found = sum((archive_dir(stage_run(r, stage), results) / f"scores_{stage}.npz").is_file() for r, stage in stages)
    return "none" if not found else f"{found} of {len(stages)}"


def threshold_rules(rows: list) -> str:
    """The thresholds the recorded macro-F1 values were tuned over, with how many stage runs used each (`rows`:
    results rows, each stage's fields in "stages", or rows that are one stage's fields, as variants.jsonl's)."""
    counts = {}
    for r in rows:
        for fields in r["stages"].values() if "stages" in r else [r]:
            rule = fields.get("threshold_candidates") or RECORDED_GRID
            counts[rule] = counts.get(rule, 0) + 1
    return "; ".join(f"{rule}: {n} stage runs" for rule, n in sorted(counts.items()))


def summarize(rows: list, results: Path = RESULTS / "table3.jsonl") -> str:
    """Markdown Table 3: paper value, our mean ± std over the seeds every head of the cell has, EQN minus baseline
    with a paired test over those seeds, and how many stage runs' scores are archived."""
    header = ["arch", "dataset", "setup", "metric", "paper S/M", "ours baseline", "paper EQN", "ours CoEQN", "ours EQN",
              "CoEQN − base (n seeds, paired t p)", "EQN − base (n seeds, paired t p)",
              "seeds (shared by every head)", "macro-F1 base / CoEQN / EQN", "differs from the paper", "hardware",
              "stage runs with scores archived"]
    lines = []
    keys = sorted({(r["arch"], r["dataset"], r["epochs"], r["max_train"]) for r in rows},
                  key=lambda k: (ARCHS.index(k[0]) if k[0] in ARCHS else 9, k[1], k[2], k[3] or 0))
    for arch, dataset, epochs, max_train in keys:
        cell = [r for r in rows if (r["arch"], r["dataset"], r["epochs"], r["max_train"]) == (arch, dataset, epochs, max_train)]
        setup = f"≤{epochs} epochs" + (f", {max_train} train texts" if max_train else "")
        if arch == "bert" and (max_train or epochs < 3):
            setup += " (reduced: CPU budget)"
        runs = [hit_epoch_limit(r, stage) for r in cell for stage in r["stages"]]
        if any(runs):
            setup += f"; ended by the epoch limit, not early stopping, in {sum(runs)} of {len(runs)} stage runs"
        differs = "; ".join(filter(None, [ARCH_DIFF.get(arch), DATASET_DIFF.get(dataset)]))
        base = {r["seed"]: r["stages"][r["head"]] for r in cell if r["head"] != "eqn"}
        eqn = {r["seed"]: r["stages"] for r in cell if r["head"] == "eqn"}

        def series(source, stage=None):
            return {s: (v[stage] if stage else v) for s, v in source.items() if stage is None or stage in v}

        heads = {"base": series(base), "coeqn": series(eqn, "coeqn"), "eqn": series(eqn, "eqn")}
        shared = shared_seeds(*heads.values())
        b, c, e = ({s: v for s, v in d.items() if s in shared} for d in heads.values())

        def fmt(d, key="table3"):
            return mean_std([v[key] for v in d.values() if v.get(key) is not None])

        def diff(d):
            return paired_difference({s: v["table3"] for s, v in d.items()}, {s: v["table3"] for s, v in b.items()},
                                     say_identical=False)

        paper = PAPER.get((arch, dataset), (None, None))
        metric = next(iter(b.values()), next(iter(c.values()), {})).get("table3_metric", "?")
        left_out = [f"{HEAD_NAMES[h]} seed {s}" for h, d in heads.items() for s in sorted(set(d) - set(shared))]
        seeds = f"{len(shared)} ({', '.join(map(str, shared))})" + (f"; left out: {', '.join(left_out)}"
                                                                     if left_out else "")
        macro = " / ".join(fmt(d, "macro_f1") for d in (b, c, e))
        lines.append([arch, dataset, setup, metric, paper[0] or "—", fmt(b), paper[1] or "—", fmt(c), fmt(e), diff(c),
                      diff(e), seeds, macro, differs, hardware(run["machine"] for run in runs_of(cell)),
                      archived_count(cell, results)])
    covered = {(a, d) for a, d, _, _ in keys}
    for arch in ARCHS:
        for dataset in DATASETS:
            if (arch, dataset) not in covered:
                paper = PAPER.get((arch, dataset), (None, None))
                differs = "; ".join(filter(None, [ARCH_DIFF.get(arch), DATASET_DIFF.get(dataset)]))
                lines.append([arch, dataset, "not run yet", "", paper[0], "—", paper[1], "—", "—", "—", "—", 0, "—",
                              differs, "—", "—"])
    return md_table(header, lines)


def runs_of(rows: list) -> list:
    """Every run behind `rows`: each row's own and, for an EQN cell, its CoEQN and EQN runs (`stage_runs`)."""
    return [*rows, *(run for r in rows for run in (r.get("stage_runs") or {}).values())]


def cost_table(rows: list) -> str | None:
    """What each full-data BERT cell cost: best epoch per stage, wall time and peak RSS per run, as measured
    around its `eqn-keras train` processes (an EQN cell is its CoEQN run plus its EQN run, when split).
    None when `rows` hold no such cell."""
    cells = sorted((r for r in rows if r["arch"] == "bert" and not r["max_train"]),
                   key=lambda r: (r["dataset"], r["epochs"], r["head"] == "eqn", r["head"], r["seed"]))
    if not cells:
        return None
    lines = []
    for r in cells:
        runs = r.get("stage_runs") or {"+".join(r["stages"]): r}
        best = ", ".join(f"{stage} {v['best_epoch']}" for stage, v in r["stages"].items())
        lines.append([r["dataset"], r["head"], r["seed"], f"≤{r['epochs']}", best,
                      " + ".join(f"{run['wall_s']:,.0f}" for run in runs.values()) + (
                          f" = {r['wall_s']:,.0f}" if len(runs) > 1 else ""),
                      " + ".join(str(run["attempts"]) for run in runs.values()),
                      " / ".join(f"{run['peak_rss_mb']:,}" for run in runs.values() if run.get("peak_rss_mb")) or "—",
                      ", ".join(dict.fromkeys(run["commit"] for run in runs.values()))])
    header = ["dataset", "head", "seed", "epochs", "best epoch", "wall s (per run)", "attempts", "peak RSS MB",
              "commit"]
    return md_table(header, lines)


def write_markdown(rows: list, path: Path) -> None:
    runs = runs_of(rows)
    machines = sorted({r["machine"] for r in runs})
    commits = sorted({r["commit"] for r in runs})
    commands = sorted({r["command"].split(" --seed")[0] + " --seed N ..." for r in runs})
    text = ["# Table 3 reproduction", "",
            "Written by `benchmarks/reproduce.py` from `table3.jsonl`; every number below was measured by it.",
            "GoEmotions: hit rate with top-k_i (k_i = number of true labels); other datasets: argmax accuracy.",
            "The paper's 'EQN' row of Table 3 is its CoEQN stage (section 4.3); 'ours EQN' is the second stage.",
            "Differences from the paper: 6emotions is the 20k dair-ai split, 3tsa is the Reddit half, 7health is",
            "absent, 3tfn's test split is sent_valid.csv with dev carved from train.",
            "Each cell's means ± std (ddof=1) and differences are over the seeds every head of the cell has (the",
            "'seeds' column, which names any other seed a head has: left out of every number of that row); a",
            f"difference to the baseline is tested with a {PAIRED_TEST} and shown with its number of",
            "seeds n and p (none with one seed); p ≥ 0.05 means no detectable difference with that many seeds,",
            "not equality.",
            "macro-F1: one global threshold tuned for dev macro-F1 when the run was trained, applied to test; the",
            f"thresholds searched (the grid for runs whose metrics.json does not name them): {threshold_rules(rows)}.",
            "Where a cell's scores are archived, `goemotions_report.py` recomputes them with an exact search and",
            "shows how much the search moves them.",
            "'stage runs with scores archived': how many of the cell's stage runs have their per-text dev/test",
            "scores in `scores/` beside this file (read from disk); the others' scores are not kept.", "",
            summarize(rows, path), "",
            f"Machines: {'; '.join(machines)}. Commits: {', '.join(commits)}.", "",
            "Commands (one per run, seed varies):", ""]
    text += [f"    {c}" for c in commands]
    costs = cost_table(rows)
    if costs:
        text += ["", "## Cost of the full-data BERT cells", "",
                 "Wall time and peak resident memory of the `eqn-keras train` processes, summed (time) or maxed (RSS)",
                 "over their attempts; an EQN cell lists its CoEQN run, then its EQN run. Measured on the machines",
                 "above, whose speed varies from run to run: compare these only roughly.", "", costs]
    write_lines(path, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=list(ARCHS[:4]), choices=ARCHS)
    p.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    p.add_argument("--only", nargs="+", metavar="ARCH:DATASET", help="run only these cells")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-train", type=int)
    p.add_argument("--jobs", type=int, default=1, help="cells trained at once, each in its own process (default 1)")
    p.add_argument("--bert-preset", help="for --archs bert (default: models/bert.json's, the offline MiniLM)")
    p.add_argument("--quick", action="store_true",
                   help="tiny grid for CI: textcnn on 3tfn, 2 seeds, 300 training texts, 1 epoch")
    p.add_argument("--results", default=str(RESULTS / "table3.jsonl"))
    p.add_argument("--report", action="store_true",
                   help="only rewrite the markdown from the results file (and archive the scores of recorded runs "
                        "whose run directories are here)")
    p.add_argument("--work", default=str(WORK), help="where run directories go (default benchmarks/work)")
    args = p.parse_args(argv)
    set_work(args.work)
    if args.report:
        rows = read_results(Path(args.results))
        write_markdown(rows, Path(args.results).with_suffix(".md"))
        for row in rows:  # runs finished elsewhere whose rows were copied in, and whose run dirs are here
            archive_row(row, Path(args.results))
        return 0
    if args.quick:
        args.archs, args.datasets, args.seeds, args.epochs, args.max_train = ["textcnn"], ["3tfn"], 2, 1, 300
    cells = [(a, d) for d in args.datasets for a in args.archs]
    if args.only:
        try:
            cells = [tuple(c.split(":")) for c in args.only]
        except ValueError:
            p.error("--only expects ARCH:DATASET")
        bad = [c for c in cells if len(c) != 2 or c[0] not in ARCHS or c[1] not in DATASETS]
        if bad:
            p.error(f"--only {':'.join(bad[0])}: expected ARCH:DATASET with ARCH in {ARCHS} and DATASET in {DATASETS}")
    results = Path(args.results).resolve()  # archived runs are named to `train`, which runs in ROOT
    results.parent.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    done = {(r["arch"], r["dataset"], r["head"], r["seed"], r["epochs"], r["max_train"]) for r in read_results(results)}
    todo = [(arch, dataset, head, seed) for seed in range(args.seeds) for arch, dataset in cells
            for head in (baseline_head(dataset), "eqn")
            if (arch, dataset, head, seed, args.epochs, args.max_train) not in done]
    lock = threading.Lock()
    # --jobs N trains N cells at once, each in its own process: small models leave cores idle.
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for future in [pool.submit(ensure_cell, *cell, args, results, lock) for cell in todo]:
            future.result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
