"""benchmarks/goemotions_report.py on a fake results file and fake run folders with synthetic scores."""

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from eqn_keras.rundir import save_scores

ROOT = Path(__file__).resolve().parent.parent

GOEMOTIONS = ["admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity",
              "desire", "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear",
              "gratitude", "grief", "joy", "love", "nervousness", "optimism", "pride", "realization", "relief",
              "remorse", "sadness", "surprise", "neutral"]
TFN = ["Bearish", "Bullish", "Neutral"]
# Made-up groupings of the 27 emotions (not the real mapping files), in their file format.
FAKE_GROUPINGS = {"ekman": {"warm": GOEMOTIONS[:9], "cold": GOEMOTIONS[9:18], "odd": GOEMOTIONS[18:27]},
                  "sentiment": {"up": GOEMOTIONS[:14], "down": GOEMOTIONS[14:27]}}


@pytest.fixture(scope="module")
def report():
    return importlib.import_module("benchmarks.goemotions_report")


@pytest.fixture(autouse=True)
def grouping_files(tmp_path_factory, monkeypatch):
    """Fake mapping files in a fake EQN_DATA_DIR and an empty cache, so no test reads real data or downloads."""
    data = tmp_path_factory.mktemp("data")
    (data / "goemotions").mkdir()
    for name, mapping in FAKE_GROUPINGS.items():
        (data / "goemotions" / f"{name}_mapping.json").write_text(json.dumps(mapping))
    monkeypatch.setenv("EQN_DATA_DIR", str(data))
    monkeypatch.setenv("EQN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    return data


def _section(md, heading):
    return md.split(heading)[1].split("\n## ")[0]


def _labels(rng, n, c, multi):
    rows = []
    for _ in range(n):
        k = int(rng.choice([1, 1, 1, 2, 3])) if multi else 1
        rows.append(tuple(sorted(rng.choice(c, size=k, replace=False).tolist())))
    return rows


def _scores(rng, labels, c, scale):
    out = rng.normal(0.0, 1.0, size=(len(labels), c))
    for i, row in enumerate(labels):
        out[i, list(row)] += 2.0
    return out * scale


def _run(tmp_path, rng, dataset, arch, head, seed, stages, names, commit="abc1234", labels=None):
    rel = f"work/{dataset}-{arch}-{head}-s{seed}"
    run_dir = tmp_path / rel
    run_dir.mkdir(parents=True)
    c, multi = len(names), dataset == "goemotions"
    labels = labels or {"dev": _labels(rng, 90, c, multi), "test": _labels(rng, 120, c, multi)}
    for stage in stages:
        scale = 1.0 if stage == "multi" else 2.5
        scores = {role: _scores(rng, labels[role], c, scale) for role in ("dev", "test")}
        save_scores(run_dir / f"scores_{stage}.npz", scores, labels, c)
    (run_dir / "config.json").write_text(json.dumps({"config": {"arch": arch, "seed": seed},
                                                     "dataset": {"name": dataset, "label_names": names}}))
    (run_dir / "metrics.json").write_text(json.dumps({"dataset": dataset, "stages": {}}))
    return {"arch": arch, "dataset": dataset, "head": head, "seed": seed, "epochs": 2, "max_train": None,
            "run_dir": rel, "commit": commit, "machine": "test machine",
            "command": f"eqn-keras train --arch {arch} --data {dataset} --head {head} --seed {seed}",
            "stages": {s: {} for s in stages}}


def _write_results(tmp_path, rows):
    path = tmp_path / "table3.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_report_tables_and_heatmaps(report, tmp_path):
    rng = np.random.default_rng(0)
    rows = [_run(tmp_path, rng, "goemotions", "textcnn", "eqn", s, ("coeqn", "eqn"), GOEMOTIONS) for s in (0, 1)]
    rows += [_run(tmp_path, rng, "goemotions", "textcnn", "multi", s, ("multi",), GOEMOTIONS) for s in (0, 1)]
    rows.append(_run(tmp_path, rng, "3tfn", "textcnn", "eqn", 0, ("coeqn", "eqn"), TFN))
    rows.append(_run(tmp_path, rng, "goemotions", "lstm", "eqn", 0, ("coeqn", "eqn"), GOEMOTIONS))  # other arch
    results, out = _write_results(tmp_path, rows), tmp_path / "out"

    assert report.main(["--arch", "textcnn", "--results", str(results), "--out", str(out),
                        "--root", str(tmp_path)]) == 0
    md = (out / "goemotions_textcnn.md").read_text()
    for heading in ("## Table 4", "## Table 5", "## Table 6", "## Macro-F1 under two threshold rules",
                    "## Ekman grouping", "## Sentiment grouping", "## What the paper does not report",
                    "## Ours against the published figures", "## Threshold search: exact against a grid",
                    "## Differences to the sigmoid head over seeds", "## Pearson correlation heatmaps"):
        assert heading in md
    assert _section(md, "## Differences to the sigmoid head over seeds").count("| EQN − sigmoid |") == 4
    rules = _section(md, "## Macro-F1 under two threshold rules")
    assert "| paper EQN (BERT-base, Table 6) | as reported | 0.52 |" in rules
    assert "| GoEmotions paper BERT-base (Demszky et al. 2020) | as reported | 0.46 |" in rules
    for stage in ("sigmoid baseline", "CoEQN", "EQN"):  # both rules, two seeds each
        assert f"| ours {stage} | one global threshold (dev macro-F1) | " in rules
        assert f"| ours {stage} | per-label thresholds (each label's dev F1) | " in rules
    assert rules.count("(n=2)") == 2 * 2 * 3
    for line in (x for x in rules.splitlines() if x.startswith("| ours ")):  # each seed's values, next to their mean
        cells = [c.strip() for c in line.strip("|").split("|")]
        per_seed = [part.split(": ")[1].split(" / ") for part in cells[4].split(", ")]
        assert [part.split(":")[0] for part in cells[4].split(", ")] == ["seed 0", "seed 1"]
        for column, index in ((2, 0), (3, 1)):
            mean = float(cells[column].split(" ± ")[0])
            assert abs(mean - np.mean([float(v[index]) for v in per_seed])) <= 1e-4 + 1e-9
    ekman, sentiment = _section(md, "## Ekman grouping"), _section(md, "## Sentiment grouping")
    assert "| 0.64 |" in ekman and "| 0.69 |" in sentiment
    for text, mapping in ((ekman, FAKE_GROUPINGS["ekman"]), (sentiment, FAKE_GROUPINGS["sentiment"])):
        assert text.count("(n=2)") == 2 * 2 * 3
        for group in [*mapping, "neutral", "**macro-average**"]:
            assert f"| {group} | " in text
    assert "BERT-base; ours are textcnn" in md
    assert "work/goemotions-textcnn-eqn-s0" in md and "abc1234" in md and "test machine" in md
    assert "eqn-keras train --arch textcnn --data goemotions --head multi --seed 0" in md
    assert "work/goemotions-lstm" not in md  # only the chosen arch
    # the paper's numbers sit next to ours
    assert "| 2416 | 0.5264 |" in md and "| 3417 | 0.5399 |" in md and "+761" in md and "0.7795" in md
    table6 = md.split("## Table 6")[1].split("## What")[0]
    assert all(f"| {name} |" in table6 for name in GOEMOTIONS)
    assert "| **macro-average** |" in table6 and "| **std** |" in table6
    assert "| 0.40 | 0.63 | 0.46 | 0.52 | 0.49 | 0.50 | 0.56 | 0.51 | 0.52 |" in table6
    # two seeds per stage: mean ± std over seeds
    summary = md.split("## What the paper does not report")[1].split("## Pearson")[0]
    assert "macro-F1" in summary and "micro-F1" in summary and "hit rate" in summary
    assert summary.count("(n=2)") >= 3 * 9
    assert "mean |r| CoEQN" in md and ("increased" in md or "decreased" in md)
    for name in ("goemotions_textcnn_pearson_coeqn.png", "goemotions_textcnn_pearson_eqn.png",
                 "3tfn_textcnn_pearson_coeqn.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert f"]({name})" in md
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left behind
    assert "under-trained" not in md  # the fake runs record no best epoch


def test_report_flags_stages_stopped_by_the_epoch_limit(report, tmp_path):
    rng = np.random.default_rng(1)
    eqn = _run(tmp_path, rng, "goemotions", "bert", "eqn", 0, ("coeqn", "eqn"), GOEMOTIONS)
    base = _run(tmp_path, rng, "goemotions", "bert", "multi", 0, ("multi",), GOEMOTIONS)
    # Patience 2: early stopping can end a 10-epoch stage only if its best epoch is 8 or earlier.
    eqn["stages"] = {"coeqn": {"best_epoch": 9}, "eqn": {"best_epoch": 8}}
    base["stages"] = {"multi": {"best_epoch": 10}}
    eqn["epochs"] = base["epochs"] = 10
    results, out = _write_results(tmp_path, [eqn, base]), tmp_path / "out"
    assert report.main(["--arch", "bert", "--results", str(results), "--out", str(out), "--root", str(tmp_path)]) == 0
    md = (out / "goemotions_bert.md").read_text()
    assert "- CoEQN seed 0: the epoch limit (10) ended it, not early stopping (best epoch 9)" in md
    assert "- sigmoid baseline seed 0: the epoch limit (10) ended it, not early stopping (best epoch 10)" in md
    assert "EQN seed 0: the epoch limit" not in md.replace("CoEQN seed 0: the epoch limit", "")


def test_report_compares_runs_of_one_setup(report, tmp_path):
    """A reduced-budget baseline is not set against a full EQN run: every head comes from the EQN run's setup."""
    rng = np.random.default_rng(6)
    eqn = _run(tmp_path, rng, "goemotions", "bert", "eqn", 0, ("coeqn", "eqn"), GOEMOTIONS)
    reduced_eqn = {**eqn, "epochs": 2, "max_train": 4000, "run_dir": "work/reduced-eqn"}
    full_base = _run(tmp_path, rng, "goemotions", "bert", "multi", 0, ("multi",), GOEMOTIONS)
    reduced_base = {**full_base, "epochs": 2, "max_train": 4000, "run_dir": "work/reduced-multi"}
    eqn["epochs"] = full_base["epochs"] = 10
    results, out = _write_results(tmp_path, [reduced_eqn, reduced_base, eqn, full_base]), tmp_path / "out"
    assert report.main(["--arch", "bert", "--results", str(results), "--out", str(out), "--root", str(tmp_path)]) == 0
    md = (out / "goemotions_bert.md").read_text()
    assert "Every GoEmotions run below has one setup, that of the seed-0 EQN run: at most 10 epochs, all training texts" in md
    assert "reduced-" not in md and "work/goemotions-bert-multi-s0/scores_multi.npz" in md
    # with only a reduced baseline, its columns stay empty rather than mixing budgets
    results = _write_results(tmp_path, [reduced_base, eqn])
    assert report.main(["--arch", "bert", "--results", str(results), "--out", str(out), "--root", str(tmp_path)]) == 0
    md = (out / "goemotions_bert.md").read_text()
    assert "no goemotions bert multi (sigmoid baseline) scores for seed 0" in md and "reduced-" not in md


def test_report_numbers_match_the_metrics_module(report, tmp_path):
    rng = np.random.default_rng(1)
    rows = [_run(tmp_path, rng, "goemotions", "lstm", "eqn", 0, ("coeqn", "eqn"), GOEMOTIONS)]
    out = tmp_path / "out"
    assert report.main(["--arch", "lstm", "--results", str(_write_results(tmp_path, rows)), "--out", str(out),
                        "--root", str(tmp_path)]) == 0
    md = (out / "goemotions_lstm.md").read_text()
    from eqn_keras import metrics
    from eqn_keras.rundir import load_scores

    scores = load_scores(tmp_path / rows[0]["run_dir"] / "scores_eqn.npz")
    rate = metrics.hit_rate(*scores["test"])
    threshold = metrics.tune_threshold(*scores["dev"])
    macro_f1 = metrics.per_label_prf(*scores["test"], threshold, GOEMOTIONS).loc["macro-average", "f1"]
    assert f"| {rate:.4f} (n=1) |" in md
    assert f"| {macro_f1:.4f} (n=1) |" in md
    per_label = metrics.tune_label_thresholds(*scores["dev"])
    macro_label = metrics.threshold_prf(*scores["test"], per_label)["macro_f1"]
    micro_label = metrics.threshold_prf(*scores["test"], per_label)["micro_f1"]
    assert (f"| ours EQN | per-label thresholds (each label's dev F1) | {macro_label:.4f} (n=1) | {micro_label:.4f} "
            f"(n=1) | seed 0: {macro_label:.4f} / {micro_label:.4f} |") in md
    from eqn_keras import groupings

    ekman = FAKE_GROUPINGS["ekman"]
    dev_s, dev_l, names = groupings.map_to_groups(*scores["dev"], GOEMOTIONS, ekman)
    test_s, test_l, _ = groupings.map_to_groups(*scores["test"], GOEMOTIONS, ekman)
    h = metrics.tune_threshold(dev_s, dev_l)
    group_f1 = metrics.per_label_prf(test_s, test_l, h, names)["f1"]
    section = _section(md, "## Ekman grouping")
    assert f"| ours EQN | one global threshold (dev macro-F1) | {group_f1['macro-average']:.4f} (n=1) |" in section
    assert f"| warm | {int((np.asarray([0 in g for g in test_l])).sum())} | " in section
    assert f" {group_f1['cold']:.4f} |" in section
    # no baseline and no 3tfn run: the report still appears, saying what is missing
    assert "sigmoid baseline) scores for seed 0" in md
    assert "no 3tfn lstm eqn run" in md and not (out / "3tfn_lstm_pearson_coeqn.png").exists()
    assert (out / "goemotions_lstm_pearson_eqn.png").is_file()


def test_report_without_mapping_files_skips_the_grouping_sections(report, tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    rows = [_run(tmp_path, rng, "goemotions", "textcnn", "eqn", 0, ("coeqn", "eqn"), GOEMOTIONS)]

    def missing(name, data_dir=None):
        raise report.InputError(f"{name}_mapping.json not found")

    monkeypatch.setattr(report.G, "load_grouping", missing)
    out = tmp_path / "out"
    assert report.main(["--arch", "textcnn", "--results", str(_write_results(tmp_path, rows)), "--out", str(out),
                        "--root", str(tmp_path)]) == 0
    md = (out / "goemotions_textcnn.md").read_text()
    assert "Skipped: no ekman mapping (ekman_mapping.json not found)" in _section(md, "## Ekman grouping")
    assert "Skipped: no sentiment mapping" in _section(md, "## Sentiment grouping")
    assert "## Macro-F1 under two threshold rules" in md


def test_report_reads_mapping_files_from_data_dir(report, tmp_path):
    rng = np.random.default_rng(4)
    rows = [_run(tmp_path, rng, "goemotions", "textcnn", "eqn", 0, ("coeqn", "eqn"), GOEMOTIONS)]
    data = tmp_path / "other-data" / "goemotions"
    data.mkdir(parents=True)
    (data / "ekman_mapping.json").write_text(json.dumps({"all": GOEMOTIONS[:27]}))
    (data / "sentiment_mapping.json").write_text(json.dumps({"all": GOEMOTIONS[:27]}))
    out = tmp_path / "out"
    assert report.main(["--arch", "textcnn", "--results", str(_write_results(tmp_path, rows)), "--out", str(out),
                        "--root", str(tmp_path), "--data-dir", str(tmp_path / "other-data")]) == 0
    ekman = _section((out / "goemotions_textcnn.md").read_text(), "## Ekman grouping")
    assert str(data / "ekman_mapping.json") not in ekman  # the file name only, with where it came from
    assert "`ekman_mapping.json`, from data_dir, **sha256 differs from the dataset card" in ekman
    assert "| all | " in ekman and "| warm | " not in ekman


def _write_goemotions(folder, labels):
    """GoEmotions-format TSVs (text, label ids, id; no header) holding `labels` per split."""
    for role, rows in labels.items():
        lines = [f"text {role} {i}\t{','.join(map(str, row))}\tid{i}\n" for i, row in enumerate(rows)]
        (folder / "goemotions" / f"{role}.tsv").write_text("".join(lines))


def test_report_reads_archived_scores_once_the_run_dirs_are_gone(report, tmp_path, grouping_files, capsys):
    import shutil

    from benchmarks import common

    rng = np.random.default_rng(5)
    labels = {"train": _labels(rng, 40, 28, True), "dev": _labels(rng, 90, 28, True),
              "test": _labels(rng, 120, 28, True)}
    rows = [_run(tmp_path, rng, "goemotions", "bert", "eqn", 0, ("coeqn", "eqn"), GOEMOTIONS, labels=labels),
            _run(tmp_path, rng, "goemotions", "bert", "multi", 0, ("multi",), GOEMOTIONS, labels=labels)]
    # the EQN cell as reproduce.py runs it now: its CoEQN stage in a run directory of its own
    coeqn = tmp_path / "work" / "goemotions-bert-coeqn-s0"
    coeqn.mkdir()
    for name in ("config.json", "metrics.json"):
        (coeqn / name).write_bytes((tmp_path / rows[0]["run_dir"] / name).read_bytes())
    (tmp_path / rows[0]["run_dir"] / "scores_coeqn.npz").rename(coeqn / "scores_coeqn.npz")
    rows[0]["stage_runs"] = {"coeqn": {"run_dir": "work/goemotions-bert-coeqn-s0", "commit": "c0e0c0e",
                                       "command": "eqn-keras train --stages 1"},
                             "eqn": {"run_dir": rows[0]["run_dir"], "commit": "e0e0e0e", "command": "eqn-keras train"}}
    results = _write_results(tmp_path, rows)
    args = ["--arch", "bert", "--results", str(results), "--root", str(tmp_path)]
    assert report.main([*args, "--out", str(tmp_path / "from-runs")]) == 0
    archived = [p for row in rows for p in common.archive_scores(row, results, root=tmp_path)]
    assert sorted(str(p.relative_to(tmp_path / "scores")) for p in archived) == [
        "goemotions-bert-coeqn-s0/config.json", "goemotions-bert-coeqn-s0/metrics.json",
        "goemotions-bert-coeqn-s0/scores_coeqn.npz",
        "goemotions-bert-eqn-s0/config.json", "goemotions-bert-eqn-s0/metrics.json", "goemotions-bert-eqn-s0/scores_eqn.npz",
        "goemotions-bert-multi-s0/config.json", "goemotions-bert-multi-s0/metrics.json",
        "goemotions-bert-multi-s0/scores_multi.npz"]
    with np.load(tmp_path / "scores" / "goemotions-bert-eqn-s0" / "scores_eqn.npz") as data:
        assert sorted(data.files) == ["dev", "dev_labels_sha256", "test", "test_labels_sha256"]  # no labels
    assert common.archive_scores(rows[0], results, root=tmp_path) == []  # kept files are not rewritten

    # a run redone under the same name replaces its archive; a run dir that is not the row's run is not archived
    redone = json.loads((tmp_path / rows[1]["run_dir"] / "metrics.json").read_text())
    (tmp_path / rows[1]["run_dir"] / "metrics.json").write_text(json.dumps({**redone, "note": "redone"}))
    assert common.archive_scores(rows[1], results, root=tmp_path)  # rewritten
    other = {**rows[1], "stages": {"multi": {"table3": 0.5}}}
    assert common.archive_scores(other, results, root=tmp_path) == []
    assert "is not the one in the results row" in capsys.readouterr().err

    shutil.rmtree(tmp_path / "work")
    _write_goemotions(grouping_files, labels)
    assert report.main([*args, "--out", str(tmp_path / "from-archive")]) == 0
    before = (tmp_path / "from-runs" / "goemotions_bert.md").read_text()
    after = (tmp_path / "from-archive" / "goemotions_bert.md").read_text()
    assert after.split("## Table 4")[1] == before.split("## Table 4")[1]  # every table and figure caption
    assert "scores/goemotions-bert-coeqn-s0/scores_coeqn.npz" in after and "skipped (" not in after
    # each stage run is listed with its own commit and command, not the EQN row's
    runs = _section(after, "### Runs")
    assert "| goemotions eqn (coeqn) | 0 | `" in runs and "scores/goemotions-bert-coeqn-s0/scores_coeqn.npz` | c0e0c0e |" in runs
    assert "`eqn-keras train --stages 1`" in runs and "| e0e0e0e |" in runs and "abc1234 | test machine | 2 | full | `eqn-keras train --arch bert --data goemotions --head eqn" not in runs

    # a dataset whose test labels are not the scored ones is refused, naming the archive file
    labels["test"][7] = (27,) if labels["test"][7] != (27,) else (0,)
    _write_goemotions(grouping_files, labels)
    assert report.main([*args, "--out", str(tmp_path / "changed")]) == 2
    err = capsys.readouterr().err
    assert "goemotions-bert-coeqn-s0/scores_coeqn.npz: the test labels of dataset 'goemotions'" in err


def test_missing_eqn_run_is_an_error(report, tmp_path, capsys):
    rng = np.random.default_rng(2)
    rows = [_run(tmp_path, rng, "goemotions", "textcnn", "eqn", 1, ("coeqn", "eqn"), GOEMOTIONS)]
    out = tmp_path / "out"
    code = report.main(["--arch", "textcnn", "--results", str(_write_results(tmp_path, rows)), "--out", str(out),
                        "--root", str(tmp_path)])
    assert code == 2
    assert "seed 0" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_paper_table6_transcription(report):
    t = report.PAPER_TABLE6
    assert len(report.PAPER_LABELS) == 28 and sorted(report.PAPER_LABELS) == sorted(GOEMOTIONS)
    macro = t.loc["macro-average"]
    assert list(macro[["coeqn_p", "coeqn_r", "coeqn_f1"]]) == [0.52, 0.49, 0.50]
    assert list(macro[["eqn_p", "eqn_r", "eqn_f1"]]) == [0.56, 0.51, 0.52]
    assert list(macro[["lit_p", "lit_r", "lit_f1"]]) == [0.4, 0.63, 0.46]
    # the 28 transcribed rows reproduce the printed macro-average and (population) std rows
    body = t.loc[report.PAPER_LABELS]
    np.testing.assert_allclose(body.mean().round(2), t.loc["macro-average"], atol=0.0051)
    np.testing.assert_allclose(body.std(ddof=0), t.loc["std"], atol=0.0051)
    # spot checks against the paper's text
    assert list(t.loc["grief"]) == [0, 0, 0, 0.25, 0.17, 0.20, 1.00, 0.33, 0.50]
    assert list(t.loc["relief"]) == [0.5, 0.09, 0.15, 0.61, 0.75, 0.67, 0.58, 0.63, 0.60]
    # Tables 4 and 5 are internally consistent
    t4, t5 = report.PAPER_TABLE4, report.PAPER_TABLE5
    for stage in ("coeqn", "eqn"):
        assert ((t4[f"{stage}_hits"] / t4["labels"]).round(4) == t4[f"{stage}_hit_rate"]).all()
        assert t4.loc[t4.index != "Total", f"{stage}_hits"].sum() == t4.loc["Total", f"{stage}_hits"]
    assert t4.loc[t4.index != "Total", ["texts", "labels"]].sum().tolist() == t4.loc["Total", ["texts", "labels"]].tolist()
    assert t5["hits"].tolist() == [2416, 3177, 3578]  # the printed 2416, +761, +401 summed up
    assert ((t5["hits"] / t5["texts"]).round(4) == t5["hit_rate"]).all()
    assert t5.loc["Top1", "hits"] == t4.loc["1 label", "coeqn_hits"]  # Table 5 is the CoEQN stage
    # the summary's paper columns are these tables' cells
    assert report.PAPER_SUMMARY["macro_precision"] == (0.52, 0.56)
    assert report.PAPER_SUMMARY["top1"] == (0.5264, 0.5521) and report.PAPER_SUMMARY["top3"] == (0.7795, None)
    assert dict(report.PAPER_MACRO_F1["ekman"])[report.GOEMOTIONS_PAPER] == 0.64


def test_paper_table3_transcription():
    """reproduce.py's paper column comes from benchmarks/paper/table3.csv: every cell of Table 3, S/M row first."""
    from benchmarks import reproduce

    paper = reproduce.PAPER
    assert len(paper) == 25 and {a for a, _ in paper} == set(reproduce.ARCHS)
    assert set(reproduce.DATASETS) | {"7health"} == {d for _, d in paper}
    assert paper[("lstm", "3tfn")] == (0.8099, 0.8073)  # one of the cells where the EQN row is lower
    assert paper[("bert", "goemotions")] == (0.4665, 0.4849) and paper[("ann", "7health")] == (0.3202, 0.374)


def test_report_names_files_under_a_symlinked_work_dir_by_their_repository_path(report, tmp_path):
    """benchmarks/work is often a symlink to another clone's runs; the report must still print a repository path,
    not this machine's absolute one."""
    (tmp_path / "elsewhere").mkdir()
    link = report.ROOT / "benchmarks" / f"work-link-test-{tmp_path.name}"
    link.symlink_to(tmp_path / "elsewhere")
    try:
        shown = report.shown_path(link / "run" / "scores_eqn.npz")
    finally:
        link.unlink()
    assert shown == f"benchmarks/work-link-test-{tmp_path.name}/run/scores_eqn.npz"
    assert report.shown_path(tmp_path / "x.npz") == str(tmp_path / "x.npz")


def _stage_eval(rng, labels, c, scale, threshold=1.0):
    scores = _scores(rng, labels, c, scale)
    return {"test": (scores, labels), "threshold": threshold, "label_thresholds": np.linspace(0.5, 2.0, c)}


def test_resampled_metrics_match_scikit_learn_and_the_metrics_module(report):
    from sklearn.metrics import f1_score

    from eqn_keras import metrics

    rng = np.random.default_rng(7)
    c = len(GOEMOTIONS)
    labels = _labels(rng, 300, c, multi=True)
    e = _stage_eval(rng, labels, c, 1.0)
    scores, truth = e["test"][0], metrics.multi_hot(labels, c)
    fns = report.text_metrics(e)
    batch = rng.integers(0, len(labels), size=(4, len(labels)))  # 4 resamples at once, as scipy passes them
    for key, predicted, average in (("macro_f1", scores >= 1.0, "macro"), ("micro_f1", scores >= 1.0, "micro"),
                                    ("macro_f1_per_label_thresholds", scores >= e["label_thresholds"], "macro")):
        expected = [f1_score(truth[i], predicted[i], labels=np.arange(c), average=average, zero_division=0)
                    for i in batch]
        np.testing.assert_allclose(fns[key](batch), expected, rtol=1e-12)
    np.testing.assert_allclose(fns["hit_rate"](batch),
                               [metrics.hit_rate(scores[i], [labels[j] for j in i]) for i in batch], rtol=1e-12)


def test_bootstrap_of_a_head_against_itself_and_against_a_clearly_better_one(report):
    rng = np.random.default_rng(8)
    c = len(GOEMOTIONS)
    labels = _labels(rng, 400, c, multi=True)
    weak = _stage_eval(rng, labels, c, 1.0)
    for key, d, low, high, share in report.bootstrap_differences(weak, weak, 200):
        assert (d, low, high, share) == (0.0, 0.0, 0.0, 0.0), key
    strong = {**weak, "test": (weak["test"][0] + 3.0 * report.M.multi_hot(labels, c), labels)}  # true labels up
    whole = report.text_metrics(strong)["macro_f1"](np.arange(400)) - report.text_metrics(weak)["macro_f1"](np.arange(400))
    results = {key: rest for key, *rest in report.bootstrap_differences(strong, weak, 200)}
    assert results["macro_f1"][0] == pytest.approx(whole)
    for key, (d, low, high, share) in results.items():
        assert 0 < low <= d <= high and share == 1.0, key


def test_report_has_the_noise_section_and_refuses_to_pair_different_test_sets(report, tmp_path):
    rng = np.random.default_rng(9)
    labels = {"dev": _labels(rng, 90, 28, True), "test": _labels(rng, 120, 28, True)}
    rows = [_run(tmp_path, rng, "goemotions", "cnn", "eqn", 0, ("coeqn", "eqn"), GOEMOTIONS, labels=labels),
            _run(tmp_path, rng, "goemotions", "cnn", "multi", 0, ("multi",), GOEMOTIONS, labels=labels)]
    out = tmp_path / "out"
    args = ["--arch", "cnn", "--results", str(_write_results(tmp_path, rows)), "--out", str(out),
            "--root", str(tmp_path), "--resamples", "100"]
    assert report.main(args) == 0
    noise = _section((out / "goemotions_cnn.md").read_text(), "## Test-set noise of the differences")
    from eqn_keras import metrics
    from eqn_keras.rundir import load_scores

    eqn, multi = (load_scores(tmp_path / r["run_dir"] / f"scores_{s}.npz")["test"]
                  for r, s in ((rows[0], "eqn"), (rows[1], "multi")))
    d = metrics.hit_rate(*eqn) - metrics.hit_rate(*multi)
    assert f"| EQN − sigmoid | hit rate | {d:+.4f} | [" in noise
    assert noise.count("| CoEQN − sigmoid |") == 4 and "100 resamples" in noise
    # a baseline scored on another test set is not paired with the EQN run
    rows[1] = _run(tmp_path / "other", rng, "goemotions", "cnn", "multi", 0, ("multi",), GOEMOTIONS)
    rows[1]["run_dir"] = "other/" + rows[1]["run_dir"]
    assert report.main(args[:3] + [str(_write_results(tmp_path, rows))] + args[4:]) == 0
    noise = _section((out / "goemotions_cnn.md").read_text(), "## Test-set noise of the differences")
    assert "not compared: the two runs' test label sets differ" in noise and "| hit rate |" not in noise


def _seed_eval(report, hit, macro, macro_label, micro):
    return {"hit_rate": hit, "macro_f1": macro, "macro_f1" + report.M.LABEL_RULE_SUFFIX: macro_label,
            "micro_f1": micro}


def test_seed_differences_are_paired_over_shared_seeds_with_a_t_test(report):
    from scipy import stats

    multi = {0: _seed_eval(report, 0.60, 0.40, 0.45, 0.50), 1: _seed_eval(report, 0.605, 0.42, 0.47, 0.51),
             2: _seed_eval(report, 0.50, 0.30, 0.30, 0.40)}  # a seed EQN lacks: left out of every difference
    eqn = {0: _seed_eval(report, 0.61, 0.41, 0.45, 0.501), 1: _seed_eval(report, 0.625, 0.41, 0.50, 0.512)}
    text = report.seed_noise_section({"multi": multi, "eqn": eqn, "coeqn": {0: eqn[0]}})
    rows = {line.split(" | ")[1]: [c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| EQN − sigmoid")}
    hit = rows["hit rate"]
    assert hit[2:5] == ["seed 0: +0.0100, seed 1: +0.0200", "+0.0150", "2"]
    expected = stats.ttest_rel([0.61, 0.625], [0.60, 0.605])
    ci = expected.confidence_interval(0.95)
    assert hit[5] == f"{expected.pvalue:.3f}" and hit[6] == f"[{ci.low:+.4f}, {ci.high:+.4f}]"
    assert hit[7] == "no detectable difference with 2 seeds (p ≥ 0.05)"
    coeqn = [line for line in text.splitlines() if line.startswith("| CoEQN − sigmoid")]
    assert len(coeqn) == 4 and all("| seed 0: " in line and "one seed: no test" in line for line in coeqn)
    assert "Skipped" in report.seed_noise_section({"eqn": eqn})


def test_head_tables_use_the_seeds_every_head_has(report):
    ev = {k: 0.0 for k, _ in report.SUMMARY_METRICS}
    all_seeds = {"multi": {0: {**ev, "macro_f1": 0.40}, 1: {**ev, "macro_f1": 0.42}, 2: {**ev, "macro_f1": 0.60}},
                 "coeqn": {0: {**ev, "macro_f1": 0.41}, 1: {**ev, "macro_f1": 0.43}},
                 "eqn": {0: {**ev, "macro_f1": 0.45}, 1: {**ev, "macro_f1": 0.47}}}
    shared = report.shared_seeds(*all_seeds.values())
    assert shared == [0, 1]
    text = report.summary_section(all_seeds, 0, shared)
    line = next(x for x in text.splitlines() if x.startswith("| macro-F1"))
    assert "| 0.4100 ± 0.0141 (n=2) | 0.4200 ± 0.0141 (n=2) | 0.4600 ± 0.0141 (n=2) |" in line  # not 0.4733 (n=3)
    assert "over the 2 seeds every head has (0, 1); left out of the means: sigmoid baseline seed 2" in text


def test_published_figures_are_compared_at_their_precision(report):
    suffix = report.M.LABEL_RULE_SUFFIX
    keys = ("macro_f1", "macro_precision", "macro_recall")
    ev = {**{k: 0.30 for k in keys}, **{k + suffix: 0.30 for k in keys}, "groups": {}}
    all_seeds = {"multi": {0: {**ev, "macro_f1" + suffix: 0.5055}}, "eqn": {0: {**ev, "macro_f1" + suffix: 0.4978}}}
    text = report.published_section(all_seeds, [0])
    coeqn = next(x for x in text.splitlines() if x.startswith("| EQN paper CoEQN") and "macro-F1" in x)
    # paper CoEQN macro-F1 0.50: the sigmoid's 0.5055 is above it, EQN's 0.4978 equal at 2 decimals, 0.30 below
    assert "| 0.5055 (higher) |" in coeqn and "| 0.4978 (equal at 2 decimals) |" in coeqn and "0.3000 (lower)" in coeqn
    assert "EQN paper EQN (BERT-base, Table 6) 28-label macro-F1 0.52 (ours at best 0.51)" \
        in text.split("Reached by none")[1]


def test_recorded_values_are_checked_against_the_candidates_their_run_searched(report):
    rng = np.random.default_rng(3)
    c = len(GOEMOTIONS)
    labels = {role: _labels(rng, n, c, True) for role, n in (("dev", 90), ("test", 120))}
    e = report.evaluate_stage({role: (_scores(rng, labels[role], c, 2.5), labels[role]) for role in labels},
                              GOEMOTIONS)
    assert e["threshold_candidates"] == "every distinct dev score" and e["threshold"] != e["grid"]["threshold"]
    exact = {k: e[k] for k in ("hit_rate", "macro_f1", "threshold")}
    grid = {**exact, "macro_f1": e["grid"]["macro_f1"], "threshold": e["grid"]["threshold"]}
    # a row that names no candidates was tuned on the grid, as training did before rows named them
    assert report.consistency_notes({"seed": 0, "stages": {"eqn": grid}}, "eqn", e) == ([], 3)
    notes, _ = report.consistency_notes({"seed": 0, "stages": {"eqn": exact}}, "eqn", e)
    assert any("threshold" in n and "differs" in n for n in notes)
    named = {**exact, "threshold_candidates": "every distinct dev score"}
    assert report.consistency_notes({"seed": 0, "stages": {"eqn": named}}, "eqn", e) == ([], 3)
