"""Start-up of `eqn-keras annotate` on one text, end to end (process start to written CSV), with its phases.

For each run given (a TextCNN run with `--textcnn`, a BERT run with `--bert`), and for the PyTorch +
transformers loop (`benchmarks/peer_torch.py`, from benchmarks/requirements-peer.txt, on the BERT run's
checkpoint and EQN head), the same one-text CSV is annotated by a fresh process, the command lines alternating,
`--repeats` times; the table gives the median wall time and its ratio to the peer's median in the same run.

Then where the time goes, from two more kinds of process run in the same alternation:

- phases: `eqn-keras annotate` run in-process by this script's child (the same `eqn_keras.cli.main`, the same
  arguments), with timers around the interpreter's start, the imports (`eqn_keras.annotate`, which brings
  TensorFlow, Keras and pandas), the model load (`Annotator.__init__`: reading the .keras file, building
  the model, the precision's copy), tokenization, the first forward pass (tracing included) and a second one,
  the rest of the command (writing the CSV) and the process's exit;
- imports: `python -X importtime` over the real command line, once per run: the packages the command
  imports, heaviest first, and which of the packages annotating has no use for were imported.

    python -m benchmarks.startup --textcnn RUN_DIR --bert RUN_DIR --peer-python ../venv-peer/bin/python
    python -m benchmarks.startup --report      # rewrite startup.md from startup.json

Writes `<out>.md` and `<out>.json` (default benchmarks/results/startup.*), each atomically.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD_STARTED = time.time()  # the phase child's first line: the interpreter's start-up ends here

import numpy as np  # noqa: E402

from .common import (  # noqa: E402
    MEASURE_RSS, ROOT, git_commit, loadavg, machine_info, md_table, rewrite_markdown, write_outputs,
)

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "startup"
TEXT = "Shares of the bank rallied after it beat profit forecasts for the quarter."
# packages `eqn-keras annotate` has no use for: the ones a trimmed import should not load
UNUSED = ("matplotlib", "sklearn", "scipy", "kagglehub", "IPython", "tensorflow_datasets", "tensorboard", "jax",
          "torch")
UNUSED_BY_TOKEN_RUNS = ("keras_hub", "tensorflow_text")  # BERT runs need them (the backbone, the WordPiece op)
PHASES = [("interpreter", "spawn", "child_started", "Python start-up (interpreter, site)"),
          ("imports", "child_started", "imported", "import eqn_keras.annotate: TensorFlow, Keras, pandas"),
          ("arguments and input check", "imported", "load_start", "parse the command line, check the input"),
          ("model load", "load_start", "load_end", "Annotator: read the .keras file, build the model, precision"),
          ("until the first batch", "load_end", "score_start", "open the output, read and tokenize the text"),
          ("first forward pass", "score_start", "score_end", "trace (and XLA-compile, if on) + score one text"),
          ("write and finish", "score_end", "main_end", "write the CSV, put it in place"),
          ("exit", "main_end", "exit", "interpreter and TensorFlow teardown")]


# ---------------------------------------------------------------------------------------------
# The phase child: `eqn-keras annotate` in this process, with timers


def phase_child(marks_path: str, argv: list) -> int:
    marks = {"child_started": CHILD_STARTED}
    from eqn_keras import cli

    with cli.kept_out(getattr(cli, "UNUSED_BY_ANNOTATE", ())):  # as `cli.cmd_annotate` imports it
        from eqn_keras import annotate  # what `eqn-keras annotate` imports before it loads the model
    marks["imported"] = time.time()
    annotator_class = annotate.Annotator
    init, raw_scores = annotator_class.__init__, annotator_class.raw_scores
    made = []

    def timed_init(self, *args, **kwargs):
        marks.setdefault("load_start", time.time())
        init(self, *args, **kwargs)
        marks.setdefault("load_end", time.time())
        made.append(self)

    def timed_scores(self, *args, **kwargs):
        first = "score_start" not in marks
        if first:
            marks["score_start"] = time.time()
        out = raw_scores(self, *args, **kwargs)
        if first:
            marks["score_end"] = time.time()
        return out

    annotator_class.__init__, annotator_class.raw_scores = timed_init, timed_scores
    code = cli.main(argv)
    marks["main_end"] = time.time()
    if made:  # a second forward pass on the same text: the steady cost, after the trace
        ids = made[0].token_ids([TEXT])
        t0 = time.perf_counter()
        raw_scores(made[0], [TEXT], token_ids=ids)
        marks["second_pass_s"] = time.perf_counter() - t0
        marks["precision"] = made[0].precision
    marks["modules"] = sorted({name.split(".")[0] for name in sys.modules})
    marks["exit_start"] = time.time()
    Path(marks_path).write_text(json.dumps(marks))
    import gc

    gc.freeze()  # as eqn_keras.cli.run does
    return code


# ---------------------------------------------------------------------------------------------
# Measuring


def run_timed(argv, env, log_path: Path, timeout: float) -> dict:
    """Wall time from spawn to exit (and the spawn time, for the phase child's marks), peak RSS, or an error."""
    with open(log_path, "w") as log:
        spawn, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", MEASURE_RSS, *argv], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        wall, end = time.perf_counter() - t0, time.time()
    lines = log_path.read_text(errors="replace").strip().splitlines() or ["(no output)"]
    if proc.returncode != 0:
        return {"error": lines[-1][:200] + f" (exit status {proc.returncode})", "log": "\n".join(lines[-15:])}
    return {"wall_s": wall, "spawn": spawn, "exit": end, "peak_rss_mb": int(lines[-1]) / 1024.0}


def phases(marks: dict) -> dict:
    """Seconds per phase (PHASES) from one phase child's time marks (its spawn and exit included)."""
    out = {}
    for name, start, end, _ in PHASES:
        if start in marks and end in marks:
            out[name] = marks[end] - marks[start]
    if "second_pass_s" in marks:
        out["exit"] = out.get("exit", 0.0) - marks["second_pass_s"]  # the second pass ran before the exit mark
        out["second forward pass (not in the total)"] = marks["second_pass_s"]
    return out


def parse_importtime(text: str) -> list:
    """`python -X importtime` output as [(depth, module, self s, cumulative s)], in the order printed."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:") or line.count("|") < 2 or "self [us]" in line:
            continue
        head, cumulative, raw = line.split("|", 2)
        name = raw.rstrip("\n")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((depth, name.strip(), int(head.split(":")[1]) / 1e6, int(cumulative) / 1e6))
    return rows


def package_costs(rows: list) -> dict:
    """Each top-level package's import time: the cumulative time of its outermost imports (an import nested in
    another package's counts there too), {package: (seconds, who imported it first)}."""
    out = {}
    for i, (depth, name, _, cumulative) in enumerate(rows):
        package = name.split(".")[0]
        parent, dd = None, depth
        for later in rows[i + 1:]:  # importtime prints a module after the modules it imported
            if later[0] < dd:
                parent, dd = later[1], later[0]
                break
        if parent is not None and parent.split(".")[0] == package:
            continue  # not the package's outermost import
        seconds, first = out.get(package, (0.0, parent))
        out[package] = (seconds + cumulative, first)
    return out


def import_profile(argv, env, log_path: Path, timeout: float) -> dict:
    """Packages imported by one run of `argv` (a Python command line) under -X importtime."""
    with open(log_path, "w") as log:
        proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=log, timeout=timeout)
    rows = parse_importtime(log_path.read_text(errors="replace"))
    if proc.returncode != 0 or not rows:
        return {"error": f"exit status {proc.returncode}, {len(rows)} imports"}
    costs = package_costs(rows)
    return {"packages": {k: {"s": round(v[0], 4), "first_imported_by": v[1]} for k, v in costs.items()},
            "total_s": round(sum(r[3] for r in rows if r[0] == 0), 4), "modules": len(rows)}


def unused(name: str) -> tuple:
    """The packages command line `name` (ours-ARCH, phases-ARCH) has no use for."""
    return UNUSED + (() if name.endswith("bert") else UNUSED_BY_TOKEN_RUNS)


def bert_peer_inputs(run_dir: Path, work: Path) -> tuple:
    """(Hugging Face checkpoint directory, head .npz) for the peer on a BERT run: the run's backbone checkpoint
    (its fine-tuned backbone weights are not exported: start-up does not depend on them) and its EQN head."""
    from .bert_speed import save_head_npz

    from eqn_keras.rundir import load_run, split_text_model

    config, _, model = load_run(run_dir)
    _, core = split_text_model(model)
    head = work / "peer_head.npz"
    save_head_npz(core, list(config["dataset"]["label_names"]), head, *_energy_range(config))
    return config["bert_preset"], head


def _energy_range(config: dict):
    from eqn_keras.rundir import energy_range

    return energy_range(config) or (0.0, 1.0)


def commands(args, work: Path) -> dict:
    """{name: (label, argv, kind[, env])}: kind 'e2e' (timed end to end), 'phases' (the phase child); env: what
    the command's environment changes (--compare-with's PYTHONPATH)."""
    source = work / "one.csv"
    import pandas as pd

    pd.DataFrame({"text": [TEXT]}).to_csv(source, index=False)
    out = {}
    for arch, run in (("textcnn", args.textcnn), ("bert", args.bert)):
        if run is None:
            continue
        extra = shlex.split(args.flags) if args.flags else []
        annotate = ["annotate", "--model", str(run), "--input", str(source), "--quiet", "--overwrite", *extra]
        out[f"ours-{arch}"] = (f"ours: eqn-keras annotate, {arch} run, defaults{' ' + args.flags if extra else ''}",
                               [sys.executable, "-m", "eqn_keras", *annotate, "--output", str(work / f"{arch}.csv")],
                               "e2e")
        out[f"phases-{arch}"] = (f"ours with phase timers, {arch} run",
                                 [sys.executable, "-m", "benchmarks.startup", "--phase-child",
                                  str(work / f"marks-{arch}.json"), "--", *annotate, "--output",
                                  str(work / f"{arch}-phases.csv")], "phases")
    if args.compare_with:  # the same command lines on another checkout of eqn_keras (e.g. before a change)
        tree = Path(args.compare_with).resolve()
        commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or str(tree)
        for name in [n for n in out if n.startswith("ours-")]:
            label, argv, _ = out[name]
            argv = list(argv)
            argv[argv.index("--output") + 1] = str(work / f"{name}-compare.csv")
            out[f"compare-{name[5:]}"] = (f"{label.replace('ours:', 'ours at ' + commit + ':')}", argv, "e2e",
                                          {"PYTHONPATH": str(tree)})
    if args.bert is not None and args.peer_python:
        checkpoint, head = bert_peer_inputs(Path(args.bert), work)
        out["peer"] = ("peer: PyTorch + transformers loop, float32 (benchmarks/peer_torch.py)",
                       [args.peer_python, str(ROOT / "benchmarks" / "peer_torch.py"), "--checkpoint", checkpoint,
                        "--head", str(head), "--input", str(source), "--output", str(work / "peer.csv")], "e2e")
    return out


def measure(args) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    start = {"loadavg_start": loadavg(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="eqn-startup-") as tmp:
        work = Path(tmp)
        plan = commands(args, work)
        runs = {name: [] for name in plan}
        for repeat in range(args.repeats):
            for name, (_, argv, kind, *extra) in plan.items():
                if runs[name] and "error" in runs[name][-1]:
                    continue
                print(f"[startup] {name} {repeat + 1}/{args.repeats}", file=sys.stderr, flush=True)
                result = run_timed(argv, dict(env, **(extra[0] if extra else {})), work / f"{name}-{repeat}.log",
                                   args.timeout)
                if kind == "phases" and "error" not in result:
                    marks = json.loads((work / f"marks-{name.split('-', 1)[1]}.json").read_text())
                    marks.update(spawn=result["spawn"], exit=result["exit"])
                    result["phases"] = phases(marks)
                    result["precision"] = marks.get("precision")
                    result["unused_imported"] = [m for m in unused(name) if m in marks["modules"]]
                if "error" in result:
                    print(f"[startup] {name} failed:\n{result['log']}", file=sys.stderr, flush=True)
                runs[name].append(result)
        imports = {}
        for name, (_, argv, kind, *extra) in plan.items():
            if kind == "e2e" and not extra:
                print(f"[startup] {name}: -X importtime", file=sys.stderr, flush=True)
                imports[name] = import_profile(argv, env, work / f"{name}-importtime.log", args.timeout)
    rows = []
    for name, (label, argv, kind, *_) in plan.items():
        row = {"name": name, "label": label, "kind": kind, "runs": runs[name]}
        ok = [r for r in runs[name] if "error" not in r]
        if ok and len(ok) == len(runs[name]):
            row["wall_s_all"] = [r["wall_s"] for r in ok]
            row["wall_s"] = float(np.median(row["wall_s_all"]))
            row["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
            if kind == "phases":
                keys = ok[0]["phases"]
                row["phases"] = {k: float(np.median([r["phases"][k] for r in ok])) for k in keys}
                row["precision"] = ok[0]["precision"]
                row["unused_imported"] = ok[0]["unused_imported"]
        else:
            row["error"] = next(r["error"] for r in runs[name] if "error" in r)
        if name in imports:
            row["imports"] = imports[name]
        rows.append(row)
    return {**start, "loadavg_end": loadavg(), "rows": rows}


# ---------------------------------------------------------------------------------------------
# Report


def render_markdown(report: dict) -> str:
    from .bert_speed import describe_features

    rows = {r["name"]: r for r in report["rows"]}
    peer = rows.get("peer")
    peer_ok = peer is not None and "error" not in peer
    lines = ["# Start-up: `eqn-keras annotate` on one text", "",
             "Written by `benchmarks/startup.py`; every number below was measured by that run.", "",
             f"- Command: `{report['command']}`",
             f"- Commit: {report['commit']}; TensorFlow {report['versions']['tensorflow']}, Keras "
             f"{report['versions']['keras']}, Python {report['versions']['python']}; {report['date']}",
             f"- Machine: {report['machine']['platform']}, {report['machine']['cpu_count']} CPUs, "
             f"{report['machine']['cpu_model']}; CPU features: {describe_features(report['cpu_features'])}",
             f"- Load average at start {report['loadavg_start']}, at end {report['loadavg_end']}: other processes "
             "shared the CPU during the measurement, so absolute times drift; the command lines ran alternating, "
             f"{report['repeats']} times each, and the ratios compare medians from the same run.",
             f"- Input: a CSV holding one text; each command line a fresh process, from its spawn to its exit "
             "(the written CSV).", ""]
    lines += ["## End to end", ""]
    table = []
    for r in report["rows"]:
        if r["kind"] != "e2e":
            continue
        if "error" in r:
            table.append([r["label"], f"failed: {r['error']}", "", "", ""])
            continue
        ratio = f"{r['wall_s'] / peer['wall_s']:.2f}" if peer_ok else "peer not measured"
        table.append([r["label"], f"{r['wall_s']:.2f}", ratio, f"{r['peak_rss_mb']:.0f}",
                      ", ".join(f"{w:.2f}" for w in r["wall_s_all"])])
    lines.append(md_table(["command line", "median wall s", "ratio to the peer (< 1: ours starts faster)",
                           "peak RSS MB", "wall s per run"], table))
    lines += ["", "## Where the time goes", "",
              "Medians over the phase child's runs (`eqn_keras.cli.main` in a script with timers around its "
              "steps; same arguments, so the same work as the command line above, which its total tracks).", ""]
    children = [r for r in report["rows"] if r["kind"] == "phases"]
    names = [p[0] for p in PHASES] + ["second forward pass (not in the total)"]
    header = ["phase"] + [r["label"].replace("ours with phase timers, ", "") +
                          (f" ({r['precision']})" if r.get("precision") else "") for r in children] + ["what"]
    what = {p[0]: p[3] for p in PHASES}
    what["second forward pass (not in the total)"] = "the same text again: the forward pass without its trace"
    table = []
    for name in names:
        if not any(name in r.get("phases", {}) for r in children):
            continue
        table.append([name] + [f"{r['phases'][name]:.2f}" if name in r.get("phases", {}) else "—"
                               for r in children] + [what[name]])
    table.append(["total (spawn to exit)"] + [f"{r['wall_s']:.2f}" if "wall_s" in r else "failed" for r in children]
                 + [""])
    lines.append(md_table(header, table))
    lines += ["", "## Imports", "",
              "From one `python -X importtime` run of each command line: the heaviest top-level packages (the "
              "cumulative time of their outermost imports; a package imported by another one counts in both). "
              "The last column lists the packages annotating has no use for (" + ", ".join(UNUSED) + "; and "
              "for token-model runs " + ", ".join(UNUSED_BY_TOKEN_RUNS) + ") that the phase child found in "
              "`sys.modules` after the command.", ""]
    table = []
    for r in report["rows"]:
        info = r.get("imports")
        if not info or "error" in info:
            continue
        heavy = sorted(info["packages"].items(), key=lambda kv: -kv[1]["s"])[:8]
        child = rows.get(r["name"].replace("ours-", "phases-"), {})
        extra = [f"{m} ({info['packages'].get(m, {}).get('s', 0.0):.2f} s)" for m in child.get("unused_imported", [])]
        table.append([r["label"], f"{info['total_s']:.2f}", ", ".join(f"{k} {v['s']:.2f}" for k, v in heavy),
                      "—" if r["name"] == "peer" else "; ".join(extra) or "none"])
    lines.append(md_table(["command line", "imports s", "heaviest packages (s)", "unused packages imported"], table))
    return "\n".join(lines) + "\n"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--textcnn", help="a finished TextCNN run directory (or any token-model run)")
    p.add_argument("--bert", help="a finished BERT run directory; the peer runs on its checkpoint and head")
    p.add_argument("--peer-python", help="Python that has torch and transformers (benchmarks/requirements-peer.txt); "
                                         "without it the peer is not measured")
    p.add_argument("--compare-with", metavar="DIR",
                   help="also time our command lines with eqn_keras from this checkout (e.g. a git worktree of an "
                        "earlier commit), alternating with the others")
    p.add_argument("--flags", help="extra flags for our command lines, e.g. '--precision float32'")
    p.add_argument("--repeats", type=int, default=5, help="alternating runs of each command line")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per process")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output stem: writes <out>.md and <out>.json")
    p.add_argument("--report", action="store_true", help="only rewrite <out>.md from <out>.json")
    args = p.parse_args(argv)
    if not args.report and args.textcnn is None and args.bert is None:
        p.error("give --textcnn and/or --bert run directories")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--phase-child"]:
        return phase_child(argv[1], argv[3:])
    args = parse_args(argv)
    if args.report:
        print(rewrite_markdown(Path(args.out), render_markdown))
        return 0
    import platform

    from .bert_speed import cpu_features

    measured = measure(args)
    import keras
    import tensorflow as tf

    report = {"command": "python -m benchmarks.startup " + shlex.join(argv), "commit": git_commit(),
              "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                           "python": platform.python_version()},
              "machine": machine_info(), "cpu_features": cpu_features(), "repeats": args.repeats,
              "text": TEXT, **measured}
    out = Path(args.out)
    write_outputs(out, report, render_markdown)
    print(render_markdown(report))
    print(f"[startup] wrote {out}.md and {out}.json", file=sys.stderr)
    return 1 if any("error" in r for r in report["rows"] if r["name"] != "peer") else 0


if __name__ == "__main__":
    sys.exit(main())
