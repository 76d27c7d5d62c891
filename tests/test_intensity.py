"""eqn_keras.intensity: gold readers, emotion mapping, the correlation report and `eqn-keras intensity`."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import FILLER, WORDS, word_count_text
from eqn_keras.fileio import InputError
from eqn_keras.intensity import (GoldSet, intensity_report, load_gold, map_emotions, read_brighter, read_emoint,
                                 read_gold_files)


def brighter_frame(n=200, seed=0, emotions=("anger", "fear", "joy")):
    rng = np.random.default_rng(seed)
    ratings = rng.integers(0, 4, size=(n, len(emotions)))
    return pd.DataFrame({"id": [f"t{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)],
                         **{e: ratings[:, j] for j, e in enumerate(emotions)}})


def word_gold(n=150, seed=0):
    """Texts whose rated intensity per emotion is how many of its fixture words they hold (0-3)."""
    rng = np.random.default_rng(seed)
    texts, ratings = [], []
    for _ in range(n):
        text, counts = word_count_text(rng, filler=4)
        texts.append(text)
        ratings.append([counts[e] for e in WORDS])
    return pd.DataFrame({"id": range(n), "text": texts, **{e: [r[j] for r in ratings] for j, e in enumerate(WORDS)}})


def test_report_matches_scipy_on_every_metric(tmp_path):
    path = tmp_path / "gold.csv"
    brighter_frame().to_csv(path, index=False)
    gold = read_brighter(path)
    rng = np.random.default_rng(1)
    pred = gold.ratings * 2.0 + rng.normal(0, 2.5, size=gold.ratings.shape)
    report = intensity_report(pred, gold, resamples=200)
    rs = []
    for j, emotion in enumerate(gold.emotions):
        x, y = pred[:, j], gold.ratings[:, j]
        row = report["emotions"][emotion]
        assert row["pearson"]["value"] == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-4)
        assert row["spearman"]["value"] == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-4)
        assert row["pearson_moderate"]["value"] == pytest.approx(stats.pearsonr(x[y >= 1.5], y[y >= 1.5])[0], abs=1e-4)
        assert row["pearson_low"]["value"] == pytest.approx(stats.pearsonr(x[y < 1.5], y[y < 1.5])[0], abs=1e-4)
        low, high = row["pearson"]["ci95"]
        assert low < row["pearson"]["value"] < high
        rs.append(stats.pearsonr(x, y)[0])
    assert report["average"]["pearson"]["value"] == pytest.approx(np.mean(rs), abs=1e-4)
    assert gold.moderate == 1.5


def test_a_permutation_of_the_gold_drives_r_to_zero(tmp_path):
    path = tmp_path / "gold.csv"
    brighter_frame(n=3000, seed=2).to_csv(path, index=False)
    gold = read_brighter(path)
    pred = gold.ratings + np.random.default_rng(3).normal(0, 0.5, size=gold.ratings.shape)
    assert intensity_report(pred, gold, resamples=0)["average"]["pearson"]["value"] > 0.8
    shuffled = pred[np.random.default_rng(4).permutation(len(pred))]
    report = intensity_report(shuffled, gold, resamples=300)
    assert abs(report["average"]["pearson"]["value"]) < 0.05
    low, high = report["average"]["pearson"]["ci95"]
    assert low < 0 < high


def test_emoint_files_rate_one_emotion_each_and_resample_within_it(tmp_path):
    rng = np.random.default_rng(5)
    paths = []
    for emotion, n in (("joy", 40), ("fear", 25)):
        path = tmp_path / f"{emotion}.txt"
        path.write_text("".join(f"{i}\ttweet {emotion} {i}\t{emotion}\t{v:.3f}\n" for i, v in enumerate(rng.random(n))))
        paths.append(path)
    gold = read_emoint(paths)
    assert gold.emotions == ["joy", "fear"] and len(gold) == 65 and gold.scale == (0.0, 1.0)
    assert np.isnan(gold.ratings[:40, 1]).all() and np.isnan(gold.ratings[40:, 0]).all()
    pred = np.nan_to_num(gold.ratings) + rng.normal(0, 0.2, size=gold.ratings.shape)
    report = intensity_report(pred, gold, resamples=100)
    assert report["emotions"]["joy"]["texts"] == 40 and report["emotions"]["fear"]["texts"] == 25
    assert report["bootstrap"]["unit"].startswith("texts, resampled within each set")
    assert report["emotions"]["fear"]["pearson"]["value"] == pytest.approx(
        stats.pearsonr(pred[40:, 1], gold.ratings[40:, 1])[0], abs=1e-4)
    # read_gold_files tells the formats apart by extension
    assert read_gold_files(paths).emotions == ["joy", "fear"]


def test_map_emotions_case_insensitive_and_explicit():
    labels = ["Joy", "anger", "scared"]
    assert map_emotions(["joy", "ANGER"], labels) == [0, 1]
    assert map_emotions(["joy", "fear"], labels, "fear=scared") == [0, 2]
    with pytest.raises(InputError, match="gold emotion 'fear' has no label 'fear'.*mapping='fear=LABEL'"):
        map_emotions(["joy", "fear"], labels)
    with pytest.raises(InputError, match="surprise is not an emotion of the gold set"):
        map_emotions(["joy"], labels, "surprise=scared")
    with pytest.raises(InputError, match="not GOLD=LABEL"):
        map_emotions(["joy"], labels, "joy")


@pytest.mark.parametrize("content, name, needle", [
    ("id,words,anger\n1,hi,2\n", "g.csv", "no column 'text'"),
    ("id,text\n1,hi\n", "g.csv", "no emotion columns"),
    ("id,text,anger\n1,hi,2\n2,yo,4\n", "g.csv", "row 2: column 'anger' holds 4, outside the rating scale 0..3"),
    ("id,text,anger\n1,hi,lots\n", "g.csv", "row 1: column 'anger' holds 'lots'; expected a rating from 0 to 3"),
    ("", "g.csv", "file is empty"),
    ("1\thi\tjoy\t0.5\n2\tyo\tjoy\n", "g.txt", "g.txt:2: 3 tab-separated columns; expected 4"),
    ("1\thi\tjoy\t1.5\n", "g.txt", "g.txt:1: column 4 holds 1.5, outside the rating scale 0..1"),
    ("\n\n", "g.txt", "file is empty"),
])
def test_bad_gold_files_are_one_line_errors(tmp_path, content, name, needle):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")) as err:
        read_gold_files([path])
    assert "\n" not in str(err.value)


def test_named_gold_sets_are_found_by_their_cards(tmp_path):
    folder = tmp_path / "brighter-eng"
    folder.mkdir()
    brighter_frame(n=30, emotions=("anger", "fear", "joy", "sadness", "surprise")).to_csv(folder / "dev.csv", index=False)
    gold = load_gold("brighter-eng:dev", data_dir=tmp_path)
    assert gold.name == "brighter-eng:dev" and len(gold) == 30 and gold.scale == (0.0, 3.0)
    with pytest.raises(InputError, match="has no file 'test'"):
        load_gold("brighter-eng:test", data_dir=tmp_path)
    with pytest.raises(InputError, match="no such file"):
        load_gold(str(tmp_path / "missing.csv"))


def test_cli_intensity_on_a_run_follows_the_word_counts(tiny_run, tmp_path, capsys):
    from eqn_keras.cli import main

    gold_path = tmp_path / "words.csv"
    word_gold().to_csv(gold_path, index=False)
    out = tmp_path / "intensity.json"
    assert main(["intensity", str(tiny_run), "--gold", str(gold_path), "--resamples", "100", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "average" in printed and "Pearson" in printed
    report = json.loads(out.read_text())["eqn"][str(gold_path)]
    assert report["mapping"] == {e: e for e in WORDS}
    # the run learned which words carry which emotion: more of them, more energy
    assert report["average"]["spearman"]["value"] > 0.5
    # a permutation of the same gold ratings: nothing left to follow
    shuffled = word_gold()
    shuffled[list(WORDS)] = shuffled[list(WORDS)].sample(frac=1, random_state=0).to_numpy()
    shuffled.to_csv(gold_path, index=False)
    assert main(["intensity", str(tiny_run), "--gold", str(gold_path), "--resamples", "0", "--output", str(out),
                 "--stage", "coeqn"]) == 0
    stored = json.loads(out.read_text())
    assert set(stored) == {"eqn", "coeqn"}  # the earlier stage's report is kept
    assert abs(stored["coeqn"][str(gold_path)]["average"]["pearson"]["value"]) < 0.2


def test_cli_intensity_errors_are_one_line(tiny_run, tmp_path, capsys):
    from eqn_keras.cli import main

    gold_path = tmp_path / "g.txt"
    gold_path.write_text("1\tso happy\tjoy\t0.9\n2\tangry\tsurprise\t0.4\n")
    assert main(["intensity", str(tiny_run), "--gold", str(gold_path), "--resamples", "0"]) == 2
    err = capsys.readouterr().err
    assert "gold emotion 'surprise' has no label 'surprise'" in err and err.count("\n") == 1
    assert not (tiny_run / "intensity.json").exists()


def test_intensity_on_every_token_arch(arch_runs, tmp_path):
    from eqn_keras.intensity import evaluate_intensity

    rng = np.random.default_rng(0)
    gold_path = tmp_path / "joy.txt"
    gold_path.write_text("".join(f"{i}\t{' '.join(rng.choice(WORDS['joy'] + FILLER, size=6))}\tjoy\t{rng.random():.3f}\n"
                                 for i in range(30)))
    for arch, run in arch_runs.items():
        report = evaluate_intensity(run, str(gold_path), resamples=0, output=tmp_path / f"{arch}.json")
        assert report["emotions"]["joy"]["texts"] == 30 and report["stage"] == "coeqn", arch


def test_goldset_moderate_is_the_scale_middle():
    gold = GoldSet("x", ["a"], ["joy"], np.array([[0.5]]), (0.0, 1.0))
    assert gold.moderate == 0.5


def test_an_interval_survives_a_few_degenerate_resamples_and_moderate_includes_the_middle(tmp_path):
    """115 texts with only 6 rated 1 for an emotion: a resample can miss all 6 and leave r (gold < moderate)
    undefined there; the interval is taken over the other resamples. A rating at the middle counts as moderate."""
    rng = np.random.default_rng(0)
    ratings = np.zeros((115, 1))
    ratings[:6, 0], ratings[6:20, 0] = 1, rng.integers(2, 4, size=14)
    gold = GoldSet("g", [f"t{i}" for i in range(115)], ["anger"], ratings, (0.0, 3.0))
    pred = ratings + rng.normal(0, 0.7, size=ratings.shape)
    low, high = intensity_report(pred, gold, resamples=2000)["emotions"]["anger"]["pearson_low"]["ci95"]
    assert low is not None and high is not None and low < high
    half = GoldSet("h", ["a", "b", "c", "d", "e", "f"], ["joy"], np.array([[0.5], [0.5], [0.9], [0.1], [0.2], [0.3]]),
                   (0.0, 1.0))
    report = intensity_report(np.array([[1.0], [2.0], [3.0], [0.0], [0.5], [0.2]]), half, resamples=0)
    assert report["emotions"]["joy"]["texts_moderate"] == 3
    assert report["emotions"]["joy"]["pearson_moderate"]["value"] == pytest.approx(
        stats.pearsonr([1.0, 2.0, 3.0], [0.5, 0.5, 0.9])[0], abs=1e-4)
    assert report["bootstrap"]["unit"] == "texts"
