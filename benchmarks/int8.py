"""int8 annotation on CPU: Keras's int8 quantization (`--precision int8`) against float32 and bfloat16 on a
trained BERT run: speed, the energy error against the run's own float32 scores, and the change in test metrics.

On one finished run (`--run`, e.g. a MiniLM run trained on 3TFN), in one process:

- scoring speed: the run's test texts, tokenized once, scored by `predict_scores` (what `eqn-keras annotate`
  runs) in float32, bfloat16 and int8 with XLA off, and int8 with XLA on; every variant is its own copy of the model,
  warmed up by one pass (traces, XLA compilations), then the variants' timed passes alternate, `--repeats`
  times; texts/s is the median, ratios are to float32 without XLA in the same run;
- energy error: each precision's dev and test energies (clipped to the run's range, as annotate writes them,
  before the 2-decimal rounding) against float32's: max, 99.9th percentile of the per-text max, mean;
- metrics: the run's evaluation (accuracy, macro-F1 at the dev-tuned threshold, `evaluation_report`) on each
  precision's scores, and the change against float32.

With `--peer-python`, `eqn-keras annotate` (float32 and int8, XLA off) and the PyTorch + transformers loop
(`benchmarks/peer_torch.py`, float32) also annotate the test texts from a CSV end to end, each a fresh process,
alternating; the peer runs the run's backbone checkpoint with the run's head, so its energies are not
comparable (the fine-tuned backbone is not exported) but its work is the same.

    python -m benchmarks.int8 --run RUN_DIR --peer-python ../venv-peer/bin/python
    python -m benchmarks.int8 --report

Writes `<out>.md` and `<out>.json` (default benchmarks/results/int8.*), each atomically.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from .common import ROOT, git_commit, loadavg, machine_info, md_table, rewrite_markdown, write_outputs  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "int8"
PRECISIONS = ("float32", "bfloat16", "int8")


INT8_BOUND = {"max": 0.05, "metric": 0.005}  # what int8 must keep to for `auto` to pick it


def int8_qualifies(rows: dict) -> bool:
    """int8 (XLA off) faster than float32 and bfloat16, and within INT8_BOUND of float32."""
    int8, f32 = rows["int8"], rows["float32"]
    return (int8["ratio_to_float32"] > max(1.0, rows["bfloat16"]["ratio_to_float32"])
            and int8["energy_error_vs_float32"]["max"] <= INT8_BOUND["max"]
            and abs(int8["accuracy"] - f32["accuracy"]) <= INT8_BOUND["metric"]
            and abs(int8["macro_f1"] - f32["macro_f1"]) <= INT8_BOUND["metric"])


def variants():
    """(precision, XLA): each precision without XLA, and int8 with it (its best case; XLA on CPU for float32
    and bfloat16 is in bert_speed.md)."""
    return [(p, False) for p in PRECISIONS] + [("int8", True)]


def name_of(precision: str, xla: bool) -> str:
    return precision + (" + XLA" if xla else "")


def energy_error(reference: np.ndarray, other: np.ndarray) -> dict:
    diff = np.abs(reference - other)
    return {"max": float(diff.max()), "p999_of_text_max": float(np.quantile(diff.max(axis=1), 0.999)),
            "mean": float(diff.mean())}


def measure_in_process(args) -> dict:
    import keras

    from eqn_keras.datasets import load_dataset
    from eqn_keras.metrics import evaluation_report
    from eqn_keras.rundir import (energy_range, int8_layers, load_run, load_scores, predict_scores, split_text_model,
                                  with_precision)
    from eqn_keras.sequence import tokenize

    config, stage, model = load_run(args.run, args.stage)
    cfg = config["config"]
    if cfg["arch"] != "bert":
        raise SystemExit(f"{args.run}: a {cfg['arch']} run; int8 is for BERT runs")
    splits = load_dataset(cfg["data"], args.data_dir or cfg.get("data_dir"), test_data=cfg.get("test_data"),
                          seed=cfg.get("seed", 0))
    tokenizer, _ = split_text_model(model)
    batch = args.batch_size or int(config.get("arch_config", {}).get("predict_batch_size", 64))
    ids = {role: tokenize(tokenizer, list(getattr(splits, role).texts)) for role in ("dev", "test")}
    labels = {role: list(getattr(splits, role).labels) for role in ("dev", "test")}
    saved = load_scores(Path(args.run) / f"scores_{stage}.npz")
    low_high = energy_range(config)

    cores, prepare_s = {}, {}
    for precision, xla in variants():
        t0 = time.perf_counter()
        core = split_text_model(load_run(args.run, stage)[2])[1]
        core = with_precision(core, precision)
        core.jit_compile = xla
        prepare_s[name_of(precision, xla)] = time.perf_counter() - t0
        cores[(precision, xla)] = core
    quantized = int8_layers(cores[("int8", False)])
    scores, warmup_s = {}, {}
    for key, core in cores.items():
        t0 = time.perf_counter()
        scores[key] = {role: predict_scores(core, ids[role], batch) for role in ("dev", "test")}
        warmup_s[name_of(*key)] = time.perf_counter() - t0  # dev + test, traces and compilations included
    seconds = {name_of(*key): [] for key in cores}
    for repeat in range(args.repeats):
        for key, core in cores.items():
            print(f"[int8] {name_of(*key)} {repeat + 1}/{args.repeats}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            predict_scores(core, ids["test"], batch)
            seconds[name_of(*key)].append(time.perf_counter() - t0)
    n = len(ids["test"])
    rows = []
    base = float(np.median(seconds["float32"]))
    reference = {role: scores[("float32", False)][role] for role in ("dev", "test")}
    reports = {}
    for key in cores:
        name = name_of(*key)
        s = {role: scores[key][role] for role in ("dev", "test")}
        clip = (lambda x: np.clip(x, *low_high)) if low_high else (lambda x: x)
        both = np.concatenate([clip(s["dev"]), clip(s["test"])])
        ref = np.concatenate([clip(reference["dev"]), clip(reference["test"])])
        report = evaluation_report(s["test"], labels["test"], splits.label_names, splits.multi_label,
                                   dev_scores=s["dev"], dev_labels=labels["dev"])
        reports[name] = report
        median = float(np.median(seconds[name]))
        rows.append({"name": name, "precision": key[0], "xla": key[1], "texts_per_s": n / median,
                     "texts_per_s_all": [n / x for x in seconds[name]], "ratio_to_float32": base / median,
                     "warmup_s": warmup_s[name], "prepare_s": prepare_s[name],
                     "energy_error_vs_float32": energy_error(ref, both),
                     "accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "threshold": report["threshold"]})
    # the texts are the run's own: float32 here must give the scores the run saved
    saved_diff = max(float(np.abs(reference[role] - saved[role][0]).max()) for role in ("dev", "test"))
    return {"run": str(args.run), "stage": stage, "data": splits.name, "n_test": n, "n_dev": len(ids["dev"]),
            "batch_size": batch, "repeats": args.repeats, "avg_tokens_test": float((ids["test"] != 0).sum(1).mean()),
            "int8_layers": len(quantized), "keras": keras.__version__,
            "float32_vs_saved_scores_max_diff": saved_diff, "rows": rows,
            "run_metrics": {k: reports["float32"][k] for k in ("accuracy", "macro_f1", "threshold")}}


def measure_cli(args, data: dict) -> list:
    """`eqn-keras annotate` (float32, int8) and the PyTorch peer on the run's test texts, end to end."""
    import pandas as pd

    from .bert_speed import save_head_npz
    from .startup import run_timed

    from eqn_keras.datasets import load_dataset
    from eqn_keras.rundir import energy_range, load_run, split_text_model

    config, stage, model = load_run(args.run, args.stage)
    splits = load_dataset(config["config"]["data"], args.data_dir, seed=config["config"].get("seed", 0))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryDirectory(prefix="eqn-int8-") as tmp:
        work = Path(tmp)
        source = work / "test.csv"
        pd.DataFrame({"text": list(splits.test.texts)}).to_csv(source, index=False)
        save_head_npz(split_text_model(model)[1], list(splits.label_names), work / "head.npz",
                      *(energy_range(config) or (0.0, 1.0)))
        commands = {}
        for precision, jit in (("float32", "off"), ("int8", "off"), ("int8", "auto")):
            name = f"ours {precision}" + (", --jit-compile auto (XLA)" if jit == "auto" else "")
            commands[name] = [sys.executable, "-m", "eqn_keras", "annotate", "--model", str(args.run),
                              "--input", str(source), "--output", str(work / f"{precision}-{jit}.csv"),
                              "--quiet", "--overwrite", "--precision", precision, "--jit-compile", jit,
                              "--stage", stage]
        commands["peer float32"] = [args.peer_python, str(ROOT / "benchmarks" / "peer_torch.py"), "--checkpoint",
                                    config["bert_preset"], "--head", str(work / "head.npz"), "--input", str(source),
                                    "--output", str(work / "peer.csv")]
        runs = {name: [] for name in commands}
        for repeat in range(args.cli_repeats):
            for name, argv in commands.items():
                print(f"[int8] cli {name} {repeat + 1}/{args.cli_repeats}", file=sys.stderr, flush=True)
                runs[name].append(run_timed(argv, env, work / f"{name.replace(' ', '-')}-{repeat}.log", args.timeout))
    rows = []
    for name, results in runs.items():
        row = {"name": name, "runs": results}
        if all("error" not in r for r in results):
            row["wall_s_all"] = [r["wall_s"] for r in results]
            row["wall_s"] = float(np.median(row["wall_s_all"]))
            row["texts_per_s"] = len(splits.test.texts) / row["wall_s"]
        else:
            row["error"] = next(r["error"] for r in results if "error" in r)
        rows.append(row)
    return rows


def render_markdown(report: dict) -> str:
    from .bert_speed import describe_features

    d = report["data"]
    lines = ["# int8 annotation on CPU: `--precision int8` against float32 and bfloat16", "",
             "Written by `benchmarks/int8.py`; every number below was measured by that run.", "",
             f"- Command: `{report['command']}`",
             f"- Commit: {report['commit']}; TensorFlow {report['versions']['tensorflow']}, Keras "
             f"{report['versions']['keras']}, Python {report['versions']['python']}; {report['date']}",
             f"- Machine: {report['machine']['platform']}, {report['machine']['cpu_count']} CPUs, "
             f"{report['machine']['cpu_model']}; CPU features: {describe_features(report['cpu_features'])}",
             f"- Load average at start {report['loadavg_start']}, at end {report['loadavg_end']}: other processes "
             "shared the CPU during the measurement, so absolute rates drift; the variants' timed passes "
             "alternated, and the ratios compare medians from the same run.",
             f"- Run: `{d['run']}` (stage {d['stage']}, {d['data']}); its test split, {d['n_test']:,} texts "
             f"(average {d['avg_tokens_test']:.1f} tokens), batches of {d['batch_size']}; dev split {d['n_dev']:,} "
             f"texts for the threshold. float32 here reproduces the run's saved dev and test scores to "
             f"{d['float32_vs_saved_scores_max_diff']:.2g} (same texts, same model).",
             f"- int8: Keras {d['keras']}'s `quantize(\"int8\")` on the {d['int8_layers']} dense layers outside the "
             "head (attention projections, feed-forward layers, pooler): int8 kernels with per-output-channel "
             "scales, inputs quantized per token at run time; embeddings, layer norms and the head stay float32.",
             "", "## Scoring (in process, tokenized once)", ""]
    table = []
    for r in d["rows"]:
        e = r["energy_error_vs_float32"]
        table.append([r["name"], f"{r['texts_per_s']:.1f}", f"{r['ratio_to_float32']:.2f}",
                      f"{e['max']:.3g}", f"{e['p999_of_text_max']:.3g}", f"{e['mean']:.2g}",
                      f"{r['accuracy']:.4f} ({r['accuracy'] - d['rows'][0]['accuracy']:+.4f})",
                      f"{r['macro_f1']:.4f} ({r['macro_f1'] - d['rows'][0]['macro_f1']:+.4f})",
                      f"{r['warmup_s']:.1f}"])
    lines.append(md_table(["precision", "texts/s", "ratio to float32", "energy error max",
                           "99.9th pct of per-text max", "mean abs", "test accuracy (change)",
                           "test macro-F1 (change)", "warm-up s (dev + test)"], table))
    cli = report.get("cli") or []
    if cli:
        lines += ["", "## End to end (`eqn-keras annotate` against the PyTorch loop)", "",
                  "Each command line a fresh process annotating the test texts from a CSV (imports, model load, "
                  "tokenization, scoring, writing), alternating; median wall time. Ours with `--jit-compile off` "
                  "unless the row says otherwise.", ""]
        peer = next((r for r in cli if r["name"].startswith("peer") and "error" not in r), None)
        table = []
        for r in cli:
            if "error" in r:
                table.append([r["name"], f"failed: {r['error']}", "", ""])
                continue
            ratio = f"{r['texts_per_s'] / peer['texts_per_s']:.2f}" if peer else "—"
            table.append([r["name"], f"{r['texts_per_s']:.1f}", ratio, ", ".join(f"{w:.1f}" for w in r["wall_s_all"])])
        lines.append(md_table(["command line", "texts/s", "ratio to peer float32", "wall s per run"], table))
    best = {r["name"]: r for r in d["rows"]}
    int8, f32 = best["int8"], best["float32"]
    lines += ["", "## What `--precision auto` does with this", "",
              f"int8 scored at {int8['ratio_to_float32']:.2f}x float32 without XLA "
              f"({best['int8 + XLA']['ratio_to_float32']:.2f}x with XLA) with an energy error of up to "
              f"{int8['energy_error_vs_float32']['max']:.2g} (mean {int8['energy_error_vs_float32']['mean']:.2g}); "
              f"bfloat16 at {best['bfloat16']['ratio_to_float32']:.2f}x with up to "
              f"{best['bfloat16']['energy_error_vs_float32']['max']:.2g}. `auto` would pick int8 only where it is "
              f"faster than float32 and bfloat16 and within the error bound {INT8_BOUND['max']} (max energy error "
              f"on the 0-10 scale) and {INT8_BOUND['metric']} (change in test accuracy and macro-F1): "
              + ("met here." if int8_qualifies(best) else "not met here, so `auto` never picks it.")]
    return "\n".join(lines) + "\n"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a finished BERT run directory")
    p.add_argument("--stage", help="default: the run's last stage")
    p.add_argument("--data-dir", help="folder of the named datasets (default: the run's, else $EQN_DATA_DIR)")
    p.add_argument("--batch-size", type=int, help="default: the run's predict_batch_size")
    p.add_argument("--repeats", type=int, default=3, help="alternating timed passes of each variant")
    p.add_argument("--peer-python", help="Python with torch and transformers: adds the end-to-end table")
    p.add_argument("--cli-repeats", type=int, default=2)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--report", action="store_true", help="only rewrite <out>.md from <out>.json")
    args = p.parse_args(argv)
    if not args.report and not args.run:
        p.error("--run is required")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.report:
        print(rewrite_markdown(Path(args.out), render_markdown))
        return 0
    from .bert_speed import cpu_features

    start, date = loadavg(), datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    data = measure_in_process(args)
    cli = measure_cli(args, data) if args.peer_python else []
    import keras
    import tensorflow as tf

    report = {"command": "python -m benchmarks.int8 " + shlex.join(argv), "commit": git_commit(), "date": date,
              "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                           "python": platform.python_version()},
              "machine": machine_info(), "cpu_features": cpu_features(), "loadavg_start": start,
              "loadavg_end": loadavg(), "data": data, "cli": cli}
    out = Path(args.out)
    write_outputs(out, report, render_markdown)
    print(render_markdown(report))
    print(f"[int8] wrote {out}.md and {out}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
