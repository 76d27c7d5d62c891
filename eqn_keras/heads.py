"""Output heads: the shared EQN head (Dense + linear C units, MSE) and the conventional baselines.

Every builder ends in `build_head(kind, C)`, so the paper's Table 3 comparison (S / M vs EQN) is one
flag: `eqn` regresses energy scores, `single` is softmax + cross-entropy, `multi` is sigmoid + binary
cross-entropy. `eqn_bce` (not in the paper) is an energy head trained like `multi`: sigmoid scaled to
the energy range, binary cross-entropy on targets rescaled to 0-1, so regressed labels become soft targets.
"""

from __future__ import annotations

import keras
import numpy as np

from .compat import attach_logits, logits_of
from .labels import MAX_VALUE, MIN_VALUE
from .options import HEADS, HeadSpec


@keras.saving.register_keras_serializable(package="eqn_keras")
class EnergySigmoid(keras.layers.Layer):
    """min + (max - min) * sigmoid(logits): energies from logits, which it keeps for a stable `EnergyBCE`."""

    def __init__(self, max_value: float = MAX_VALUE, min_value: float = MIN_VALUE, **kwargs):
        super().__init__(**kwargs)
        self.max_value, self.min_value = float(max_value), float(min_value)

    def call(self, logits):
        energies = self.min_value + (self.max_value - self.min_value) * keras.ops.sigmoid(logits)
        # as Keras's own sigmoid does, so the loss can use the logits (no clipped log of a saturated sigmoid);
        # eager tensors take no attributes: the loss then falls back to probabilities
        attach_logits(energies, logits)
        return energies

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "min_value": self.min_value}


@keras.saving.register_keras_serializable(package="eqn_keras")
class EnergyBCE(keras.losses.Loss):
    """Binary cross-entropy between energies rescaled to 0-1: soft targets for the `eqn_bce` head."""

    def __init__(self, max_value: float = MAX_VALUE, min_value: float = MIN_VALUE, name="energy_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.max_value, self.min_value = float(max_value), float(min_value)

    def call(self, y_true, y_pred):
        span = self.max_value - self.min_value
        target = (y_true - self.min_value) / span
        logits = logits_of(y_pred)
        if logits is not None:
            return keras.losses.binary_crossentropy(target, logits, from_logits=True)
        return keras.losses.binary_crossentropy(target, (y_pred - self.min_value) / span)

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "min_value": self.min_value}


def head_loss(kind: str, max_value: float = MAX_VALUE, min_value: float = MIN_VALUE):
    """The loss to compile a head with."""
    loss = head_spec(kind).loss
    return EnergyBCE(max_value, min_value) if loss == "energy_bce" else loss


def head_spec(kind: str) -> HeadSpec:
    if kind not in HEADS:
        raise ValueError(f"unknown head '{kind}'; expected one of {', '.join(HEADS)}")
    return HEADS[kind]


FLOAT32_LAYERS = ("scores", "energy")  # the head's output layers: float32 under any mixed-precision policy


def eqn_head(num_labels: int, hidden_units: int = 128, hidden_activation: str = "relu",
             name: str = "eqn_head", output_activation: str = "linear",
             energy_range: tuple | None = None, unit_scale: bool = False) -> keras.Sequential:
    """The paper's output component: a fully connected Dense layer, then a linear layer of C units.

    `energy_range` (min, max) rescales a 0-1 output activation to energies (the `eqn_bce` head). With
    `unit_scale` the linear layer works on a 0-1 scale and a fixed `Rescaling` maps it to the range:
    same outputs and MSE targets, but under Adam (steps of about the learning rate whatever the gradient)
    its weights need not grow 10x larger than a softmax head's, which at BERT's 5e-5 takes thousands of steps.
    """
    if energy_range is not None and output_activation != "sigmoid" and not unit_scale:
        raise ValueError(f"energy_range scales a sigmoid output, not '{output_activation}'")
    if unit_scale and (energy_range is None or output_activation != "linear"):
        raise ValueError("unit_scale needs a linear output and an energy_range")
    sigmoid = energy_range is not None and not unit_scale
    layers = [
        keras.layers.Dense(hidden_units, activation=hidden_activation, name="dense"),
        # float32 output keeps energies exact under mixed precision.
        keras.layers.Dense(num_labels, activation="linear" if sigmoid else output_activation,
                           name=FLOAT32_LAYERS[0], dtype="float32"),
    ]
    if sigmoid:
        low, high = energy_range
        layers.append(EnergySigmoid(high, low, name=FLOAT32_LAYERS[1], dtype="float32"))
    elif unit_scale:
        low, high = energy_range
        layers.append(keras.layers.Rescaling(high - low, offset=low, name=FLOAT32_LAYERS[1], dtype="float32"))
    return keras.Sequential(layers, name=name)


def build_head(kind: str, num_labels: int, hidden_units: int = 128, hidden_activation: str = "relu",
               max_value: float = MAX_VALUE, min_value: float = MIN_VALUE,
               unit_scale: bool = False) -> keras.Sequential:
    """The same Dense block for every head kind; only the last activation (and energy scaling) differs.

    `unit_scale` (see `eqn_head`) applies to the linear `eqn` head; the others are on a 0-1 scale already.
    """
    spec = head_spec(kind)
    scaled = spec.energy and spec.activation != "linear"
    unit = unit_scale and spec.activation == "linear" and spec.energy
    return eqn_head(num_labels, hidden_units, hidden_activation, name=f"{kind}_head",
                    output_activation=spec.activation,
                    energy_range=(min_value, max_value) if (scaled or unit) else None, unit_scale=unit)


def prior_bias(kind: str, targets, max_value: float = MAX_VALUE, min_value: float = MIN_VALUE,
               unit_scale: bool = False) -> np.ndarray:
    """Output-layer bias that makes an untrained head predict the training targets' per-label mean.

    The head then starts at the label prior instead of spending its first steps finding it: linear `eqn`
    the mean energy (on the 0-1 scale with `unit_scale`), sigmoid heads logit(mean), softmax log(mean).
    `targets` are the head's own training targets (`head_targets`).
    """
    spec = head_spec(kind)
    mean = np.asarray(targets, dtype=np.float64).mean(axis=0)
    if spec.activation == "linear":
        return (mean - min_value) / (max_value - min_value) if unit_scale else mean
    span = max_value - min_value if spec.energy else 1.0
    low = min_value if spec.energy else 0.0
    p = np.clip((mean - low) / span, 1e-4, 1 - 1e-4)
    if spec.activation == "softmax":
        return np.log(p)
    return np.log(p / (1 - p))


def head_targets(kind: str, full_labels, max_value: float) -> np.ndarray:
    """Training targets for a head from full-label rows: energies for EQN, 0/1 for the baselines."""
    full_labels = np.asarray(full_labels, dtype=np.float32)
    if head_spec(kind).energy:
        return full_labels
    return (full_labels >= max_value).astype(np.float32)
