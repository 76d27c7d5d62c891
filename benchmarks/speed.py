"""Speed benchmark: training and annotation throughput of plain vs bucketed, dynamically padded batches.

For each arch, in its own subprocess (so its peak RSS is its own), on one dataset:

- train one warm-up epoch and then `--epochs` timed epochs (batch 32, Adam, the EQN head's MSE loss,
  as `eqn_keras.training._fit_stage` does) with three input pipelines, each on a fresh model:
  * plain    - token ids padded to 150 in numpy, `model.fit(x, y, shuffle=True)`;
  * fixed150 - `FullLabelSequence(pad_multiple=150)`: every batch 150 wide;
  * dynamic  - `FullLabelSequence` default: length-bucketed shuffle, each batch padded to its longest
               text rounded up to 8;
- annotate the test split: `model.predict` on ids padded to 150 (batch 256) vs
  `eqn_keras.rundir.predict_scores` (shortest-first batches of 256, dynamic padding);
- compute each model's forward FLOPs per sample analytically from the layer shapes (multiply-adds of
  Dense, Conv1D and LSTM kernels, plus the ANN's masked mean; embedding look-ups, masks, activations,
  pooling and the optimizer update are not counted). Training is counted as 3x forward.

The parent process measures the machine's fp32 matmul rate (TensorFlow, inside `tf.function`, best of
several; numpy too) before and after the arch runs, and reports achieved FLOP/s (FLOPs at the widths
actually computed x throughput) as a fraction of the better of the two measurements.

    python -m benchmarks.speed                              # all archs on 3tfn, 4000 training texts
    python -m benchmarks.speed --archs textcnn --max-train 2000
    python -m benchmarks.speed --quick --archs textcnn --out /tmp/speed   # tiny made-up data set (CI)
    python -m benchmarks.speed --report                     # rewrite speed.md from speed.json

Writes `<out>.md` and `<out>.json` (default benchmarks/results/speed.*), each atomically.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from eqn_keras.options import TOKEN_ARCHS  # noqa: E402

from .common import (  # noqa: E402
    ROOT, fmt_flops, fmt_rate, git_commit, loadavg, machine_info, md_table, measure_matmul, pct, peak_rss_mb,
    rewrite_markdown, write_outputs,
)

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "speed"
ARCHS = list(TOKEN_ARCHS)  # the Keras-tokenized archs (BERT: bert_speed.py)
PIPELINES = ["plain", "fixed150", "dynamic"]
SEQ_LEN = 150
SYNTHETIC = "synthetic"
QUICK = {"max_train": 300, "max_test": 100, "epochs": 1, "predict_repeats": 1, "matmul_n": 1024}


# ---------------------------------------------------------------------------------------------
# Analytic FLOPs


def layer_table(arch: str, cfg: dict, num_labels: int, length: float) -> list:
    """[(layer, weights per position, positions)]: a layer's forward FLOPs are 2 x weights x positions.

    `weights per position` is the number of kernel weights a multiply-add touches once per output
    position (Dense: in*out; Conv1D: k*in*filters; LSTM: (in+units+1)*4*units per time step, the +1 for
    the bias), so the same table cross-checks against the built model's kernels.
    """
    rows = []
    if arch == "ann":
        d = cfg["embedding_dim"]
        rows.append(("masked_mean", d, length))  # multiply by the mask and sum: 2*L*E
        for i, units in enumerate(cfg["layers"]):
            rows.append((f"dense_{i}", d * units, 1))
            d = units
    elif arch == "cnn":
        e, f, k, p = cfg["embedding_dim"], cfg["filters"], cfg["kernel_size"], cfg["pool_size"]
        pooled = math.ceil(length / p) if float(length).is_integer() else length / p
        rows += [("conv_1", k * e * f, length), ("conv_2", k * f * f, pooled)]
        d = f
    elif arch == "lstm":
        e, u = cfg["embedding_dim"], cfg["units"]
        rows.append(("lstm", (e + u + 1) * 4 * u, length))
        d = u
    elif arch == "textcnn":
        e, f = cfg["embedding_dim"], cfg["filters"]
        rows += [(f"conv_{k}", k * e * f, length) for k in cfg["kernel_sizes"]]
        d = f * len(cfg["kernel_sizes"])
    else:
        raise ValueError(f"unknown arch '{arch}'")
    h = cfg["head_units"]
    return rows + [("head.dense", d * h, 1), ("head.scores", h * num_labels, 1)]


def forward_flops(arch: str, cfg: dict, num_labels: int, length: float) -> float:
    """Forward FLOPs of one text padded to `length` tokens (2 per multiply-add)."""
    return float(sum(2 * w * n for _, w, n in layer_table(arch, cfg, num_labels, length)))


def check_layer_table(model, arch: str, cfg: dict, num_labels: int) -> None:
    """The analytic table must see exactly the kernels the built model has."""
    import keras

    expected = sum(w for name, w, _ in layer_table(arch, cfg, num_labels, 1) if name != "masked_mean")
    if arch == "lstm":  # the table counts the bias as a +1 input; the model holds it separately
        expected -= 4 * cfg["units"]
    found = 0

    def walk(layer):
        nonlocal found
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D)):
            found += int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.LSTM):
            found += int(np.prod(layer.cell.kernel.shape)) + int(np.prod(layer.cell.recurrent_kernel.shape))
        for sub in getattr(layer, "layers", []):
            walk(sub)

    for layer in model.layers:
        walk(layer)
    if found != expected:
        raise AssertionError(f"{arch}: FLOP table counts {expected} kernel weights, the model has {found}")


# ---------------------------------------------------------------------------------------------
# Data


def synthetic_texts(n: int, seed: int, num_labels: int = 3):
    """Made-up texts (random pseudo-words, tweet-like lengths, a few over 150 tokens) and random labels."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = sorted({"".join(rng.choice(letters, size=rng.integers(2, 9))) for _ in range(3000)})
    lengths = np.clip(np.round(rng.lognormal(mean=2.8, sigma=0.7, size=n)), 1, 220).astype(int)
    texts = [" ".join(rng.choice(vocab, size=k)) for k in lengths]
    labels = [(int(j),) for j in rng.integers(0, num_labels, size=n)]
    return texts, labels


def load_texts(args):
    """(dataset name, label count, train texts, train labels, test texts, notes)."""
    if args.dataset == SYNTHETIC:
        texts, labels = synthetic_texts(args.max_train + (args.max_test or 100), args.seed)
        n = args.max_train
        return SYNTHETIC, 3, texts[:n], labels[:n], texts[n:], {"made_up": True}
    from eqn_keras.datasets import load_dataset

    splits = load_dataset(args.dataset, args.data_dir, seed=args.seed)
    train = splits.train.sample(args.max_train, args.seed)
    test = splits.test.sample(args.max_test, args.seed)
    notes = {"rows": {"train": len(splits.train), "test": len(splits.test)}, "multi_label": splits.multi_label}
    return splits.name, splits.num_labels, list(train.texts), list(train.labels), list(test.texts), notes


# ---------------------------------------------------------------------------------------------
# One arch (runs in its own subprocess)


def run_arch(arch: str, args) -> dict:
    import keras
    import tensorflow as tf

    from .common import CountingSequence, EpochTimer
    from eqn_keras.builders import build_model, load_arch_config
    from eqn_keras.heads import head_spec, head_targets
    from eqn_keras.labels import MAX_VALUE, init_full_labels
    from eqn_keras.sequence import FullLabelSequence, make_vectorizer, tokenize
    from eqn_keras.rundir import predict_scores

    if args.determinism:
        tf.config.experimental.enable_op_determinism()  # as `eqn_keras.training.train` does
    rss = {"after_import": peak_rss_mb()}
    name, num_labels, train_texts, train_labels, test_texts, notes = load_texts(args)
    cfg = load_arch_config(arch)

    t0 = time.perf_counter()
    vectorizer = make_vectorizer(train_texts, cfg["vocab_size"], SEQ_LEN)
    adapt_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ids_train = tokenize(vectorizer, train_texts)
    ids_test = tokenize(vectorizer, test_texts)
    tokenize_s = time.perf_counter() - t0
    y = head_targets("eqn", init_full_labels(train_labels, num_labels), MAX_VALUE)
    len_train = (ids_train != 0).sum(axis=1)
    len_test = (ids_test != 0).sum(axis=1)
    rss["after_data"] = peak_rss_mb()
    n_train, n_test = len(ids_train), len(ids_test)
    lr = cfg.get("learning_rate", 1e-3)

    def fresh_model():
        keras.utils.set_random_seed(args.seed)
        model = build_model(arch, num_labels, "eqn", cfg)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=head_spec("eqn").loss, jit_compile=False)
        return model

    result = {"arch": arch, "dataset": name, "num_labels": num_labels, "dataset_notes": notes,
              "n_train": n_train, "n_test": n_test, "batch_size": args.batch_size,
              "warmup_epochs": 1, "timed_epochs": args.epochs,
              "avg_tokens_train": float(len_train.mean()), "avg_tokens_test": float(len_test.mean()),
              "truncated_train": int((len_train >= SEQ_LEN).sum()),
              "vectorizer_adapt_s": adapt_s, "tokenize_s": tokenize_s, "tokenize_texts_per_s":
              (n_train + n_test) / tokenize_s, "train": {}, "annotate": {}}
    fwd = lambda length: forward_flops(arch, cfg, num_labels, length)  # noqa: E731
    result["flops_forward"] = {"avg_len": fwd(result["avg_tokens_train"]), "len150": fwd(SEQ_LEN),
                               "layers_len150": {n: 2 * w * p for n, w, p in layer_table(arch, cfg, num_labels, SEQ_LEN)}}

    model = None
    for pipe in PIPELINES:
        print(f"[speed] {arch}: training, {pipe} pipeline", file=sys.stderr, flush=True)
        model = fresh_model()
        if pipe == PIPELINES[0]:
            check_layer_table(model, arch, cfg, num_labels)
            result["params"] = int(model.count_params())
        timer = EpochTimer()
        epochs = 1 + args.epochs
        if pipe == "plain":
            model.fit(ids_train, y, batch_size=args.batch_size, epochs=epochs, shuffle=True, verbose=0,
                      callbacks=[timer])
            widths = [float(SEQ_LEN)] * args.epochs
            flops_fwd = [fwd(SEQ_LEN)] * args.epochs
        else:
            seq = CountingSequence(ids_train, y, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                                   pad_multiple=SEQ_LEN if pipe == "fixed150" else 8)
            model.fit(seq, epochs=epochs, verbose=0, callbacks=[timer])
            # Keras reads the first batches for the input signature before epoch 1, which may be counted
            # as an extra leading entry; the last `epochs` entries are the epochs themselves.
            served = [(sum(r for r, _ in shapes), sum(r * w for r, w in shapes)) for shapes in seq.per_epoch]
            timed = served[-args.epochs:]
            if len(served) < epochs or any(rows != n_train for rows, _ in timed):
                raise AssertionError(f"{pipe}: served {served} (rows, tokens) per epoch for {n_train} texts")
            widths = [tokens / rows for rows, tokens in timed]
            # FLOPs are linear in the width (up to the CNN's pooled ceil), so the mean width gives the mean FLOPs.
            flops_fwd = [fwd(w) for w in widths]
        timed_s = timer.seconds[1:]
        rates = [n_train / s for s in timed_s]
        result["train"][pipe] = {
            "warmup_epoch_s": timer.seconds[0], "epoch_s": timed_s, "samples_per_s_all": rates,
            "samples_per_s": float(np.median(rates)), "avg_padded_width": float(np.mean(widths)),
            "flops_train_per_sample": 3.0 * float(np.mean(flops_fwd)),
        }
        rss[f"after_train_{pipe}"] = peak_rss_mb()

    # Annotation, with the last model trained (its weights do not change the cost).
    print(f"[speed] {arch}: annotating {n_test} texts", file=sys.stderr, flush=True)
    runs = {
        "plain": lambda: model.predict(ids_test, batch_size=256, verbose=0),
        "ours": lambda: predict_scores(model, ids_test, batch_size=256),
    }
    outputs = {}
    for kind, fn in runs.items():
        outputs[kind] = np.asarray(fn())  # warm-up: traces the predict function
        seconds = []
        for _ in range(args.predict_repeats):
            t0 = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - t0)
        rates = [n_test / s for s in seconds]
        result["annotate"][kind] = {"seconds": seconds, "texts_per_s_all": rates,
                                    "texts_per_s": float(np.median(rates))}
    ours_seq = FullLabelSequence(ids_test, batch_size=256, sort_by_length=True)
    sizes = np.array([len(b) for b in ours_seq.batches])
    widths = np.array([ours_seq.batch_width(b) for b in ours_seq.batches])
    ours_width = float((sizes * widths).sum() / sizes.sum())
    result["annotate"]["plain"].update(avg_padded_width=float(SEQ_LEN), flops_per_text=fwd(SEQ_LEN))
    result["annotate"]["ours"].update(avg_padded_width=ours_width,
                                      flops_per_text=float((sizes * [fwd(w) for w in widths]).sum() / sizes.sum()))
    result["annotate"]["max_abs_score_diff"] = float(np.max(np.abs(outputs["plain"] - outputs["ours"])))
    rss["after_annotate"] = peak_rss_mb()
    result["rss_mb_snapshots"] = rss
    result["peak_rss_mb"] = peak_rss_mb()
    return result


# ---------------------------------------------------------------------------------------------
# Report


def fractions(row: dict, peak_gflops: float) -> dict:
    """Achieved FLOP/s over the measured matmul peak, per train pipeline and annotate mode."""
    peak = peak_gflops * 1e9
    out = {}
    for pipe, r in row["train"].items():
        out[f"train_{pipe}"] = r["flops_train_per_sample"] * r["samples_per_s"] / peak
    for kind in ("plain", "ours"):
        r = row["annotate"][kind]
        out[f"annotate_{kind}"] = r["flops_per_text"] * r["texts_per_s"] / peak
    return out


def render_markdown(report: dict) -> str:
    peak = report["matmul_peak_gflops"]
    lines = [
        "# Speed: plain vs dynamically padded pipelines", "",
        "Written by `benchmarks/speed.py`; every number below was measured by that run.", "",
        f"- Command: `{report['command']}`",
        f"- Commit: {report['commit']}; TensorFlow {report['tensorflow']}, Keras {report['keras']}; {report['date']}",
        f"- Machine: {report['machine']['platform']}, {report['machine']['cpu_count']} CPUs, "
        f"{report['machine']['cpu_model']}; load average at start {report['loadavg_start']}, "
        f"at end {report['loadavg_end']}",
        f"- Dataset: {report['dataset']} ({report['n_train']} training texts, {report['n_test']} test texts, "
        f"average {report['avg_tokens_train']:.1f} tokens per training text, at most {SEQ_LEN})",
        f"- Matmul peak (fp32, {report['matmul'][0]['n']}x{report['matmul'][0]['n']}, best of several): "
        + ", ".join(f"TF {m['tf_gflops_best']:.1f} / numpy {m['numpy_gflops_best']:.1f} GFLOP/s ({m['when']})"
                    for m in report["matmul"])
        + f"; fractions below use {peak:.1f} GFLOP/s.",
        f"- Training: batch {report['batch_size']}, Adam, MSE (EQN head), 1 warm-up epoch then "
        f"{report['timed_epochs']} timed (median); jit_compile off, fp32; op determinism {'on' if report['determinism'] else 'off'}. "
        f"Annotation: batch 256, 1 warm-up pass then median of {report['predict_repeats']}.",
        "",
    ]
    header = ["arch", "FLOPs/sample fwd (avg len / 150)", "train samples/s plain / fixed150 / dynamic", "dynamic÷plain",
              "fixed150÷plain", "annotate texts/s plain / ours", "ours÷plain",
              "fraction of peak train plain / fixed150 / dynamic", "fraction of peak annotate plain / ours",
              "peak RSS MB"]
    rows, details = [], []
    for row in report["archs"]:
        if "error" in row:
            rows.append([row["arch"], f"failed: {row['error']}"] + [""] * (len(header) - 2))
            continue
        t, a, f, s = row["train"], row["annotate"], row["fraction_of_peak"], row["rss_mb_snapshots"]
        plain = t["plain"]["samples_per_s"]
        rows.append([
            row["arch"], f"{fmt_flops(row['flops_forward']['avg_len'])} / {fmt_flops(row['flops_forward']['len150'])}",
            " / ".join(fmt_rate(t[p]["samples_per_s"]) for p in PIPELINES),
            f"{t['dynamic']['samples_per_s'] / plain:.2f}", f"{t['fixed150']['samples_per_s'] / plain:.2f}",
            f"{fmt_rate(a['plain']['texts_per_s'])} / {fmt_rate(a['ours']['texts_per_s'])}",
            f"{a['ours']['texts_per_s'] / a['plain']['texts_per_s']:.2f}",
            " / ".join(pct(f["train_" + p]) for p in PIPELINES), f"{pct(f['annotate_plain'])} / {pct(f['annotate_ours'])}",
            f"{row['peak_rss_mb']:.0f}"])
        details.append([
            row["arch"], f"{row['params']:,}",
            f"{t['dynamic']['avg_padded_width']:.1f} / {a['ours']['avg_padded_width']:.1f}",
            " / ".join(format(t[p]["warmup_epoch_s"], ".1f") for p in PIPELINES), fmt_rate(row["tokenize_texts_per_s"]),
            f"{a['max_abs_score_diff']:.2g}",
            f"{s['after_import']:.0f} / {s['after_data']:.0f} / {s['after_train_dynamic']:.0f} / {s['after_annotate']:.0f}"])
    lines += [
        md_table(header, rows),
        "",
        "Details per arch: average padded width of the batches actually computed (dynamic training, our "
        "annotation), time of the warm-up (tracing) epoch, tokenization, largest score difference between "
        "plain and ours on the same model (padding must not change scores).", "",
        md_table(["arch", "params", "width dynamic train / ours annotate", "warm-up epoch s plain / fixed150 / dynamic",
                  "tokenize texts/s", "max abs score diff", "RSS MB after import / data / train / annotate"], details),
        "",
        "How the numbers are made:", "",
        "- FLOPs are analytic, from the layer shapes (not TensorFlow's profiler): 2 per multiply-add of Dense "
        "(in*out), Conv1D (k*in*filters per position), LSTM ((in+units+1)*4*units per time step) and the ANN's "
        "masked mean (2*L*E); embedding look-ups, masks, activations, pooling and the optimizer update are not "
        "counted, so the ANN (whose cost is mostly its 20000x128 embedding and Adam) shows a tiny fraction. "
        "Training = 3x forward. The script checks the table against the built model's kernel shapes.",
        "- Fraction of peak = FLOPs per sample at the widths actually computed (150 for plain and fixed150, the "
        "served mean width for dynamic and ours) x samples/s / matmul peak. The LSTM runs every padded step "
        "(masked steps carry state but are still computed), so its FLOPs also scale with the padded width.",
        "- Peak RSS is each arch's own subprocess (`ru_maxrss`), covering all three trainings and annotation; "
        "TensorFlow's import alone is the first RSS snapshot.",
        "- Throughput is measured on a shared machine; the load averages above say how busy it was.",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# CLI


def child_argv(args, arch: str, result_path: str) -> list:
    argv = [sys.executable, "-m", "benchmarks.speed", "--only-arch", arch, "--child-result", result_path,
            "--dataset", args.dataset, "--max-train", str(args.max_train), "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--seed", str(args.seed),
            "--predict-repeats", str(args.predict_repeats)]
    if args.max_test:
        argv += ["--max-test", str(args.max_test)]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    if not args.determinism:
        argv.append("--no-determinism")
    return argv


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", help=f"dataset name or file (default 3tfn; '{SYNTHETIC}' = made-up texts, "
                                     "the default with --quick)")
    p.add_argument("--data-dir", default=None, help="folder of named datasets (default $EQN_DATA_DIR)")
    p.add_argument("--archs", nargs="+", default=ARCHS, choices=ARCHS)
    p.add_argument("--max-train", type=int, help="training texts (default 4000; 300 with --quick)")
    p.add_argument("--max-test", type=int, help="test texts to annotate (default all; 100 with --quick)")
    p.add_argument("--epochs", type=int, help="timed epochs after one warm-up epoch (default 1)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--predict-repeats", type=int, help="timed annotation passes after a warm-up (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-determinism", dest="determinism", action="store_false",
                   help="do not enable TF op determinism (eqn-keras train enables it)")
    p.add_argument("--quick", action="store_true", help="tiny CI-sized run on made-up texts")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output stem: writes <out>.md and <out>.json")
    p.add_argument("--report", action="store_true", help="only rewrite <out>.md from <out>.json")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per arch subprocess")
    p.add_argument("--only-arch", choices=ARCHS, help=argparse.SUPPRESS)
    p.add_argument("--child-result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = QUICK if args.quick else {}
    if args.dataset is None:
        args.dataset = SYNTHETIC if args.quick else "3tfn"
    if args.max_train is None:
        args.max_train = quick.get("max_train", 4000)
    if args.max_test is None:
        args.max_test = quick.get("max_test") or (100 if args.dataset == SYNTHETIC else None)
    if args.epochs is None:
        args.epochs = quick.get("epochs", 1)
    if args.predict_repeats is None:
        args.predict_repeats = quick.get("predict_repeats", 3)
    for name in ("max_train", "epochs", "batch_size", "predict_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.report:
        print(rewrite_markdown(Path(args.out), render_markdown))
        return 0
    if args.only_arch:
        result = run_arch(args.only_arch, args)
        Path(args.child_result).write_text(json.dumps(result))
        return 0

    import keras
    import tensorflow as tf

    matmul_n = QUICK["matmul_n"] if args.quick else 2048
    loadavg_start = loadavg()
    print(f"[speed] measuring fp32 matmul ({matmul_n}x{matmul_n})", file=sys.stderr, flush=True)
    matmul = [dict(measure_matmul(matmul_n, repeats=3 if args.quick else 5), when="before")]
    rows = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    with tempfile.TemporaryDirectory(prefix="speed-") as tmp:
        for arch in args.archs:
            path = Path(tmp) / f"{arch}.json"
            print(f"[speed] {arch}: subprocess", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(child_argv(args, arch, str(path)), env=env, cwd=ROOT, timeout=args.timeout,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                failed = proc.returncode != 0 or not path.is_file()
                log = proc.stdout
            except subprocess.TimeoutExpired as err:
                failed, log = True, f"timed out after {args.timeout:.0f} s\n{err.stdout or ''}"
            if failed:
                tail = "\n".join(log.strip().splitlines()[-15:])
                print(f"[speed] {arch} failed:\n{tail}", file=sys.stderr, flush=True)
                rows.append({"arch": arch, "error": (tail.splitlines() or ["unknown error"])[-1][:200]})
                continue
            row = json.loads(path.read_text())
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
    matmul.append(dict(measure_matmul(matmul_n, repeats=3 if args.quick else 5), when="after"))
    peak = max(m["tf_gflops_best"] for m in matmul)
    for row in rows:
        if "error" not in row:
            row["fraction_of_peak"] = fractions(row, peak)
    ok = [r for r in rows if "error" not in r]
    first = ok[0] if ok else {}
    report = {
        "command": "python -m benchmarks.speed " + shlex.join(argv),
        "commit": git_commit(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "machine": machine_info(),
        "loadavg_start": loadavg_start, "loadavg_end": loadavg(),
        "dataset": first.get("dataset", args.dataset), "n_train": first.get("n_train"),
        "n_test": first.get("n_test"), "avg_tokens_train": first.get("avg_tokens_train", float("nan")),
        "batch_size": args.batch_size, "timed_epochs": args.epochs, "predict_repeats": args.predict_repeats,
        "determinism": args.determinism, "jit_compile": False, "precision": "float32", "quick": args.quick,
        "matmul": matmul, "matmul_peak_gflops": peak,
        "flops_method": "analytic from layer shapes (see layer_table); training = 3x forward",
        "archs": rows,
    }
    out = Path(args.out)
    write_outputs(out, report, render_markdown)
    print(render_markdown(report))
    print(f"[speed] wrote {out}.md and {out}.json", file=sys.stderr)
    return 1 if len(ok) < len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
