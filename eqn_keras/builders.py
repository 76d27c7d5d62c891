"""Functional Keras builders for the paper's text models, all ending in the same head.

Parameters live as data in `models/<arch>.json`; a builder takes token ids [B, L] (0 = padding) and
returns a model whose output is [B, C] scores.
"""

from __future__ import annotations

import json

import keras

from .heads import build_head
from .labels import MAX_VALUE, MIN_VALUE
from .layers import ApplyMask, MaskedMean, PaddingMask, PoolMask
from .options import ARCHS, TOKEN_ARCHS
from .presets import find_data_file


def load_arch_config(arch: str) -> dict:
    """The arch's parameters from `models/<arch>.json`."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch '{arch}'; expected one of {', '.join(ARCHS)}")
    return json.loads(find_data_file("models", arch).read_text(encoding="utf-8"))


def _ann(x, mask, cfg):
    x = keras.layers.Embedding(cfg["vocab_size"], cfg["embedding_dim"], name="embedding")(x)
    x = MaskedMean(name="masked_mean")([x, mask])
    for i, units in enumerate(cfg["layers"]):
        x = keras.layers.Dense(units, activation=cfg["activation"], name=f"dense_{i}")(x)
        x = keras.layers.Dropout(cfg["dropout"], name=f"dropout_{i}")(x)
    return x


def _cnn(x, mask, cfg):
    x = keras.layers.Embedding(cfg["vocab_size"], cfg["embedding_dim"], name="embedding")(x)
    x = ApplyMask(name="mask_embedding")([x, mask])
    x = keras.layers.Conv1D(cfg["filters"], cfg["kernel_size"], padding="same",
                            activation=cfg["activation"], name="conv_1")(x)
    x = ApplyMask(name="mask_conv_1")([x, mask])
    # Pad on the right only, so pooling windows start at the first token whatever the batch width.
    x = keras.layers.ZeroPadding1D((0, cfg["pool_size"] - 1), name="pad_1")(x)
    x = keras.layers.MaxPooling1D(cfg["pool_size"], padding="valid", name="pool_1")(x)
    mask = PoolMask(cfg["pool_size"], name="pool_mask")(mask)
    x = keras.layers.Conv1D(cfg["filters"], cfg["kernel_size"], padding="same",
                            activation=cfg["activation"], name="conv_2")(x)
    x = ApplyMask(name="mask_conv_2")([x, mask])
    x = keras.layers.GlobalMaxPooling1D(name="global_max")(x)
    return keras.layers.Dropout(cfg["dropout"], name="dropout")(x)


def _lstm(x, mask, cfg):
    x = keras.layers.Embedding(cfg["vocab_size"], cfg["embedding_dim"], mask_zero=True, name="embedding")(x)
    x = keras.layers.LSTM(cfg["units"], name="lstm")(x)
    return keras.layers.Dropout(cfg["dropout"], name="dropout")(x)


def _textcnn(x, mask, cfg):
    x = keras.layers.Embedding(cfg["vocab_size"], cfg["embedding_dim"], name="embedding")(x)
    x = ApplyMask(name="mask_embedding")([x, mask])
    branches = []
    for k in cfg["kernel_sizes"]:
        b = keras.layers.Conv1D(cfg["filters"], k, padding="same", activation=cfg["activation"], name=f"conv_{k}")(x)
        # ReLU features are >= 0, so zeroing padding before max-pooling is an exact masked max.
        b = ApplyMask(name=f"mask_conv_{k}")([b, mask])
        branches.append(keras.layers.GlobalMaxPooling1D(name=f"max_{k}")(b))
    x = keras.layers.Concatenate(name="concat")(branches)
    return keras.layers.Dropout(cfg["dropout"], name="dropout")(x)


def make_tokenizer(arch: str, cfg: dict, train_texts, seq_len: int, preset: str | None = None):
    """The layer that turns raw strings into token ids for this arch (saved inside the text-in model)."""
    if arch == "bert":
        from .bert import BertTokenIds, resolve_preset

        return BertTokenIds.from_preset(preset or resolve_preset(cfg["preset"]), seq_len)
    from .sequence import make_vectorizer

    return make_vectorizer(train_texts, cfg["vocab_size"], seq_len)


_BODIES = {"ann": _ann, "cnn": _cnn, "lstm": _lstm, "textcnn": _textcnn}


def build_model(arch: str, num_labels: int, head: str = "eqn", config: dict | None = None,
                preset: str | None = None, energy_range: tuple = (MIN_VALUE, MAX_VALUE)) -> keras.Model:
    """Token ids -> arch body -> `build_head(head, C)`; returns an uncompiled functional model.

    `preset` (BERT only) is a resolved checkpoint, see `bert.resolve_preset`.
    """
    cfg = config or load_arch_config(arch)
    if arch == "bert":
        from .bert import build_bert_model, resolve_preset

        return build_bert_model(num_labels, head, cfg, preset or resolve_preset(cfg["preset"]), energy_range)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = PaddingMask(name="padding_mask")(token_ids)
    features = _BODIES[arch](token_ids, mask, cfg)
    low, high = energy_range
    scores = build_head(head, num_labels, cfg["head_units"], max_value=high, min_value=low,
                        unit_scale=cfg.get("unit_scale", False))(features)
    return keras.Model(token_ids, scores, name=f"{arch}_{head}")
