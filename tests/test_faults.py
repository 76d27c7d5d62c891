"""Faults a shared machine brings, done for real: two jobs on one path, a disk that fills, a read-only directory,
a file removed mid-run, SIGKILL and SIGTERM. Each test checks the exit codes, the one-line error, and that the
job's final files equal an undisturbed run's.

Jobs run as `python -m eqn_keras` subprocesses. A job is caught mid-run by polling its progress (annotate) or
its backup record (train), then paused with SIGSTOP while the second job runs, so no test depends on timing.
The full disk is a small tmpfs (root only) and a file size limit (RLIMIT_FSIZE) set on the running job.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import FILLER, WORDS, killable_train_args
from eqn_keras.cli import main

ROOT = Path(__file__).resolve().parent.parent
ROWS = 20_000
CHUNK = 1_000


def _env():
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _start(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "eqn_keras", *map(str, args)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _run(*args, **kwargs):
    proc = _start(*args, **kwargs)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, err


def _error_line(stderr):
    """The one `eqn-keras: error:` line of a job's stderr (and no traceback)."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith("eqn-keras: error: ")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def _wait_for(proc, ready, what, timeout=300):
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.01)
    out, err = proc.communicate() if proc.poll() is not None else ("", "")
    pytest.fail(f"the job ended (status {proc.returncode}) or timed out before {what}: {err[-2000:]}")


def _finish(proc):
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


# -- annotate ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = np.random.default_rng(11)
    vocab = np.array(FILLER + [w for ws in WORDS.values() for w in ws])
    texts = [" ".join(vocab[rng.integers(0, len(vocab), size=rng.integers(2, 16))]) for _ in range(ROWS)]
    path = tmp_path_factory.mktemp("faults") / "in.csv"
    pd.DataFrame({"id": np.arange(ROWS), "text": texts}).to_csv(path, index=False)
    return path


def _annotate_args(tiny_run, corpus, output, *extra):
    args = ["annotate", "--model", tiny_run, "--input", corpus, "--output", output, "--chunk-size", CHUNK,
            "--batch-size", 2048, "--quiet", *extra]
    return [str(a) for a in args]


@pytest.fixture(scope="module")
def reference(tiny_run, corpus, tmp_path_factory):
    """The undisturbed annotation's bytes."""
    out = tmp_path_factory.mktemp("faults") / "reference.csv"
    assert main(_annotate_args(tiny_run, corpus, out)) == 0
    return out.read_bytes()


def _chunks_done(output):
    progress = Path(str(output) + ".progress.json")

    def ready():
        try:
            return json.loads(progress.read_text())["counts"]["chunks"] >= 1
        except (OSError, ValueError, KeyError):
            return False
    return ready


def _leftovers(output):
    return [p for p in (Path(str(output) + s) for s in (".part", ".progress.json", ".lock")) if p.exists()]


def test_two_annotate_jobs_on_one_output(tiny_run, corpus, reference, tmp_path):
    """The second job (same options, or others) exits 2 naming the path and the first job's pid; the first one
    writes the undisturbed bytes; then an existing output is refused unless --overwrite."""
    out = tmp_path / "out.csv"
    first = _start(*_annotate_args(tiny_run, corpus, out))
    _wait_for(first, _chunks_done(out), "its first chunk")
    first.send_signal(signal.SIGSTOP)  # holds the output, mid-job, while the others try
    try:
        for extra in ([], ["--threshold", "2", "--labels"]):
            code, err = _run(*_annotate_args(tiny_run, corpus, out, *extra))
            assert code == 2
            line = _error_line(err)
            assert f"{out}: another eqn-keras job (pid {first.pid}) is writing it" in line
    finally:
        first.send_signal(signal.SIGCONT)
    code, err = _finish(first)
    assert code == 0, err[-3000:]
    assert out.read_bytes() == reference
    assert _leftovers(out) == []
    code, err = _run(*_annotate_args(tiny_run, corpus, out, "--threshold", "2"))
    assert code == 2 and f"{out}: already exists; pass --overwrite" in _error_line(err)
    assert out.read_bytes() == reference
    assert main(_annotate_args(tiny_run, corpus, out, "--overwrite")) == 0
    assert out.read_bytes() == reference and _leftovers(out) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_annotate_stopped_by_a_signal_resumes(tiny_run, corpus, reference, tmp_path, sig):
    """SIGTERM: one line and status 143; SIGKILL: no stale lock. The rerun resumes to the undisturbed bytes."""
    out = tmp_path / "out.csv"
    job = _start(*_annotate_args(tiny_run, corpus, out))
    _wait_for(job, _chunks_done(out), "its first chunk")
    job.send_signal(sig)
    code, err = _finish(job)
    if sig == signal.SIGTERM:
        assert code == 128 + signal.SIGTERM
        assert "stopped by SIGTERM; rerun the same command to resume" in _error_line(err)
    else:
        assert code == -signal.SIGKILL
    assert not out.exists() and Path(str(out) + ".part").is_file()
    code, err = _run(*_annotate_args(tiny_run, corpus, out))
    assert code == 0, err[-3000:]
    assert f"resuming {out}.part" in err
    assert out.read_bytes() == reference and _leftovers(out) == []


def test_a_part_removed_mid_run(tiny_run, corpus, reference, tmp_path):
    """The .part file removed while the job runs: one line naming it; the rerun starts over and finishes."""
    out = tmp_path / "out.csv"
    job = _start(*_annotate_args(tiny_run, corpus, out))
    _wait_for(job, _chunks_done(out), "its first chunk")
    job.send_signal(signal.SIGSTOP)
    Path(str(out) + ".part").unlink()
    job.send_signal(signal.SIGCONT)
    code, err = _finish(job)
    assert code == 1
    line = _error_line(err)
    assert f"{out}.part: No such file or directory; check that it was not removed" in line
    assert "rerun the same command" in line and not out.exists()
    code, err = _run(*_annotate_args(tiny_run, corpus, out))
    assert code == 0, err[-3000:]
    assert out.read_bytes() == reference and _leftovers(out) == []


def _mount_tmpfs(path, options):
    """A tmpfs at `path` (root only); False when it cannot be mounted."""
    if os.geteuid() != 0:
        return False
    path.mkdir(exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0


def _remount(path, options):
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB file system (a tmpfs), unmounted after the test; skipped where it cannot be mounted."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "size=256k"):
        pytest.skip("mounting a tmpfs needs root (and mount(8)); the file size limit test covers a full disk")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _limit_file_size(job, limit):
    """Cap the files of a running job at `limit` bytes (its model is loaded by then: Keras unpacks the weights to
    a temporary file first). Python ignores SIGXFSZ, so a write past the limit fails with EFBIG."""
    if not hasattr(resource, "prlimit"):
        pytest.skip("resource.prlimit is Linux-only")
    resource.prlimit(job.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


@pytest.mark.parametrize("fault", ["full disk", "file size limit"])
def test_a_full_disk_then_resume(tiny_run, corpus, reference, tmp_path, request, fault):
    """The output outgrows its file system (or the job's file size limit): one line naming the part file and
    saying to free space; once there is space the same command resumes to the undisturbed bytes."""
    assert len(reference) > 512 * 1024, "the output must outgrow the disk"
    if fault == "full disk":
        disk = request.getfixturevalue("small_disk")
        out = disk / "out.csv"
        code, err = _run(*_annotate_args(tiny_run, corpus, out))
        expected = "No space left on device; free some space, then rerun the same command"
    else:
        out = tmp_path / "out.csv"
        job = _start(*_annotate_args(tiny_run, corpus, out))
        _wait_for(job, _chunks_done(out), "its first chunk")
        job.send_signal(signal.SIGSTOP)
        _limit_file_size(job, 256 * 1024)
        job.send_signal(signal.SIGCONT)
        code, err = _finish(job)
        expected = "File too large; free some space or raise the file size limit"
    assert code == 1
    line = _error_line(err)
    assert line.startswith(f"eqn-keras: error: {out}.part: ") and expected in line, line
    progress = json.loads(Path(str(out) + ".progress.json").read_text())
    assert 0 < progress["counts"]["records"] < ROWS  # it stopped in the middle, and kept what it had done
    if fault == "full disk":
        _remount(disk, "size=8m")
    code, err = _run(*_annotate_args(tiny_run, corpus, out))
    assert code == 0, err[-3000:]
    assert f"resuming {out}.part: {progress['counts']['records']} of {ROWS} rows done" in err
    assert out.read_bytes() == reference and _leftovers(out) == []


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nothing can be written to: a read-only tmpfs for root (who ignores permission bits), else
    mode 0555. Yields (path, make_writable)."""
    path = tmp_path / "ro"
    if os.geteuid() == 0:
        if not _mount_tmpfs(path, "size=8m,mode=0755"):
            pytest.skip("root ignores permission bits and no read-only tmpfs could be mounted")
        _remount(path, "ro")
        yield path, lambda: _remount(path, "rw")
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
    else:
        path.mkdir()
        path.chmod(0o555)
        yield path, lambda: path.chmod(0o755)
        path.chmod(0o755)


def test_a_read_only_directory(tiny_run, corpus, reference, tmp_path, read_only_dir, capsys):
    """annotate, annotate-merge, export, train and intensity into a read-only directory: one line each naming the path,
    nothing written; once it is writable the annotation runs to the undisturbed bytes."""
    ro, make_writable = read_only_dir
    out = ro / "out.csv"
    code, err = _run(*_annotate_args(tiny_run, corpus, out))
    assert code == 1
    line = _error_line(err)
    assert f"{out}.lock: " in line and ("Read-only file system" in line or "Permission denied" in line)
    assert "then rerun the same command" in line

    part = tmp_path / "part0.csv"
    part.write_text("id,text\n1,glad\n")
    assert main(["annotate-merge", str(part), "--output", str(ro / "merged.csv")]) == 1
    line = _error_line(capsys.readouterr().err)
    assert f"{ro / 'merged.csv'}.lock: " in line and "then rerun the command" in line
    assert main(["export", str(tiny_run), "--out", str(ro / "models")]) == 1
    line = _error_line(capsys.readouterr().err)
    assert str(ro / "models") in line and "then rerun the command" in line
    assert main(["train", "--arch", "ann", "--data", str(corpus), "--out", str(ro / "run"), "--quiet"]) == 1
    line = _error_line(capsys.readouterr().err)
    assert str(ro / "run") in line and "then rerun the same command" in line
    gold = tmp_path / "gold.txt"
    gold.write_text("".join(f"{i}\t{w} day\tjoy\t{i / 10}\n" for i, w in enumerate(["glad", "happy", "sad", "ok"])))
    assert main(["intensity", str(tiny_run), "--gold", str(gold), "--resamples", "0",
                 "--output", str(ro / "intensity.json")]) == 1
    assert f"{ro / 'intensity.json'}.lock: " in _error_line(capsys.readouterr().err)
    assert sorted(p.name for p in ro.iterdir()) == []

    make_writable()
    assert main(_annotate_args(tiny_run, corpus, out)) == 0
    assert out.read_bytes() == reference and _leftovers(out) == []


# -- train ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(killable_train_data, tmp_path_factory):
    """An undisturbed run."""
    out = tmp_path_factory.mktemp("faults") / "reference"
    code, err = _run(*killable_train_args(killable_train_data, out))
    assert code == 0, err[-3000:]
    return out


def _same_run(expected, actual):
    for stage in ("coeqn", "eqn"):
        for name in (f"test_annotated_{stage}.csv", f"history_{stage}.csv"):
            assert (actual / name).read_bytes() == (expected / name).read_bytes(), name
        a, b = np.load(expected / f"scores_{stage}.npz"), np.load(actual / f"scores_{stage}.npz")
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{stage} {key}")
    assert (actual / "regressed_train.csv").read_bytes() == (expected / "regressed_train.csv").read_bytes()
    assert not (actual / ".lock").exists()


def _backed_up(out, stage="coeqn", epoch=1):
    meta = out / "backup" / stage / "training_metadata.json"

    def ready():
        try:
            return json.loads(meta.read_text())["epoch"] >= epoch
        except (OSError, ValueError, KeyError):
            return False
    return ready


def test_two_train_jobs_on_one_run_directory(killable_train_data, trained, tmp_path):
    """The second `train` on the same --out exits 2 naming it and the first job's pid, and writes nothing there;
    the first ends with the undisturbed run's files, one header in each epoch log."""
    out = tmp_path / "run"
    first = _start(*killable_train_args(killable_train_data, out))
    _wait_for(first, _backed_up(out), "its first epoch")
    first.send_signal(signal.SIGSTOP)
    try:
        code, err = _run(*killable_train_args(killable_train_data, out))
        assert code == 2
        assert f"{out}: another eqn-keras job (pid {first.pid}) is writing it" in _error_line(err)
    finally:
        first.send_signal(signal.SIGCONT)
    code, err = _finish(first)
    assert code == 0, err[-3000:]
    _same_run(trained, out)
    assert (out / "history_coeqn.csv").read_text().count("epoch") == 1


def test_train_stopped_by_sigterm_resumes(killable_train_data, trained, tmp_path):
    out = tmp_path / "run"
    job = _start(*killable_train_args(killable_train_data, out))
    _wait_for(job, _backed_up(out), "its first epoch")
    job.send_signal(signal.SIGTERM)
    code, err = _finish(job)
    assert code == 128 + signal.SIGTERM
    assert "stopped by SIGTERM; rerun the same command to resume" in _error_line(err)
    assert not (out / "metrics.json").exists()
    code, err = _run(*killable_train_args(killable_train_data, out))
    assert code == 0, err[-3000:]
    _same_run(trained, out)


def test_a_corrupt_epoch_log_names_what_to_delete(killable_train_data, trained, tmp_path):
    """Killed in CoEQN's fit, its epoch log then corrupted (two copies interleaved, as two writers left it): the
    rerun fails with one line naming the file and what to delete; after deleting that, the rerun finishes with
    the undisturbed run's files."""
    out = tmp_path / "run"
    job = _start(*killable_train_args(killable_train_data, out))
    _wait_for(job, _backed_up(out), "its first epoch")
    job.send_signal(signal.SIGKILL)
    job.wait()
    log = out / "history_coeqn.csv"
    text = log.read_text()
    log.write_text(text + text)
    code, err = _run(*killable_train_args(killable_train_data, out))
    assert code == 2
    line = _error_line(err)
    assert line.startswith(f"eqn-keras: error: {log}:") and "corrupt epoch log" in line
    assert f"delete {log}, {out / 'history_coeqn.json'} and {out / 'backup' / 'coeqn'}" in line
    log.unlink()
    subprocess.run(["rm", "-rf", str(out / "backup" / "coeqn")], check=True)
    code, err = _run(*killable_train_args(killable_train_data, out))
    assert code == 0, err[-3000:]
    _same_run(trained, out)


# -- a job stopped while it puts its files in place ----------------------------------------------------------------

@pytest.mark.parametrize("fails", ["main", "side"])
def test_a_job_stopped_while_renaming_its_parts_completes_on_rerun(tiny_run, corpus, reference, tmp_path, monkeypatch,
                                                                   fails):
    """With --on-bad-row skip the skipped-rows file is put in place before the output: a disk that fills while the
    output is moved (or assembled, for Parquet) leaves one file in place and one part. The rerun finishes the job
    (no 'already exists' refusal, no start from scratch), to the undisturbed bytes, leaving nothing behind."""
    from eqn_keras import tablestream

    out = tmp_path / "out.csv"
    side = Path(str(out) + ".skipped.csv")
    real = tablestream.PartWriter.finish

    def full_disk(self):
        if (self.path == out) == (fails == "main"):
            raise OSError(28, "No space left on device")
        return real(self)

    monkeypatch.setattr(tablestream.PartWriter, "finish", full_disk)
    assert main(_annotate_args(tiny_run, corpus, out, "--on-bad-row", "skip")) == 1
    assert not out.exists() and Path(str(out) + ".progress.json").exists()
    monkeypatch.setattr(tablestream.PartWriter, "finish", real)
    assert main(_annotate_args(tiny_run, corpus, out, "--on-bad-row", "skip")) == 0
    assert out.read_bytes() == reference and side.is_file()
    assert _leftovers(out) == [] and not Path(str(side) + ".part").exists()


def test_a_cut_backup_record_falls_back_to_the_previous_epoch(tmp_path):
    """Keras writes its backup record after the weights: a cut record with a whole previous pair resumes from it."""
    from eqn_keras.callbacks import BACKUP_METADATA, BACKUP_WEIGHTS, backup_epoch
    from eqn_keras.fileio import InputError

    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / BACKUP_METADATA).write_text('{"epoch": 4, "ba')
    (backup / BACKUP_WEIGHTS).write_bytes(b"epoch 5 weights")
    with pytest.raises(InputError, match="not a readable backup record"):
        backup_epoch(backup)
    (backup / f"{BACKUP_METADATA}.bkp").write_text('{"epoch": 3, "batch": -1}')
    (backup / f"{BACKUP_WEIGHTS}.bkp").write_bytes(b"epoch 4 weights")
    assert backup_epoch(backup) == 3
    assert (backup / BACKUP_WEIGHTS).read_bytes() == b"epoch 4 weights"
    assert json.loads((backup / BACKUP_METADATA).read_text())["epoch"] == 3
