"""Training on graded targets: a user file whose label cells are rated intensities (`--target-cols`)."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import WORDS, word_count_text
from eqn_keras.datasets import load_dataset
from eqn_keras.fileio import InputError
from eqn_keras.labels import graded_full_labels, regress_labels, rescale_ratings


def test_ratings_rescale_to_the_energy_range_and_unrated_cells_stay_nan():
    energies = rescale_ratings(np.array([[0, 1, 2, 3, np.nan]]), (0, 3))
    np.testing.assert_allclose(energies[0, :4], [0, 10 / 3, 20 / 3, 10], rtol=1e-6)
    assert np.isnan(energies[0, 4])
    np.testing.assert_allclose(graded_full_labels(energies)[0], [0, 10 / 3, 20 / 3, 10, 0], rtol=1e-6)


def test_regression_keeps_every_rated_cell_and_fills_only_the_unrated():
    rated = np.array([[0.0, 10 / 3, np.nan], [np.nan, 20 / 3, 0.0]], dtype=np.float32)
    labels = [(1,), (1,)]  # rated above 0: must not be pushed to 10 as annotated labels are
    scores = np.array([[7.0, 1.0, 4.0], [12.0, 2.0, 9.0]], dtype=np.float32)
    out = regress_labels(labels, scores, rated=rated)
    np.testing.assert_allclose(out, [[0.0, 10 / 3, 4.0], [10.0, 20 / 3, 0.0]], rtol=1e-6)


def graded_frame(n=240, seed=0, holes=0.15, fear=None):
    """Texts rated per emotion by how many of its fixture words they hold (0-3); some cells left empty."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        text, counts = word_count_text(rng, filler=3)
        row = {"text": text, **{e: str(c) for e, c in counts.items()}}
        if fear is not None:
            row["fear"] = fear
        for e in WORDS:
            if rng.random() < holes:
                row[e] = ""
        rows.append(row)
    return pd.DataFrame(rows)


def test_graded_loader_reads_ratings_labels_and_scale(tmp_path):
    path = tmp_path / "rated.csv"
    frame = graded_frame(60)
    frame.to_csv(path, index=False)
    splits = load_dataset(str(path), target_cols="joy,anger,fear", target_range="0,3")
    assert splits.label_names == ["joy", "anger", "fear"] and splits.rating_scale == (0.0, 3.0)
    assert splits.multi_label
    everything = np.concatenate([splits.train.ratings, splits.dev.ratings, splits.test.ratings])
    assert np.isnan(everything).sum() == (frame[["joy", "anger", "fear"]] == "").to_numpy().sum()
    for split in (splits.train, splits.test):
        for labels, ratings in zip(split.labels, split.ratings):
            assert set(labels) == set(np.flatnonzero(ratings > 0))


@pytest.mark.parametrize("content, flags, needle", [
    ("text,joy\nhi,2\nyo,lots\n", {"target_cols": "joy"}, "row 2: column 'joy' holds 'lots'; expected a number"),
    ("text,joy\nhi,2\nyo,5\n", {"target_cols": "joy", "target_range": "0,3"}, "row 2: rating 5 is outside target_range='0,3'"),
    ("text,joy\nhi,2\n", {"target_cols": "joy,fear"}, "no column 'fear'"),
    ("text,joy\nhi,2\nyo,2\n", {"target_cols": "joy"}, "do not span a range; pass target_range='LO,HI'"),
    ("text,label\nhi,joy\n", {"target_range": "0,3"}, "target_range: only with target_cols"),
])
def test_bad_graded_input_is_one_line(tmp_path, content, flags, needle):
    path = tmp_path / "rated.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=needle.replace("(", r"\(")) as err:
        load_dataset(str(path), **flags)
    assert "\n" not in str(err.value)


def test_graded_targets_need_a_user_file_and_an_energy_head(tmp_path, capsys):
    from eqn_keras.cli import main

    with pytest.raises(InputError, match="graded targets come from a user file"):
        load_dataset("goemotions", target_cols="joy")
    path = tmp_path / "rated.csv"
    graded_frame(60).to_csv(path, index=False)
    assert main(["train", "--arch", "ann", "--data", str(path), "--target-cols", "joy,anger,fear", "--head", "multi",
                 "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "graded targets train an energy head" in capsys.readouterr().err


def test_graded_training_keeps_ratings_and_regresses_only_the_unrated(tmp_path, small_vocab):
    """Every text rated 1 of 3 for fear: graded targets teach 3.33 there, thresholding to 0/10 would teach 10;
    stage 2 must keep each rated cell at its rating and fill the empty ones with CoEQN's scores."""
    from eqn_keras.cli import main

    path = tmp_path / "rated.csv"
    frame = graded_frame(300, fear="1")
    frame.to_csv(path, index=False)
    out = tmp_path / "run"
    assert main(["train", "--arch", "ann", "--data", str(path), "--target-cols", "joy,anger,fear", "--target-range",
                 "0,3", "--epochs", "8", "--batch-size", "16", "--learning-rate", "0.005", "--arch-config",
                 str(small_vocab), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    coeqn = metrics["stages"]["coeqn"]
    assert coeqn["table3_metric"] == "pearson"
    assert coeqn["intensity"]["emotions"]["joy"]["pearson"]["value"] > 0.5  # word counts are learnable
    with np.load(out / "scores_coeqn.npz") as data:
        fear = data["test"][:, 2]
    assert 2.0 < fear.mean() < 5.0, f"fear energies average {fear.mean():.2f}: not the graded 3.33"

    regressed = pd.read_csv(out / "regressed_train.csv", keep_default_na=False)
    by_text = frame.drop_duplicates("text").set_index("text")
    filled = 0
    for _, row in regressed.iterrows():
        source = by_text.loc[row["text"]]
        for emotion in ("joy", "anger", "fear"):
            if source[emotion] == "":
                filled += 1
                continue
            assert float(row[emotion]) == pytest.approx(float(source[emotion]) * 10 / 3, abs=0.01), (row["text"], emotion)
    assert filled > 0
    with np.load(out / "scores_coeqn.npz") as data:
        train_scores = data["train"]
    empty = regressed[["joy", "anger", "fear"]].to_numpy(dtype=float)
    holes = np.array([[by_text.loc[t][e] == "" for e in ("joy", "anger", "fear")] for t in regressed["text"]])
    np.testing.assert_allclose(empty[holes], np.clip(train_scores[holes], 0, 10), atol=0.01)


def test_transfer_weights_copies_the_body_and_keeps_a_new_output_layer():
    from eqn_keras.builders import build_model
    from eqn_keras.training import transfer_weights

    cfg = {"vocab_size": 50, "embedding_dim": 8, "layers": [16], "activation": "relu", "dropout": 0.0,
           "head_units": 12}
    source, target = build_model("ann", 28, "eqn", cfg), build_model("ann", 5, "eqn", cfg)
    assert transfer_weights(target, source) == ["scores"]
    renamed = build_model("ann", 28, "eqn", cfg)
    assert transfer_weights(renamed, source, skip=("scores",)) == ["scores"]  # same shape, other labels
    for name in ("embedding", "dense_0"):
        for a, b in zip(target.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    hidden = [l for l in target.get_layer("eqn_head").layers if l.weights and l.name != "scores"]
    assert hidden, "the head's hidden layer should be copied too"
    same = build_model("ann", 28, "eqn", cfg)
    assert transfer_weights(same, source) == []
    np.testing.assert_array_equal(same.predict(np.ones((2, 4), "int32"), verbose=0),
                                  source.predict(np.ones((2, 4), "int32"), verbose=0))


def test_init_from_fine_tunes_a_run_on_graded_data(tiny_run, tmp_path, capsys):
    from eqn_keras.annotate import Annotator
    from eqn_keras.cli import main

    path = tmp_path / "rated.csv"
    graded_frame(120).to_csv(path, index=False)
    out = tmp_path / "tuned"
    assert main(["train", "--arch", "ann", "--data", str(path), "--target-cols", "joy,anger", "--stages", "1",
                 "--init-from", f"{tiny_run}:eqn", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    source, tuned = Annotator(tiny_run), Annotator(out)
    assert tuned.vectorizer.get_vocabulary() == source.vectorizer.get_vocabulary()  # the source's tokenizer
    # one epoch moves the body only a little from the source's weights; a body trained from scratch is far off
    before, after = (a.model.backbone.get_layer("embedding").get_weights()[0] for a in (source, tuned))
    fresh = np.random.default_rng(0).uniform(-0.05, 0.05, size=before.shape)
    assert np.abs(after - before).mean() < 0.25 * np.abs(fresh - before).mean()
    assert json.loads((out / "config.json").read_text())["config"]["init_from"] == f"{tiny_run}:eqn"
    assert main(["train", "--arch", "cnn", "--data", str(path), "--target-cols", "joy", "--init-from", str(tiny_run),
                 "--out", str(tmp_path / "other"), "--quiet"]) == 2
    assert "that run's arch is ann, this one's cnn" in capsys.readouterr().err
