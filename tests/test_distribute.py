"""tf.distribute: MirroredStrategy over two logical CPUs and MultiWorkerMirroredStrategy over two processes."""

import json
import os
import socket
import subprocess
import sys

import pytest

from eqn_keras.distribute import (XLA_MIN_ROWS, cpu_flags, inference_jit, inference_precision, is_chief, make_strategy,
                                  resolve_jit)
from eqn_keras.fileio import InputError

RUN_FILES = ["config.json", "metrics.json", "coeqn.keras", "eqn.keras", "regressed_train.csv",
             "test_annotated_coeqn.csv", "test_annotated_eqn.csv"]

MIRRORED = r"""
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from eqn_keras.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _train_args(data, out, arch_config):
    return ["train", "--arch", "ann", "--data", str(data), "--epochs", "1", "--batch-size", "16",
            "--arch-config", str(arch_config), "--out", str(out), "--quiet"]


def test_mirrored_over_two_logical_cpus(tmp_path, emotion_csv, small_vocab):
    out = tmp_path / "mirrored"
    done = subprocess.run([sys.executable, "-c", MIRRORED, *_train_args(emotion_csv, out, small_vocab), "--strategy", "mirrored"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["replicas"] == 2


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multiworker_two_processes(tmp_path, emotion_csv, small_vocab):
    out = tmp_path / "multiworker"
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                      "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-m", "eqn_keras.cli", *_train_args(emotion_csv, out, small_vocab),
                                       "--strategy", "multiworker"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=600)
            assert proc.returncode == 0, stderr[-3000:]
            outputs.append(stdout)
    finally:
        for proc in procs:
            proc.kill()
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["replicas"] == 2 and config["config"]["strategy"] == "multiworker"
    # both workers trained the same synchronised model
    lines = [[l for l in o.splitlines() if l.startswith("[eqn-keras]") and "test accuracy" in l] for o in outputs]
    assert lines[0] and lines[0] == lines[1]


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(InputError, match="TF_CONFIG is not set"):
        make_strategy("multiworker")
    with pytest.raises(InputError, match="expected one of"):
        make_strategy("parameter_server")


@pytest.mark.parametrize("config,chief", [
    (None, True),
    ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "chief", "index": 0}}, True),
])
def test_is_chief(monkeypatch, config, chief):
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert is_chief() is chief


def test_jit_auto_is_off_without_accelerators():
    assert resolve_jit("auto") is False and resolve_jit("on") is True and resolve_jit("off") is False


@pytest.mark.parametrize("requested, arch, flags, expected", [
    ("auto", "bert", {"avx2", "avx512f", "avx512_bf16"}, "bfloat16"),
    ("auto", "bert", {"avx2", "amx_bf16"}, "bfloat16"),
    ("auto", "bert", {"avx2", "fma", "avx512f"}, "float32"),  # bf16 emulated: ~10x slower than fp32 there
    ("auto", "textcnn", {"avx512_bf16"}, "float32"),  # measured for BERT only
    ("float32", "bert", {"avx512_bf16"}, "float32"),
    ("bfloat16", "ann", set(), "bfloat16"),
    ("int8", "bert", {"avx512_vnni"}, "int8"),
    ("auto", "bert", {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_int8"}, "bfloat16"),  # int8: never auto
])
def test_inference_precision(requested, arch, flags, expected):
    assert inference_precision(requested, arch, flags) == expected


def test_int8_is_for_bert_runs():
    with pytest.raises(InputError, match="precision='int8': for BERT runs .*this is a textcnn run"):
        inference_precision("int8", "textcnn", set())


def test_inference_precision_rejects_unknown_values():
    with pytest.raises(InputError, match="precision='float16': expected one of auto, float32, bfloat16"):
        inference_precision("float16", "bert", set())


@pytest.mark.parametrize("requested, arch, precision, rows, expected", [
    ("auto", "bert", "float32", XLA_MIN_ROWS, True),
    ("auto", "bert", "float32", XLA_MIN_ROWS - 1, False),  # the compilation would not pay for itself
    ("auto", "bert", "float32", None, False),  # size unknown
    ("auto", "bert", "bfloat16", 10**6, False),  # XLA made bf16 slower on CPU
    ("auto", "bert", "int8", 1, True),  # Keras's int8 layers: several times slower than float32 without XLA
    ("auto", "bert", "int8", None, True),
    ("off", "bert", "int8", 10**6, False),
    ("auto", "textcnn", "float32", 10**6, False),  # measured for BERT only
    ("on", "ann", "bfloat16", 1, True),
    ("off", "bert", "float32", 10**6, False),
])
def test_inference_jit(requested, arch, precision, rows, expected, monkeypatch):
    monkeypatch.setattr("eqn_keras.distribute.accelerators_visible", lambda: False)  # the CPU rule
    assert inference_jit(requested, arch, precision, rows) is expected


def test_inference_jit_counts_rows_only_when_it_decides(monkeypatch):
    monkeypatch.setattr("eqn_keras.distribute.accelerators_visible", lambda: False)
    calls = []

    def rows():
        calls.append(1)
        return XLA_MIN_ROWS

    assert inference_jit("auto", "ann", "float32", rows) is False and calls == []
    assert inference_jit("on", "bert", "float32", rows) is True and calls == []
    assert inference_jit("auto", "bert", "float32", rows) is True and calls == [1]
    with pytest.raises(InputError, match="jit_compile='yes': expected one of auto, on, off"):
        inference_jit("yes", "bert", "float32", 1)
    monkeypatch.setattr("eqn_keras.distribute.accelerators_visible", lambda: True)
    assert inference_jit("auto", "ann", "bfloat16", None) is True  # Keras's own rule on an accelerator


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: X\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(str(info)) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "missing")) == set()
