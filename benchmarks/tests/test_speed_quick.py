"""`benchmarks/speed.py --quick` runs end to end on made-up texts and writes positive measurements."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ["-m", "benchmarks.speed"]  # run from ROOT


def test_speed_quick_textcnn(tmp_path):
    out = tmp_path / "speed"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, *SCRIPT, "--quick", "--archs", "textcnn", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)  # a hang guard, not a speed check
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    report = json.loads((out.parent / "speed.json").read_text())
    markdown = (out.parent / "speed.md").read_text()
    assert report["dataset"] == "synthetic" and report["quick"]
    assert report["matmul_peak_gflops"] > 0
    assert all(m["tf_gflops_best"] > 0 and m["numpy_gflops_best"] > 0 for m in report["matmul"])
    assert report["commit"] and report["machine"]["cpu_count"] >= 1 and report["tensorflow"]

    (row,) = report["archs"]
    assert row["arch"] == "textcnn" and "error" not in row
    assert row["n_train"] == 300 and row["n_test"] > 0
    assert 0 < row["flops_forward"]["avg_len"] < row["flops_forward"]["len150"]
    for pipe in ("plain", "fixed150", "dynamic"):
        train = row["train"][pipe]
        assert train["samples_per_s"] > 0 and train["flops_train_per_sample"] > 0
    assert row["train"]["plain"]["avg_padded_width"] == row["train"]["fixed150"]["avg_padded_width"] == 150
    assert 0 < row["train"]["dynamic"]["avg_padded_width"] < 150
    for kind in ("plain", "ours"):
        assert row["annotate"][kind]["texts_per_s"] > 0
    assert row["annotate"]["max_abs_score_diff"] < 1e-3  # dynamic padding must not change the scores
    assert all(v > 0 for v in row["fraction_of_peak"].values())
    assert row["peak_rss_mb"] > 0

    assert "| textcnn |" in markdown and "failed" not in markdown
    assert report["command"] in markdown
