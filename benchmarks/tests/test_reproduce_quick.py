"""`benchmarks/reproduce.py --quick` runs a tiny grid on real data, resumes, and writes the Table 3 report."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.environ.get("EQN_DATA_DIR"), reason="EQN_DATA_DIR is not set")]


def _run(results, start=True):
    cmd = [sys.executable, "-m", "benchmarks.reproduce", "--quick", "--results", str(results),
           "--work", str(results.parent / "work")]
    if not start:
        return cmd
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)  # a hang guard only


@pytest.fixture(scope="module")
def quick_grid(tmp_path_factory):
    """The quick grid, killed (with its training process) once the first EQN cell's CoEQN run has ended and its
    EQN run has begun, then rerun."""
    results = tmp_path_factory.mktemp("grid") / "table3.jsonl"
    cmd = _run(results, start=False)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = results.parent / "work" / "3tfn-textcnn-eqn-s0-e1-m300" / "config.json"
    deadline = time.monotonic() + 1200
    while proc.poll() is None and not marker.is_file() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the grid ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _run(results)
    assert done.returncode == 0, done.stderr[-3000:]
    return results


def test_interrupted_cell_is_resumed_not_restarted(quick_grid):
    rows = {(r["head"], r["seed"]): r for r in map(json.loads, quick_grid.read_text().splitlines())}
    resumed = rows[("eqn", 0)]
    # the CoEQN run ran once; the EQN run (regressed from it) was killed and resumed; the row adds them up
    assert resumed["stage_runs"]["coeqn"]["attempts"] == 1 and resumed["stage_runs"]["eqn"]["attempts"] == 2
    assert resumed["attempts"] == 3 and resumed["peak_rss_mb"] > 0
    assert resumed["wall_s"] == pytest.approx(sum(r["wall_s"] for r in resumed["stage_runs"].values()), abs=0.11)
    config = json.loads((quick_grid.parent / "work" / "3tfn-textcnn-eqn-s0-e1-m300" / "config.json").read_text())
    assert len(config["resumed"]) == 1  # the same run directory went on
    assert "--regress-from" in resumed["command"] and "3tfn-textcnn-coeqn-s0-e1-m300:coeqn" in resumed["command"]
    assert rows[("single", 0)]["attempts"] == 1


def test_quick_grid_and_resume(quick_grid):
    results, tmp_path = quick_grid, quick_grid.parent
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted((r["head"], r["seed"]) for r in rows) == [("eqn", 0), ("eqn", 1), ("single", 0), ("single", 1)]
    assert all(set(r["stages"]) == ({"coeqn", "eqn"} if r["head"] == "eqn" else {"single"}) for r in rows)
    markdown = (tmp_path / "table3.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| textcnn | 3tfn | ≤1 epochs"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # one epoch: every stage run (2 single + 2 x coeqn/eqn) ends at the epoch limit, and the table says so
    assert cells[2] == "≤1 epochs, 300 train texts; ended by the epoch limit, not early stopping, in 6 of 6 stage runs"
    assert cells[3] == "accuracy"
    paper = pd.read_csv(ROOT / "benchmarks" / "paper" / "table3.csv").set_index(["arch", "dataset"])
    assert float(cells[4]) == paper.loc[("textcnn", "3tfn"), "baseline"]
    assert float(cells[6]) == paper.loc[("textcnn", "3tfn"), "eqn"]
    # "ours" columns are mean ± sample std over the seeds of the jsonl rows, recomputed here
    for column, head, stage in ((5, "single", "single"), (7, "eqn", "coeqn"), (8, "eqn", "eqn")):
        values = [r["stages"][stage]["table3"] for r in rows if r["head"] == head]
        assert cells[column] == f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}", (column, values)
    # the differences to the baseline: mean over the two seeds and scipy's paired t-test, which is undefined (no p)
    # when both seeds' differences are equal (one epoch on 300 texts can leave every head at the majority class)
    base = [r["stages"]["single"]["table3"] for r in sorted(rows, key=lambda r: r["seed"]) if r["head"] == "single"]
    for column, stage in ((9, "coeqn"), (10, "eqn")):
        ours = [r["stages"][stage]["table3"] for r in sorted(rows, key=lambda r: r["seed"]) if r["head"] == "eqn"]
        d = np.subtract(ours, base)
        p = f", p={stats.ttest_rel(ours, base).pvalue:.3f}" if np.ptp(d) > 0 else ""
        assert cells[column] in (f"{d.mean():+.4f} (n=2{p})", *(["0 (identical)"] if not d.any() else [])), \
            (column, ours, base)
    # a second call finds every cell done and trains nothing
    again = _run(results)
    assert again.returncode == 0 and "==" not in again.stdout
    assert len(results.read_text().splitlines()) == 4


def test_a_lost_eqn_cell_restarts_from_its_archived_coeqn_run(quick_grid):
    """The machine is lost during seed 1's EQN run: its run directories and row are gone, the results file and
    the score archive beside it survive. The rerun trains only the EQN stage, from the archived CoEQN scores,
    and gets the row the first run got."""
    results, work = quick_grid, quick_grid.parent / "work"
    lines = results.read_text().splitlines()
    lost = next(json.loads(line) for line in lines if '"head": "eqn"' in line and '"seed": 1' in line)
    archived = results.parent / "scores" / "3tfn-textcnn-coeqn-s1-e1-m300"
    assert sorted(p.name for p in archived.iterdir()) == ["config.json", "metrics.json", "provenance.json",
                                                           "scores_coeqn.npz"]
    with np.load(archived / "scores_coeqn.npz") as data:
        assert "train" in data.files and not [k for k in data.files if k.endswith("_labels")]
    results.write_text("".join(line + "\n" for line in lines if json.loads(line) != lost))
    for name in ("3tfn-textcnn-coeqn-s1-e1-m300", "3tfn-textcnn-eqn-s1-e1-m300"):
        shutil.rmtree(work / name)
    done = _run(results)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"CoEQN from the archive: {archived}" in done.stdout
    assert not (work / "3tfn-textcnn-coeqn-s1-e1-m300").exists()  # CoEQN was not trained again
    again = next(json.loads(line) for line in results.read_text().splitlines()
                 if '"head": "eqn"' in line and '"seed": 1' in line)
    assert again["stages"] == lost["stages"]  # seeded CPU runs repeat exactly
    assert f"--regress-from {archived}:coeqn" in again["command"]


def test_quick_variants_reuse_the_grid_runs_and_resume(quick_grid):
    tmp_path = quick_grid.parent
    cmd = [sys.executable, "-m", "benchmarks.variants", "--quick", "--results", str(tmp_path / "variants.jsonl"),
           "--work", str(tmp_path / "work")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "== textcnn 3tfn" not in done.stdout  # the grid's runs were reused, not retrained
    rows = [json.loads(line) for line in (tmp_path / "variants.jsonl").read_text().splitlines()]
    assert sorted((r["variant"], r["seed"], r["stage"]) for r in rows) == sorted(
        (v, s, {"stage3": "eqn3"}.get(v, "eqn")) for v in ("t2", "t05", "stage3", "bce") for s in (0, 1))
    # from the grid's run directories, or the archived copy of the seed-1 CoEQN run that the test above lost
    assert all(f"--regress-from {tmp_path / 'work'}/" in r["command"] or
               f"--regress-from {tmp_path / 'scores' / '3tfn-textcnn-coeqn-s1-e1-m300'}:coeqn" in r["command"]
               for r in rows)
    markdown = (tmp_path / "variants.md").read_text()
    for name in ("baseline (single)", "CoEQN", "EQN", "t2", "t05", "stage3", "bce"):
        assert f"| {name} |" in markdown
    # paired over the two seeds: CoEQN and EQN against the baseline, each variant against the baseline and EQN
    assert markdown.count("p=") + markdown.count("(identical)") == 2 * 2 + 4 * 3
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0 and "==" not in again.stdout
