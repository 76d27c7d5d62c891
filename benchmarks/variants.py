"""Label-regression variants against the best conventional head, with seeds (GoEmotions macro-F1 by default).

For each seed the script needs the grid's baseline run (sigmoid multi-label head) and its two-stage EQN run
(`reproduce.py` trains them when `table3.jsonl` lacks them), then trains each variant as one more stage
regressed from those runs (`eqn-keras train --regress-from`), so no CoEQN is trained twice:

    t2      EQN on CoEQN's scores softened by a temperature T=2 (small scores lifted)
    t05     EQN on CoEQN's scores sharpened by T=0.5 (small scores pushed toward 0)
    stage3  a third stage, regressed from EQN's scores
    bce     the conventional baseline's scores as soft targets for an eqn_bce model (sigmoid + BCE on targets / 10)

Macro-F1 uses a threshold tuned on dev (no oracle k). One JSON line per run in `variants.jsonl`;
`variants.md` is rewritten after each one.

    python -m benchmarks.variants --arch textcnn --data goemotions --seeds 3
    python -m benchmarks.variants --quick --results /tmp/variants.jsonl     # tiny version (CI)
    python -m benchmarks.variants --report                                   # only rewrite variants.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import reproduce
from .common import (
    PAIRED_TEST, RESULTS, append_result, md_table, mean_std, paired_difference, read_results, shared_seeds, stage_run,
    write_lines,
)

WORK = reproduce.WORK

# name: (what it is, head, source run ('base' = the baseline run, 'eqn' = the EQN run), source stage, extra flags)
VARIANTS = {
    "t2": ("EQN, regressed scores at temperature 2", "eqn", "eqn", "coeqn", ["--regress-temperature", "2"]),
    "t05": ("EQN, regressed scores at temperature 0.5", "eqn", "eqn", "coeqn", ["--regress-temperature", "0.5"]),
    "stage3": ("third stage, regressed from EQN", "eqn", "eqn", "eqn", []),
    "bce": ("eqn_bce on the conventional baseline's scores (soft BCE targets)", "eqn_bce", "base", None, []),
}


def run_variant(name, source_dir, source_stage, args, seed, source_path) -> dict:
    """One variant regressed from `source_path` (the run `source_dir` of the grid, or its archived copy)."""
    _, head, _, _, flags = VARIANTS[name]
    spec = str(source_path) + (f":{source_stage}" if source_stage else "")
    metrics, provenance = reproduce.train_run(args.arch, args.data, head, seed, args,
                                              f"{args.data}-{args.arch}-variant-{name}-s{seed}",
                                              ["--regress-from", spec, *flags])
    stage = metrics["final_stage"]
    rep = metrics["stages"][stage]
    return {"variant": name, "arch": args.arch, "dataset": args.data, "seed": seed, "epochs": args.epochs,
            "max_train": args.max_train, "stage": stage, "macro_f1": rep["macro_f1"], "table3": rep["table3"],
            "table3_metric": rep["table3_metric"], "threshold": rep["threshold"],
            "threshold_candidates": rep.get("threshold_candidates"),
            "best_epoch": rep["history"]["best_epoch"], **provenance, "source_run_dir": source_dir}


def source_of(row) -> str:
    """The run directory a variant row was regressed from (older rows name it only in their command)."""
    if row.get("source_run_dir"):
        return row["source_run_dir"]
    spec = row["command"].split("--regress-from ", 1)[1].split(" ", 1)[0]
    return spec.rsplit(":", 1)[0] if ":" in spec else spec


def grid_rows(args, results: Path, seed: int) -> dict:
    """The baseline and EQN rows of this seed (trained now if missing); None where another process holds one."""
    rows = {}
    for role, head in (("base", reproduce.baseline_head(args.data)), ("eqn", "eqn")):
        row = reproduce.ensure_cell(args.arch, args.data, head, seed, args, results)
        if row is not None and any(reproduce.regress_source(row, s, results) is None for s in row["stages"]):
            # A fresh clone has the results but neither the run directories nor their archived train scores:
            # retrain (seeded CPU runs repeat exactly).
            row = reproduce.run_cell(args.arch, args.data, head, seed, args, results)
        rows[role] = row
    return rows


def summarize(grid: list, rows: list, args) -> str:
    """Markdown: each variant's macro-F1 and hit rate over seeds, and its paired difference to the baseline."""
    per = {}  # name -> {seed: (macro_f1, table3)}
    base_head = reproduce.baseline_head(args.data)
    for r in grid:
        for stage, rep in r["stages"].items():
            name = {base_head: f"baseline ({base_head})", "coeqn": "CoEQN", "eqn": "EQN"}[stage]
            per.setdefault(name, {})[r["seed"]] = (rep["macro_f1"], rep["table3"])
    for r in rows:
        per.setdefault(r["variant"], {})[r["seed"]] = (r["macro_f1"], r["table3"])
    # every run shown is compared with the others: each over the seeds all of them have
    shared = shared_seeds(*per.values())
    left_out = {name: sorted(set(vals) - set(shared)) for name, vals in per.items()}
    per = {name: {s: v for s, v in vals.items() if s in shared} for name, vals in per.items()}
    base = per.get(f"baseline ({base_head})", {})
    eqn = per.get("EQN", {})
    metric = next((r["table3_metric"] for r in rows), "hit_rate" if args.data in reproduce.MULTI_LABEL else "accuracy")
    header = ["run", "what", "macro-F1 (dev-tuned threshold)", metric, "macro-F1 − baseline (n seeds, paired t p)",
              f"{metric} − baseline", "macro-F1 − EQN", "seeds (shared by every run)"]
    what = {f"baseline ({base_head})": "conventional head, one stage", "CoEQN": "stage 1 of the paper's EQN",
            "EQN": "stage 2 of the paper's EQN", **{k: v[0] for k, v in VARIANTS.items()}}

    def diff(seeds_vals, index, against=None):
        against = base if against is None else against
        return paired_difference({s: v[index] for s, v in seeds_vals.items()},
                                 {s: v[index] for s, v in against.items()})

    rows = []
    for name in [f"baseline ({base_head})", "CoEQN", "EQN", *VARIANTS]:
        vals = per.get(name, {})
        if not vals:
            continue
        rows.append([name, what[name], mean_std([v[0] for v in vals.values()]), mean_std([v[1] for v in vals.values()]),
                     diff(vals, 0) if "baseline" not in name else "—", diff(vals, 1) if "baseline" not in name else "—",
                     diff(vals, 0, eqn) if name in VARIANTS else "—",
                     f"{len(vals)}" + (f"; left out: seed {', '.join(map(str, left_out[name]))}"
                                       if left_out[name] else "")])
    return md_table(header, rows)


def write_markdown(grid, rows, args, path: Path) -> None:
    everything = grid + rows
    text = [f"# Label-regression variants: {args.arch} on {args.data}", "",
            "Written by `benchmarks/variants.py` from `variants.jsonl` and the grid's `table3.jsonl`; every number",
            "below was measured by these scripts. Macro-F1 at the threshold that maximizes it on dev (one threshold",
            "for all labels, as recorded when the run was trained; thresholds searched, the grid for runs whose",
            f"metrics.json does not name them: {reproduce.threshold_rules(everything)}). Every number is over the",
            "seeds that every run of the table has (a run's other seeds are named in its row and left out); a",
            f"difference is tested with a {PAIRED_TEST}, against the run of the same seed, and shown with its",
            "number of seeds n and p.",
            f"Setup: at most {args.epochs} epochs with early stopping on dev loss"
            + (f", {args.max_train} training texts" if args.max_train else "") + ".", "",
            summarize(grid, rows, args), "",
            f"Machines: {'; '.join(sorted({r['machine'] for r in everything}))}. "
            f"Commits: {', '.join(sorted({r['commit'] for r in everything}))}.", "", "Variant commands:", ""]
    text += [f"    {r['command']}" for r in rows]
    write_lines(path, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="textcnn", choices=reproduce.ARCHS)
    p.add_argument("--data", default="goemotions", choices=reproduce.DATASETS)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--max-train", type=int)
    p.add_argument("--bert-preset")
    p.add_argument("--quick", action="store_true", help="tiny version for CI: 3tfn, 300 texts, 1 epoch, 2 seeds")
    p.add_argument("--results", default=str(RESULTS / "variants.jsonl"))
    p.add_argument("--grid-results", help="the grid's results file (default: table3.jsonl beside --results)")
    p.add_argument("--work", default=str(WORK), help="where run directories go (default benchmarks/work)")
    p.add_argument("--report", action="store_true", help="only rewrite the markdown from the results files")
    args = p.parse_args(argv)
    args.jobs = 1
    reproduce.set_work(args.work)
    if args.quick:
        args.arch, args.data, args.seeds, args.epochs, args.max_train = "textcnn", "3tfn", 2, 1, 300
    results = Path(args.results)
    grid_results = Path(args.grid_results) if args.grid_results else results.with_name("table3.jsonl")
    results.parent.mkdir(parents=True, exist_ok=True)
    reproduce.WORK.mkdir(parents=True, exist_ok=True)
    md = results.with_suffix(".md")

    def current():
        """(grid rows, variant rows regressed from those grid runs) of this arch, data and setup."""
        keep = lambda r: (r["arch"], r["dataset"], r["epochs"], r["max_train"]) == (args.arch, args.data, args.epochs,
                                                                                   args.max_train)
        grid = [r for r in read_results(grid_results) if keep(r)]
        runs = {stage_run(r, s) for r in grid for s in [*r["stages"], None]}
        return grid, [r for r in read_results(results) if keep(r) and source_of(r) in runs]

    for seed in range(0 if args.report else args.seeds):
        sources = None
        for name in args.variants:
            _, _, source, stage, _ = VARIANTS[name]
            grid_now = {r["head"]: r for r in current()[0] if r["seed"] == seed}
            row_now = grid_now.get(reproduce.baseline_head(args.data) if source == "base" else "eqn")
            source_dir = stage_run(row_now, stage) if row_now else None
            # done: a row of this variant regressed from the grid's current run (a rerun grid cell redoes it)
            if any(r["variant"] == name and r["seed"] == seed and source_of(r) == source_dir for r in current()[1]):
                continue
            sources = sources or grid_rows(args, grid_results, seed)
            if sources[source] is None:
                print(f"-- {name} seed {seed}: its source run is missing or held by another process; skipped",
                      flush=True)
                continue
            print(f"== variant {name} seed {seed}", flush=True)
            row = run_variant(name, stage_run(sources[source], stage), stage, args, seed,
                              reproduce.regress_source(sources[source], stage, grid_results))
            append_result(results, row)
            write_markdown(*current(), args, md)
    write_markdown(*current(), args, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
