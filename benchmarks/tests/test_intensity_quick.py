"""`benchmarks/intensity.py --quick` trains a tiny zero-shot cell and a graded run on the real gold sets,
archives their per-text scores, and writes the report from the archive alone."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.environ.get("EQN_DATA_DIR"), reason="EQN_DATA_DIR is not set")]


def test_quick_intensity_archives_scores_and_recomputes_from_them(tmp_path):
    archive, out = tmp_path / "archive", tmp_path / "intensity.md"
    cmd = [sys.executable, "-m", "benchmarks.intensity", "--quick", "--resamples", "50",
           "--results", str(archive), "--out", str(out), "--work", str(tmp_path / "work")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted(p.name for p in archive.iterdir())
    assert sorted(r.split("-s0")[0] for r in runs) == [
        "intensity-6emotions-textcnn-base", "intensity-6emotions-textcnn-eqn", "intensity-6emotions-textcnn-t2",
        "intensity-brighter-textcnn-graded", "intensity-brighter-textcnn-graded-from-6emotions"]
    rows = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    # a row's Pearson r is recomputed from the archived scores and the gold ratings, independently of the script
    from eqn_keras.intensity import load_gold

    gold = load_gold("emoint")
    row = next(r for r in rows if r["score"] == "single" and r["gold"] == "emoint")
    with np.load(archive / row["run"] / "single.npz") as data:
        scores = data["emoint"]
    rs = [stats.pearsonr(scores[~np.isnan(gold.ratings[:, e]), e], gold.ratings[~np.isnan(gold.ratings[:, e]), e])[0]
          for e in range(len(gold.emotions))]
    assert row["pearson"] == pytest.approx(np.mean(rs), abs=1e-4)
    assert {r["gold"] for r in rows if r["score"] == "graded"} == {"brighter-eng:dev", "emoint"}
    tuned = json.loads(next(archive.glob("*graded-from-6emotions*/provenance.json")).read_text())
    assert "--init-from" in tuned["command"] and tuned["kind"] == "graded_from_6emotions"
    text = out.read_text()
    assert "## brighter-eng dev" in text and "intensity-brighter-textcnn-graded" in text
    # rerunning trains nothing: every stage is archived
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "==" not in again.stdout
