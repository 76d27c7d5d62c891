"""The choices the library and the command line offer (architectures, heads, precisions, ...), as plain data.

Importable without TensorFlow, so `eqn-keras --help` and a mistyped option answer at once instead of after the
seconds a TensorFlow import takes; the modules that act on a choice import it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

TOKEN_ARCHS = ("ann", "cnn", "lstm", "textcnn")  # TextVectorization-tokenized Keras models
ARCHS = TOKEN_ARCHS + ("bert",)


@dataclass(frozen=True)
class HeadSpec:
    """How a head ends, what it is trained with, and how full labels become its targets."""

    activation: str
    loss: str
    needs_single_label: bool = False
    energy: bool = False  # trains on full / regressed energy labels, so it has CoEQN and EQN stages


HEADS = {
    "eqn": HeadSpec(activation="linear", loss="mean_squared_error", energy=True),
    "single": HeadSpec(activation="softmax", loss="categorical_crossentropy", needs_single_label=True),
    "multi": HeadSpec(activation="sigmoid", loss="binary_crossentropy"),
    "eqn_bce": HeadSpec(activation="sigmoid", loss="energy_bce", energy=True),
}

PATIENCE = 2  # epochs without a lower dev loss before early stopping ends a stage (eqn-keras train --patience)
JIT_MODES = ("auto", "on", "off")
# On CPU, XLA compiles the BERT forward pass once per batch shape (widths padded to multiples of 8), then scores
# faster: benchmarks/bert_speed.md's cli table has XLA losing on 5,427 texts and winning on 43,410.
XLA_MIN_ROWS = 10_000
INFERENCE_PRECISIONS = ("auto", "float32", "bfloat16")
BAD_ROW_POLICIES = ("error", "skip")  # what annotating does with a row it cannot read
