"""`eqn-keras train` killed with SIGKILL in each stage, rerun with the same --out: the uninterrupted run's results."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import killable_train_args
from eqn_keras.cli import main


def _command(data, out):
    return [sys.executable, "-m", "eqn_keras.cli", *killable_train_args(data, out)]


def _ready(out, wait):
    """`wait` is FILE or FILE@EPOCH: the file exists (and, for a BackupAndRestore record, has reached that epoch)."""
    name, _, epoch = wait.partition("@")
    path = out / name
    if not path.is_file():
        return False
    if not epoch:
        return True
    try:
        return json.loads(path.read_text())["epoch"] >= int(epoch)
    except (ValueError, KeyError):
        return False  # being written


def _kill_when(data, out, wait, timeout=300):
    proc = subprocess.Popen(_command(data, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not _ready(out, wait) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before {wait}: nothing was interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists()


def _stage_reports(out):
    metrics = json.loads((out / "metrics.json").read_text())
    drop = {"wall_s", "model_sha256"}  # time taken, and the zip timestamp inside the .keras file
    return {stage: {k: v for k, v in rep.items() if k not in drop} for stage, rep in metrics["stages"].items()}


def _assert_same_run(expected, resumed):
    assert _stage_reports(resumed) == _stage_reports(expected)
    for stage in ("coeqn", "eqn"):
        a, b = np.load(expected / f"scores_{stage}.npz"), np.load(resumed / f"scores_{stage}.npz")
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{stage} {key}")
        assert (expected / f"test_annotated_{stage}.csv").read_bytes() == (resumed / f"test_annotated_{stage}.csv").read_bytes()
    assert (expected / "regressed_train.csv").read_bytes() == (resumed / "regressed_train.csv").read_bytes()


@pytest.fixture(scope="module")
def uninterrupted(killable_train_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "reference"
    subprocess.run(_command(killable_train_data, out), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = json.loads((out / "metrics.json").read_text())["stages"]["coeqn"]["history"]
    assert len(history["loss"]) >= 3, "the reference must train several epochs for the kills to land inside a fit"
    return out


def test_killed_in_every_stage_resumes_to_the_same_run(killable_train_data, uninterrupted, tmp_path, capsys):
    """Killed after CoEQN's first epoch, during label regression and after EQN's first epoch, then rerun: the
    uninterrupted run's files. On the way, a rerun with another seed is refused, and a regressed-labels cache
    that does not name coeqn.keras's digest is not reused (its labels are zeros: reused, EQN would differ)."""
    out = tmp_path / "run"
    _kill_when(killable_train_data, out, "backup/coeqn/training_metadata.json@1")  # stage 1, after its first epoch
    args = _command(killable_train_data, out)[3:]
    args[args.index("--seed") + 1] = "8"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds an unfinished run with seed=7, this one has 8" in err and len(err.strip().splitlines()) == 1
    _kill_when(killable_train_data, out, "report_coeqn.json")                      # stage 1 done: during label regression
    _kill_when(killable_train_data, out, "backup/eqn/training_metadata.json@1")    # stage 2, after its first epoch
    cache = out / "regressed_coeqn.npz"
    with np.load(cache) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(cache, **{**arrays, "model_sha256": "0" * 64, "train": np.zeros_like(arrays["train"]),
                       "dev": np.zeros_like(arrays["dev"])})
    done = subprocess.run(_command(killable_train_data, out), capture_output=True, text=True, check=True)
    assert "resuming the unfinished run" in done.stdout
    assert "stage coeqn: finished before the interruption, reused" in done.stdout
    _assert_same_run(uninterrupted, out)
    config = json.loads((out / "config.json").read_text())
    assert len(config["resumed"]) == 3
    assert not (out / "backup" / "eqn").exists()
