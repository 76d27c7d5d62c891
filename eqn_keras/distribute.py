"""Where training runs: tf.distribute strategies, mixed precision and XLA, chosen by flags, never hard-coded."""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from .fileio import InputError

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
PRECISIONS = {None: "float32", "float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs or CPUs), `multiworker` (TF_CONFIG), `tpu`."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise InputError("--strategy multiworker: TF_CONFIG is not set; expected the cluster and this "
                             "worker's task as JSON (see the README)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise InputError(f"--strategy {name}: expected one of {', '.join(STRATEGIES)}")


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
        raise InputError(f"--mixed-precision {mixed_precision}: expected bfloat16 or float16")
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
        raise InputError(f"--jit-compile {jit_compile}: expected auto, on or off")
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
