import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from eqn_keras.annotate import Annotator
from eqn_keras.builders import build_model
from eqn_keras.cli import main
from eqn_keras.labels import init_full_labels, regress_labels
from eqn_keras.rundir import load_run, split_text_model
from eqn_keras.training import TrainConfig, train


def test_run_directory_holds_every_artifact(tiny_run):
    for name in ["config.json", "metrics.json", "coeqn.keras", "eqn.keras", "regressed_train.csv",
                 "test_annotated_coeqn.csv", "test_annotated_eqn.csv", "scores_coeqn.npz", "scores_eqn.npz",
                 "curves_coeqn.png", "curves_eqn.png", "pearson_coeqn.png", "pearson_eqn.png"]:
        assert (tiny_run / name).is_file(), name
    for stage in ("coeqn", "eqn"):
        assert list((tiny_run / "tensorboard" / stage).rglob("events.out.tfevents.*")), stage
    assert not (tiny_run / "backup").exists()  # a finished run keeps no resume state
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["stages"] == ["coeqn", "eqn"]
    assert config["dataset"]["label_names"] == ["anger", "fear", "joy"]


def _splits(run):
    """The run's dataset splits, loaded again with its seed (the texts it trained and tuned on)."""
    from eqn_keras import load_dataset

    config = json.loads((run / "config.json").read_text())["config"]
    return load_dataset(config["data"], seed=config["seed"])


def test_regressed_labels_are_coeqn_scores_of_the_training_texts(tiny_run):
    """Eq. 3: regressed_train.csv holds the training texts, 10 where annotated, elsewhere the saved CoEQN
    model's (clipped) scores of that very text, not another split's, another stage's or the unfitted model's."""
    frame = pd.read_csv(tiny_run / "regressed_train.csv")
    names = ["anger", "fear", "joy"]
    assert list(frame.columns) == ["text", "labels", *names]
    train = _splits(tiny_run).train
    assert frame["text"].tolist() == train.texts
    assert [tuple(int(j) for j in cell.split(",")) for cell in frame["labels"].astype(str)] == [tuple(l) for l in train.labels]
    annotated = np.zeros((len(frame), 3), dtype=bool)
    for i, labels in enumerate(train.labels):
        annotated[i, list(labels)] = True
    coeqn = np.clip(Annotator(tiny_run, "coeqn").raw_scores(train.texts), 0, 10)
    values = frame[names].to_numpy()
    assert (values[annotated] == 10.0).all()
    # 2 decimals in the file; 1e-4 for float32 batches of another shape
    np.testing.assert_allclose(values[~annotated], coeqn[~annotated], atol=0.005 + 1e-4)
    assert (values[~annotated] > 0.5).any(), "CoEQN should score some unannotated labels well above 0"


@pytest.mark.parametrize("stage", ["coeqn", "eqn"])
def test_saved_weights_are_the_best_val_loss_epoch(tiny_run, stage):
    """The saved model's dev loss is the history's minimum val_loss, reached before the last epoch here, so
    the last epoch's weights would not pass. EQN's dev targets are CoEQN's dev scores, regressed (eq. 3)."""
    history = json.loads((tiny_run / "metrics.json").read_text())["stages"][stage]["history"]
    val_loss = np.array(history["val_loss"])
    best = int(np.argmin(val_loss))
    assert history["best_epoch"] == best + 1
    assert best < len(val_loss) - 1 and val_loss[-1] > 1.2 * val_loss[best], "the fixture run should overfit at the end"
    dev = _splits(tiny_run).dev
    targets = init_full_labels(dev.labels, 3)
    if stage == "eqn":
        targets = regress_labels(dev.labels, Annotator(tiny_run, "coeqn").raw_scores(dev.texts))
    scores = Annotator(tiny_run, stage).raw_scores(dev.texts)
    assert float(np.mean((scores - targets) ** 2)) == pytest.approx(val_loss[best], rel=1e-4)


def test_model_learned_something(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for stage in ("coeqn", "eqn"):
        assert metrics["stages"][stage]["accuracy"] > 0.6  # chance is 1/3
    assert metrics["final_stage"] == "eqn"


def test_saved_model_takes_raw_text_and_matches_annotator(tiny_run):
    _, stage, model = load_run(tiny_run)
    assert stage == "eqn"
    texts = ["i was so happy today", "furious and mad", "scared"]
    direct = np.asarray(model(tf.constant(texts)))
    annotator = Annotator(tiny_run)
    np.testing.assert_allclose(annotator.raw_scores(texts), direct, atol=1e-5)
    np.testing.assert_allclose(annotator.score(texts), np.clip(direct, 0, 10), atol=1e-5)
    assert direct[0].argmax() == 2 and direct[1].argmax() == 0 and direct[2].argmax() == 1


def test_seeded_runs_repeat_exactly(tmp_path, arch_runs):
    """conftest's TextCNN run (convolutions) trained again with its config.json: the same history and scores.
    (That two-stage ANN runs repeat exactly is what test_resume shows.)"""
    out = tmp_path / "again"
    options = json.loads((arch_runs["textcnn"] / "config.json").read_text())["config"]
    train(TrainConfig(**{**options, "out": str(out), "verbose": 0}))
    first = json.loads((arch_runs["textcnn"] / "metrics.json").read_text())["stages"]["coeqn"]
    again = json.loads((out / "metrics.json").read_text())["stages"]["coeqn"]
    assert again["history"] == first["history"]
    with np.load(arch_runs["textcnn"] / "scores_coeqn.npz") as a, np.load(out / "scores_coeqn.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_stages_1_stops_after_coeqn_and_the_saved_model_has_the_run_options(tmp_path, emotion_csv, capsys):
    """--arch-config and --seq-len reach the saved model: its vocabulary, padding length and layer widths."""
    (tmp_path / "arch.json").write_text('{"vocab_size": 64, "units": 24, "head_units": 16}')
    assert main(["train", "--arch", "lstm", "--data", str(emotion_csv), "--epochs", "1", "--stages", "1",
                 "--arch-config", str(tmp_path / "arch.json"), "--seq-len", "40", "--out", str(tmp_path / "r"),
                 "--quiet"]) == 0
    assert not (tmp_path / "r" / "eqn.keras").exists()
    assert not (tmp_path / "r" / "regressed_train.csv").exists()
    assert "test accuracy" in capsys.readouterr().out
    tokenizer, core = split_text_model(keras.saving.load_model(tmp_path / "r" / "coeqn.keras"))
    assert tokenizer.get_config()["max_tokens"] == 64 and tokenizer(["so happy"]).shape == (1, 40)
    assert core.get_layer("embedding").input_dim == 64 and core.get_layer("lstm").units == 24
    assert [layer.units for layer in core.get_layer("eqn_head").layers] == [16, 3]


@pytest.mark.parametrize("head", ["single", "multi"])
def test_baseline_heads_train_in_one_stage(tmp_path, emotion_csv, small_vocab, head):
    """One stage, trained with the head's loss: the saved model's dev cross-entropy is the run's val_loss."""
    run = tmp_path / head
    assert main(["train", "--arch", "cnn", "--data", str(emotion_csv), "--epochs", "1", "--head", head,
                 "--arch-config", str(small_vocab), "--out", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics["stages"]) == [head]
    annotator = Annotator(run)
    assert annotator.energy_range is None  # probabilities, not energies: never clipped
    dev = _splits(run).dev
    targets = init_full_labels(dev.labels, 3, 1.0, 0.0)
    loss = {"single": keras.losses.categorical_crossentropy, "multi": keras.losses.binary_crossentropy}[head]
    dev_loss = float(np.mean(loss(targets, annotator.raw_scores(dev.texts))))
    assert dev_loss == pytest.approx(metrics["stages"][head]["history"]["val_loss"][0], rel=1e-3)


def test_multi_label_run_and_evaluate_tables(tmp_path, multi_csv, small_vocab, capsys):
    out = tmp_path / "m"
    assert main(["train", "--arch", "ann", "--data", str(multi_csv), "--label-sep", "|", "--epochs", "2",
                 "--arch-config", str(small_vocab),
                 "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["multi_label"] and metrics["stages"]["eqn"]["table3_metric"] == "hit_rate"
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    for needle in ("== coeqn ==", "== eqn ==", "2 labels", "Top2", "macro-average"):
        assert needle in printed
    evaluation = json.loads((out / "evaluation.json").read_text())
    for stage in ("coeqn", "eqn"):
        assert evaluation[stage]["hit_rate"] == pytest.approx(metrics["stages"][stage]["hit_rate"])
        assert evaluation[stage]["macro_f1"] == pytest.approx(metrics["stages"][stage]["macro_f1"])


def test_single_head_refuses_multi_label_data(tmp_path, multi_csv, capsys):
    out = tmp_path / "never"
    code = main(["train", "--arch", "ann", "--data", str(multi_csv), "--label-sep", "|", "--head", "single",
                 "--out", str(out)])
    assert code == 2
    assert "multi-label" in capsys.readouterr().err
    assert not out.exists()


def test_baseline_refuses_two_stages(tmp_path, emotion_csv, capsys):
    code = main(["train", "--arch", "ann", "--data", str(emotion_csv), "--head", "multi", "--stages", "2",
                 "--out", str(tmp_path / "x")])
    assert code == 2 and "label regression needs --head eqn" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_existing_run_is_not_overwritten(tiny_run, emotion_csv, capsys):
    code = main(["train", "--arch", "ann", "--data", str(emotion_csv), "--out", str(tiny_run)])
    assert code == 2 and "already holds a finished run" in capsys.readouterr().err


@pytest.mark.parametrize("stage", ["coeqn", "eqn"])
def test_users_see_clipped_energies_and_the_npz_keeps_raw_scores(tiny_run, stage):
    """The linear head leaves 0-10 on this run: the annotated CSV and Annotator clip, the npz (metrics) does not."""
    from eqn_keras.rundir import load_scores

    frame = pd.read_csv(tiny_run / f"test_annotated_{stage}.csv")
    raw = load_scores(tiny_run / f"scores_{stage}.npz")["test"][0]
    assert (raw < -0.1).any() and (raw > 10.1).any(), "the fixture run should score outside 0-10"
    annotator = Annotator(tiny_run, stage)
    assert annotator.energy_range == (0.0, 10.0)
    texts = frame["text"].tolist()
    np.testing.assert_allclose(annotator.raw_scores(texts), raw, atol=1e-5)
    np.testing.assert_allclose(annotator.score(texts), np.clip(raw, 0, 10), atol=1e-5)
    np.testing.assert_allclose(frame[["anger", "fear", "joy"]].to_numpy(), np.round(np.clip(raw, 0, 10), 2), atol=1e-9)


def _record_fit_starts(monkeypatch):
    """Spy on keras.Model.fit (training still runs): the weights each fit starts from, in call order."""
    fit, starts = keras.Model.fit, []

    def spy(self, *args, **kwargs):
        starts.append(self.get_weights())
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    return starts


def test_label_regression_variants_third_stage_and_bce_energies(tmp_path, emotion_csv, small_vocab, monkeypatch):
    """Also: every stage (EQN, the third) fits a freshly built model, seeded like CoEQN's, not CoEQN's weights."""
    starts = _record_fit_starts(monkeypatch)
    out = tmp_path / "v"
    assert main(["train", "--arch", "ann", "--data", str(emotion_csv), "--head", "eqn_bce", "--stages", "3",
                 "--regress-temperature", "2", "--epochs", "1", "--arch-config", str(small_vocab), "--out", str(out),
                 "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["stages"]) == ["coeqn", "eqn", "eqn3"] and metrics["final_stage"] == "eqn3"
    for name in ("regressed_train.csv", "regressed_train_eqn.csv", "eqn3.keras"):
        assert (out / name).is_file(), name
    assert not (out / "regressed_train_eqn3.csv").exists()
    keras.utils.set_random_seed(0)  # the run's --seed
    fresh = build_model("ann", 3, "eqn_bce", json.loads((out / "config.json").read_text())["arch_config"]).get_weights()
    assert len(starts) == 3
    for start in starts:
        assert all(np.array_equal(a, b) for a, b in zip(start, fresh, strict=True))
    coeqn = split_text_model(keras.saving.load_model(out / "coeqn.keras"))[1].get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(coeqn, fresh, strict=True))
    regressed = pd.read_csv(out / "regressed_train_eqn.csv")[["anger", "fear", "joy"]].to_numpy()
    assert ((regressed > 0) & (regressed <= 10)).all()  # T=2 lifts every kept score above 0
    _, stage, model = load_run(out)
    scores = np.asarray(model(tf.constant(["so happy", "furious"])))
    assert stage == "eqn3" and ((scores >= 0) & (scores <= 10)).all()
    np.testing.assert_allclose(Annotator(out).score(["so happy", "furious"]), scores, atol=1e-5)
    # the eqn_bce head's EnergySigmoid exports and serves from plain TensorFlow
    from eqn_keras.export import export_run

    served = tf.saved_model.load(str(export_run(out, out=tmp_path / "served")))
    energy = served.signatures["serving_default"](text=tf.constant(["so happy", "furious"]))["energy"].numpy()
    np.testing.assert_allclose(energy, scores, atol=1e-4)


@pytest.mark.parametrize("flags,message", [(["--stages", "0"], "--stages 0: expected 1"),
                                           (["--regress-temperature", "0"], "--regress-temperature 0.0: expected a positive")])
def test_bad_stage_or_temperature_is_one_line(tmp_path, emotion_csv, capsys, flags, message):
    code = main(["train", "--arch", "ann", "--data", str(emotion_csv), *flags, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_regress_from_an_earlier_run_repeats_its_next_stage(tmp_path, tiny_run, capsys):
    """From conftest's tiny run (with its options) the next stage repeats the run's own exactly."""
    options = json.loads((tiny_run / "config.json").read_text())["config"]
    base = ["train", "--arch", "ann", "--data", options["data"], "--epochs", str(options["epochs"]), "--batch-size",
            str(options["batch_size"]), "--learning-rate", str(options["learning_rate"]), "--seed",
            str(options["seed"]), "--arch-config", options["arch_config"], "--quiet"]
    assert main(base + ["--regress-from", f"{tiny_run}:coeqn", "--out", str(tmp_path / "again")]) == 0
    full = json.loads((tiny_run / "metrics.json").read_text())
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert list(again["stages"]) == ["eqn"] and again["regressed_from"] == "coeqn"
    assert again["stages"]["eqn"]["history"] == full["stages"]["eqn"]["history"]
    assert again["stages"]["eqn"]["accuracy"] == full["stages"]["eqn"]["accuracy"]
    # A folder with only the run's config.json and the stage's scores file (its model gone, e.g. copied off
    # the machine that trained it) gives the same next stage: the saved train/dev scores are regressed.
    light = tmp_path / "light"
    light.mkdir()
    for name in ("config.json", "scores_coeqn.npz"):
        (light / name).write_bytes((tiny_run / name).read_bytes())
    assert main(base + ["--regress-from", f"{light}:coeqn", "--out", str(tmp_path / "from-scores")]) == 0
    from_scores = json.loads((tmp_path / "from-scores" / "metrics.json").read_text())
    assert from_scores["stages"]["eqn"]["history"] == full["stages"]["eqn"]["history"]
    assert (tmp_path / "from-scores" / "regressed_train.csv").read_bytes() == (tiny_run / "regressed_train.csv").read_bytes()
    # A run saved before scores files kept the train scores: its model scores the texts again, same result.
    old_run = tmp_path / "old-run"
    shutil.copytree(tiny_run, old_run)
    with np.load(old_run / "scores_coeqn.npz") as data:
        np.savez(old_run / "scores_coeqn.npz", **{k: data[k] for k in data.files if not k.startswith("train")})
    assert main(base + ["--regress-from", f"{old_run}:coeqn", "--out", str(tmp_path / "from-model")]) == 0
    from_model = json.loads((tmp_path / "from-model" / "metrics.json").read_text())
    assert from_model["stages"]["eqn"]["history"] == full["stages"]["eqn"]["history"]
    # From the final stage (eqn) the next one is eqn3; from a baseline it is eqn.
    assert main(base + ["--epochs", "1", "--regress-from", str(tiny_run), "--out", str(tmp_path / "third")]) == 0
    assert json.loads((tmp_path / "third" / "config.json").read_text())["stages"] == ["eqn3"]
    assert (tmp_path / "third" / "regressed_train_eqn.csv").is_file()
    assert main(base + ["--epochs", "1", "--head", "multi", "--out", str(tmp_path / "multi")]) == 0
    assert main(base + ["--epochs", "1", "--head", "eqn_bce", "--regress-from", str(tmp_path / "multi"),
                        "--out", str(tmp_path / "bce")]) == 0
    regressed = pd.read_csv(tmp_path / "bce" / "regressed_train.csv")[["anger", "fear", "joy"]].to_numpy()
    assert regressed.max() == 10.0 and ((regressed > 0) & (regressed < 10)).any()
    capsys.readouterr()
    for flags in (["--max-train", "100"], ["--seed", "6"]):  # another subset or split: its model saw our dev/test
        assert main(base + flags + ["--regress-from", str(tiny_run), "--out", str(tmp_path / "bad")]) == 2
        assert "expected the same --data, --test-data, --seed, --max-train" in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()


def test_a_log_file_gets_one_line_per_epoch(tmp_path, emotion_csv, small_vocab, capsys):
    """Output to a pipe or file (here pytest's capture, not a terminal): Keras verbose=2, one line per epoch,
    not a progress bar redrawn every step."""
    assert main(["train", "--arch", "ann", "--data", str(emotion_csv), "--epochs", "3", "--patience", "5",
                 "--stages", "1", "--arch-config", str(small_vocab), "--out", str(tmp_path / "run")]) == 0
    stdout = capsys.readouterr().out
    assert "\r" not in stdout and "\x08" not in stdout
    epoch_lines = [line for line in stdout.splitlines() if " - loss: " in line]
    assert len(epoch_lines) == 3 and all("val_accuracy" in line for line in epoch_lines)


def test_zero_epochs_or_batch_size_is_an_error_not_the_default(tmp_path, emotion_csv):
    # `epochs or default` once turned 0 into the arch's 10 epochs without a word
    for field in ("epochs", "batch_size"):
        with pytest.raises(ValueError, match=f"{field} must be a positive integer, got 0"):
            train(TrainConfig(arch="ann", data=str(emotion_csv), out=str(tmp_path / field), verbose=0, **{field: 0}))
