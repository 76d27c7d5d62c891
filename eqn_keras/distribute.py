"""Where training runs: tf.distribute strategies, mixed precision and XLA, chosen by flags, never hard-coded."""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from .fileio import InputError, Param
from .options import INFERENCE_PRECISIONS, JIT_MODES, XLA_MIN_ROWS

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
PRECISIONS = {None: "float32", "float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs, else all logical CPUs), `multiworker` (TF_CONFIG), `tpu`."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All local GPUs; without GPUs, every logical CPU device (one unless the process configured more).
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        return tf.distribute.MirroredStrategy(devices or [d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise InputError(Param("strategy", "multiworker"), ": TF_CONFIG is not set; expected the cluster and "
                             "this worker's task as JSON (docs/bert.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise InputError(Param("strategy", name), f": expected one of {', '.join(STRATEGIES)}")


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief worker (only the chief writes the run)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster


def set_precision(mixed_precision: str | None) -> str:
    """Set Keras's global dtype policy; returns its name."""
    if mixed_precision not in PRECISIONS:
        raise InputError(Param("mixed_precision", mixed_precision), ": expected bfloat16 or float16")
    policy = PRECISIONS[mixed_precision]
    keras.mixed_precision.set_global_policy(policy)
    return policy


def resolve_jit(jit_compile: str) -> bool:
    """`auto` compiles with XLA only where a GPU or TPU is visible (on CPU, XLA recompiles for every batch width)."""
    if jit_compile in ("on", "true", True):
        return True
    if jit_compile in ("off", "false", False):
        return False
    if jit_compile != "auto":
        raise InputError(Param("jit_compile", jit_compile), f": expected one of {', '.join(JIT_MODES)}")
    return accelerators_visible()


def inference_jit(requested: str, arch: str, precision: str, rows=None) -> bool:
    """Whether scoring compiles with XLA. `auto`: where a GPU or TPU is visible; on CPU only for float32 BERT runs
    over at least XLA_MIN_ROWS texts, where the compilation pays for itself (`rows`: a count or a function giving
    it, called only then; None = unknown = off). bfloat16 stays off on CPU: XLA made it slower there. int8 is
    always on: Keras's int8 layers, run op by op, score several times slower than float32, and compiled by XLA
    faster (benchmarks/results/int8.md)."""
    if requested != "auto" or accelerators_visible():
        return resolve_jit(requested)  # on / off as given; auto on an accelerator; anything else refused
    if arch == "bert" and precision == "int8":
        return True
    if arch != "bert" or precision != "float32":
        return False
    rows = rows() if callable(rows) else rows
    return rows is not None and rows >= XLA_MIN_ROWS


def accelerators_visible() -> bool:
    """True when TensorFlow sees a GPU or TPU."""
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # the CPU instructions oneDNN's fast bf16 matmuls need


def cpu_flags(path: str = "/proc/cpuinfo") -> set:
    """The CPU's feature flags (Linux); empty where they cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def inference_precision(requested: str, arch: str, flags: set | None = None) -> str:
    """float32 or bfloat16 for scoring. `auto` picks bfloat16 only for BERT runs on a CPU with native bf16
    matmuls (avx512_bf16 or AMX; measured 1.7x fp32 in benchmarks/bert_speed.md) and no visible accelerator;
    without those instructions bf16 is emulated and runs far slower than fp32, so it stays float32. int8 only
    when asked: its energies differ from float32 by far more than bf16's (benchmarks/results/int8.md)."""
    if requested not in INFERENCE_PRECISIONS:
        raise InputError(Param("precision", requested), f": expected one of {', '.join(INFERENCE_PRECISIONS)}")
    if requested == "int8" and arch != "bert":
        raise InputError(Param("precision", requested), f": for BERT runs (it quantizes the transformer's dense "
                         f"layers); this is a {arch} run")
    if requested != "auto":
        return requested
    if arch != "bert" or accelerators_visible():
        return "float32"
    flags = cpu_flags() if flags is None else flags
    return "bfloat16" if flags & set(BF16_CPU_FLAGS) else "float32"
