"""End-to-end runs on the real datasets (EQN_DATA_DIR); a few hundred training texts each, to stay quick."""

import json
import os

import pytest

from eqn_keras.cli import main

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not os.environ.get("EQN_DATA_DIR"), reason="EQN_DATA_DIR is not set")]

CASES = [  # every arch, every dataset, every head kind at least once
    ("goemotions", "lstm", "eqn"), ("goemotions", "textcnn", "multi"),
    ("3tfn", "textcnn", "eqn"), ("3tfn", "cnn", "single"),
    ("6emotions", "ann", "eqn"), ("6emotions", "lstm", "multi"),
    ("3tsa", "cnn", "eqn"), ("3tsa", "ann", "single"),
]


@pytest.mark.parametrize("data,arch,head", CASES)
def test_train_on_real_data(tmp_path, data, arch, head):
    out = tmp_path / "run"
    assert main(["train", "--arch", arch, "--data", data, "--head", head, "--max-train", "400", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"]["sizes"]["train"] == 400
    expected = ["coeqn", "eqn"] if head == "eqn" else [head]
    assert list(metrics["stages"]) == expected
    for report in metrics["stages"].values():
        assert report["table3_metric"] == ("hit_rate" if data == "goemotions" else "accuracy")
        assert 0.0 <= report["table3"] <= 1.0


def test_evaluate_prints_tables_4_to_6_for_goemotions(tmp_path, capsys):
    out = tmp_path / "go"
    assert main(["train", "--arch", "textcnn", "--data", "goemotions", "--max-train", "600", "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    for needle in ("1 label", "2 labels", "3 labels", "4 labels", "Total", "Top1", "Top2", "Top3",
                   "admiration", "neutral", "macro-average", "std"):
        assert needle in printed, needle
