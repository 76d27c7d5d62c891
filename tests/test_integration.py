"""End-to-end runs on the real datasets (EQN_DATA_DIR): every trained model beats its dataset's label prior.

The cheapest arch (ANN) on every dataset, each head kind once; the other archs are trained on made-up texts
elsewhere (conftest's `arch_runs`), which is where an arch differs, not in the files it reads.
"""

import json
import math
import os

import numpy as np
import pytest

from eqn_keras import metrics
from eqn_keras.cli import main
from eqn_keras.rundir import load_scores

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.environ.get("EQN_DATA_DIR"), reason="EQN_DATA_DIR is not set")]

# (dataset, head, training texts, epochs): few texts and epochs, yet each stage cleared the bar below by
# 6 or more standard errors when measured (seed 0)
CASES = [("3tfn", "eqn", 1500, 3), ("6emotions", "single", 1000, 3), ("3tsa", "multi", 2000, 3)]


def _beats_the_prior(run, stages):
    """Each stage's test Table 3 metric (accuracy, or hit rate for multi-label data) against the best a
    constant ranking can do: labels ordered by their frequency in the test split itself. A model that learned
    nothing from the texts stays within a few binomial standard errors of that, so the bar is 3 of them
    (n = test texts; a hit rate counts at least one label per text, so its error is smaller)."""
    report = json.loads((run / "metrics.json").read_text())
    assert list(report["stages"]) == stages
    for stage in stages:
        _, test_labels = load_scores(run / f"scores_{stage}.npz")["test"]
        name, measure = metrics.table3_measure(report["multi_label"])
        num_labels = len(json.loads((run / "config.json").read_text())["dataset"]["label_names"])
        frequency = metrics.multi_hot(test_labels, num_labels).mean(axis=0)
        prior = measure(np.tile(frequency, (len(test_labels), 1)), test_labels)
        bar = prior + 3 * math.sqrt(prior * (1 - prior) / len(test_labels))
        got = report["stages"][stage]
        assert got["table3_metric"] == name
        assert got["table3"] > bar, f"{stage}: test {name} {got['table3']:.4f}, prior {prior:.4f}, bar {bar:.4f}"


@pytest.mark.parametrize("data,head,max_train,epochs", CASES)
def test_learns_beyond_the_label_prior(tmp_path, data, head, max_train, epochs):
    out = tmp_path / "run"
    assert main(["train", "--arch", "ann", "--data", data, "--head", head, "--max-train", str(max_train),
                 "--epochs", str(epochs), "--learning-rate", "0.005", "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["dataset"]["sizes"]["train"] == max_train
    _beats_the_prior(out, ["coeqn", "eqn"] if head == "eqn" else [head])


def test_goemotions_beats_the_prior_and_evaluate_prints_tables_4_to_6(tmp_path, capsys):
    out = tmp_path / "go"
    assert main(["train", "--arch", "ann", "--data", "goemotions", "--max-train", "3500", "--epochs", "3",
                 "--learning-rate", "0.005", "--out", str(out), "--quiet"]) == 0
    _beats_the_prior(out, ["coeqn", "eqn"])
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    for needle in ("1 label", "2 labels", "3 labels", "4 labels", "Total", "Top1", "Top2", "Top3",
                   "admiration", "neutral", "macro-average", "std"):
        assert needle in printed, needle
