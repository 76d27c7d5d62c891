"""BERT speed benchmark: annotation and training throughput of padded-to-128 vs sorted, dynamically padded batches.

Every configuration runs in its own subprocess (so its peak RSS is its own), on the same tokenized data and
the same weights (the checkpoint's pretrained backbone + a freshly initialised EQN head, seeded):

- annotate the GoEmotions test split (5,427 texts; `--max-test` limits it), one warm-up pass then the median
  of `--predict-repeats` timed passes:
  * baseline - the paper authors' recipe stand-in: every text padded to 128 tokens, batches of 16,
               `model.predict`, fp32, XLA off;
  * ours     - `eqn_keras.rundir.predict_scores`: shortest-first batches of `--batch-size` (64), each padded
               to its longest text rounded up to 8;
  both give the same scores (the largest difference is reported).
- train on 3tfn training texts (`--max-train`, 1024): one warm-up epoch, then one timed epoch (batch 32,
  Adam 5e-5, MSE on full labels from `init_full_labels`), each on a fresh model:
  * fixed    - `FullLabelSequence(pad_multiple=128)` over ids tokenized at 128: every batch 128 wide;
  * dynamic  - `FullLabelSequence` default: length-bucketed shuffle, batches padded to their longest text
               rounded up to 8.
- variants of `ours` and `dynamic`: XLA off / on (`compile(jit_compile=...)`) x precision float32 /
  mixed_bfloat16 (and mixed_float16 where a GPU is visible). A variant that fails is reported as
  "failed: <one line>" in its cell. TF op determinism stays off (`--determinism` turns it on): while it is on,
  Keras silently compiles without XLA, so an XLA row checks that `model.jit_compile` really is True.

The parent process measures the fp32 matmul rate (`benchmarks/common.py`'s `measure_matmul`) before and after,
and reports achieved FLOP/s as a fraction of the best rate measured (TF or numpy), with analytic BERT FLOPs:

    forward FLOPs of one text padded to L = L x (2 x P_layers + 4 x n_layers x L x d) + 2 x (P_pooler + P_head)

(P_layers: parameters of the transformer layers, i.e. every non-embedding parameter applied per token;
4 x L x d per token per layer: the Q.K^T and attention.V products; the pooler and head run once per text;
embedding look-ups, softmax, layer norms and the optimizer update are not counted; training = 3 x forward),
averaged over the batches actually computed (FLOPs are quadratic in L, so per batch width, not at the mean).

    python -m benchmarks.bert_speed                                  # MiniLM, all of GoEmotions test, 1024 3tfn texts
    python -m benchmarks.bert_speed --max-test 1500 --max-train 256 --out /tmp/bert_speed
    python -m benchmarks.bert_speed --quick --out /tmp/bert_speed    # tiny random BERT, made-up texts (CI)
    python -m benchmarks.bert_speed --report                         # rewrite bert_speed.md from bert_speed.json

Writes `<out>.md` and `<out>.json` (default benchmarks/results/bert_speed.*), each atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from eqn_keras.fileio import read_json_object  # noqa: E402

from .common import (  # noqa: E402
    MEASURE_RSS, ROOT, fmt_flops, fmt_rate, git_commit, loadavg, machine_info, md_table, measure_matmul, pct,
    peak_rss_mb, rewrite_markdown, write_outputs,
)
from .speed import synthetic_texts  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "bert_speed"
SEQ_LEN = 128              # the baseline's padded length; every text is tokenized (and truncated) at it
BASELINE_BATCH = 16        # the baseline's annotation batch size
PAD_MULTIPLE = 8           # FullLabelSequence's default rounding of dynamic widths
PRECISIONS = {"float32": None, "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}  # -> set_precision flag
SHORT = {"float32": "fp32", "mixed_bfloat16": "bf16", "mixed_float16": "fp16"}
QUICK = {"max_train": 64, "max_test": 160, "matmul_n": 512, "max_words": 22}  # <= 24 tokens: few XLA shapes
SYNTHETIC = "synthetic"


@dataclasses.dataclass
class Config:
    """One measured configuration: a task (annotate / train), a method, a precision policy and XLA on or off."""

    task: str       # "annotate" or "train"
    method: str     # annotate: "baseline" | "ours"; train: "fixed" | "dynamic"
    precision: str  # a Keras dtype policy name (PRECISIONS)
    xla: bool

    @property
    def name(self) -> str:
        return f"{self.task}-{self.method}-{SHORT[self.precision]}" + ("-xla" if self.xla else "")

    @property
    def label(self) -> str:
        what = {"baseline": "baseline: pad 128, batch 16, model.predict", "ours": "ours: predict_scores",
                "fixed": "fixed: pad 128", "dynamic": "dynamic padding"}[self.method]
        return f"{what}, {self.precision}, XLA {'on' if self.xla else 'off'}"


def plan(precisions, xla_modes, tasks=("annotate", "train")) -> list:
    """Baselines first (fp32, XLA off), then ours / dynamic for every precision x XLA setting asked for."""
    configs = []
    if "annotate" in tasks:
        configs += [Config("annotate", "baseline", "float32", False)]
        configs += [Config("annotate", "ours", p, x) for p in precisions for x in xla_modes]
    if "train" in tasks:
        configs += [Config("train", "fixed", "float32", False)]
        configs += [Config("train", "dynamic", p, x) for p in precisions for x in xla_modes]
    return configs


# ---------------------------------------------------------------------------------------------
# FLOPs


def bert_shape(model) -> dict:
    """Parameter counts and sizes the FLOP formula needs, read off the built model."""
    import keras_hub

    backbone = next(l for l in model.layers if isinstance(l, keras_hub.models.BertBackbone))
    head = next(l for l in model.layers if l.name.endswith("_head"))
    return {"hidden_dim": int(backbone.hidden_dim), "num_layers": int(backbone.num_layers),
            "params_layers": int(sum(l.count_params() for l in backbone.transformer_layers)),
            "params_pooler": int(backbone.pooled_dense.count_params()), "params_head": int(head.count_params()),
            "params_total": int(model.count_params())}


def forward_flops(shape: dict, width: float) -> float:
    """Forward FLOPs of one text padded to `width` tokens (formula in the module docstring)."""
    per_token = 2.0 * shape["params_layers"] + 4.0 * shape["num_layers"] * width * shape["hidden_dim"]
    return width * per_token + 2.0 * (shape["params_pooler"] + shape["params_head"])


def batch_stats(shape: dict, batches) -> dict:
    """Mean padded width and mean forward FLOPs per text over [(rows, width)] batches."""
    rows = np.array([r for r, _ in batches], dtype=np.float64)
    widths = np.array([w for _, w in batches], dtype=np.float64)
    flops = np.array([forward_flops(shape, w) for w in widths])
    return {"avg_padded_width": float((rows * widths).sum() / rows.sum()),
            "flops_forward_per_text": float((rows * flops).sum() / rows.sum())}


# ---------------------------------------------------------------------------------------------
# Data (prepared once by the parent, shared by every configuration through .npy files)


def make_tiny_preset(path: Path, texts, seed: int) -> None:
    """A random 2-layer, hidden-32 BERT preset whose WordPiece vocabulary holds every word of `texts`."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    words = sorted({w for t in texts for w in t.lower().split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words + ["!", ",", ".", "?"]
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=2, num_heads=2, hidden_dim=32,
                                             intermediate_dim=64, max_sequence_length=160)
    backbone.save_to_preset(str(path))
    keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True).save_to_preset(str(path))


def prepare_data(args, work: Path) -> dict:
    """Load, subsample and tokenize both data sets once; write the arrays the children read."""
    from eqn_keras.bert import BertTokenIds, resolve_preset
    from eqn_keras.heads import head_targets
    from eqn_keras.labels import MAX_VALUE, init_full_labels
    from eqn_keras.sequence import tokenize

    if args.quick:
        texts, labels = synthetic_texts(args.max_train + args.max_test, args.seed)
        texts = [" ".join(t.split()[:QUICK["max_words"]]) for t in texts]
        train_texts, train_labels = texts[:args.max_train], labels[:args.max_train]
        test_texts = texts[args.max_train:]
        annotate_name = train_name = SYNTHETIC
        annotate_labels = train_num_labels = 3
        preset = work / "tiny_bert"
        make_tiny_preset(preset, texts, args.seed)
        preset, notes = str(preset), {"made_up": True, "preset": "tiny random BERT (2 layers, hidden 32)"}
        label_names = [f"label_{i}" for i in range(annotate_labels)]
    else:
        from eqn_keras.datasets import load_dataset

        test_splits = load_dataset(args.annotate_data, args.data_dir, seed=args.seed)
        test = test_splits.test.sample(args.max_test, args.seed)
        train_splits = load_dataset(args.train_data, args.data_dir, seed=args.seed)
        train = train_splits.train.sample(args.max_train, args.seed)
        test_texts, train_texts, train_labels = list(test.texts), list(train.texts), list(train.labels)
        annotate_name, annotate_labels = test_splits.name, test_splits.num_labels
        train_name, train_num_labels = train_splits.name, train_splits.num_labels
        label_names = list(test_splits.label_names)
        preset = resolve_preset(args.bert_preset)
        notes = {"rows": {"annotate_test": len(test_splits.test), "train_train": len(train_splits.train)}}
        if args.cli_large:
            (work / "large_texts.json").write_text(json.dumps(list(test_splits.train.texts)))

    tokenizer = BertTokenIds.from_preset(preset, SEQ_LEN)
    t0 = time.perf_counter()
    ids_test = tokenize(tokenizer, test_texts)
    ids_train = tokenize(tokenizer, train_texts)
    tokenize_s = time.perf_counter() - t0
    y_train = head_targets("eqn", init_full_labels(train_labels, train_num_labels), MAX_VALUE)
    np.save(work / "ids_test.npy", ids_test)
    np.save(work / "ids_train.npy", ids_train)
    np.save(work / "y_train.npy", y_train)
    len_test, len_train = (ids_test != 0).sum(axis=1), (ids_train != 0).sum(axis=1)
    data = {"preset": preset, "bert_preset_arg": args.bert_preset if not args.quick else "tiny (quick)",
            "annotate_data": annotate_name, "annotate_num_labels": annotate_labels, "n_test": len(ids_test),
            "train_data": train_name, "train_num_labels": train_num_labels, "n_train": len(ids_train),
            "avg_tokens_test": float(len_test.mean()), "avg_tokens_train": float(len_train.mean()),
            "truncated_test": int((len_test >= SEQ_LEN).sum()), "truncated_train": int((len_train >= SEQ_LEN).sum()),
            "tokenize_s": tokenize_s, "tokenize_texts_per_s": (len(ids_test) + len(ids_train)) / tokenize_s,
            "notes": notes}
    data["label_names"] = label_names
    (work / "data.json").write_text(json.dumps(data))
    (work / "test_texts.json").write_text(json.dumps(test_texts))
    return data


# ---------------------------------------------------------------------------------------------
# One configuration (runs in its own subprocess)


def gpu_memory_growth() -> None:
    """Let every process take GPU memory as it needs it, so the parent does not starve the children."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            pass


def run_config(cfg: Config, args, work: Path) -> dict:
    import keras
    import tensorflow as tf

    gpu_memory_growth()
    from .common import BatchClock, CountingSequence, EpochTimer
    from eqn_keras.builders import build_model, load_arch_config
    from eqn_keras.distribute import set_precision
    from eqn_keras.heads import head_spec
    from eqn_keras.sequence import FullLabelSequence
    from eqn_keras.rundir import predict_scores

    if args.determinism:
        tf.config.experimental.enable_op_determinism()  # as `eqn_keras.training.train` does on CPU
    rss = {"after_import": peak_rss_mb()}
    data = json.loads((work / "data.json").read_text())
    arch_cfg = load_arch_config("bert")
    policy = set_precision(PRECISIONS[cfg.precision])
    num_labels = data["annotate_num_labels"] if cfg.task == "annotate" else data["train_num_labels"]
    keras.utils.set_random_seed(args.seed)
    model = build_model("bert", num_labels, "eqn", arch_cfg, preset=data["preset"])
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=head_spec("eqn").loss, jit_compile=cfg.xla)
    if bool(model.jit_compile) != cfg.xla:
        # Keras falls back to no XLA with only a warning, e.g. whenever TF op determinism is enabled.
        why = " (TF op determinism is on: --determinism)" if args.determinism else ""
        raise RuntimeError(f"Keras turned XLA off: model_supports_jit() is False{why}")
    shape = bert_shape(model)
    rss["after_build"] = peak_rss_mb()
    result = {**dataclasses.asdict(cfg), "name": cfg.name, "label": cfg.label, "dtype_policy": policy,
              "bert": shape}

    clock = BatchClock()
    if cfg.task == "annotate":
        ids = np.load(work / "ids_test.npy")
        n = len(ids)
        predict = model.predict  # timestamps only: whatever calls model.predict (the baseline) reports to `clock`
        model.predict = lambda *a, **kw: predict(*a, callbacks=[clock], **kw)  # noqa: E731
        if cfg.method == "baseline":
            batch_size = BASELINE_BATCH
            run = lambda: model.predict(ids, batch_size=batch_size, verbose=0)  # noqa: E731
            batches = [(len(ids[i:i + batch_size]), SEQ_LEN) for i in range(0, n, batch_size)]
        else:
            batch_size = args.batch_size
            run = lambda: predict_scores(model, ids, batch_size=batch_size)  # noqa: E731
            seq = FullLabelSequence(ids, batch_size=batch_size, sort_by_length=True)
            batches = [(len(b), seq.batch_width(b)) for b in seq.batches]
        t0 = time.perf_counter()
        scores = np.asarray(run(), dtype=np.float32)  # warm-up: traces (and with XLA compiles) every shape
        warmup_s = time.perf_counter() - t0
        seconds, tails = [], []
        for _ in range(args.predict_repeats):
            clock.last = None
            t0 = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - t0)
            tails.append(None if clock.last is None else t0 + seconds[-1] - clock.last)
        np.save(work / f"{cfg.name}.scores.npy", scores)
        rates = [n / s for s in seconds]
        result.update(n=n, batch_size=batch_size, warmup_s=warmup_s, seconds=seconds, after_last_batch_s=tails,
                      texts_per_s_to_last_batch=float(np.median([n / (sec - (tail or 0.0))
                                                                 for sec, tail in zip(seconds, tails)])),
                      texts_per_s_all=rates,
                      texts_per_s=float(np.median(rates)), finite=bool(np.isfinite(scores).all()),
                      **batch_stats(shape, batches))
    else:
        ids = np.load(work / "ids_train.npy")
        y = np.load(work / "y_train.npy")
        n = len(ids)

        seq = CountingSequence(ids, y, batch_size=args.train_batch_size, shuffle=True, seed=args.seed,
                               pad_multiple=SEQ_LEN if cfg.method == "fixed" else PAD_MULTIPLE)
        timer = EpochTimer(clock)
        history = model.fit(seq, epochs=2, verbose=0, callbacks=[clock, timer])  # 1 warm-up epoch + 1 timed
        # Keras may read the first batches for the input signature before epoch 1 (an extra leading entry);
        # the last entry is the timed epoch.
        timed = seq.per_epoch[-1] if seq.per_epoch else []
        if len(seq.per_epoch) < 2 or sum(rows for rows, _ in timed) != n:
            raise AssertionError(f"served {[len(e) for e in seq.per_epoch]} batches per epoch, not {n} texts per epoch")
        # Batch shapes the timed epoch met that no earlier batch had: with XLA each is a compilation in the timing.
        seen = {tuple(b) for epoch in seq.per_epoch[:-1] for b in epoch}
        new_shapes = sorted({tuple(b) for b in timed} - seen)
        stats = batch_stats(shape, timed)
        loss = [float(v) for v in history.history["loss"]]
        result.update(n=n, batch_size=args.train_batch_size, warmup_s=timer.seconds[0], seconds=timer.seconds[1:],
                      after_last_batch_s=timer.tails[1:], new_shapes_in_timed_epoch=[list(x) for x in new_shapes],
                      texts_per_s_to_last_batch=n / (timer.seconds[1] - timer.tails[1]),
                      texts_per_s=n / timer.seconds[1], loss=loss, finite=bool(np.isfinite(loss).all()),
                      avg_padded_width=stats["avg_padded_width"],
                      flops_forward_per_text=stats["flops_forward_per_text"],
                      flops_train_per_text=3.0 * stats["flops_forward_per_text"])
    rss["after_run"] = peak_rss_mb()
    result["rss_mb_snapshots"] = rss
    result["peak_rss_mb"] = peak_rss_mb()
    if tf.config.list_physical_devices("GPU"):
        try:
            result["gpu_peak_mb"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20
        except (ValueError, RuntimeError):
            pass
    return result


# ---------------------------------------------------------------------------------------------
# Report


# what decides the speed of the bf16 kernels (avx512_bf16, amx_bf16) and of the int8 ones (the VNNI dot products)
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_features() -> dict:
    """Which of CPU_FEATURES the CPU has (/proc/cpuinfo flags; {} where there is none): TensorFlow's oneDNN runs
    bfloat16 only with AVX-512, so the mixed_bfloat16 rows depend on them (and a VM may move between hosts)."""
    try:
        flags = next(line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("flags"))
    except (OSError, StopIteration):
        return {}
    return {name: name in flags for name in CPU_FEATURES}


def describe_features(features: dict | None) -> str:
    return ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in (features or {}).items()) or "unknown"


def measured_by(report: dict) -> dict:
    """Where a table's numbers come from: the command, commit, date, load, host and matmul peak of its run."""
    keys = ("command", "commit", "date", "loadavg_start", "loadavg_end", "cpu_features", "matmul_peak_gflops")
    measured = {key: report.get(key) for key in keys}
    measured["platform"] = report.get("machine", {}).get("platform")
    return measured


def merge_previous(report: dict, previous: dict | None, tasks) -> dict:
    """This run's tables over the previous report's: a table this run did not measure (`--tasks`) is kept with
    the run that measured it (`--tasks cli` does not wipe the annotate and train tables, nor they the cli one)."""
    if not previous:
        return report
    if "cli" not in tasks and previous.get("cli"):
        report["cli"] = previous["cli"]
        report["cli_measured"] = previous.get("cli_measured") or measured_by(previous)
    if not {"annotate", "train"} & set(tasks):  # the header (data, matmul peak, model) describes those tables
        kept = {key: value for key, value in previous.items() if key not in ("cli", "cli_measured")}
        return {**kept, "cli": report["cli"], "cli_measured": report.get("cli_measured")}
    carried = [dict(row, measured_by=row.get("measured_by") or measured_by(previous))
               for row in previous.get("configs", []) if row.get("task") not in tasks]  # whole tables
    report["configs"] = report["configs"] + carried
    return report


def one_line(text: str, limit: int = 200) -> str:
    lines = [l.strip() for l in str(text).strip().splitlines() if l.strip()]
    return (lines[0] if lines else "unknown error")[:limit]


def row_notes(row: dict, baseline: dict | None, peak_gflops: float) -> str:
    notes = [f"width {row['avg_padded_width']:.1f}",
             f"{pct(row['fraction_of_peak'])} of peak ({fmt_flops(row['achieved_flops'])}FLOP/s)",
             f"warm-up {row['warmup_s']:.1f} s"]
    if row["task"] == "annotate" and row["name"] != (baseline or {}).get("name") and "max_abs_score_diff" in row:
        notes.append(f"max abs score diff vs baseline {row['max_abs_score_diff']:.2g}")
    tail = max([t for t in row.get("after_last_batch_s") or [] if t is not None], default=0.0)
    if tail >= 0.2:  # see "How the numbers are made"
        notes.append(f"{tail:.1f} s of it after the last batch ({fmt_rate(row['texts_per_s_to_last_batch'])} texts/s "
                     "up to the last batch)")
    if row.get("new_shapes_in_timed_epoch"):
        notes.append(f"timed epoch met {len(row['new_shapes_in_timed_epoch'])} batch shape(s) the warm-up had not"
                     + (" (XLA compiled them inside the timing)" if row["xla"] else ""))
    if row["task"] == "train":
        notes.append(f"loss {row['loss'][0]:.3g} -> {row['loss'][-1]:.3g}")
    if not row.get("finite", True):
        notes.append("NON-FINITE outputs")
    if "gpu_peak_mb" in row:
        notes.append(f"GPU peak {row['gpu_peak_mb']:.0f} MB")
    return "; ".join(notes)


def describe_run(measured: dict) -> str:
    """`command` at commit X, date, load average at start and end, host and matmul peak: one line of provenance."""
    text = (f"`{measured['command']}` at commit {measured['commit']}, {measured['date']}; load average at start "
            f"{measured['loadavg_start']}, at end {measured['loadavg_end']}")
    if measured.get("platform"):
        text += f"; {measured['platform']}"
    if measured.get("cpu_features"):
        text += f" ({describe_features(measured['cpu_features'])})"
    if measured.get("matmul_peak_gflops"):
        text += f"; its fractions of peak use its matmul peak, {measured['matmul_peak_gflops']:.1f} GFLOP/s"
    return text


def render_table(rows: list, task: str, peak_gflops: float) -> list:
    mine = [r for r in rows if r["task"] == task]
    if not mine:
        return ["Not measured (`--tasks`)."]
    intro = []
    earlier = [r["measured_by"] for r in mine if "measured_by" in r]
    if earlier:  # kept from the run that measured this table (merge_previous)
        intro = [f"From an earlier run than the header's: {describe_run(earlier[0])}.", ""]
    baseline = mine[0] if mine and "error" not in mine[0] else None
    table = []
    for row in mine:
        if "error" in row:
            table.append([row["label"], f"failed: {row['error'].replace('|', '/')}", "", "", ""])
            continue
        ratio = f"{row['texts_per_s'] / baseline['texts_per_s']:.2f}" if baseline else "n/a"
        table.append([row["label"], fmt_rate(row["texts_per_s"]), ratio, f"{row['peak_rss_mb']:.0f}",
                      row_notes(row, baseline, peak_gflops)])
    return intro + [md_table(["config", "texts/s", "ratio to baseline", "peak RSS MB", "notes"], table)]


def tables_header(report: dict) -> list:
    """The bullets that describe the annotate and train tables' run: model, data, settings, matmul peak."""
    d, peak = report["data"], report["matmul_peak_gflops"]
    return [
        f"- Model: BERT `{d['bert_preset_arg']}` ({report['bert']['num_layers']} layers, hidden {report['bert']['hidden_dim']}, "
        f"{report['bert']['params_total']:,} parameters with the EQN head) + a seeded fresh EQN head; "
        f"texts tokenized once at {SEQ_LEN} tokens ({d['tokenize_texts_per_s']:,.0f} texts/s).",
        f"- Annotation: {d['annotate_data']} test, {d['n_test']} texts, average {d['avg_tokens_test']:.1f} tokens "
        f"({d['truncated_test']} at {SEQ_LEN}); 1 warm-up pass then median of {report['predict_repeats']} timed; "
        f"ours = predict_scores, batch {report['batch_size']}.",
        f"- Training: {d['train_data']} train, {d['n_train']} texts, average {d['avg_tokens_train']:.1f} tokens; "
        f"batch {report['train_batch_size']}, Adam {report['learning_rate']:g}, MSE on init_full_labels; 1 warm-up "
        f"epoch then 1 timed; TF op determinism {'on' if report['determinism'] else 'off'} in every row "
        "(Keras refuses XLA while it is on; eqn-keras train turns it on for CPU runs).",
        f"- Matmul peak (fp32, {report['matmul'][0]['n']}x{report['matmul'][0]['n']}, best of several): "
        + ", ".join(f"TF {x['tf_gflops_best']:.1f} / numpy {x['numpy_gflops_best']:.1f} GFLOP/s ({x['when']})"
                    for x in report["matmul"])
        + f"; fractions below use the best of these, {peak:.1f} GFLOP/s (the fp32 rate, also for the "
        "mixed-precision rows; a busy machine measures it low, so a fraction can pass 100%)."
    ]


def large_note(rows: list) -> str:
    """The larger text set of `--cli-large`, when measured."""
    large = next((r["n_texts"] for r in rows if r["name"].endswith("-large")), None)
    return f"; then its train split, {large:,} texts, with `--cli-large`" if large else ""


def render_cli_section(report: dict) -> list:
    """The command-line table with its intro and the run that measured it; nothing when it was not measured."""
    if not report.get("cli"):
        return []
    lines = ["", "## Annotation as a user runs it: process start to written CSV", "",
             f"The same {report['cli'][0]['n_texts']:,} texts (the {report['data']['annotate_data']} test split"
             f"{large_note(report['cli'])}) and weights (the checkpoint's backbone + the seeded "
             "EQN head), each command line a fresh process, alternating, median of the runs; imports, model load, "
             "reading, tokenization, scoring and writing included. The peer is `benchmarks/peer_torch.py` "
             "(PyTorch + transformers from benchmarks/requirements-peer.txt). Energy differences against ours in "
             "float32 without XLA (same text set) come from bf16 rounding, XLA's float round-off and, for the peer, "
             "from the few texts the two tokenizers split differently (keras-hub's tf-text WordPiece vs Hugging "
             "Face tokenizers: emoji sequences, NFKC forms)."]
    if report.get("cli_measured"):
        lines += ["", f"Measured by {describe_run(report['cli_measured'])}."]
    return lines + [""] + render_cli(report["cli"])


def render_markdown(report: dict) -> str:
    m, peak = report["machine"], report["matmul_peak_gflops"]
    gpu = ", ".join(report["gpus"]) if report["gpus"] else "none (CPU only)"
    lines = [
        "# BERT speed: padded-to-128 vs sorted, dynamically padded batches", "",
        "Written by `benchmarks/bert_speed.py`; every number below was measured by that run.", "",
        f"- Command: `{report['command']}`",
        f"- Commit: {report['commit']}; TensorFlow {report['versions']['tensorflow']}, Keras {report['versions']['keras']}, "
        f"keras-hub {report['versions']['keras_hub']}, Python {report['versions']['python']}; {report['date']}",
        f"- Machine: {m['platform']}, {m['cpu_count']} CPUs, {m['cpu_model']}; GPU visible to TensorFlow: {gpu}; "
        f"load average at start {report['loadavg_start']}, at end {report['loadavg_end']}",
    ]
    lines[-1] += "; CPU features: " + (describe_features(report["cpu_features"]) if report.get("cpu_features")
                                       else "not recorded by this run")
    if report["configs"]:  # what the annotate and train tables measured (a `--tasks cli` run has neither)
        lines += tables_header(report)
    lines += ["", "## Annotation", ""]
    lines += render_table(report["configs"], "annotate", peak)
    lines += ["", "## Training", ""]
    lines += render_table(report["configs"], "train", peak)
    lines += render_cli_section(report)
    lines += [
        "",
        "How the numbers are made:", "",
        "- Each row is its own subprocess; peak RSS is that process's `ru_maxrss` (TensorFlow + keras-hub import, "
        "model build, warm-up and timed runs). Ratios compare with the first row of the same table.",
        "- Width = mean padded width of the batches actually computed (128 for the baseline and fixed rows).",
        "- Forward FLOPs of one text padded to L tokens = L x (2 x P_layers + 4 x n_layers x L x d) + "
        "2 x (P_pooler + P_head), with P_layers the transformer layers' parameters "
        f"({report['bert']['params_layers']:,}), d the hidden size, the 4·L·d per token per layer for Q·Kᵀ and "
        "attention·V; averaged per batch width over the batches computed; embeddings, softmax, layer norms and "
        "the optimizer update are not counted. Training = 3 x forward. Fraction of peak = FLOPs per text x "
        "texts/s / the fp32 matmul peak above.",
        "- Score difference: largest |score| difference against the baseline's scores on the same texts and "
        "weights; in fp32 it must be round-off only (padding is masked). Mixed-precision rows differ by bf16/fp16 "
        "rounding.",
        "- XLA compiles one program per distinct batch shape; the warm-up pass / epoch absorbs those "
        "compilations (its time is in the notes), but a timed training epoch can still meet a new shape.",
        "- \"s of it after the last batch\": time a timed pass / epoch spent after its last batch had finished "
        "(shown from 0.2 s). TensorFlow's tf.data iterator teardown can wait there for its autotune thread "
        "(seen in `RootDataset::Iterator::~Iterator` -> `Model::OptimizeLoop`, whose wake-ups come 10 ms x (2^k - 1) "
        "after the iterator started: 2.6, 5.1, 10.2, 20.5 s ...), so an affected pass ends on one of those "
        "times. It is part of the measured time, as it is of any `model.predict`; the rate up to the last batch "
        "is in the notes and the JSON (`texts_per_s_to_last_batch`).",
        "- Throughput is measured on a possibly shared machine; the load averages above say how busy it was.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bert-preset", default="minilm",
                   help="BERT checkpoint (see eqn_keras.bert.resolve_preset; default minilm)")
    p.add_argument("--annotate-data", default="goemotions", help="data set whose test split is annotated")
    p.add_argument("--train-data", default="3tfn", help="data set whose training split is trained on")
    p.add_argument("--data-dir", default=None, help="folder of named datasets (default $EQN_DATA_DIR)")
    p.add_argument("--max-test", type=int, help="test texts to annotate (default all; 160 with --quick)")
    p.add_argument("--max-train", type=int, help="training texts (default 1024; 64 with --quick)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size of ours (predict_scores)")
    p.add_argument("--train-batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--predict-repeats", type=int, default=1, help="timed annotation passes after the warm-up")
    p.add_argument("--precisions", nargs="+", choices=list(PRECISIONS),
                   help="precision variants (default float32 mixed_bfloat16, + mixed_float16 where a GPU is visible)")
    p.add_argument("--xla", nargs="+", choices=["off", "on"], default=["off", "on"], help="XLA variants")
    p.add_argument("--tasks", nargs="+", choices=["annotate", "train", "cli"], default=None,
                   help="which tables to measure (default all; annotate and train with --quick): cli = `eqn-keras annotate` against the PyTorch peer, "
                        "process start to written CSV")
    p.add_argument("--peer-python", default=sys.executable,
                   help="Python that has torch and transformers for the PyTorch peer row "
                        "(benchmarks/requirements-peer.txt); the row is skipped when they do not import")
    p.add_argument("--cli-repeats", type=int, default=2, help="alternating timed runs of each command line")
    p.add_argument("--cli-large", action="store_true",
                   help="cli: also annotate the --annotate-data train split (43,410 GoEmotions texts), large enough "
                        "for `--jit-compile auto` to turn XLA on; not with --quick")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--determinism", action="store_true",
                   help="enable TF op determinism in every configuration, as eqn-keras train does on CPU "
                        "(Keras then refuses XLA, so the XLA rows report failed)")
    p.add_argument("--quick", action="store_true", help="tiny random BERT on made-up texts (CI)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output stem: writes <out>.md and <out>.json")
    p.add_argument("--report", action="store_true", help="only rewrite <out>.md from <out>.json")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per configuration subprocess")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.max_train is None:
        args.max_train = QUICK["max_train"] if args.quick else 1024
    if args.cli_large and args.quick:
        p.error("--cli-large needs real data: not with --quick")
    if args.max_test is None and args.quick:
        args.max_test = QUICK["max_test"]
    for name in ("max_train", "batch_size", "train_batch_size", "predict_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_test is not None and args.max_test < 1:
        p.error("--max-test must be at least 1")
    return args


def child_main(args) -> int:
    work = Path(args.work)
    cfg = Config(**json.loads((work / "plan.json").read_text())[args.child])
    path = work / f"{cfg.name}.json"
    try:
        result = run_config(cfg, args, work)
    except Exception as err:  # reported in the config's cell; the other configurations still run
        import traceback

        traceback.print_exc()
        path.write_text(json.dumps({"error": f"{type(err).__name__}: {one_line(err)}"}))
        return 1
    path.write_text(json.dumps(result))
    return 0


def child_argv(args, name: str, work: Path) -> list:
    argv = [sys.executable, "-m", "benchmarks.bert_speed", "--child", name, "--work", str(work),
            "--batch-size", str(args.batch_size), "--train-batch-size", str(args.train_batch_size),
            "--learning-rate", repr(args.learning_rate), "--predict-repeats", str(args.predict_repeats),
            "--seed", str(args.seed)]
    if args.determinism:
        argv.append("--determinism")
    return argv


def gpu_names() -> list:
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name)
        except (ValueError, RuntimeError):
            names.append(gpu.name)
    return names


def run_child(args, cfg: Config, work: Path, env: dict) -> dict:
    path = work / f"{cfg.name}.json"
    t0 = time.perf_counter()
    # Through MEASURE_RSS's small parent: a child exec'd straight from this TensorFlow-sized process starts with
    # its peak RSS, so every row's peak read at least this process's. Its own session: a timeout ends both.
    proc = subprocess.Popen([sys.executable, "-c", MEASURE_RSS, *child_argv(args, cfg.name, work)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=args.timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, rc = proc.communicate()[0] + f"\ntimed out after {args.timeout:.0f} s", None
    row = json.loads(path.read_text()) if path.is_file() else {}
    if rc != 0 or "error" in row or not row:
        tail = "\n".join(log.strip().splitlines()[-15:])
        print(f"[bert_speed] {cfg.name} failed:\n{tail}", file=sys.stderr, flush=True)
        error = row.get("error") or (tail.splitlines() or ["unknown error"])[-1][:200]
        if rc not in (0, 1, None):
            error += f" (exit status {rc})"
        row = {"error": error}
    row.update(dataclasses.asdict(cfg), name=cfg.name, label=cfg.label, wall_s=time.perf_counter() - t0)
    return row


# ---------------------------------------------------------------------------------------------
# Annotation as a user runs it: `eqn-keras annotate` against the PyTorch peer (benchmarks/peer_torch.py)


def make_cli_run(data: dict, texts, work: Path, seed: int) -> tuple:
    """A one-stage run directory holding the pretrained backbone + a seeded EQN head, and that head as .npz.

    Both command lines then score with the same weights: ours loads the run, the peer loads the checkpoint
    and the .npz (Dense-ReLU, linear, x scale + offset, clipped).
    """
    import keras

    from eqn_keras.builders import build_model, load_arch_config, make_tokenizer
    from eqn_keras.rundir import CONFIG_FILE, text_model

    arch_cfg = load_arch_config("bert")
    num_labels = data["annotate_num_labels"]
    keras.utils.set_random_seed(seed)
    core = build_model("bert", num_labels, "eqn", arch_cfg, preset=data["preset"], energy_range=(0.0, 10.0))
    tokenizer = make_tokenizer("bert", arch_cfg, texts, 150, data["preset"])
    run = work / "cli_run"
    run.mkdir()
    text_model(tokenizer, core).save(run / "eqn.keras")
    names = data.get("label_names") or [f"label_{i}" for i in range(num_labels)]
    (run / CONFIG_FILE).write_text(json.dumps({
        "config": {"arch": "bert", "head": "eqn", "min_value": 0.0, "max_value": 10.0, "seq_len": 150},
        "stages": ["eqn"], "dataset": {"name": data["annotate_data"], "label_names": names, "multi_label": True},
        "arch_config": arch_cfg, "bert_preset": data["preset"]}))
    save_head_npz(core, names, work / "cli_head.npz")
    return run, names


def save_head_npz(core, names, path, low: float = 0.0, high: float = 10.0) -> None:
    """The EQN head of a BERT core model as the peer reads it (Dense-ReLU, linear, x scale + offset, clipped)."""
    head = core.get_layer("eqn_head")
    dense, scores = head.get_layer("dense"), head.get_layer("scores")
    scale, offset = 1.0, 0.0
    if any(layer.name == "energy" for layer in head.layers):
        scale, offset = float(head.get_layer("energy").scale), float(head.get_layer("energy").offset)
    np.savez(path, dense_kernel=np.asarray(dense.kernel), dense_bias=np.asarray(dense.bias),
             scores_kernel=np.asarray(scores.kernel), scores_bias=np.asarray(scores.bias), scale=scale, offset=offset,
             low=low, high=high, label_names=np.array(names))


def timed_process(argv, env, timeout, log_path: Path) -> dict:
    """Wall time from spawn to exit and the command's own peak RSS (through common.MEASURE_RSS's small parent)."""
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", MEASURE_RSS, *argv], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        wall = time.perf_counter() - t0
    lines = log_path.read_text(errors="replace").strip().splitlines() or ["(no output)"]
    if proc.returncode != 0:
        return {"error": lines[-1][:200] + f" (exit status {proc.returncode})", "log": "\n".join(lines[-15:])}
    return {"wall_s": wall, "peak_rss_mb": int(lines[-1]) / 1024.0, "log": lines[-2][:300] if len(lines) > 1 else ""}


def cli_rows(args, data: dict, texts, work: Path, env: dict, large=None) -> list:
    """`eqn-keras annotate` and the PyTorch peer on the same texts and weights, alternating, median wall time.

    Ours in float32 without XLA (the reference the energy differences are taken against), with XLA, and with the
    defaults (`--precision auto`, `--jit-compile auto`, resolved for this CPU and input size; a default that
    equals the XLA command is not run twice); the peer in float32 and, where auto picks bfloat16, under bf16
    autocast too (the same precision). Then both on the first text alone: what each pays before its first text
    (imports, model load, tracing). `large`: a second, larger text set measured the same way."""
    import pandas as pd

    from eqn_keras.distribute import inference_jit, inference_precision

    auto = inference_precision("auto", "bert")
    run, names = make_cli_run(data, texts, work, args.seed)
    inputs = {"": (work / "cli_in.csv", texts), "-1": (work / "cli_in_1.csv", texts[:1])}
    if large:
        inputs["-large"] = (work / "cli_in_large.csv", large)
    ours = "ours: eqn-keras annotate (CLI)"
    peer = "peer: PyTorch + transformers loop (sorted, batch 64, tokenized in the loop)"
    peers = [("peer-fp32", [], f"{peer}, float32", "float32")]
    if auto == "bfloat16":
        peers.append(("peer-bf16", ["--bf16"], f"{peer}, bfloat16 autocast", "bfloat16"))
    commands, labels, sizes, outputs, precisions = {}, {}, {}, {}, {}
    for suffix, (source, part) in inputs.items():
        pd.DataFrame({"text": part}).to_csv(source, index=False)
        what = {"": "", "-1": ", 1 text (start-up)", "-large": f", {len(part):,} texts"}[suffix]
        jit = inference_jit("auto", "bert", auto, len(part))
        variants = [("ours-fp32", ["--precision", "float32", "--jit-compile", "off"], f"{ours}, float32, XLA off",
                     "float32"),
                    ("ours-xla", ["--precision", "float32", "--jit-compile", "on"], f"{ours}, float32, XLA on",
                     "float32"),
                    ("ours-auto", [], f"{ours}, defaults: --precision auto = {auto}, --jit-compile auto = "
                                      f"XLA {'on' if jit else 'off'} here", auto)]
        if auto == "float32" and jit:
            variants = [v for v in variants if v[0] != "ours-xla"]
        for name, flags, label, precision in variants:
            if suffix == "-1" and name != "ours-auto":
                continue
            precisions[name + suffix] = precision
            outputs[name + suffix] = work / f"cli_{name}{suffix}.csv"
            commands[name + suffix] = [
                sys.executable, "-m", "eqn_keras.cli", "annotate", "--model", str(run), "--input", str(source),
                "--output", str(outputs[name + suffix]), "--batch-size", str(args.batch_size), *flags]
            labels[name + suffix] = label + what
        if not args.quick:  # the tiny keras-hub preset is no Hugging Face checkpoint: nothing for the peer to load
            for name, flags, label, precision in peers:
                if suffix == "-1" and name != "peer-fp32":
                    continue
                precisions[name + suffix] = precision
                outputs[name + suffix] = work / f"cli_{name}{suffix}.csv"
                commands[name + suffix] = [
                    args.peer_python, str(ROOT / "benchmarks" / "peer_torch.py"), "--checkpoint", data["preset"],
                    "--head", str(work / "cli_head.npz"), "--input", str(source),
                    "--output", str(outputs[name + suffix]), "--batch-size", "64", *flags]
                labels[name + suffix] = label + what
        sizes.update({name: len(part) for name in commands if name.endswith(suffix) and
                      (suffix or not name.endswith(("-1", "-large")))})
    runs = {name: [] for name in commands}
    for repeat in range(args.cli_repeats):
        for name, argv in commands.items():
            if runs[name] and "error" in runs[name][-1]:
                continue
            print(f"[bert_speed] cli {name} {repeat + 1}/{args.cli_repeats}", file=sys.stderr, flush=True)
            result = timed_process(argv, env, args.timeout, work / f"cli_{name}_{repeat}.log")
            runs[name].append(result)
            if "error" in result:
                print(f"[bert_speed] cli {name} failed:\n{result.get('log', result['error'])}", file=sys.stderr)
    rows = []
    for name in commands:
        ok = [r["wall_s"] for r in runs[name] if "error" not in r]
        row = {"name": f"cli-{name}", "label": labels[name], "n_texts": sizes[name], "runs": runs[name],
               "precision": precisions[name]}
        if len(ok) == len(runs[name]) and ok:
            wall = float(np.median(ok))
            row.update(wall_s=wall, texts_per_s=sizes[name] / wall, wall_s_all=ok)
            suffix = next((x for x in ("-1", "-large") if name.endswith(x)), "")
            reference = outputs.get("ours-fp32" + suffix)
            if not name.startswith("ours-fp32") and reference is not None and reference.is_file():
                a = pd.read_csv(reference)[names].to_numpy()
                b = pd.read_csv(outputs[name])[names].to_numpy()
                diff = np.abs(a - b)
                row.update(max_abs_energy_diff_vs_ours_fp32=float(diff.max()),
                           p999_abs_energy_diff_vs_ours_fp32=float(np.quantile(diff.max(axis=1), 0.999)),
                           mean_abs_energy_diff_vs_ours_fp32=float(diff.mean()))
        else:
            err = next(r["error"] for r in runs[name] if "error" in r)
            row["error"] = ("skipped: torch/transformers not importable by --peer-python "
                            f"({args.peer_python})" if name.startswith("peer") and "No module named" in err else err)
        rows.append(row)
    return rows


def render_cli(rows: list) -> list:
    """The command-line table: texts/s from process start to written CSV, ratios to the PyTorch peer on the same
    texts (> 1: ours is faster): to the float32 peer, and to the peer in the row's own precision."""
    peers = {(r["n_texts"], r["precision"]): r for r in rows if r["name"].startswith("cli-peer") and "error" not in r}
    table = []
    for r in rows:
        if "error" in r:
            table.append([r["label"], f"failed: {r['error']}", "", "", "", ""])
            continue

        def ratio(precision):
            peer = peers.get((r["n_texts"], precision))
            return f"{r['texts_per_s'] / peer['texts_per_s']:.2f}" if peer else "—"

        walls = ", ".join(f"{w:.1f}" for w in r["wall_s_all"])
        notes = f"wall s per run: {walls}"
        if "max_abs_energy_diff_vs_ours_fp32" in r:
            notes += (f"; energy diff vs ours float32: max {r['max_abs_energy_diff_vs_ours_fp32']:.3g}, "
                      f"99.9th pct of per-text max {r['p999_abs_energy_diff_vs_ours_fp32']:.3g}, "
                      f"mean {r['mean_abs_energy_diff_vs_ours_fp32']:.2g}")
        rss = max(x["peak_rss_mb"] for x in r["runs"])
        rate = f"{r['texts_per_s']:.1f}" if r["n_texts"] > 1 else f"{r['texts_per_s']:.3f}"
        table.append([r["label"], rate, ratio("float32"), ratio(r["precision"]), f"{rss:.0f}", notes])
    return md_table(["command line", "texts/s", "ratio to peer float32", "ratio to peer, same precision",
                     "peak RSS MB", "notes"], table).splitlines()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.report:
        print(rewrite_markdown(Path(args.out), render_markdown))
        return 0
    if args.child:
        return child_main(args)
    if args.tasks is None:
        args.tasks = ["annotate", "train"] + ([] if args.quick else ["cli"])

    import keras
    import keras_hub
    import tensorflow as tf

    gpu_memory_growth()
    gpus = gpu_names()
    precisions = args.precisions or (["float32", "mixed_bfloat16"] + (["mixed_float16"] if gpus else []))
    xla_modes = [mode == "on" for mode in args.xla]
    configs = plan(precisions, xla_modes, args.tasks)

    matmul_n = QUICK["matmul_n"] if args.quick else 2048
    loadavg_start = loadavg()
    measure_peak = bool(configs)  # the fraction-of-peak column belongs to the annotate / train tables
    matmul = []
    if measure_peak:
        print(f"[bert_speed] measuring fp32 matmul ({matmul_n}x{matmul_n})", file=sys.stderr, flush=True)
        matmul.append(dict(measure_matmul(matmul_n, repeats=3 if args.quick else 5), when="before"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bert-speed-") as tmp:
        work = Path(tmp)
        print("[bert_speed] loading and tokenizing", file=sys.stderr, flush=True)
        data = prepare_data(args, work)
        (work / "plan.json").write_text(json.dumps({c.name: dataclasses.asdict(c) for c in configs}))
        for cfg in configs:
            print(f"[bert_speed] {cfg.name}: subprocess", file=sys.stderr, flush=True)
            rows.append(run_child(args, cfg, work, env))
        base_scores = work / f"{configs[0].name}.scores.npy" if configs else None  # annotate-baseline-fp32
        for row in rows:
            scores = work / f"{row['name']}.scores.npy"
            if row["task"] == "annotate" and "error" not in row and base_scores.is_file() and scores.is_file():
                row["max_abs_score_diff"] = float(np.max(np.abs(np.load(scores) - np.load(base_scores)), initial=0.0))
        cli = []
        if "cli" in args.tasks:
            large = work / "large_texts.json"
            cli = cli_rows(args, data, json.loads((work / "test_texts.json").read_text()), work, env,
                           json.loads(large.read_text()) if large.is_file() else None)
    if measure_peak:
        matmul.append(dict(measure_matmul(matmul_n, repeats=3 if args.quick else 5), when="after"))
    peak = max((max(x["tf_gflops_best"], x["numpy_gflops_best"]) for x in matmul), default=0.0)  # the better one
    for row in rows:
        if "error" not in row:
            flops = row["flops_forward_per_text"] if row["task"] == "annotate" else row["flops_train_per_text"]
            row["achieved_flops"] = flops * row["texts_per_s"]
            row["fraction_of_peak"] = row["achieved_flops"] / (peak * 1e9)
    ok = [r for r in rows if "error" not in r]
    report = {
        "command": "python -m benchmarks.bert_speed " + shlex.join(argv),
        "commit": git_commit(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "keras_hub": keras_hub.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "machine": machine_info(), "cpu_features": cpu_features(),
        "gpus": gpus, "gpu_visible": bool(gpus),
        "loadavg_start": loadavg_start, "loadavg_end": loadavg(),
        "quick": args.quick, "data": data, "seq_len": SEQ_LEN, "baseline_batch_size": BASELINE_BATCH,
        "batch_size": args.batch_size, "train_batch_size": args.train_batch_size,
        "learning_rate": args.learning_rate, "predict_repeats": args.predict_repeats,
        "determinism": args.determinism, "precisions": precisions, "xla": args.xla,
        "bert": ok[0]["bert"] if ok else {"num_layers": 0, "hidden_dim": 0, "params_total": 0, "params_layers": 0},
        "matmul": matmul, "matmul_peak_gflops": peak,
        "flops_method": "forward per text padded to L = L*(2*P_layers + 4*n_layers*L*d) + 2*(P_pooler + P_head), "
                        "averaged per batch width over the batches computed; training = 3x forward",
        "configs": rows,
        "cli": cli,
    }
    if cli:
        report["cli_measured"] = {k: v for k, v in measured_by(report).items() if k != "matmul_peak_gflops"}
    out = Path(args.out)
    previous = out.with_name(out.name + ".json")
    report = merge_previous(report, read_json_object(previous) if previous.is_file() else None, args.tasks)
    write_outputs(out, report, render_markdown)
    print(render_markdown(report))
    print(f"[bert_speed] wrote {out}.md and {out}.json", file=sys.stderr)
    # A failed variant (XLA, mixed precision) is a result, reported in its cell; a failed reference row is not.
    core = {c.name for c in configs if c.precision == "float32" and not c.xla}
    return 1 if any("error" in r for r in rows if r["name"] in core) else 0


if __name__ == "__main__":
    sys.exit(main())
