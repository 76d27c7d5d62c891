"""`benchmarks/reproduce.py --quick` runs a tiny grid on real data, resumes, and writes the Table 3 report."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.environ.get("EQN_DATA_DIR"), reason="EQN_DATA_DIR is not set")]


def _run(results):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reproduce.py"), "--quick", "--results",
                           str(results)], capture_output=True, text=True, timeout=1200)  # a hang guard only


def test_quick_grid_and_resume(tmp_path):
    results = tmp_path / "table3.jsonl"
    done = _run(results)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted((r["head"], r["seed"]) for r in rows) == [("eqn", 0), ("eqn", 1), ("single", 0), ("single", 1)]
    assert all(set(r["stages"]) == ({"coeqn", "eqn"} if r["head"] == "eqn" else {"single"}) for r in rows)
    markdown = (tmp_path / "table3.md").read_text()
    assert "| textcnn | 3tfn | ≤1 epochs, 300 train texts | accuracy | 0.7575 |" in markdown
    assert "p=" in markdown  # a paired test over the two seeds
    # a second call finds every cell done and trains nothing
    again = _run(results)
    assert again.returncode == 0 and "==" not in again.stdout
    assert len(results.read_text().splitlines()) == 4
