"""The run directory: its files, and the inference that annotate, evaluate and export run on a finished one.

A run directory holds config.json (options, dataset, provenance), each stage's text-in model
(<stage>.keras: raw strings in, scores out), its dev/test scores (scores_<stage>.npz), the annotated
test set, the regressed training labels and metrics.json, written last. `training.train` writes it;
everything that reads a run goes through this module.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import warnings
import weakref
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .fileio import InputError, Param, atomic_write, exclusive
from .heads import FLOAT32_LAYERS, head_spec
from .labels import MAX_VALUE, MIN_VALUE, annotated_mask
from .options import TrainConfig
from .sequence import FullLabelSequence

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
LOCK_FILE = ".lock"  # held by the one `train` that writes the directory; removed when it ends


def energy_range(config: dict):
    """(min, max) energies of a run (its config.json as a dict); None for a baseline head's probabilities."""
    cfg = config["config"]
    if not head_spec(cfg.get("head", "eqn")).energy:
        return None
    return float(cfg.get("min_value", MIN_VALUE)), float(cfg.get("max_value", MAX_VALUE))


def text_model(tokenizer, core: keras.Model) -> keras.Model:
    """Raw strings in, scores out: the saved form of a stage's model."""
    text = keras.Input(shape=(), dtype="string", name="text")
    return keras.Model(text, core(tokenizer(text)), name=f"{core.name}_text")


def split_text_model(model: keras.Model):
    """(tokenizer, core) of a model made by `text_model`."""
    core = next(l for l in model.layers if isinstance(l, keras.Model))
    tokenizer = next(l for l in model.layers if not isinstance(l, (keras.layers.InputLayer, keras.Model)))
    return tokenizer, core


def predict_scores(core: keras.Model, token_ids, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
    """Scores [N, C] for tokenized texts, batched shortest-first so little padding is computed.

    Batches go straight to one traced forward pass (`_scorer`): no tf.data pipeline to build and tear down per call.
    """
    if len(token_ids) == 0:
        return np.zeros((0, core.output_shape[-1]), dtype=np.float32)
    seq = FullLabelSequence(token_ids, batch_size=batch_size, sort_by_length=True)
    bar = keras.utils.Progbar(len(token_ids), unit_name="text") if verbose else None
    score = _scorer(core)
    parts = []
    for index in range(len(seq)):
        (x,) = seq[index]
        parts.append(np.asarray(score(x), dtype=np.float32))
        if bar is not None:
            bar.add(len(x))
    return seq.restore_order(np.concatenate(parts))


_SCORERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _scorer(core: keras.Model):
    """`core`'s forward pass traced once for token ids of any [batch, width]: Keras's `predict_on_batch` traces
    for the first shape and again for the second before it relaxes the signature (~1 s of every annotate run).
    XLA as `predict_on_batch` would use it (`core.jit_compile`: Keras turns it on by default on a GPU). Inside a
    distribution strategy's scope, `predict_on_batch` itself (it knows how to place the batch)."""
    if tf.distribute.has_strategy() or keras.backend.backend() != "tensorflow":
        return core.predict_on_batch
    jit = bool(core.jit_compile)
    cached = _SCORERS.get(core)
    if cached is None or cached[0] != jit:
        model = weakref.ref(core)  # the cache must not keep the model alive
        cached = _SCORERS[core] = (jit, tf.function(
            lambda x: model()(x, training=False), reduce_retracing=True, jit_compile=jit,
            input_signature=[tf.TensorSpec([None, None], tf.int32)]))
    return cached[1]


def with_precision(core: keras.Model, precision: str = "float32") -> keras.Model:
    """`core` set to score in `precision`, in place (no copy: a copy rebuilds the model, seconds of every
    annotate run), and returned. bfloat16: every float32 layer computes under Keras's mixed_bfloat16 policy
    with its float32 weights, except the head's output layers (FLOAT32_LAYERS), so energies come out float32.
    int8: Keras's int8 quantization (`Layer.quantize`: int8 kernels with per-channel scales, inputs quantized
    per token on the fly) of the dense layers outside the head (`INT8_LAYERS`), a model TF Serving can serve
    as exported; the head stays float32."""
    if precision == "float32":
        return core
    _SCORERS.pop(core, None)  # traced in the old precision
    if precision == "bfloat16":
        for layer in _float_layers(core):
            layer.dtype_policy = "mixed_bfloat16"
        return core
    if precision == "int8":
        targets = {id(layer) for layer in int8_layers(core)}
        if not targets:
            raise ValueError(f"precision int8: {core.name} has no dense layers outside its head to quantize")
        with warnings.catch_warnings():  # "Layer Add does not have a `quantize` method": the layers it skips
            warnings.simplefilter("ignore", UserWarning)
            core.quantize("int8", filters=lambda layer: id(layer) in targets)
        return core
    raise ValueError(f"precision {precision}: expected float32, bfloat16 or int8")


INT8_LAYERS = (keras.layers.Dense, keras.layers.EinsumDense)  # the layers int8 quantizes (the matmuls' weights)


def int8_layers(core: keras.Model) -> list:
    """The layers `with_precision(core, "int8")` quantizes: the dense layers outside the head (a layer whose name
    ends in `_head`), i.e. a BERT backbone's attention projections, feed-forward layers and pooler."""
    head = [layer for layer in core.layers if layer.name.endswith("_head")]
    in_head = {id(x) for h in head for x in h._flatten_layers()}
    return [layer for layer in core._flatten_layers() if isinstance(layer, INT8_LAYERS) and id(layer) not in in_head]


def _float_layers(model: keras.Model) -> list:
    """The layers of `model` (nested ones included) that compute in float32, except FLOAT32_LAYERS."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if layer.dtype_policy.name == "float32" and layer.name not in FLOAT32_LAYERS]


def scores_frame(texts, labels, scores, label_names, energy_range=None) -> pd.DataFrame:
    """The paper's Fig. 5-7 layout: text, label ids, one column per label name (2 decimals).

    `energy_range` (min, max): the scores are clipped to it first, as users see energies (the npz stays raw).
    """
    frame = pd.DataFrame({"text": list(texts), "labels": [",".join(map(str, row)) for row in labels]})
    if energy_range is not None:
        scores = np.clip(scores, *energy_range)
    values = pd.DataFrame(np.round(scores, 2), columns=list(label_names))
    return pd.concat([frame, values], axis=1)


def save_scores(path, scores, labels, num_labels) -> None:
    """Full-precision dev/test (and train, when given) scores and their true labels, for `eqn-keras evaluate`
    and, through the train scores, for a later `--regress-from` that has only this file."""
    arrays = {}
    for role in ("train", "dev", "test") if "train" in scores else ("dev", "test"):
        arrays[role] = scores[role]
        arrays[f"{role}_labels"] = annotated_mask(labels[role], num_labels)
    with atomic_write(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def load_scores(path):
    """(scores, labels) per role from `save_scores`."""
    with np.load(path) as data:
        return {role: (data[role], [tuple(np.flatnonzero(row)) for row in data[f"{role}_labels"]])
                for role in ("dev", "test")}


def git_commit():
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def prepare_run_dir(out, cfg) -> Path:
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = Path(cfg.data).stem if os.sep in cfg.data or "." in cfg.data else cfg.data
        out = Path("runs") / f"{name}-{cfg.arch}-{cfg.head}-{stamp}"
    run_dir = Path(out)
    refuse_finished(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)  # an OSError names the directory; the CLI says what to do
    return run_dir


def refuse_finished(run_dir) -> None:
    """An InputError when `run_dir` holds a finished run: a new one never replaces it."""
    if (Path(run_dir) / METRICS_FILE).exists():
        raise InputError(f"{run_dir}: already holds a finished run ({METRICS_FILE}); pass another ", Param("out"))


def run_lock(run_dir):
    """The exclusive lock of a run directory (`exclusive` on RUN_DIR/.lock): one `train` writes it at a time."""
    return exclusive(Path(run_dir) / LOCK_FILE, run_dir)


def read_resume_json(path, *remedy):
    """A JSON file a rerun resumes from (None when absent); a corrupt one is an InputError ending with `remedy`
    (text and `Param`s)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: corrupt ({err}); ", *remedy) from None




def resume_config(run_dir: Path, config: dict) -> dict:
    """The config of an interrupted run in `run_dir` that this one continues (None if there is none).

    Refuses, naming the first difference, when the options or the training texts differ.
    """
    old = read_resume_json(run_dir / CONFIG_FILE, f"delete {run_dir} to start over, or pass another ", Param("out"))
    if old is None:
        return None
    if not isinstance(old, dict):
        raise InputError(f"{run_dir / CONFIG_FILE}: not a run's config; delete {run_dir} to start over, or pass "
                         "another ", Param("out"))
    # options that change how a run is shown, not what it computes (out, verbose: `affects_output=False`) may differ
    free = set(config["config"]) - set(TrainConfig.output_fields())
    mine = {k: v for k, v in config["config"].items() if k not in free}
    theirs = {k: v for k, v in old.get("config", {}).items() if k not in free}
    for key in sorted(set(mine) | set(theirs)):
        if mine.get(key) != theirs.get(key):
            raise InputError(f"{run_dir}: holds an unfinished run with {key}={theirs.get(key)!r}, this one has "
                             f"{mine.get(key)!r}; rerun with the same options to resume it, or pass another ",
                             Param("out"))
    for key in ("dataset", "arch_config", "stages"):
        if old.get(key) != config[key]:
            raise InputError(f"{run_dir}: holds an unfinished run whose {key} differs (data files or models/"
                             f"{config['config']['arch']}.json changed); pass another ", Param("out"))
    return old


def read_run_config(run_dir) -> dict:
    """config.json of a run directory, or an InputError saying it is not one."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise InputError(f"{run_dir}: not a run directory (no {CONFIG_FILE}); expected the --out of 'eqn-keras train'")
    return json.loads(path.read_text(encoding="utf-8"))


def load_stage_model(path, arch: str) -> keras.Model:
    """A stage's saved text-in model, for inference: the optimizer it was compiled with is not restored."""
    from . import layers, optimizers  # noqa: F401  (register the custom layers and the learning-rate schedule)

    if arch == "bert":
        import keras_hub  # noqa: F401  (registers the backbone and tokenizer)

        from . import bert  # noqa: F401
    return keras.saving.load_model(path, compile=False)


def load_run(run_dir, stage: str | None = None):
    """(config dict, stage name, text-in model) of a finished run; the final stage unless `stage` is given."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    stage = stage or config["stages"][-1]
    model_path = run_dir / f"{stage}.keras"
    if not model_path.is_file():
        raise InputError(f"{model_path}: no model for stage '{stage}'; stages in this run: {', '.join(config['stages'])}")
    return config, stage, load_stage_model(model_path, config["config"]["arch"])
