"""`benchmarks/annotate_scale.py` runs end to end with a small run and writes both paths' measurements."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ["-m", "benchmarks.annotate_scale"]  # run from ROOT


def test_annotate_scale_quick(tmp_path):
    words = {"joy": "happy glad", "anger": "angry mad", "fear": "scared afraid"}
    rows = [(f"the day was {w} really", label) for label, ws in words.items() for w in ws.split() for _ in range(30)]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(tmp_path / "data.csv", index=False)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    run = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "eqn_keras.cli", "train", "--arch", "ann", "--data", str(tmp_path / "data.csv"),
                    "--stages", "1", "--epochs", "1", "--out", str(run), "--quiet"], check=True, env=env, timeout=600)
    out = tmp_path / "scale"
    proc = subprocess.run([sys.executable, *SCRIPT, "--rows", "3000", "--chunk-size", "700", "--repeats", "2", "--run", str(run),
                           "--work", str(tmp_path / "work"), "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)  # a hang guard
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads((tmp_path / "scale.json").read_text())
    assert report["rows"] == 3000 and report["identical"] and report["commit"] and report["machine"]["cpu_count"] >= 1
    assert report["paths"]["streaming"]["chunk_size"] == 700 and report["paths"]["in-memory"]["chunk_size"] == 0
    for path in report["paths"].values():
        assert len(path["seconds_all"]) == 2 and path["seconds"] == pytest.approx(sum(path["seconds_all"]) / 2)
        assert path["rows_per_s"] == 3000 / path["seconds"] and 100 < path["peak_rss_mb"] < 100_000
    markdown = (tmp_path / "scale.md").read_text()
    assert report["command"] in markdown and "| streaming | 700 |" in markdown
    assert not list((tmp_path / "work").glob("input_*.csv"))  # the generated files are removed
