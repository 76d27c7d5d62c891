"""SavedModels for TensorFlow Serving: raw text in, per-label energy scores out.

`export_run` writes `<out>/<name>/<version>/` (TF Serving's layout) with Keras 3's `ExportArchive`:
a `serving_default` signature (`text` -> `energy`, `top_label_id`, `top_label`, `top_score`) with the
tokenizer inside the graph, a `token_ids` signature, the label names as an asset, and
`assets.extra/model_card.json`, and `assets.extra/tf_serving_warmup_requests`: `PredictionLog` records of raw
texts that TF Serving runs when it loads the model, so no user request pays the first run. An energy head's outputs
are clipped to the model's range (0-10), as `Annotator.score` gives them; `top_label_id` is the argmax of the raw
scores, as the run's metrics use it. `export_model` exports an `EQNModel` (from a preset, say); `export_run` a
run's stage.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from . import __version__
from .fileio import InputError, Param
from .rundir import read_run_config
from .sequence import sequence_length

LABELS_ASSET = "labels.txt"
MODEL_CARD = "model_card.json"
WARMUP_FILE = "tf_serving_warmup_requests"
# texts of one to ~200 words (past the 150-token sequence length), sent one at a time and as batches of 8 and 32
_WARMUP_WORDS = "i am so glad you came today but the waiting made me nervous and a little angry".split()
WARMUP_LENGTHS = (1, 5, 17, 60, 200)
WARMUP_BATCHES = (1, 8, 32)


def _next_version(base: Path) -> int:
    versions = [int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit()] if base.is_dir() else []
    return max(versions, default=0) + 1


CARD_METRICS = ("table3_metric", "table3", "accuracy", "hit_rate", "sample_f1", "macro_f1", "micro_f1")


def _model_card(model, version, extra=None) -> dict:
    """assets.extra/model_card.json: the model's config (labels, range, threshold, metrics) and the signatures."""
    card = {
        "dataset": model.dataset, "arch": model.arch, "head": model.head_kind,
        "stage": model.stage, "version": version, "label_names": list(model.label_names),
        "multi_label": None, "seq_len": sequence_length(model.preprocessor),
        "metrics": {k: model.stage_metrics[k] for k in CARD_METRICS if k in model.stage_metrics},
        "threshold": model.threshold,
        "threshold_note": "tuned for macro-F1 on the dev split, on the raw scores; scores at or above it are "
                          "annotations (eq. 8); the same on the clipped energies when it lies in (min, max]",
        "energy_range": None if model.energy_range is None else list(model.energy_range),
        "eqn_keras": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
        "run_commit": None,
        "signatures": {
            "serving_default": {"inputs": {"text": "string [batch]"},
                                "outputs": {"energy": "float32 [batch, C]", "top_label_id": "int64 [batch]",
                                            "top_label": "string [batch]", "top_score": "float32 [batch]"}},
            "token_ids": {"inputs": {"token_ids": "int32 [batch, length], 0 = padding"},
                          "outputs": {"energy": "float32 [batch, C]"}},
        },
        "minimum_tf_serving": _minimum_server(model.arch),
    }
    card.update(extra or {})
    return card


def _minimum_server(arch: str) -> str:
    if arch != "bert":
        return "TF Serving 2.0 or newer: the graph uses only core TensorFlow ops"
    import tensorflow_text

    return (f"serving_default tokenizes with TF Text WordPiece ops: TF Serving whose TF Text is {tensorflow_text.__version__} "
            f"or newer (exported with TensorFlow {tf.__version__}). Older servers: use the token_ids signature and "
            "tokenize on the client with assets.extra/vocab.txt ([CLS] text [SEP], lower-cased if the checkpoint is uncased)")


def build_export_archive(model, labels_file: Path) -> keras.export.ExportArchive:
    """An ExportArchive with the text and token-id signatures of an `EQNModel`: its preprocessor, then the model
    (token ids -> raw scores), then the clip to its `energy_range` (the model itself stays unclipped)."""
    energy_range = model.energy_range
    vectorizer = model.preprocessor
    if vectorizer is None:
        raise ValueError("this EQNModel has no preprocessor; the serving signature takes raw text")
    if not vectorizer.built:  # a preset's tokenizer is loaded, not yet called: ExportArchive wants it built
        vectorizer(tf.constant([""]))
    # Label names come from an asset file (id = line number), so they ship in assets/ with the model.
    names = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(str(labels_file), tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                                      tf.string, tf.lookup.TextFileIndex.WHOLE_LINE), default_value="")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(vectorizer)
    archive.track(names)

    def clip(scores):
        if energy_range is None:
            return scores
        return tf.clip_by_value(scores, tf.cast(energy_range[0], scores.dtype), tf.cast(energy_range[1], scores.dtype))

    def serve_text(text):
        raw = model(vectorizer(text), training=False)
        top = tf.argmax(raw, axis=-1)  # the raw ranking: no ties made by clipping
        energy = clip(raw)
        return {"energy": energy, "top_label_id": top, "top_label": names.lookup(top),
                "top_score": tf.reduce_max(energy, axis=-1)}

    def serve_ids(token_ids):
        return {"energy": clip(model(token_ids, training=False))}

    archive.add_endpoint("serving_default", serve_text,
                         input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.add_endpoint("token_ids", serve_ids,
                         input_signature=[tf.TensorSpec([None, None], tf.int32, name="token_ids")])
    return archive


def warmup_texts() -> list[list[str]]:
    """The warm-up batches: each length alone, then batches of every size in WARMUP_BATCHES but 1 mixing them."""
    texts = [" ".join(_WARMUP_WORDS[i % len(_WARMUP_WORDS)] for i in range(n)) for n in WARMUP_LENGTHS]
    batches = [[t] for t in texts]
    batches += [[texts[i % len(texts)] for i in range(size)] for size in WARMUP_BATCHES if size > 1]
    return batches


def write_warmup_requests(path: Path, model_name: str) -> int:
    """Write TF Serving's warm-up file: one `PredictionLog` (a Predict request on `serving_default`) per batch."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    batches = warmup_texts()
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in batches:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default"))
            request.inputs["text"].CopyFrom(tf.make_tensor_proto(batch, dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return len(batches)


def export_model(model, out="saved_models", name: str | None = None, version: int | None = None,
                 card: dict | None = None) -> Path:
    """Export an `EQNModel` to `<out>/<name>/<version>/` (default name `<dataset>-<arch>-<stage>`, default version
    the next free one); `card`: more fields for its model card. Nothing is left behind if anything fails."""
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{model.dataset}-{model.arch}-{model.stage}")
    base = Path(out) / name
    base.mkdir(parents=True, exist_ok=True)  # an OSError names the directory; the CLI says what to do
    if version is None:
        version = _next_version(base)
    elif version < 1:
        raise InputError(Param("version", version), ": expected a positive integer")
    target = base / str(version)
    if target.exists():
        raise InputError(f"{target}: version {version} already exists; omit ", Param("version"), " for the next free "
                         "one")
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=base))
    try:
        labels_file = staging / LABELS_ASSET
        labels_file.write_text("\n".join(model.label_names) + "\n", encoding="utf-8")
        export_dir = staging / "model"
        build_export_archive(model, labels_file).write_out(str(export_dir), verbose=False)
        extra = export_dir / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / MODEL_CARD).write_text(json.dumps(_model_card(model, version, card), indent=2) + "\n",
                                        encoding="utf-8")
        (extra / LABELS_ASSET).write_text(labels_file.read_text(encoding="utf-8"), encoding="utf-8")
        write_warmup_requests(extra / WARMUP_FILE, name)
        if hasattr(model.preprocessor, "vocabulary"):
            # for clients of the token_ids signature, who tokenize themselves
            (extra / "vocab.txt").write_text("\n".join(model.preprocessor.vocabulary) + "\n", encoding="utf-8")
        export_dir.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def export_run(run_dir, stage: str | None = None, name: str | None = None, version: int | None = None,
               out="saved_models") -> Path:
    """Export a run's stage (default its last) to `<out>/<name>/<version>/` (`export_model` on
    `EQNModel.from_run`); its model card also gives the run's task type and commit."""
    from .model import EQNModel

    model = EQNModel.from_run(run_dir, stage)
    config = read_run_config(run_dir)
    return export_model(model, out, name, version,
                        card={"multi_label": config["dataset"]["multi_label"], "run_commit": config.get("commit")})


def export(model, stage: str | None = None, name: str | None = None, version: int | None = None,
           out="saved_models") -> Path:
    """Export what `model` names (a run directory, a preset folder or handle, an `EQNModel`: see `ModelSource`):
    a run's stage through `export_run`, a preset's or a model's through `export_model`."""
    from .model import ModelSource

    source = ModelSource.of(model)
    if source.kind == "run":
        return export_run(source.location, stage, name, version, out)
    return export_model(source.load(stage), out, name, version)
