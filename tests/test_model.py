"""EQNModel (a trained stage as one Keras object), its presets, and training on data in memory."""

import json
import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import make_texts, write_csv
from eqn_keras import EQNModel, fit_stages, load_dataset, train
from eqn_keras.annotate import Annotator
from eqn_keras.fileio import InputError
from eqn_keras.rundir import load_scores

ROOT = Path(__file__).resolve().parent.parent


def _test_texts(run, stage):
    return pd.read_csv(run / f"test_annotated_{stage}.csv")["text"].tolist()


def _run_scores(run, stage):
    """The run's archived test scores as users see them (clipped to 0-10)."""
    return np.clip(load_scores(run / f"scores_{stage}.npz")["test"][0], 0, 10)


EXAMPLE = re.compile(r"<!-- example: dataframe-to-preset -->\n```python\n(.*?)```", flags=re.S)


def test_docs_example_trains_on_a_dataframe_and_its_preset_scores_as_the_run(tmp_path, monkeypatch):
    """The example as written (docs/model-object.md; the README's copy, where it has one, is the same code):
    train on a DataFrame, save_to_preset, from_preset, predict on raw strings; the preset's energies are the
    run's own (Annotator's, and the archived test scores) to the last bit."""
    copies = [block for page in (ROOT / "docs" / "model-object.md", ROOT / "README.md")
              for block in EXAMPLE.findall(page.read_text(encoding="utf-8"))]
    assert copies and all(block == copies[0] for block in copies)
    code = copies[0]
    names, rows = make_texts(240, seed=1)
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "emotions.csv", rows, names)
    scope = {}
    exec(compile(code, "model-object.md", "exec"), scope)  # its own assert: predict == Annotator.score
    run, loaded = tmp_path / "runs" / "emotions", scope["loaded"]
    assert isinstance(loaded, EQNModel) and loaded.label_names == ["anger", "fear", "joy"]
    texts = _test_texts(run, "eqn")
    np.testing.assert_array_equal(loaded.predict(texts), _run_scores(run, "eqn"))
    assert json.loads((run / "config.json").read_text())["dataset"]["name"] == "dataframe"
    card = (tmp_path / "presets" / "emotions" / "README.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())["stages"]["eqn"]
    assert f"| accuracy | {metrics['accuracy']:.4f} |" in card and "anger, fear, joy" in card


def test_load_model_gives_named_energies_with_no_run_directory(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    model = EQNModel.from_run(run, "coeqn")
    texts = _test_texts(run, "coeqn")
    expected = _run_scores(run, "coeqn")
    metrics = json.loads((run / "metrics.json").read_text())["stages"]["coeqn"]
    model.save(tmp_path / "coeqn.keras")
    shutil.rmtree(run)
    loaded = keras.saving.load_model(tmp_path / "coeqn.keras")
    assert isinstance(loaded, EQNModel)
    config = loaded.get_config()
    assert config["label_names"] == ["anger", "fear", "joy"] and config["energy_range"] == [0.0, 10.0]
    assert config["threshold"] == metrics["threshold"] and config["stage"] == "coeqn"
    assert (config["arch"], config["dataset"], config["head_kind"]) == ("ann", "emotions", "eqn")
    np.testing.assert_array_equal(loaded.predict(texts), expected)
    frame = loaded.predict_frame(texts, labels=True)
    assert list(frame.columns) == ["anger", "fear", "joy", "annotated_labels"]
    np.testing.assert_array_equal(frame[["anger", "fear", "joy"]].to_numpy(), expected)


def test_predict_frame_thresholds_as_the_annotator_does(tiny_run):
    model, annotator = EQNModel.from_run(tiny_run), Annotator(tiny_run)
    texts = _test_texts(tiny_run, "eqn")
    assert model.threshold == annotator.tuned_threshold
    for threshold in ("tuned", 6.5, None):
        pd.testing.assert_frame_equal(model.predict_frame(texts, threshold=threshold, labels=True),
                                      annotator.annotate(texts, threshold=threshold, labels=True))
    with pytest.raises(ValueError, match="raw scores are for token ids|string"):
        model(np.array(texts))  # calling the model is Keras's call on token ids, not on strings


def test_predict_takes_token_ids_and_datasets_too(tiny_run):
    import tensorflow as tf

    model = EQNModel.from_run(tiny_run)
    texts = _test_texts(tiny_run, "eqn")
    expected = model.predict(texts)
    np.testing.assert_allclose(model.predict(model.token_ids(texts), verbose=0), expected, atol=1e-5)
    np.testing.assert_allclose(model.predict(tf.data.Dataset.from_tensor_slices(texts).batch(7), verbose=0),
                               expected, atol=1e-5)
    np.testing.assert_array_equal(model.predict(pd.Series(texts)), expected)
    np.testing.assert_allclose(model.predict(texts[0]), expected[:1], atol=1e-5)  # a batch of one: other kernels


@pytest.mark.parametrize("arch", ["ann", "cnn", "lstm", "textcnn"])
def test_every_token_arch_round_trips_through_keras_and_presets(arch, arch_runs, tmp_path):
    run = arch_runs[arch]
    model = EQNModel.from_run(run)
    texts = _test_texts(run, "coeqn")
    expected = Annotator(run).score(texts)
    np.testing.assert_array_equal(model.predict(texts), expected)
    np.testing.assert_array_equal(model.predict(texts), _run_scores(run, "coeqn"))
    model.save(tmp_path / "m.keras")
    model.save_to_preset(tmp_path / "preset")
    assert {"task.json", "task.weights.h5", "config.json", "model.weights.h5", "metadata.json",
            "preprocessor.json", "README.md"} <= {p.name for p in (tmp_path / "preset").iterdir()}
    assert (tmp_path / "preset" / "assets" / "tokenizer" / "vocabulary.txt").is_file()
    for loaded in (keras.saving.load_model(tmp_path / "m.keras"), EQNModel.from_preset(str(tmp_path / "preset"))):
        assert loaded.arch == arch and loaded.label_names == model.label_names
        np.testing.assert_array_equal(loaded.predict(texts), expected)


def test_from_preset_refuses_a_folder_that_is_not_an_eqn_preset(tiny_bert_preset, tmp_path):
    with pytest.raises(InputError, match="not an eqn-keras preset"):
        EQNModel.from_preset(str(tiny_bert_preset))  # a keras-hub backbone preset: no task.json
    with pytest.raises(InputError, match="not an eqn-keras preset"):
        EQNModel.from_preset(str(tmp_path))


def test_bert_model_object_and_keras_hub_loading_its_preset(tiny_bert_preset, emotion_csv, tmp_path):
    """A BERT stage trained in memory: .keras and preset round trips, and keras-hub's own loaders read the
    preset's backbone (its fine-tuned weights) and tokenizer."""
    import keras_hub

    models = fit_stages(str(emotion_csv), arch="bert", bert_preset=str(tiny_bert_preset), stages=1, epochs=1,
                        batch_size=16, learning_rate=0.003, verbose=0)
    model = models["coeqn"]
    texts = load_dataset(str(emotion_csv)).test.texts
    expected = model.predict(texts)
    model.save(tmp_path / "bert.keras")
    model.save_to_preset(tmp_path / "preset")
    for loaded in (keras.saving.load_model(tmp_path / "bert.keras"), EQNModel.from_preset(str(tmp_path / "preset"))):
        np.testing.assert_array_equal(loaded.predict(texts), expected)
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path / "preset"))
    assert isinstance(backbone, keras_hub.models.BertBackbone)
    for mine, theirs in zip(model.backbone.weights, backbone.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(tmp_path / "preset"))
    assert tokenizer.get_vocabulary() == model.preprocessor.vocabulary


# ------------------------------------------------------------------------------------------ data in memory

def test_fit_stages_gives_the_models_train_writes_and_writes_nothing(emotion_csv, small_vocab, tmp_path,
                                                                     monkeypatch):
    frame = pd.read_csv(emotion_csv)
    options = dict(arch="ann", epochs=3, batch_size=16, seed=3, arch_config=str(small_vocab), verbose=0)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    models = fit_stages(frame, **options)
    assert list(models) == ["coeqn", "eqn"] and not any(work.iterdir())
    run = tmp_path / "run"
    result = train(data=frame, out=str(run), **options)
    for stage, model in models.items():
        np.testing.assert_array_equal(model.predict(_test_texts(run, stage)), _run_scores(run, stage))
        assert model.threshold == result["stages"][stage]["threshold"]
        assert model.stage_metrics["table3"] == result["stages"][stage]["table3"]


def test_a_dataframe_splits_as_its_file_does(emotion_csv):
    frame = pd.read_csv(emotion_csv)
    from_file, from_frame = load_dataset(str(emotion_csv)), load_dataset(frame)
    assert from_frame.name == "dataframe" and from_frame.label_names == from_file.label_names
    for role in ("train", "dev", "test"):
        assert getattr(from_frame, role).texts == getattr(from_file, role).texts
        assert getattr(from_frame, role).labels == getattr(from_file, role).labels
    # integer ids, a column of label lists, and a (texts, labels) pair: the same labels
    ids = frame.assign(label=frame["label"].map({"anger": 0, "fear": 1, "joy": 2}))
    assert load_dataset(ids, label_names=["anger", "fear", "joy"]).train.labels == from_file.train.labels
    lists = load_dataset(frame.assign(labels=[[n] for n in frame["label"]]).drop(columns="label"))
    assert lists.multi_label and lists.train.labels == from_file.train.labels
    pair = load_dataset((frame["text"].tolist(), frame["label"].tolist()))
    assert pair.train.texts == from_file.train.texts and not pair.multi_label


def test_a_graded_dataframe_gives_ratings():
    frame = pd.DataFrame({"text": ["so happy", "very scared", "happy but scared", "a day"] * 5,
                          "joy": [3, None, 2, 0] * 5, "fear": [0, 3, 1, None] * 5})
    splits = load_dataset(frame, target_cols=["joy", "fear"], seed=1)
    assert splits.rating_scale == (0.0, 3.0) and splits.label_names == ["joy", "fear"]
    ratings = np.concatenate([s.ratings for s in (splits.train, splits.dev, splits.test)])
    assert np.isnan(ratings).sum() == 10 and np.nanmax(ratings) == 3


def test_in_memory_data_errors_are_one_line(emotion_csv):
    frame = pd.read_csv(emotion_csv)
    with pytest.raises(InputError, match=r"^DataFrame: row 2: unknown label 'love' in column 'label'"):
        load_dataset(frame.assign(label=["joy", "love"] + frame["label"].tolist()[2:]), label_names="anger,fear,joy")
    with pytest.raises(InputError, match=r"^DataFrame: no column 'text'; found columns 'body', 'label'"):
        load_dataset(frame.rename(columns={"text": "body"}))
    with pytest.raises(InputError, match=r"3 texts and 2 label entries"):
        load_dataset((["a", "b", "c"], ["joy", "fear"]))
    with pytest.raises(TypeError, match="unknown training option 'epoch'"):
        train(data=frame, epoch=3)


def test_train_records_a_dataframe_by_name(tmp_path, small_vocab):
    names, rows = make_texts(60, seed=4, multi=True)
    frame = pd.DataFrame({"text": [t for t, _ in rows], "labels": [[names[j] for j in ls] for _, ls in rows]})
    result = train(data=frame, arch="ann", epochs=1, stages=1, arch_config=str(small_vocab), verbose=0,
                   out=str(tmp_path / "run"))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["config"]["data"] == "dataframe" and config["dataset"]["multi_label"]
    assert config["dataset"]["notes"]["source"].startswith("user file (a pandas DataFrame")
    assert result["dataset"] == "dataframe"


# ------------------------------------------------------------------------------------ annotating from a preset

@pytest.fixture(scope="module")
def tiny_preset(tiny_run, tmp_path_factory):
    """The tiny run's last stage saved as a preset folder."""
    path = tmp_path_factory.mktemp("presets") / "tiny"
    EQNModel.from_run(tiny_run).save_to_preset(path)
    return path


def test_annotator_from_a_preset_or_a_model_is_the_runs(tiny_run, tiny_preset):
    texts = _test_texts(tiny_run, "eqn")
    run = Annotator(tiny_run)
    for other in (Annotator(str(tiny_preset)), Annotator(EQNModel.from_preset(tiny_preset))):
        assert (other.stage, other.label_names, other.energy_range) == ("eqn", run.label_names, run.energy_range)
        assert other.batch_size == run.batch_size and other.tuned_threshold == run.tuned_threshold
        np.testing.assert_array_equal(other.raw_scores(texts), run.raw_scores(texts))
        np.testing.assert_array_equal(other.score(texts), _run_scores(tiny_run, "eqn"))
    with pytest.raises(InputError, match=r"tiny: holds the model of stage 'eqn', not stage='coeqn'"):
        Annotator(tiny_preset, "coeqn")


def test_a_preset_without_a_tuned_threshold_says_so(tiny_run, tmp_path):
    model = EQNModel.from_run(tiny_run)
    model.threshold = None
    model.save_to_preset(tmp_path / "preset")
    annotator = Annotator(tmp_path / "preset")
    with pytest.raises(InputError) as err:
        annotator.tuned_threshold
    assert str(err.value) == (f"{tmp_path / 'preset'}: no dev-tuned threshold for stage 'eqn' (saved without one); "
                              "pass a number to threshold")
    assert annotator.threshold(2.5) == 2.5


def test_cli_annotate_from_a_preset_writes_the_runs_bytes(tiny_run, tiny_preset, tmp_path):
    from eqn_keras.cli import main

    src = tmp_path / "in.csv"
    texts = _test_texts(tiny_run, "eqn")
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(src, index=False)
    for model, out in ((tiny_run, "run.csv"), (tiny_preset, "preset.csv")):
        assert main(["annotate", "--model", str(model), "--input", str(src), "--output", str(tmp_path / out),
                     "--labels", "--quiet"]) == 0
    assert (tmp_path / "preset.csv").read_bytes() == (tmp_path / "run.csv").read_bytes()
    assert len(pd.read_csv(tmp_path / "run.csv")) == len(texts)


def test_cli_model_that_is_neither_a_run_nor_a_preset(tmp_path, capsys):
    from eqn_keras.cli import main

    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for model, why in (("folder", "has neither config.json nor task.json"), ("missing", "does not exist"),
                       ("file.txt", "is not a folder")):
        assert main(["annotate", "--model", str(tmp_path / model), "--input", "x.csv", "--output",
                     str(tmp_path / "o.csv")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"eqn-keras: error: --model {tmp_path / model}: not a run directory nor a preset ({why}); "
                       "expected the --out of 'eqn-keras train', a folder written by EQNModel.save_to_preset, or a "
                       "preset handle (hf://..., kaggle://...)"]


def test_resume_identity_is_the_presets_content(tiny_run, tiny_preset, tmp_path):
    """A resumed job's record names a preset by its files' sha256: the same files elsewhere (or saved again) are
    the same model, other weights are not; a run's stage file keeps its path, size and time."""
    from eqn_keras.annotate import TableAnnotator

    copy = tmp_path / "copy"
    shutil.copytree(tiny_preset, copy)
    original, copied = TableAnnotator(tiny_preset).options(), TableAnnotator(copy).options()
    assert copied["model"] == str(copy.resolve()) and len(copied["model_sha256"]) == 64
    assert copied["model_sha256"] == original["model_sha256"]
    model = EQNModel.from_preset(copy)
    model.save_to_preset(tmp_path / "again")  # another metadata.json (its date) and model card: the same model
    assert TableAnnotator(tmp_path / "again").options()["model_sha256"] == original["model_sha256"]
    kernel = model.head.get_layer("scores").kernel
    kernel.assign(kernel.numpy() * 1.001)
    shutil.rmtree(copy)
    model.save_to_preset(copy)
    changed = TableAnnotator(copy).options()
    assert changed["model_sha256"] != original["model_sha256"]
    assert {k: v for k, v in changed.items() if k != "model_sha256"} == \
        {k: v for k, v in copied.items() if k != "model_sha256"}
    in_memory = TableAnnotator(model).options()
    assert in_memory["model"] == f"EQNModel '{model.name}'"
    assert in_memory["model_sha256"] != TableAnnotator(EQNModel.from_preset(tiny_preset)).options()["model_sha256"]
    run = TableAnnotator(tiny_run).options()
    assert run["model"] == str((tiny_run / "eqn.keras").resolve()) and "model_sha256" not in run
    assert run["model_size"] == (tiny_run / "eqn.keras").stat().st_size
