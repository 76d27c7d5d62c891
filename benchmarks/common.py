"""What the benchmark scripts share: provenance (commit, machine), results files and report writing,
markdown tables, and the Keras timing callbacks.

Importing this module does not import TensorFlow: the timing callbacks (`EpochTimer`, `BatchClock`,
`CountingSequence`) are built on first use, and `measure_matmul` imports TensorFlow when called.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from eqn_keras.fileio import InputError, atomic_write, parse_jsonl, read_json_object, read_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

# ---------------------------------------------------------------------------------------------
# Provenance


def git_commit() -> str:
    """Short HEAD, marked '+dirty' when the code or presets that run (eqn_keras/, its presets included) differ."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "eqn_keras"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what `platform` knows, else 'unknown'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nvidia_gpus() -> list:
    """Names of the GPUs `nvidia-smi` lists (none when it is absent): which results a GPU produced."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(set(out.stdout.split("\n")) - {""}) if out.returncode == 0 else []


def machine() -> str:
    """One line naming the machine: architecture, CPU count and model, and its GPUs after a '+'."""
    gpus = ", ".join(nvidia_gpus())
    return f"{platform.machine()} {os.cpu_count()} CPUs {cpu_model()}".strip() + (f" + {gpus}" if gpus else "")


def machine_info() -> dict:
    """The machine as a report's JSON records it."""
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            "python": platform.python_version()}


def loadavg():
    """The 1, 5 and 15 minute load averages (how busy a shared machine was), or None."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# Runs its arguments and prints the child's peak RSS (KiB) as its last line. Linux carries the forking
# process's peak RSS into a child it execs, so a benchmark that has loaded TensorFlow starts the commands it
# measures through this small parent, or their peak RSS would read as at least its own.
MEASURE_RSS = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, status, usage = os.wait4(p.pid, 0); "
               "print(usage.ru_maxrss); sys.exit(os.waitstatus_to_exitcode(status))")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure_matmul(n: int = 2048, chain: int = 8, repeats: int = 5) -> dict:
    """Best fp32 matmul rate: TF (a chain of `chain` n x n matmuls in one tf.function) and numpy."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = (rng.standard_normal((n, n), dtype=np.float32) / np.sqrt(n)).astype(np.float32)  # keeps norms stable
    a, b = tf.constant(a_np), tf.constant(b_np)

    @tf.function
    def chained(x, w):
        for _ in range(chain):  # each product feeds the next: nothing can be folded or skipped
            x = tf.linalg.matmul(x, w)
        return tf.reduce_sum(x)

    float(chained(a, b))  # trace
    flops = 2.0 * n ** 3 * chain
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        float(chained(a, b))
        times.append(time.perf_counter() - t0)
    tf_gflops = [flops / t / 1e9 for t in times]

    np.dot(a_np, b_np)
    np_times = []
    for _ in range(max(2, repeats // 2)):
        t0 = time.perf_counter()
        np.dot(a_np, b_np)
        np_times.append(time.perf_counter() - t0)
    np_gflops = [2.0 * n ** 3 / t / 1e9 for t in np_times]
    return {"n": n, "chain": chain, "tf_gflops_best": max(tf_gflops), "tf_gflops_all": tf_gflops,
            "numpy_gflops_best": max(np_gflops), "numpy_gflops_all": np_gflops, "loadavg": loadavg()}


# ---------------------------------------------------------------------------------------------
# Results files and reports


def read_results(path, missing_hint: str | None = None) -> list:
    """The rows of a JSON-lines results file (blank lines skipped; a bad line is an InputError naming it).

    A missing file is no rows, or with `missing_hint` an InputError saying how to make it.
    """
    path = Path(path)
    if not path.is_file():
        if missing_hint is None:
            return []
        raise InputError(f"{path}: results file not found; {missing_hint}")
    return parse_jsonl(read_text(path), path)


def append_result(path: Path, row: dict) -> None:
    """Add one finished run's row to a results file (what makes the scripts resumable)."""
    with Path(path).open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def write_lines(path: Path, lines) -> None:
    """Write a report's lines through a temporary file renamed into place (readers never see half of it)."""
    with atomic_write(path) as handle:
        handle.write("\n".join(lines) + "\n")


def write_outputs(out: Path, report: dict, render) -> None:
    """`<out>.json` (the report) and `<out>.md` (`render(report)`), each atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out.with_name(out.name + ".json")) as handle:
        json.dump(report, handle, indent=2)
        handle.write("\n")
    with atomic_write(out.with_name(out.name + ".md")) as handle:
        handle.write(render(report))


def rewrite_markdown(out: Path, render) -> Path:
    """`<out>.md` rendered again from `<out>.json` (the report's text, nothing measured again)."""
    report = read_json_object(out.with_name(out.name + ".json"))
    target = out.with_name(out.name + ".md")
    with atomic_write(target) as handle:
        handle.write(render(report))
    return target


# ---------------------------------------------------------------------------------------------
# Score archive: what later reports and stages need of a finished run, kept beside the results file
#
# Run directories hold models and checkpoints (gigabytes for BERT) and live on the machine that trained them.
# `archive_run` keeps <results folder>/scores/<run folder name>/ with the run's config.json, metrics.json and,
# per stage, scores_<stage>.npz: the dev/test scores (and the train scores, when a later stage is to be
# regressed from them with `eqn-keras train --regress-from`), with a digest of the labels they were scored
# against instead of the labels (those are the dataset's, which is never committed). `archived_scores` reads
# the labels back from the dataset and refuses a mismatch.


def run_path(run_dir, root: Path = ROOT) -> Path:
    """A run directory as recorded in a results row (a relative path is resolved against `root`)."""
    run_dir = Path(run_dir or "")
    return run_dir if run_dir.is_absolute() else root / run_dir


def stage_run(row, stage: str) -> str:
    """The run directory (as recorded) that trained `stage` of a results row: the row's own, unless the stage
    ran in a run of its own (`stage_runs`, e.g. CoEQN before an EQN stage regressed from it)."""
    return ((row.get("stage_runs") or {}).get(stage) or {}).get("run_dir") or row.get("run_dir") or ""


def archive_dir(run_dir, results: Path) -> Path:
    """Where `archive_run` keeps a run: <results folder>/scores/<run folder name>/."""
    return Path(results).parent / "scores" / Path(run_dir).name


def labels_digest(mask) -> str:
    """sha256 of a 0/1 label matrix (shape included): identifies the labels scores were computed against."""
    import hashlib

    mask = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
    return hashlib.sha256(repr(mask.shape).encode() + mask.tobytes()).hexdigest()


def archive_run(run_dir, stages, results: Path, root: Path = ROOT, with_train: bool = False,
                provenance: dict | None = None) -> list:
    """Copy a finished run's config.json, metrics.json (and `provenance`, when given) and each stage's scores
    into the archive. Kept files are not rewritten, unless the run was redone under the same name (its
    metrics.json differs: the folder is replaced) or train scores are asked for and the kept file has none.
    Returns the paths written."""
    import shutil

    source, target = run_path(run_dir, root), archive_dir(run_dir, results)
    if not (source / "metrics.json").is_file():
        return []  # not finished, or not on this machine
    files = {name: (source / name).read_bytes() for name in ("config.json", "metrics.json") if (source / name).is_file()}
    if (target / "metrics.json").is_file() and (target / "metrics.json").read_bytes() != files["metrics.json"]:
        shutil.rmtree(target)
    if provenance is not None:
        files["provenance.json"] = (json.dumps(provenance, indent=1) + "\n").encode()
    written = []
    for stage in stages:
        scores, kept = source / f"scores_{stage}.npz", target / f"scores_{stage}.npz"
        if not scores.is_file():
            continue
        with np.load(scores) as data:
            train = with_train and "train" in data.files
            if kept.is_file():
                with np.load(kept) as old:
                    if "train" in old.files or not train:
                        continue
            arrays = {}
            for role in ("train", "dev", "test") if train else ("dev", "test"):
                arrays[role] = data[role]
                arrays[f"{role}_labels_sha256"] = np.array(labels_digest(data[f"{role}_labels"]))
        target.mkdir(parents=True, exist_ok=True)
        with atomic_write(kept, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        written.append(kept)
    for name, data in files.items():
        if target.is_dir() and not (target / name).is_file():
            with atomic_write(target / name, "wb") as handle:
                handle.write(data)
            written.append(target / name)
    return written


def archive_scores(row, results: Path, root: Path = ROOT) -> list:
    """Archive every stage of a results row from its run directories (those not on this machine are left out,
    and so is a run directory whose metrics are not the row's: another run under the same name)."""
    written = []
    for stage, fields in (row.get("stages") or {}).items():
        metrics = run_path(stage_run(row, stage), root) / "metrics.json"
        if not metrics.is_file():
            continue
        found = (json.loads(metrics.read_text()).get("stages") or {}).get(stage) or {}
        if found.get("table3") != fields.get("table3"):
            print(f"{metrics}: its {stage} stage is not the one in the results row; not archived", file=sys.stderr)
            continue
        written += archive_run(stage_run(row, stage), [stage], results, root)
    return written


def archived_scores(row, stage: str, results: Path, data_dir=None) -> dict:
    """{role: (scores, label tuples)} like `eqn_keras.rundir.load_scores`, from the archive.

    The dev/test labels are read again from the run's dataset (named, with the run's seed for its splits) and
    must match the archived digest. Raises InputError naming the file when they do not.
    """
    from eqn_keras.datasets import load_dataset
    from eqn_keras.labels import annotated_mask

    path = archive_dir(stage_run(row, stage), results) / f"scores_{stage}.npz"
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    splits = load_dataset(row["dataset"], data_dir, seed=int(row.get("seed") or 0))
    out = {}
    for role in ("dev", "test"):
        labels, scores = getattr(splits, role).labels, arrays[role]
        mask = annotated_mask(labels, scores.shape[1])
        if len(labels) != len(scores) or labels_digest(mask) != str(arrays[f"{role}_labels_sha256"]):
            raise InputError(f"{path}: the {role} labels of dataset '{row['dataset']}' (seed {row.get('seed')}) "
                             f"are not the ones these scores were made against ({len(labels)} rows here, "
                             f"{len(scores)} scored); a different copy or version of the dataset?")
        out[role] = (scores, [tuple(np.flatnonzero(r)) for r in mask])
    return out


# ---------------------------------------------------------------------------------------------
# Markdown


def md_cell(value) -> str:
    """A value as one markdown table cell ('|' escaped, newlines as spaces)."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows) -> str:
    """A markdown table: the header, its '---' rule, one line per row."""
    lines = ["| " + " | ".join(md_cell(c) for c in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(values, show_n: bool = False) -> str:
    """'mean ± sample std (ddof=1)' of the values that are numbers, the value alone for one, '—' for none;
    with `show_n`, how many there were, as '(n=3)'."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "—"
    n = f" (n={len(values)})" if show_n else ""
    if len(values) == 1:
        return f"{values[0]:.4f}{n}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}{n}"


PAIRED_TEST = "paired t-test over seeds (scipy.stats.ttest_rel)"
ALPHA = 0.05


def shared_seeds(*heads: dict) -> list:
    """The seeds every one of `heads` ({seed: value}; empty ones ignored) has, sorted: what a comparison of
    heads is taken over, so that no head's mean holds a seed another lacks."""
    sets = [set(h) for h in heads if h]
    return sorted(set.intersection(*sets)) if sets else []


def paired_test(ours: dict, base: dict) -> dict | None:
    """ours − base over the seeds both have ({seed: value}), with `PAIRED_TEST`: {"seeds", "n", "mean",
    "differences", "p", "low", "high"} (p and the 95% confidence interval of the mean difference are None with
    fewer than 2 seeds, or when every seed's difference is the same and the test is undefined); None when
    no seed is shared."""
    from scipy import stats

    seeds = sorted(set(ours) & set(base))
    if not seeds:
        return None
    a, b = np.array([ours[s] for s in seeds], dtype=float), np.array([base[s] for s in seeds], dtype=float)
    d = a - b
    out = {"seeds": seeds, "n": len(seeds), "mean": float(d.mean()), "differences": d.tolist(), "p": None,
           "low": None, "high": None}
    if len(seeds) >= 2 and np.ptp(d) > 0:
        res = stats.ttest_rel(a, b)
        ci = res.confidence_interval(1 - ALPHA)
        out.update(p=float(res.pvalue), low=float(ci.low), high=float(ci.high))
    return out


def paired_verdict(test: dict | None) -> str:
    """What a `paired_test` shows, in words that say how many seeds it had."""
    if test is None:
        return "no shared seed"
    if test["p"] is None:
        return ("one seed: no test" if test["n"] < 2 else
                f"the same difference in all {test['n']} seeds: no test")
    if test["p"] >= ALPHA:
        return f"no detectable difference with {test['n']} seeds (p ≥ {ALPHA})"
    return f"{'higher' if test['mean'] > 0 else 'lower'} in a paired t-test over {test['n']} seeds (p < {ALPHA})"


def paired_difference(ours: dict, base: dict, say_identical: bool = True) -> str:
    """Mean of ours − base over the seeds both have ({seed: value}) with the number of those seeds and the p of
    `PAIRED_TEST`, e.g. '+0.0120 (n=3, p=0.012)'; '0 (identical)' when every pair is equal (the test is
    undefined there), unless not `say_identical`."""
    test = paired_test(ours, base)
    if test is None:
        return "—"
    if say_identical and not any(test["differences"]):
        return "0 (identical)"
    p = "" if test["p"] is None else f", p={test['p']:.3f}"
    return f"{test['mean']:+.4f} (n={test['n']}{p})"


def fmt_flops(x: float) -> str:
    """FLOPs with a G / M / k unit, 3 significant digits."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def fmt_rate(x: float) -> str:
    """A throughput: whole numbers with thousands separators from 100 up, one decimal below."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def pct(x: float) -> str:
    """A fraction as a percentage (2 significant digits under 10%)."""
    return f"{100 * x:.2g}%" if x < 0.1 else f"{100 * x:.0f}%"


# ---------------------------------------------------------------------------------------------
# Timing callbacks (Keras): built on first use


def _timing_classes() -> dict:
    import keras

    from eqn_keras.sequence import FullLabelSequence

    class BatchClock(keras.callbacks.Callback):
        """When the last batch finished: a pass's time after it is tf.data / Keras teardown, not compute.

        Only `model.predict` / `fit` run callbacks; a `predict_on_batch` loop leaves `last` at None.
        """

        last = None

        def on_predict_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

    class EpochTimer(keras.callbacks.Callback):
        """Seconds of every epoch; with a `BatchClock` listed before it, also `tails`: each epoch's
        seconds after its last batch."""

        def __init__(self, clock=None):
            super().__init__()
            self.clock = clock
            self.seconds, self.tails = [], []

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            self.seconds.append(now - self._t0)
            if self.clock is not None:
                self.tails.append(now - self.clock.last)

    class CountingSequence(FullLabelSequence):
        """A FullLabelSequence that records the (rows, width) of every batch it serves, per epoch."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.served, self.per_epoch = [], []

        def __getitem__(self, index):
            batch = super().__getitem__(index)
            self.served.append(batch[0].shape)
            return batch

        def on_epoch_end(self):
            self.per_epoch.append(self.served)
            self.served = []
            super().on_epoch_end()

    return {"BatchClock": BatchClock, "EpochTimer": EpochTimer, "CountingSequence": CountingSequence}


def __getattr__(name):
    if name in ("BatchClock", "EpochTimer", "CountingSequence"):
        globals().update(_timing_classes())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
