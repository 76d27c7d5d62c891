"""Output heads: the shared EQN head (Dense + linear C units, MSE) and the conventional baselines.

Every builder ends in `build_head(kind, C)`, so the paper's Table 3 comparison (S / M vs EQN) is one
flag: `eqn` regresses energy scores, `single` is softmax + cross-entropy, `multi` is sigmoid + binary
cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


@dataclass(frozen=True)
class HeadSpec:
    """How a head ends, what it is trained with, and how full labels become its targets."""

    activation: str
    loss: str
    needs_single_label: bool = False


HEADS = {
    "eqn": HeadSpec(activation="linear", loss="mean_squared_error"),
    "single": HeadSpec(activation="softmax", loss="categorical_crossentropy", needs_single_label=True),
    "multi": HeadSpec(activation="sigmoid", loss="binary_crossentropy"),
}


def head_spec(kind: str) -> HeadSpec:
    if kind not in HEADS:
        raise ValueError(f"unknown head '{kind}'; expected one of {', '.join(HEADS)}")
    return HEADS[kind]


def eqn_head(num_labels: int, hidden_units: int = 128, hidden_activation: str = "relu",
             name: str = "eqn_head", output_activation: str = "linear") -> keras.Sequential:
    """The paper's output component: a fully connected Dense layer, then a linear layer of C units."""
    return keras.Sequential(
        [
            keras.layers.Dense(hidden_units, activation=hidden_activation, name="dense"),
            # float32 output keeps energies exact under mixed precision.
            keras.layers.Dense(num_labels, activation=output_activation, name="scores", dtype="float32"),
        ],
        name=name,
    )


def build_head(kind: str, num_labels: int, hidden_units: int = 128,
               hidden_activation: str = "relu") -> keras.Sequential:
    """The same Dense block for every head kind; only the last activation differs."""
    spec = head_spec(kind)
    return eqn_head(num_labels, hidden_units, hidden_activation, name=f"{kind}_head",
                    output_activation=spec.activation)


def head_targets(kind: str, full_labels, max_value: float) -> np.ndarray:
    """Training targets for a head from full-label rows: energies for EQN, 0/1 for the baselines."""
    full_labels = np.asarray(full_labels, dtype=np.float32)
    if kind == "eqn":
        return full_labels
    head_spec(kind)
    return (full_labels >= max_value).astype(np.float32)
