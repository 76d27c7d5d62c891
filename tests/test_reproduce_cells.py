"""benchmarks/reproduce.py's EQN cell bookkeeping, with `train_run` replaced (nothing is trained here)."""

import argparse
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def reproduce(tmp_path, monkeypatch):
    # a fresh copy of benchmarks.reproduce per test (its WORK and train_run are changed below)
    spec = importlib.util.spec_from_file_location("benchmarks.reproduce", ROOT / "benchmarks" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.set_work(tmp_path / "work")
    calls = []

    def fake_train_run(arch, dataset, head, seed, args, name, extra=()):
        calls.append((name, list(extra)))
        return {"stages": {}}, {"run_dir": str(tmp_path / "work" / name)}

    monkeypatch.setattr(module, "train_run", fake_train_run)
    monkeypatch.setattr(module, "archive_run", lambda *a, **k: [])
    module.calls = calls
    return module


def _args(**kw):
    return argparse.Namespace(**{"epochs": 10, "max_train": None, "bert_preset": None, "jobs": 1, **kw})


def _archive(results: Path, train=True, **options):
    folder = results.parent / "scores" / "goemotions-bert-coeqn-s0-e10"
    folder.mkdir(parents=True)
    config = {"arch": "bert", "data": "goemotions", "head": "eqn", "stages": 1, "seed": 0, "epochs": 10,
              "max_train": None, "bert_preset": None, **options}
    (folder / "config.json").write_text(json.dumps({"config": config}))
    (folder / "metrics.json").write_text(json.dumps({"stages": {"coeqn": {"table3": 0.5}}}))
    (folder / "provenance.json").write_text(json.dumps({"run_dir": "benchmarks/work/x", "wall_s": 10.0}))
    arrays = {"dev": np.zeros((2, 3)), "test": np.zeros((2, 3)), **({"train": np.zeros((4, 3))} if train else {})}
    np.savez(folder / "scores_coeqn.npz", **arrays)
    return folder


def test_a_complete_archive_is_the_coeqn_stage(reproduce, tmp_path):
    results = tmp_path / "results" / "table3.jsonl"
    folder = _archive(results)
    metrics, provenance, source = reproduce.coeqn_run("bert", "goemotions", 0, _args(), results)
    assert reproduce.calls == [] and source == folder  # nothing trained; EQN regresses from the archive
    assert metrics["stages"]["coeqn"]["table3"] == 0.5 and provenance["wall_s"] == 10.0


def test_an_archive_without_train_scores_is_trained_again(reproduce, tmp_path):
    results = tmp_path / "results" / "table3.jsonl"
    _archive(results, train=False)
    reproduce.coeqn_run("bert", "goemotions", 0, _args(), results)
    assert reproduce.calls == [("goemotions-bert-coeqn-s0", ["--stages", "1"])]


def test_an_archive_made_with_other_options_is_refused(reproduce, tmp_path):
    results = tmp_path / "results" / "table3.jsonl"
    folder = _archive(results, bert_preset="bert_base_en")
    with pytest.raises(SystemExit, match=f"{folder}: a CoEQN run made with .*bert_base_en.*delete that folder"):
        reproduce.coeqn_run("bert", "goemotions", 0, _args(), results)
    assert reproduce.calls == []


def test_an_eqn_cell_adds_up_its_two_runs(reproduce, tmp_path, monkeypatch):
    results = tmp_path / "results" / "table3.jsonl"
    folder = _archive(results)
    report = {"table3": 0.6, "history": {"best_epoch": 3}}
    extras = []

    def eqn_run(arch, dataset, head, seed, args, name, extra=()):
        extras.append(list(extra))
        return {"stages": {"eqn": report}}, {"run_dir": "benchmarks/work/eqn", "wall_s": 5.5, "attempts": 2,
                                             "peak_rss_mb": 300, "commit": "abc", "machine": "m", "command": "c"}

    monkeypatch.setattr(reproduce, "train_run", eqn_run)
    reproduce.WORK.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"stages": {"coeqn": {"table3": 0.5, "history": {"best_epoch": 2}}}}))
    (folder / "provenance.json").write_text(json.dumps({"run_dir": "benchmarks/work/coeqn", "wall_s": 10.0,
                                                         "attempts": 1, "peak_rss_mb": 400}))
    row = reproduce.run_cell("bert", "goemotions", "eqn", 0, _args(), results)
    assert row["wall_s"] == 15.5 and row["attempts"] == 3 and row["peak_rss_mb"] == 400
    assert row["stages"]["coeqn"]["table3"] == 0.5 and row["stages"]["eqn"]["best_epoch"] == 3
    assert row["stage_runs"]["coeqn"]["run_dir"] == "benchmarks/work/coeqn" and row["run_dir"] == "benchmarks/work/eqn"
    assert extras == [["--regress-from", f"{folder}:coeqn"]]


def test_cost_table_lists_each_run_of_a_full_data_bert_cell(reproduce):
    run = {"machine": "m", "command": "eqn-keras train --seed 0", "attempts": 1}
    base = {**run, "arch": "bert", "dataset": "3tsa", "head": "single", "seed": 0, "epochs": 10, "max_train": None,
            "wall_s": 100.0, "peak_rss_mb": 2000, "commit": "aaa", "stages": {"single": {"best_epoch": 3}}}
    eqn = {**base, "head": "eqn", "wall_s": 3000.4, "attempts": 3, "peak_rss_mb": 4100, "commit": "bbb",
           "stages": {"coeqn": {"best_epoch": 3}, "eqn": {"best_epoch": 6}},
           "stage_runs": {"coeqn": {**run, "wall_s": 1000.2, "attempts": 2, "peak_rss_mb": 4100, "commit": "aaa"},
                          "eqn": {**run, "wall_s": 2000.2, "peak_rss_mb": 3900, "commit": "bbb"}}}
    reduced = {**base, "max_train": 4000, "dataset": "goemotions"}
    textcnn = {**base, "arch": "textcnn", "dataset": "6emotions"}
    assert reproduce.cost_table([reduced, textcnn]) is None  # table3.md then has no cost section
    rows = reproduce.cost_table([eqn, reduced, textcnn, base]).splitlines()[2:]
    assert rows == ["| 3tsa | single | 0 | ≤10 | single 3 | 100 | 1 | 2,000 | aaa |",
                    "| 3tsa | eqn | 0 | ≤10 | coeqn 3, eqn 6 | 1,000 + 2,000 = 3,000 | 2 + 1 | 4,100 / 3,900 | aaa, bbb |"]


def _row(head, seed, stages):
    return {"arch": "bert", "dataset": "goemotions", "head": head, "seed": seed, "epochs": 10, "max_train": None,
            "machine": "m", "stages": {s: {"table3_metric": "hit_rate", "table3": v, "macro_f1": v, "best_epoch": 1}
                                       for s, v in stages.items()}}


def test_table3_compares_heads_over_the_seeds_every_head_has(reproduce, tmp_path):
    from scipy import stats

    rows = [_row("multi", s, {"multi": 0.60 + s / 100}) for s in range(3)]
    rows += [_row("eqn", s, {"coeqn": 0.62, "eqn": 0.63 + 2 * s / 100}) for s in range(2)]
    line = next(l for l in reproduce.summarize(rows, tmp_path / "table3.jsonl").splitlines() if "| goemotions |" in l)
    cells = [c.strip() for c in line.split("|")]
    assert cells[12] == "2 (0, 1); left out: baseline seed 2"
    assert cells[6] == "0.6050 ± 0.0071"  # the baseline over seeds 0 and 1, not its own three (0.6100)
    p = stats.ttest_rel([0.63, 0.65], [0.60, 0.61]).pvalue
    assert cells[11] == f"+0.0350 (n=2, p={p:.3f})"  # (0.03 + 0.04) / 2 over the shared seeds
    assert cells[16] == "none"  # no stage run's scores in scores/ beside the results
    rows = [r for r in rows if r["seed"] < 2]
    line = next(l for l in reproduce.summarize(rows, tmp_path / "table3.jsonl").splitlines() if "| goemotions |" in l)
    assert [c.strip() for c in line.split("|")][12] == "2 (0, 1)"


def test_table3_counts_the_archived_scores_found_on_disk(reproduce, tmp_path):
    rows = [{**_row("multi", 0, {"multi": 0.6}), "run_dir": "benchmarks/work/goemotions-bert-multi-s0-e10"},
            {**_row("eqn", 0, {"coeqn": 0.6, "eqn": 0.6}), "run_dir": "benchmarks/work/goemotions-bert-eqn-s0-e10",
             "stage_runs": {"coeqn": {"run_dir": "benchmarks/work/goemotions-bert-coeqn-s0-e10"}}}]
    results = tmp_path / "table3.jsonl"
    assert reproduce.archived_count(rows, results) == "none"
    for name, stage in (("goemotions-bert-coeqn-s0-e10", "coeqn"), ("goemotions-bert-multi-s0-e10", "multi")):
        (tmp_path / "scores" / name).mkdir(parents=True)
        (tmp_path / "scores" / name / f"scores_{stage}.npz").write_bytes(b"")
    assert reproduce.archived_count(rows, results) == "2 of 3"  # the EQN stage's scores are not there


def test_paired_test_uses_shared_seeds_and_agrees_with_scipy(reproduce):
    from scipy import stats

    from benchmarks import common

    ours, base = {0: 0.50, 1: 0.47, 2: 0.52}, {0: 0.48, 1: 0.49}
    test = common.paired_test(ours, base)
    assert test["seeds"] == [0, 1] and test["n"] == 2 and test["mean"] == pytest.approx(0.0)
    ours[1] = 0.46
    test = common.paired_test(ours, base)
    expected = stats.ttest_rel([0.50, 0.46], [0.48, 0.49])
    assert test["p"] == pytest.approx(expected.pvalue)
    ci = expected.confidence_interval(0.95)
    assert (test["low"], test["high"]) == pytest.approx((ci.low, ci.high))
    assert common.paired_verdict(test) == "no detectable difference with 2 seeds (p ≥ 0.05)"
    assert common.paired_verdict(common.paired_test({0: 1.0}, {0: 0.5, 1: 0.4})) == "one seed: no test"
    assert common.paired_test({0: 1.0}, {1: 0.5}) is None
    ours, base = {s: 0.6 + 0.001 * s for s in range(5)}, {s: 0.5 - 0.002 * s for s in range(5)}
    assert common.paired_verdict(common.paired_test(ours, base)).startswith("higher in a paired t-test over 5 seeds")
