"""Annotation at scale: `eqn-keras annotate` streaming (chunk by chunk) against the in-memory path, same rows.

Generates `--rows` rows (default 1,000,000: an id and a text drawn, seeded, with replacement from the run's
annotated test texts, `test_annotated_<stage>.csv`) as one CSV, then runs `eqn-keras annotate` on it twice,
each in its own subprocess started from a small parent (Linux carries the forking process's peak RSS into
the child's, so the benchmark's own memory must not be counted):

- streaming - the default: `--chunk-size` rows read, checked, scored and written at a time, resumable;
- in-memory - `--chunk-size 0`: the whole file read, scored and written at once (the path before streaming).

Each is timed from process start to the written file (imports, model load and CSV included) and its peak
RSS read from `wait4`; rows/s = rows / wall seconds. The two outputs must be byte-identical.

    python -m benchmarks.annotate_scale                          # 1M rows; trains a small TextCNN on 3tfn (EQN_DATA_DIR)
    python -m benchmarks.annotate_scale --rows 20000 --run runs/tfn-textcnn --out /tmp/annotate_scale
    python -m benchmarks.annotate_scale --report                 # rewrite annotate_scale.md from the .json

Without `--run` it trains `eqn-keras train --arch textcnn --data 3tfn --stages 1 --epochs 1` into the work
folder once (annotation speed does not depend on how well the model was trained). Writes `<out>.md` and
`<out>.json` (default benchmarks/results/annotate_scale.*), each atomically; the generated files are deleted
unless `--keep`.
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import json
import os
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from eqn_keras.fileio import InputError
from eqn_keras.tablestream import CHUNK_SIZE

from .common import MEASURE_RSS, ROOT, fmt_rate, git_commit, loadavg, machine_info, md_table, rewrite_markdown, write_outputs

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "annotate_scale"
DEFAULT_WORK = ROOT / "benchmarks" / "work" / "annotate_scale"
PATHS = {"streaming": None, "in-memory": 0}  # name -> --chunk-size (None: the one asked for)


def train_run(work: Path, data_dir) -> Path:
    """A small TextCNN run on 3tfn in the work folder (trained once, then reused)."""
    run = work / "textcnn-3tfn"
    if (run / "metrics.json").is_file():
        return run
    if not data_dir:
        raise InputError("no --run and no --data-dir / EQN_DATA_DIR: cannot train the TextCNN run on 3tfn")
    subprocess.run([sys.executable, "-m", "eqn_keras.cli", "train", "--arch", "textcnn", "--data", "3tfn",
                    "--data-dir", str(data_dir), "--stages", "1", "--epochs", "1", "--out", str(run), "--quiet"],
                   check=True)
    return run


def run_texts(run: Path) -> tuple:
    """(texts, source file): the run's annotated test texts."""
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    path = run / f"test_annotated_{config['stages'][-1]}.csv"
    if not path.is_file():
        raise InputError(f"{path}: not found; expected a finished run (--run)")
    texts = pd.read_csv(path, dtype=str, keep_default_na=False)["text"]
    return texts[texts.str.strip() != ""].tolist(), path


def generate(path: Path, texts: list, rows: int, seed: int, block: int = 100_000) -> None:
    """`rows` rows (id, text drawn with replacement from `texts`) as one CSV, written a block at a time."""
    rng = np.random.default_rng(seed)
    pool = np.array(texts, dtype=object)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for start in range(0, rows, block):
            n = min(block, rows - start)
            frame = pd.DataFrame({"id": np.arange(start, start + n), "text": pool[rng.integers(0, len(pool), n)]})
            frame.to_csv(handle, index=False, header=start == 0, lineterminator="\n")


def measure(args: list) -> dict:
    """Run `eqn-keras annotate ARGS` under the small parent: wall seconds, peak RSS (MB), exit code."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE_RSS, sys.executable, "-m", "eqn_keras.cli", "annotate",
                             *map(str, args)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"annotate {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return {"seconds": seconds, "peak_rss_mb": int(result.stdout.split()[-1]) / 1024}


def render(report: dict) -> str:
    stream, memory = report["paths"]["streaming"], report["paths"]["in-memory"]
    rows = [[name, f"{p['chunk_size'] or 'whole file'}", f"{p['seconds']:.1f}", fmt_rate(p["rows_per_s"]),
             f"{p['peak_rss_mb']:.0f}", ", ".join(f"{x:.1f}" for x in p.get("seconds_all", [p["seconds"]]))]
            for name, p in report["paths"].items()]
    repeats = len(stream.get("seconds_all", [0]))
    lines = [
        "# Annotation at scale: streaming vs in-memory",
        "",
        "Written by `benchmarks/annotate_scale.py`; every number below was measured by that run.",
        "",
        f"- Command: `{report['command']}`",
        f"- Commit: {report['commit']}; TensorFlow {report['versions']['tensorflow']}, Keras "
        f"{report['versions']['keras']}, pandas {report['versions']['pandas']}; {report['date']}",
        f"- Machine: {report['machine']['platform']}, {report['machine']['cpu_count']} CPUs, "
        f"{report['machine']['cpu_model']}; load average at start {report['loadavg_start']}, at end "
        f"{report['loadavg_end']}",
        f"- Input: {report['rows']:,} rows ({report['input_mb']:.0f} MB CSV: id, text drawn with replacement, seed "
        f"{report['seed']}, from the {report['distinct_texts']:,} texts of `{report['texts_from']}`)",
        f"- Model: `{report['run']}` ({report['arch']}, stage {report['stage']}); batch size {report['batch_size']}",
        "",
        md_table(["path", "chunk size", "wall s (median)", "rows/s", "peak RSS MB (max)", "wall s per run"], rows),
        "",
        f"Streaming ÷ in-memory, same run: rows/s {stream['rows_per_s'] / memory['rows_per_s']:.2f}×, peak RSS "
        f"{stream['peak_rss_mb'] / memory['peak_rss_mb']:.2f}×. Outputs byte-identical: "
        f"{'yes' if report['identical'] else 'NO'}.",
        "",
        f"Each path ran {repeats} time(s), alternating with the other (first streaming, then in-memory first, ...), "
        "each run in its own process, timed from process start to the written file (imports, model "
        "load, reading, scoring and writing). Streaming with `--on-bad-row error` (the default) reads the file "
        "twice: a check of every row before any scoring, then the annotation; it also writes the progress file "
        "and fsyncs after every chunk.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--run", help="a finished run to annotate with (default: train a small TextCNN on 3tfn)")
    p.add_argument("--data-dir", default=os.environ.get("EQN_DATA_DIR"), help="named datasets (default $EQN_DATA_DIR)")
    p.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help=f"streaming chunk (default {CHUNK_SIZE})")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1, help="timed runs of each path, alternating (median wall time)")
    p.add_argument("--work", default=str(DEFAULT_WORK), help="where the run, input and outputs go")
    p.add_argument("--keep", action="store_true", help="keep the generated input and outputs")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output stem: writes <out>.md and <out>.json")
    p.add_argument("--report", action="store_true", help="only rewrite <out>.md from <out>.json")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.report:
        print(rewrite_markdown(out, render))
        return 0
    if args.rows < 1 or args.chunk_size < 1 or args.repeats < 1:
        p.error("--rows, --chunk-size and --repeats must be positive")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    run = Path(args.run) if args.run else train_run(work, args.data_dir)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    texts, source = run_texts(run)
    src = work / f"input_{args.rows}.csv"
    generate(src, texts, args.rows, args.seed)
    with open(src, "rb") as handle:  # the page cache holds the input for both paths alike
        while handle.read(1 << 24):
            pass
    report = {"command": shlex.join(["python", "-m", "benchmarks.annotate_scale", *(argv if argv is not None else sys.argv[1:])]),
              "commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "versions": {k: metadata.version(k) for k in ("tensorflow", "keras", "pandas")},
              "loadavg_start": loadavg(), "rows": args.rows, "input_mb": src.stat().st_size / 2**20, "seed": args.seed,
              "distinct_texts": len(set(texts)), "texts_from": str(source), "run": str(run),
              "arch": config["config"]["arch"], "stage": config["stages"][-1], "batch_size": args.batch_size,
              "paths": {}}
    outputs = {name: work / f"output_{name}.csv" for name in PATHS}
    runs = {name: [] for name in PATHS}
    for repeat in range(args.repeats):
        # alternate the order, so drift in a shared machine's speed falls on both paths alike
        for name in (list(PATHS) if repeat % 2 == 0 else list(PATHS)[::-1]):
            chunk = args.chunk_size if PATHS[name] is None else PATHS[name]
            outputs[name].unlink(missing_ok=True)
            print(f"{name} ({repeat + 1}/{args.repeats}): annotating {args.rows:,} rows ...", flush=True)
            result = measure(["--model", run, "--input", src, "--output", outputs[name], "--chunk-size", chunk,
                              "--batch-size", args.batch_size, "--quiet"])
            runs[name].append(result)
            print(f"  {result['seconds']:.1f} s, {fmt_rate(args.rows / result['seconds'])} rows/s, peak RSS "
                  f"{result['peak_rss_mb']:.0f} MB", flush=True)
    for name, results in runs.items():
        seconds = float(np.median([r["seconds"] for r in results]))
        report["paths"][name] = {"seconds": seconds, "seconds_all": [r["seconds"] for r in results],
                                 "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
                                 "chunk_size": args.chunk_size if PATHS[name] is None else PATHS[name],
                                 "rows_per_s": args.rows / seconds}
    report["identical"] = filecmp.cmp(outputs["streaming"], outputs["in-memory"], shallow=False)
    report["loadavg_end"] = loadavg()
    if not args.keep:
        for path in [src, *outputs.values()]:
            path.unlink(missing_ok=True)
    write_outputs(out, report, render)
    print(render(report))
    return 0 if report["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
