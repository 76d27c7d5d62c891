"""Callbacks that make a stage's fit resumable and its curves visible.

Keras `BackupAndRestore` brings back the weights, the optimizer and the epoch after an interruption; it
does not bring back the random state, the callbacks' memory (best loss, patience) or the history. The
callbacks here supply those, so a fit killed after any epoch and rerun ends where an uninterrupted one
would: `EpochRandomness` makes each epoch's batch order and dropout masks a function of (seed, epoch),
`ResumeState` replays the logged epochs into `ModelCheckpoint` and `EarlyStopping`. `EpochLog` keeps the
epoch log (CSVLogger's layout) whole: it is rewritten atomically after each epoch, and every read checks it.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import keras

from .compat import BACKUP_METADATA, BACKUP_WEIGHTS, seed_states, set_seed_counter
from .fileio import InputError, atomic_write

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
        for variable in seed_states(self.model):
            set_seed_counter(variable, epoch * _COUNTER_STRIDE)


class DevMetric(keras.callbacks.Callback):
    """Adds a dev-split metric to each epoch's logs as `val_<name>` (e.g. val_accuracy, val_hit_rate)."""

    def __init__(self, name: str, compute):
        super().__init__()
        self.name, self.compute = name, compute

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[f"val_{self.name}"] = float(self.compute(self.model))


def read_epoch_log(path, remedy: str = "delete it") -> tuple:
    """(columns, rows) of an epoch log, each row [epoch, values...] as text; ([], []) when there is none.

    A log that is not one (a second header, a cut row, a value that is not a number) is an InputError naming
    the file and line, ending with `remedy`: what the user deletes to go on.
    """
    path = Path(path)
    if not path.is_file():
        return [], []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            records = list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as err:
        raise InputError(f"{path}: not a readable epoch log ({err}); {remedy}") from None
    if not records:
        return [], []
    columns = records[0]
    if columns[:1] != ["epoch"] or len(set(columns)) != len(columns):
        raise InputError(f"{path}:1: expected a header 'epoch,<metric>,...', found {','.join(columns)[:60]!r}; {remedy}")
    for line, row in enumerate(records[1:], 2):
        problem = None
        if len(row) != len(columns):
            problem = f"{len(row)} fields, expected {len(columns)}"
        elif not row[0].isdigit():
            problem = f"epoch {row[0][:30]!r} is not a number"
        else:
            for value in row[1:]:
                try:
                    float(value) if value not in ("", "NA") else None
                except ValueError:
                    problem = f"value {value[:30]!r} is not a number"
                    break
        if problem:
            raise InputError(f"{path}:{line}: {problem} (a corrupt epoch log); {remedy}")
    return columns, records[1:]


def write_epoch_log(path, columns, rows) -> None:
    """The epoch log replaced as a whole (a temporary file renamed over it): never half-written."""
    with atomic_write(path) as handle:
        writer = csv.writer(handle)  # the excel dialect, as keras.callbacks.CSVLogger writes
        writer.writerow(columns)
        writer.writerows(rows)


def read_history(path, remedy: str = "delete it") -> dict:
    """The epoch log as {key: [value per epoch]}, one entry per epoch (a re-run epoch keeps its last row)."""
    columns, records = read_epoch_log(path, remedy)
    rows = {int(row[0]): row for row in records}
    history = {}
    for epoch in sorted(rows):
        for key, value in zip(columns[1:], rows[epoch][1:]):
            history.setdefault(key, []).append(float(value) if value not in ("", "NA") else math.nan)
    return history


def _record_epoch(meta: Path):
    """The epoch in a `BackupAndRestore` record, or None when the file is cut or not a record."""
    try:
        epoch = json.loads(meta.read_text(encoding="utf-8"))["epoch"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    return epoch if isinstance(epoch, int) and epoch >= 0 else None


def backup_epoch(backup_dir, remedy: str = "delete it") -> int:
    """The epochs `BackupAndRestore` has saved under `backup_dir` (0 when none).

    Keras writes its record in place, after the weights: a job stopped between the two (a full disk, a signal)
    leaves it cut. With `double_checkpoint` the previous epoch's pair (`*.bkp`) is still whole: it is put back,
    as Keras itself does when the weights cannot be read, and the stage resumes from that epoch. A corrupt
    record without a whole previous pair is an InputError ending with `remedy`.
    """
    meta = Path(backup_dir) / BACKUP_METADATA
    if not meta.is_file():
        return 0
    epoch = _record_epoch(meta)
    if epoch is not None:
        return epoch
    weights = Path(backup_dir) / BACKUP_WEIGHTS
    previous_meta, previous_weights = (Path(f"{p}.bkp") for p in (meta, weights))
    previous = _record_epoch(previous_meta) if previous_meta.is_file() and previous_weights.is_file() else None
    if previous is None:
        raise InputError(f"{meta}: not a readable backup record (corrupt); {remedy}")
    shutil.copyfile(previous_weights, weights)
    shutil.copyfile(previous_meta, meta)
    return previous


class EpochLog(keras.callbacks.Callback):
    """`keras.callbacks.CSVLogger`'s file (epoch, then the logs' keys sorted), rewritten whole after each epoch.

    CSVLogger appends to an open file: two writers interleave their rows and a full disk cuts one. Here a
    reader sees the old log or the new one, and a row of an epoch run again replaces the earlier one.
    """

    def __init__(self, path, remedy: str = "delete it"):
        super().__init__()
        self.path, self.remedy = Path(path), remedy

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        columns, rows = read_epoch_log(self.path, self.remedy)
        columns = columns or ["epoch", *sorted(logs)]
        rows = [row for row in rows if int(row[0]) < epoch]
        rows.append([epoch, *(logs.get(key, "NA") for key in columns[1:])])
        write_epoch_log(self.path, columns, rows)


class ResumeState(keras.callbacks.Callback):
    """After `BackupAndRestore` has restored epoch k: keep the epoch log's first k epochs and replay them.

    Must come after `BackupAndRestore`, `EarlyStopping` and `EpochLog` in the callback list. `remedy`: what
    an error about a corrupt resume file tells the user to delete.
    """

    def __init__(self, backup_dir, log_path, checkpoint, early_stopping, remedy: str = "delete it"):
        super().__init__()
        self.backup_dir, self.log_path = Path(backup_dir), Path(log_path)
        self.checkpoint, self.early_stopping = checkpoint, early_stopping
        self.remedy = remedy

    def on_train_begin(self, logs=None):
        epochs = backup_epoch(self.backup_dir, self.remedy)
        columns, rows = read_epoch_log(self.log_path, self.remedy)
        kept = [row for row in rows if int(row[0]) < epochs]
        if kept != rows:
            write_epoch_log(self.log_path, columns, kept)
        history = read_history(self.log_path, self.remedy)
        for epoch, val_loss in enumerate(history.get("val_loss", [])):
            logs_then = {key: values[epoch] for key, values in history.items()}
            if self.checkpoint.best is None or val_loss < self.checkpoint.best:
                self.checkpoint.best = val_loss
            self.early_stopping.on_epoch_end(epoch, logs_then)
