"""BERT through keras-hub: where a checkpoint comes from, its tokenizer as a layer, and the model body.

`--bert-preset` accepts a local Hugging Face BERT checkpoint directory (config.json, model.safetensors,
vocab.txt; keras-hub converts it), a local keras-hub preset directory, an offline encoder fetched with
`eqn-keras encoder get NAME`, or a keras-hub preset name such as `bert_base_en` (downloaded when online).
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path

import keras
import numpy as np
from keras import ops

from .fileio import InputError, Param
from .heads import build_head
from .labels import MAX_VALUE, MIN_VALUE
from .layers import PaddingMask

HF_FILES = ("config.json", "vocab.txt")
# BertTokenIds -> its traced call, kept off the layer: a tf.function attribute would be saved by `export`.
_TRACED = weakref.WeakKeyDictionary()


def _is_hf_checkpoint(path: Path) -> bool:
    return all((path / f).is_file() for f in HF_FILES) and any(path.glob("*.safetensors"))


def _is_keras_hub_preset(path: Path) -> bool:
    if not (path / "config.json").is_file() or not (path / "metadata.json").is_file():
        return False
    return "registered_name" in json.loads((path / "config.json").read_text(encoding="utf-8"))


def resolve_preset(preset: str) -> str:
    """A directory or keras-hub preset name that `from_preset` can load, or an InputError saying what was looked for."""
    import keras_hub

    from .encoders import ENCODERS, resolve_encoder

    path = Path(str(preset)).expanduser()
    if path.is_dir():
        if _is_hf_checkpoint(path) or _is_keras_hub_preset(path):
            return str(path)
        raise InputError(Param("bert_preset", preset), ": directory is not a BERT checkpoint; looked for "
                         "config.json + model.safetensors + vocab.txt (Hugging Face) or config.json + "
                         "metadata.json (keras-hub preset)")
    if preset in ENCODERS:
        fetched = resolve_encoder(preset)
        if fetched is None:
            raise InputError(Param("bert_preset", preset), ": the offline encoder is not fetched yet; "
                             f"run 'eqn-keras encoder get {preset}'")
        return str(fetched)
    if preset in keras_hub.models.BertBackbone.presets:
        return preset
    known = ", ".join(sorted(keras_hub.models.BertBackbone.presets)[:6])
    raise InputError(Param("bert_preset", preset), ": not found; looked for a local directory (Hugging Face or "
                     f"keras-hub checkpoint), an offline encoder ({', '.join(ENCODERS)}), and keras-hub BERT presets ({known}, ...)")


@keras.saving.register_keras_serializable(package="eqn_keras")
class BertTokenIds(keras.layers.Layer):
    """Raw strings -> BERT token ids [B, seq_len] ([CLS] text [SEP], 0-padded), via keras-hub's preprocessor."""

    def __init__(self, preprocessor, **kwargs):
        super().__init__(**kwargs)
        self.preprocessor = preprocessor

    @classmethod
    def from_preset(cls, preset: str, seq_len: int, name: str = "bert_tokenizer") -> "BertTokenIds":
        import keras_hub

        tokenizer = keras_hub.models.BertTokenizer.from_preset(preset)
        # An uncased BERT strips accents too (Hugging Face's BasicTokenizer: strip_accents follows
        # do_lower_case); keras-hub's converter sets only `lowercase`, so "fiancé" would become [UNK].
        # Set before the first call; saved in the model's config, so runs trained before keep their ids.
        tokenizer.strip_accents = tokenizer.lowercase
        return cls(keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=seq_len), name=name)

    @property
    def vocabulary(self):
        return self.preprocessor.tokenizer.get_vocabulary()

    def token_ids(self, texts) -> np.ndarray:
        """Token ids [N, seq_len] (int32) of a list of strings, in one traced call.

        Called eagerly, keras-hub tokenizes in pure Python (about 1,000 texts/s); traced, it runs tf-text's
        WordPiece op, some 60x faster with the same ids (the same on all 123,223 texts of GoEmotions, 3TFN,
        6Emotions and 3TSA with the MiniLM vocabulary).
        """
        import tensorflow as tf

        traced = _TRACED.get(self)
        if traced is None:
            layer = weakref.ref(self)
            traced = tf.function(lambda text: layer()(text), input_signature=[tf.TensorSpec([None], tf.string)])
            _TRACED[self] = traced
        return np.asarray(traced(tf.constant(list(texts), dtype=tf.string)), dtype=np.int32)

    def save_to_preset(self, preset_dir):
        """keras-hub's own preprocessor and tokenizer files (preprocessor.json, tokenizer.json, the vocabulary):
        what `EQNModel.save_to_preset` writes for BERT, loadable by keras-hub's `BertTokenizer.from_preset`."""
        self.preprocessor.save_to_preset(preset_dir)

    def load_preset_assets(self, preset):
        """The vocabulary from a preset (keras-hub's loader calls this after building the model)."""
        self.preprocessor.load_preset_assets(preset)

    def build(self, input_shape=None):
        self.built = True  # the preprocessor holds only its vocabulary, loaded with the model's assets

    def call(self, text):
        return ops.cast(self.preprocessor(text)["token_ids"], "int32")

    def compute_output_spec(self, text):
        # Declared, not traced: while a saved model is rebuilt the vocabulary is not loaded yet.
        return keras.KerasTensor((text.shape[0], self.preprocessor.sequence_length), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "preprocessor": keras.saving.serialize_keras_object(self.preprocessor)}

    @classmethod
    def from_config(cls, config):
        config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="eqn_keras")
class ZerosLike(keras.layers.Layer):
    """Segment ids for single-sentence input: zeros shaped like the token ids."""

    def call(self, token_ids):
        return ops.zeros_like(token_ids)


def build_bert_model(num_labels: int, head: str, cfg: dict, preset: str,
                     energy_range: tuple = (MIN_VALUE, MAX_VALUE)) -> keras.Model:
    """Token ids -> keras-hub BertBackbone -> pooled output -> dropout -> the shared head."""
    import keras_hub

    backbone = keras_hub.models.BertBackbone.from_preset(preset)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = PaddingMask(name="padding_mask", dtype="int32")(token_ids)
    segment_ids = ZerosLike(name="segment_ids")(token_ids)
    pooled = backbone({"token_ids": token_ids, "padding_mask": padding_mask, "segment_ids": segment_ids})["pooled_output"]
    x = keras.layers.Dropout(cfg["dropout"], name="dropout")(pooled)
    scores = build_head(head, num_labels, cfg["head_units"], max_value=energy_range[1], min_value=energy_range[0],
                        unit_scale=cfg.get("unit_scale", False))(x)
    return keras.Model(token_ids, scores, name=f"bert_{head}")
