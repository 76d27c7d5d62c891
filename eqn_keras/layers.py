"""Small padding-aware layers, so a text's score does not depend on how much padding follows it."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="eqn_keras")
class PaddingMask(keras.layers.Layer):
    """Token ids [B, L] -> float mask [B, L]: 1 for real tokens, 0 for padding (id 0)."""

    def call(self, token_ids):
        return ops.cast(ops.not_equal(token_ids, 0), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="eqn_keras")
class ApplyMask(keras.layers.Layer):
    """Zero the padded time steps of a [B, L, D] sequence (equivalent to zero padding for convs)."""

    def call(self, inputs):
        values, mask = inputs
        return values * ops.cast(ops.expand_dims(mask, -1), values.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="eqn_keras")
class MaskedMean(keras.layers.Layer):
    """Average of a [B, L, D] sequence over its real tokens only."""

    def call(self, inputs):
        values, mask = inputs
        mask = ops.cast(ops.expand_dims(mask, -1), values.dtype)
        total = ops.sum(values * mask, axis=1)
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, input_shape):
        shape = input_shape[0]
        return (shape[0], shape[2])


@keras.saving.register_keras_serializable(package="eqn_keras")
class PoolMask(keras.layers.Layer):
    """Down-sample a [B, L] mask like right zero-padding by pool-1 then MaxPooling1D(pool, 'valid')."""

    def __init__(self, pool_size: int, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pool_size

    def call(self, padding_mask):
        padded = ops.pad(ops.expand_dims(padding_mask, -1), [[0, 0], [0, self.pool_size - 1], [0, 0]])
        pooled = ops.max_pool(padded, self.pool_size, self.pool_size, padding="valid")
        return ops.squeeze(pooled, -1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else -(-input_shape[1] // self.pool_size)
        return (input_shape[0], length)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}
