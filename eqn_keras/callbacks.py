"""Callbacks that make a stage's fit resumable and its curves visible.

Keras `BackupAndRestore` brings back the weights, the optimizer and the epoch after an interruption; it
does not bring back the random state, the callbacks' memory (best loss, patience) or the history. The
callbacks here supply those, so a fit killed after any epoch and rerun ends where an uninterrupted one
would: `EpochRandomness` makes each epoch's batch order and dropout masks a function of (seed, epoch),
`ResumeState` replays the logged epochs into `ModelCheckpoint` and `EarlyStopping`.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import keras
import numpy as np

BACKUP_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore
_COUNTER_STRIDE = 1 << 20  # random draws per epoch and seed generator, far above any epoch's step count


class EpochRandomness(keras.callbacks.Callback):
    """Batches and dropout masks as a function of (seed, epoch), whatever epoch a fit starts at.

    The training sequence's stream starts at the fit's first epoch; at each epoch's start every dropout seed
    restarts from (its seed, epoch). `BackupAndRestore` does not save seed-generator states.
    """

    def __init__(self, sequence):
        super().__init__()
        self.sequence = sequence
        self._started = False

    def on_train_begin(self, logs=None):
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:  # before Keras makes the epoch iterator: the stream starts at this epoch
            self.sequence.set_epoch(epoch)
            self._started = True
        for variable in self.model.variables:
            if variable.path.endswith("seed_generator_state"):
                state = variable.numpy()  # not ops.convert_to_numpy: np.array(tf.Variable) warns under NumPy 2
                variable.assign(np.array([state[0], epoch * _COUNTER_STRIDE], dtype=state.dtype))


class DevMetric(keras.callbacks.Callback):
    """Adds a dev-split metric to each epoch's logs as `val_<name>` (e.g. val_accuracy, val_hit_rate)."""

    def __init__(self, name: str, compute):
        super().__init__()
        self.name, self.compute = name, compute

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[f"val_{self.name}"] = float(self.compute(self.model))


def read_history(path) -> dict:
    """The CSVLogger file as {key: [value per epoch]}, one entry per epoch (a re-run epoch keeps its last row)."""
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        rows = {int(row["epoch"]): row for row in csv.DictReader(handle)}
    history = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            if key != "epoch":
                history.setdefault(key, []).append(float(value) if value not in ("", "NA") else math.nan)
    return history


class ResumeState(keras.callbacks.Callback):
    """After `BackupAndRestore` has restored epoch k: keep the CSV log's first k epochs and replay them.

    Must come after `BackupAndRestore`, `EarlyStopping` and `CSVLogger` in the callback list.
    """

    def __init__(self, backup_dir, log_path, checkpoint, early_stopping):
        super().__init__()
        self.backup_dir, self.log_path = Path(backup_dir), Path(log_path)
        self.checkpoint, self.early_stopping = checkpoint, early_stopping

    def on_train_begin(self, logs=None):
        meta = self.backup_dir / BACKUP_METADATA
        epochs = json.loads(meta.read_text())["epoch"] if meta.is_file() else 0
        if not self.log_path.is_file():
            return
        with self.log_path.open(newline="") as handle:
            lines = handle.read().splitlines(keepends=True)
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) < epochs]
        # The CSVLogger holds this file open for appending: truncate in place rather than replace it.
        with self.log_path.open("r+", newline="") as handle:
            handle.write("".join(kept))
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
        history = read_history(self.log_path)
        for epoch, val_loss in enumerate(history.get("val_loss", [])):
            logs_then = {key: values[epoch] for key, values in history.items()}
            if self.checkpoint.best is None or val_loss < self.checkpoint.best:
                self.checkpoint.best = val_loss
            self.early_stopping.on_epoch_end(epoch, logs_then)
