"""Tokenization and the `FullLabelSequence` batch generator.

Texts are tokenized once by a Keras `TextVectorization` adapted on the training texts; batches are then
sliced from the token matrix, padded only as far as their longest text (at most `seq_len`), so stage 2
can swap in regressed targets without re-tokenizing.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from .options import SEQ_LEN  # noqa: F401  (tokens per text)

_PUNCTUATION = r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']'
# Every Unicode space, line or paragraph separator and control character: a token holding one of them
# would be split in two when the vocabulary is saved one token per line.
_SEPARATORS = r"[\p{Z}\p{Cc}]+"


@keras.saving.register_keras_serializable(package="eqn_keras")
def standardize(text):
    """Unicode lower-case, strip ASCII punctuation, turn every kind of space or control char into ' '."""
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _PUNCTUATION, "")
    return tf.strings.regex_replace(text, _SEPARATORS, " ")


def make_vectorizer(texts, vocab_size: int, seq_len: int = SEQ_LEN) -> keras.layers.TextVectorization:
    """A TextVectorization (see `standardize`, then split on spaces) adapted on `texts`."""
    vectorizer = keras.layers.TextVectorization(
        max_tokens=vocab_size, standardize=standardize, output_mode="int", output_sequence_length=seq_len,
        name="vectorizer",
    )
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(list(texts)).batch(2048))
    return vectorizer


def sequence_length(vectorizer) -> int | None:
    """The token ids per text a tokenizer layer gives: a TextVectorization's output_sequence_length, a
    `BertTokenIds`' preprocessor's sequence_length (None when it has neither)."""
    length = vectorizer.get_config().get("output_sequence_length")
    return length or getattr(getattr(vectorizer, "preprocessor", None), "sequence_length", None)


def tokenize(vectorizer, texts, batch_size: int = 4096) -> np.ndarray:
    """Token ids [N, seq_len] (int32, 0 = padding at the end); through `vectorizer.token_ids` where it has one
    (`BertTokenIds`: keras-hub's fast path), else by calling the layer."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, sequence_length(vectorizer) or SEQ_LEN), dtype=np.int32)
    call = getattr(vectorizer, "token_ids", None) or (lambda batch: vectorizer(tf.constant(batch)))
    chunks = [np.asarray(call(texts[i:i + batch_size]), dtype=np.int32) for i in range(0, len(texts), batch_size)]
    return np.concatenate(chunks)


class FullLabelSequence(keras.utils.PyDataset):
    """Batches of (token ids, targets); each batch padded to its longest text, rounded up to `pad_multiple`.

    `targets=None` yields token ids only (for predict). `with_targets` returns a sequence over the same
    token matrix with new targets (e.g. regressed labels), without tokenizing again. With `shuffle`,
    texts are grouped into batches of similar length (random within a length bucket) and the batch order
    is shuffled every epoch; an epoch's batches are a function of (seed, epoch) only. `sort_by_length`
    batches shortest-first for inference.

    With `stream=True` (what `train` uses) the sequence is endless for Keras (`num_batches` is None, so
    `fit` needs `steps_per_epoch=len(seq)`): item i is batch i % len of epoch `epoch + i // len`. Keras
    makes the next epoch's iterator, and tf.data starts prefetching it, before `on_epoch_end` runs, so a
    finite sequence reshuffled there can serve some of epoch e's batches in epoch e + 1; a stream cannot,
    and a resumed fit starts it at its first epoch (`set_epoch`).
    """

    def __init__(self, token_ids, targets=None, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 pad_multiple: int = 8, sort_by_length: bool = False, stream: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.token_ids = np.asarray(token_ids, dtype=np.int32)
        self.lengths = (self.token_ids != 0).sum(axis=1)
        if targets is not None:
            targets = np.asarray(targets, dtype=np.float32)
            if len(targets) != len(self.token_ids):
                raise ValueError(f"{len(targets)} target rows for {len(self.token_ids)} texts")
        self.targets = targets
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.shuffle = shuffle
        self.seed = seed
        self.pad_multiple = max(1, int(pad_multiple))
        self.sort_by_length = sort_by_length
        self.stream = stream
        self.epoch = 0  # the epoch that item 0 belongs to
        self._epoch_batches = (None, None)
        self._kwargs = kwargs
        self._make_batches()

    @classmethod
    def from_texts(cls, texts, vectorizer, targets=None, **kwargs) -> "FullLabelSequence":
        return cls(tokenize(vectorizer, texts), targets, **kwargs)

    def batch_width(self, rows) -> int:
        """The padded width of the batch of `rows`: its longest text rounded up to `pad_multiple` tokens."""
        longest = max(int(self.lengths[rows].max()), 1)
        return min(self.token_ids.shape[1], math.ceil(longest / self.pad_multiple) * self.pad_multiple)

    def _make_batches(self, epoch: int = 0):
        n = len(self.token_ids)
        if self.sort_by_length:
            order = np.argsort(self.lengths, kind="stable")
        elif self.shuffle:
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(n)
            buckets = np.ceil(self.lengths[order] / self.pad_multiple)
            order = order[np.argsort(buckets, kind="stable")]
        else:
            order = np.arange(n)
        batches = [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.shuffle and not self.sort_by_length:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        if len(batches) > 1:
            # Keras infers the input signature from the first few batches: leading with the widest and
            # the narrowest batch makes it see a variable width whenever widths vary at all.
            widths = [self.batch_width(b) for b in batches]
            widest = int(np.argmax(widths))
            batches.insert(0, batches.pop(widest))
            widths.insert(0, widths.pop(widest))
            narrowest = 1 + int(np.argmin(widths[1:]))
            batches.insert(1, batches.pop(narrowest))
        self.batches = batches
        self.order = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
        self._epoch_batches = (epoch, batches)

    def with_targets(self, targets, **overrides) -> "FullLabelSequence":
        params = dict(batch_size=self.batch_size, shuffle=self.shuffle, seed=self.seed,
                      pad_multiple=self.pad_multiple, sort_by_length=self.sort_by_length, stream=self.stream,
                      **self._kwargs)
        params.update(overrides)
        return FullLabelSequence(self.token_ids, targets, **params)

    def __len__(self):
        return len(self.batches)

    @property
    def num_batches(self):
        return None if self.stream else len(self.batches)

    def set_epoch(self, epoch: int):
        """Make item 0 the first batch of that (0-based) epoch: where a resumed fit starts."""
        self.epoch = int(epoch)

    def on_epoch_end(self):
        if not self.stream:  # a stream knows its epoch from the item index
            self.epoch += 1

    def epoch_batches(self, epoch: int) -> list:
        """The batches (row indices) of one epoch."""
        if self._epoch_batches[0] != epoch:
            self._make_batches(epoch)
        return self._epoch_batches[1]

    def __getitem__(self, index):
        if self.shuffle and not self.sort_by_length:
            epoch, index = divmod(int(index), len(self.batches)) if self.stream else (0, int(index))
            rows = self.epoch_batches(self.epoch + epoch)[index]
        else:
            rows = self.batches[index]
        x = self.token_ids[rows, :self.batch_width(rows)]
        if self.targets is None:
            return (x,)
        return x, self.targets[rows]

    def restore_order(self, predictions):
        """Put predictions made over this sequence's batches back into row order."""
        out = np.empty_like(predictions)
        out[self.order] = predictions
        return out
