"""A trained EQN stage as one Keras object: `EQNModel`, a keras-hub `Task` (preprocessor, backbone, head).

The preprocessor is the stage's tokenizer layer (a `TextVectorization` for ann / cnn / lstm / textcnn, the
`BertTokenIds` layer for BERT), the backbone the architecture's body (for BERT keras-hub's own `BertBackbone`),
the head the shared `eqn_head` block. Its config carries what a run directory kept beside the weights: the label
names, the energy range, the dev-tuned threshold, the stage, the dataset and the architecture. So

    model = EQNModel.from_run("runs/tiny")              # or keras.saving.load_model("eqn.keras"), from_preset(...)
    model.predict(["what a wonderful day"])             # energies [N, C], clipped to the range (0-10)
    model.predict_frame(["what a wonderful day"])       # the same as a DataFrame, one column per label name

needs nothing else on disk. `save_to_preset(dir)` writes keras-hub's preset layout (task.json, config.json,
model.weights.h5, task.weights.h5, preprocessor.json, the tokenizer's vocabulary, metadata.json) and a model card,
so `keras_hub.upload_preset` publishes it and `EQNModel.from_preset("hf://user/name")` loads it back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pandas as pd

from . import bert, compat, heads, layers, optimizers, sequence  # noqa: F401  (register the layers a saved model holds)
from .fileio import InputError, Param
from .annotate import energy_frame
from .labels import clip_energies

PREDICT_BATCH_SIZE = 256  # texts per forward pass unless models/<arch>.json sets predict_batch_size
TASK_CONFIG_FILE = "task.json"  # keras-hub's file name for a task's config in a preset
VOCABULARY_ASSET = "assets/tokenizer/vocabulary.txt"  # where a TextVectorization preset keeps its vocabulary
MODEL_CARD = "README.md"
PRESET_METADATA = "metadata.json"  # keras-hub's: versions, parameter count, date saved
RUN_CONFIG_FILE = "config.json"  # rundir.CONFIG_FILE: what makes a folder a run directory


def _is_texts(x) -> bool:
    """Whether `x` is raw text: a string, or a list / tuple / array / Series of strings."""
    if isinstance(x, str):
        return True
    if isinstance(x, pd.Series):
        x = x.to_numpy()
    if isinstance(x, np.ndarray):
        return x.ndim == 1 and (x.dtype.kind in "US" or (x.dtype == object and all(isinstance(v, str) for v in x)))
    return isinstance(x, (list, tuple)) and all(isinstance(v, str) for v in x)


def _as_texts(x) -> list:
    return [x] if isinstance(x, str) else [str(v) for v in (x.tolist() if hasattr(x, "tolist") else x)]


@keras.saving.register_keras_serializable(package="eqn_keras")
class EQNModel(keras_hub.models.Task):
    """One trained EQN stage: token ids -> backbone -> head, with its tokenizer as `preprocessor`.

    Calling the model (`model(token_ids)`) gives the head's raw output, what it was trained and evaluated on;
    `predict` gives the energies users see: the raw output clipped to `energy_range` (a baseline head's
    probabilities are not clipped, `energy_range` is None), columns in `label_names` order. `predict` on raw
    strings tokenizes them with the preprocessor and scores them shortest-first, exactly as `Annotator.score`
    and a run's saved scores do; on token ids or a `tf.data` dataset it is Keras's `predict`, then clipped.

    Args:
        backbone: the architecture's body, token ids [B, L] -> features [B, D] (for BERT a keras-hub
            `BertBackbone`, fed the padding mask and segment ids derived from the token ids).
        head: the output block (`eqn_head` / `build_head`), features -> scores [B, C].
        preprocessor: the tokenizer layer, raw strings -> token ids (None: `predict` takes token ids only).
        label_names: the C label names, in output order.
        energy_range: (min, max) energies of an energy head (the paper's 0-10); None for a baseline head.
        threshold: the stage's threshold h tuned for macro-F1 on the dev split (None when unknown).
        stage: the stage's name ("coeqn", "eqn", ... or a baseline's "single" / "multi").
        arch: the architecture (ann, cnn, lstm, textcnn, bert).
        dataset: the name of the dataset it was trained on.
        head_kind: the head (eqn, eqn_bce, single, multi).
        dropout: the dropout before a BERT head (inactive when predicting).
        predict_batch_size: texts per forward pass when `predict` is given raw strings.
        metrics: the stage's test-split summary (table3, macro_f1, ...), shown on a preset's model card.
        compile: compile with Adam and the head's own loss (`heads.head_loss`), ready to `fit` further; off by
            default, so a saved model carries no optimizer.
    """

    def __init__(self, backbone: keras.Model, head: keras.Model, preprocessor: keras.layers.Layer | None = None, *,
                 label_names: list, energy_range: tuple | None = None, threshold: float | None = None,
                 stage: str | None = None, arch: str | None = None, dataset: str | None = None,
                 head_kind: str = "eqn", dropout: float = 0.0, predict_batch_size: int = PREDICT_BATCH_SIZE,
                 metrics: dict | None = None, compile: bool = False, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.head = head
        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        if isinstance(backbone, keras_hub.models.BertBackbone):
            self.padding_mask = layers.PaddingMask(name="padding_mask", dtype="int32")
            self.segment_ids = bert.ZerosLike(name="segment_ids")
            self.output_dropout = keras.layers.Dropout(dropout, name="dropout")
            pooled = backbone({"token_ids": token_ids, "padding_mask": self.padding_mask(token_ids),
                               "segment_ids": self.segment_ids(token_ids)})["pooled_output"]
            features = self.output_dropout(pooled)
        else:
            features = backbone(token_ids)
        super().__init__(inputs=token_ids, outputs=head(features), compile=False, **kwargs)
        # === Config ===
        self.label_names = [str(n) for n in label_names]
        self.energy_range = None if energy_range is None else (float(energy_range[0]), float(energy_range[1]))
        self.threshold = None if threshold is None else float(threshold)
        self.stage, self.arch, self.dataset, self.head_kind = stage, arch, dataset, head_kind
        self.dropout = float(dropout)
        self.predict_batch_size = int(predict_batch_size)
        self.stage_metrics = dict(metrics or {})
        if len(self.label_names) != self.output_shape[-1]:
            raise ValueError(f"{len(self.label_names)} label names for a head of {self.output_shape[-1]} outputs")
        if compile:  # as keras-hub tasks do: ready to `fit`, with Adam and the head's own loss (`heads.head_loss`)
            self.compile(optimizer="adam", loss=heads.head_loss(head_kind, *reversed(self.energy_range or (0, 1))))

    def get_config(self):
        config = super().get_config()  # backbone, preprocessor, name
        config.update({
            "head": keras.layers.serialize(self.head), "label_names": list(self.label_names),
            "energy_range": None if self.energy_range is None else list(self.energy_range),
            "threshold": self.threshold, "stage": self.stage, "arch": self.arch, "dataset": self.dataset,
            "head_kind": self.head_kind, "dropout": self.dropout, "predict_batch_size": self.predict_batch_size,
            "metrics": dict(self.stage_metrics),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("head"), dict):
            config["head"] = keras.layers.deserialize(config["head"])
        return super().from_config(config)

    # ----------------------------------------------------------------------------------------------
    # Scoring

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """Raw strings through the preprocessor (in Keras's `fit` / `evaluate` / `predict` pipelines); token ids
        pass as they are."""
        import tensorflow as tf

        if self.preprocessor is not None and getattr(x, "dtype", None) == tf.string:
            x = self.preprocessor(x)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def token_ids(self, texts) -> np.ndarray:
        """The model's input for `texts`: token ids [N, seq_len] (int32, 0 = padding)."""
        if self.preprocessor is None:
            raise ValueError("this EQNModel has no preprocessor; pass token ids, not raw strings")
        return sequence.tokenize(self.preprocessor, _as_texts(texts))

    def raw_scores(self, texts, batch_size: int | None = None, verbose: int = 0) -> np.ndarray:
        """The head's unclipped output [N, C] for raw strings (what metrics and the threshold were computed on)."""
        from .rundir import predict_scores

        return predict_scores(self, self.token_ids(texts), batch_size or self.predict_batch_size, verbose)

    def predict(self, x=None, batch_size=None, verbose="auto", steps=None, callbacks=None, **kwargs):
        """Energies [N, C] (float32), clipped to `energy_range`, columns in `label_names` order.

        `x` raw strings (a list, array or Series of them, or one string): tokenized and scored shortest-first,
        `batch_size` texts per pass (default `predict_batch_size`), a progress bar with `verbose=1`. Anything
        else (token ids, a `tf.data` dataset of strings or ids): Keras's `predict`, then clipped.
        """
        if _is_texts(x):
            raw = self.raw_scores(x, batch_size, 0 if verbose == "auto" else int(verbose))
        else:
            raw = super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks,
                                  **kwargs)
        return clip_energies(raw, self.energy_range)

    def predict_frame(self, texts, threshold=None, labels: bool = False, label_sep: str = "|",
                      batch_size: int | None = None) -> pd.DataFrame:
        """`predict` as a DataFrame: one column of energies per label name, one row per text.

        `threshold` h (a number, or "tuned" for the stage's dev-tuned `threshold`): energies whose raw score is
        below h become the range's minimum (eq. 8). `labels`: add the column `annotated_labels`, the names of
        the labels whose raw score is >= h (the tuned h when `threshold` is None), joined by `label_sep`.
        """
        raw = self.raw_scores(texts, batch_size)
        h = self._resolve_threshold(threshold)
        label_h = (self._resolve_threshold("tuned") if h is None else h) if labels else None
        return energy_frame(raw, self.label_names, self.energy_range, h, label_h, label_sep)

    def _resolve_threshold(self, value):
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lower() == "tuned":
            if self.threshold is None:
                raise InputError(f"stage '{self.stage}' has no dev-tuned threshold; pass a number")
            return self.threshold
        number = float(value)
        if not np.isfinite(number):
            raise InputError(f"threshold {value}: expected a finite number or 'tuned'")
        return number

    # ----------------------------------------------------------------------------------------------
    # Constructors

    @classmethod
    def from_parts(cls, tokenizer, core: keras.Model, *, label_names, arch: str, head_kind: str = "eqn",
                   energy_range=None, threshold=None, stage=None, dataset=None, arch_config: dict | None = None,
                   metrics=None, name: str | None = None) -> "EQNModel":
        """An EQNModel sharing the layers (and weights) of a stage's tokenizer and token-ids model (`core`, as
        `builders.build_model` makes it: body, then the `<head_kind>_head` block)."""
        arch_config = arch_config or {}
        head = core.get_layer(f"{head_kind}_head")
        if arch == "bert":
            backbone = next(l for l in core.layers if isinstance(l, keras_hub.models.BertBackbone))
        else:
            backbone = keras.Model(core.inputs, head.input, name=f"{arch}_backbone")
        return cls(backbone, head, tokenizer, label_names=label_names, energy_range=energy_range,
                   threshold=threshold, stage=stage, arch=arch, dataset=dataset, head_kind=head_kind,
                   dropout=arch_config.get("dropout", 0.0) if arch == "bert" else 0.0,
                   predict_batch_size=arch_config.get("predict_batch_size", PREDICT_BATCH_SIZE),
                   metrics=metrics, name=name or f"{arch}_{stage or head_kind}")

    @classmethod
    def from_run(cls, run_dir, stage: str | None = None) -> "EQNModel":
        """The model of a finished run's stage (the final one unless `stage` is given), with the run's label
        names, energy range and dev-tuned threshold (metrics.json; None for an unfinished run)."""
        from .rundir import METRICS_FILE, energy_range, load_run, split_text_model

        config, stage, text_model = load_run(run_dir, stage)
        tokenizer, core = split_text_model(text_model)
        path = Path(run_dir) / METRICS_FILE
        report = {}
        if path.is_file():
            report = json.loads(path.read_text(encoding="utf-8")).get("stages", {}).get(stage, {})
        return cls.from_parts(tokenizer, core, label_names=config["dataset"]["label_names"],
                              arch=config["config"]["arch"], head_kind=config["config"]["head"],
                              energy_range=energy_range(config), threshold=report.get("threshold"), stage=stage,
                              dataset=config["dataset"]["name"], arch_config=config.get("arch_config"),
                              metrics=summary_metrics(report))

    # ----------------------------------------------------------------------------------------------
    # Presets

    def save_to_preset(self, preset_dir, max_shard_size=10):
        """Save to a keras-hub preset folder: keras-hub's own files (task.json, task.weights.h5, config.json,
        model.weights.h5, metadata.json, preprocessor.json; for BERT tokenizer.json and its vocabulary, which
        keras-hub's `BertBackbone` / `BertTokenizer.from_preset` load), the vectorizer's vocabulary
        (assets/tokenizer/vocabulary.txt) and a model card (README.md) with the stage's metrics.

        Publish it with `keras_hub.upload_preset("hf://user/name", preset_dir)` (or a `kaggle://` handle).
        """
        super().save_to_preset(str(preset_dir), max_shard_size=max_shard_size)
        if isinstance(self.preprocessor, keras.layers.TextVectorization):
            asset_dir = Path(preset_dir) / os.path.dirname(VOCABULARY_ASSET)
            asset_dir.mkdir(parents=True, exist_ok=True)
            self.preprocessor.save_assets(str(asset_dir))
        (Path(preset_dir) / MODEL_CARD).write_text(self.model_card(), encoding="utf-8")

    @classmethod
    def from_preset(cls, preset, load_weights: bool = True, **kwargs) -> "EQNModel":
        """An EQNModel from a preset: a local folder written by `save_to_preset`, or a hub handle keras-hub
        resolves ("hf://user/name", "kaggle://user/model/keras/variant"); files are fetched by keras-hub."""
        preset = str(preset)
        try:
            task_config = compat.preset_json(preset, TASK_CONFIG_FILE)
        except FileNotFoundError:
            raise InputError(f"{preset}: not an eqn-keras preset (no {TASK_CONFIG_FILE}); expected a folder "
                             "written by EQNModel.save_to_preset") from None
        if task_config.get("registered_name") != "eqn_keras>EQNModel":
            raise InputError(f"{preset}: {TASK_CONFIG_FILE} holds a {task_config.get('registered_name')}, not an "
                             "eqn_keras>EQNModel; load it with keras-hub's own from_preset")
        model = compat.load_preset_task(preset, cls, load_weights, **kwargs)
        if isinstance(model.preprocessor, keras.layers.TextVectorization):
            model.preprocessor.load_assets(os.path.dirname(compat.preset_file(preset, VOCABULARY_ASSET)))
        return model

    def model_card(self) -> str:
        """The preset's README.md: what the model is, how to load it, its labels and its metrics."""
        low_high = "none (probabilities)" if self.energy_range is None else \
            f"{self.energy_range[0]:g} to {self.energy_range[1]:g}"
        lines = [
            "---", "library_name: keras-hub", "pipeline_tag: text-classification",
            "tags: [eqn-keras, emotion, multi-label]", "---", "",
            f"# EQN {self.arch} ({self.stage}) on {self.dataset}", "",
            "An Expansion Quantization Network (EQN) model trained with "
            "[eqn-keras](https://pypi.org/project/eqn-keras/): it gives every text an energy score for each "
            "label.", "", "```python", "from eqn_keras import EQNModel", "",
            "model = EQNModel.from_preset(\"PRESET\")  # this folder, or its hf:// or kaggle:// handle",
            "model.predict_frame([\"what a wonderful day\"])", "```", "",
            f"- architecture: {self.arch}, head: {self.head_kind}, stage: {self.stage}",
            f"- dataset: {self.dataset}",
            f"- labels ({len(self.label_names)}): {', '.join(self.label_names)}",
            f"- energy range: {low_high}",
            f"- dev-tuned threshold: {'none' if self.threshold is None else f'{self.threshold:.4g}'}",
        ]
        if self.stage_metrics:
            lines += ["", "## Test-split metrics", "", "| metric | value |", "|---|---|"]
            lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |"
                      for k, v in self.stage_metrics.items()]
        return "\n".join(lines) + "\n"


def summary_metrics(report: dict) -> dict:
    """The scalar metrics of a stage's report (metrics.json) that a model card shows: Table 3 and the summary."""
    from .options import SUMMARY_KEYS

    keys = ("table3_metric", "table3") + tuple(k for k in SUMMARY_KEYS if k != "threshold")
    return {k: report[k] for k in keys if isinstance(report.get(k), (int, float, str)) and report.get(k) is not None}


@dataclass(frozen=True)
class ModelSource:
    """What `Annotator`, `annotate_file` and `eqn-keras annotate --model` take, resolved: an `EQNModel` in memory
    (`kind` "model"), a run directory ("run": holds config.json), or a preset ("preset": a folder holding
    task.json, or a handle keras-hub resolves: hf://..., kaggle://...). `load` gives its EQNModel,
    `identity` what identifies it in a resumed job's record."""

    kind: str
    location: str | None = None  # the run directory or the preset (folder or handle)
    model: EQNModel | None = None

    @classmethod
    def of(cls, model) -> "ModelSource":
        """The source `model` names; an InputError naming it when it is none of them."""
        if isinstance(model, ModelSource):
            return model
        if isinstance(model, EQNModel):
            return cls("model", None, model)
        location = os.fspath(model)
        if "://" in location:
            return cls("preset", location)
        path = Path(location)
        if (path / TASK_CONFIG_FILE).is_file():
            return cls("preset", location)
        if (path / RUN_CONFIG_FILE).is_file():
            return cls("run", location)
        found = "does not exist" if not path.exists() else "is not a folder" if not path.is_dir() else \
            f"has neither {RUN_CONFIG_FILE} nor {TASK_CONFIG_FILE}"
        raise InputError(Param("model", location), f": not a run directory nor a preset ({found}); expected "
                         "the --out of 'eqn-keras train', a folder written by EQNModel.save_to_preset, or a preset "
                         "handle (hf://..., kaggle://...)")

    def __str__(self) -> str:
        return f"EQNModel '{self.model.name}'" if self.kind == "model" else str(self.location)

    def load(self, stage: str | None = None) -> EQNModel:
        """The stage's EQNModel: a run's `stage` (default its last); a preset's or a model's one stage, which
        `stage`, when given, must name."""
        if self.kind == "run":
            return EQNModel.from_run(self.location, stage)
        model = self.model if self.kind == "model" else EQNModel.from_preset(self.location)
        if stage is not None and stage != model.stage:
            raise InputError(f"{self}: holds the model of stage '{model.stage}', not ", Param("stage", stage),
                             "; a preset holds one stage (save the other with save_to_preset)")
        return model

    def missing_threshold(self, stage: str) -> InputError:
        """The error for a stage saved without a dev-tuned threshold, saying where it would have been."""
        where = f"{Path(self.location) / 'metrics.json'}" if self.kind == "run" else str(self)
        why = "an unfinished run?" if self.kind == "run" else "saved without one"
        return InputError(f"{where}: no dev-tuned threshold for stage '{stage}' ({why}); pass a number to ",
                          Param("threshold"))

    def identity(self, model: EQNModel) -> dict:
        """What identifies the scoring model in a resumed job's record: a run's stage file by path, size and
        modification time; a preset by the sha256 of its files, wherever it lies (not of the model card nor of
        metadata.json, which records when it was saved: the same model saved again is the same preset); a model
        in memory by the sha256 of its config, weights and vocabulary."""
        if self.kind == "run":
            path = Path(self.location) / f"{model.stage}.keras"
            stat = path.stat()
            return {"model": str(path.resolve()), "model_size": stat.st_size, "model_mtime_ns": stat.st_mtime_ns}
        if self.kind == "preset":
            folder = Path(compat.preset_file(self.location, TASK_CONFIG_FILE)).parent  # a hub's: the local copy
            location = self.location if "://" in self.location else str(Path(self.location).resolve())
            return {"model": location, "model_sha256": _files_sha256(folder, skip=(MODEL_CARD, PRESET_METADATA))}
        return {"model": str(self), "model_sha256": _model_sha256(model)}


def _files_sha256(folder: Path, skip=()) -> str:
    """sha256 over the relative paths and contents of the files under `folder` (but those named in `skip`); of a
    weights file (.h5), the arrays it holds, by path: not its attributes, which name layers as the process that
    saved them happened to number them."""
    import h5py

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in skip):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        if path.suffix == ".h5":
            with h5py.File(path, "r") as weights:
                arrays = []
                weights.visititems(lambda name, item: arrays.append(name) if isinstance(item, h5py.Dataset) else None)
                for name in sorted(arrays):
                    value = np.asarray(weights[name][()])
                    data = repr(value.tolist()).encode() if value.dtype == object else value.tobytes()
                    digest.update(f"{name}:{value.dtype.str}:{value.shape}".encode() + data)
        else:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _model_sha256(model: EQNModel) -> str:
    """sha256 over a model's config, its weights and its preprocessor's vocabulary."""
    digest = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for weight in model.weights:
        digest.update(weight.path.encode() + np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    preprocessor = model.preprocessor
    if preprocessor is not None:
        vocabulary = getattr(preprocessor, "vocabulary", None)
        if vocabulary is None and hasattr(preprocessor, "get_vocabulary"):
            vocabulary = preprocessor.get_vocabulary()
        digest.update("\n".join(map(str, vocabulary or [])).encode())
    return digest.hexdigest()
