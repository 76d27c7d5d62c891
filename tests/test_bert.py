import json
import subprocess
import sys

import numpy as np
import pytest

from eqn_keras.annotate import Annotator
from eqn_keras.bert import resolve_preset
from eqn_keras.cli import main
from eqn_keras.export import export_run
from eqn_keras.fileio import InputError


# session, not module: under --dist worksteal a worker runs this module's tests interleaved with others',
# and a module fixture is torn down and trained again each time the worker comes back (3 trainings,
# 56-68 s each, in one measured run); a session fixture trains at most once per worker
@pytest.fixture(scope="session")
def bert_run(tmp_path_factory, tiny_bert_preset, emotion_csv):
    out = tmp_path_factory.mktemp("bert") / "run"
    assert main(["train", "--arch", "bert", "--bert-preset", str(tiny_bert_preset), "--data", str(emotion_csv),
                 "--epochs", "5", "--learning-rate", "0.003", "--batch-size", "16", "--out", str(out), "--quiet"]) == 0
    return out


def test_two_stage_bert_run(bert_run):
    config = json.loads((bert_run / "config.json").read_text())
    assert config["stages"] == ["coeqn", "eqn"] and config["config"]["arch"] == "bert"
    for name in ("coeqn.keras", "eqn.keras", "regressed_train.csv", "test_annotated_eqn.csv", "metrics.json"):
        assert (bert_run / name).is_file()
    metrics = json.loads((bert_run / "metrics.json").read_text())
    for stage in ("coeqn", "eqn"):
        history = metrics["stages"][stage]["history"]
        assert min(history["val_loss"]) < history["val_loss"][0]  # it learns


def test_bert_saved_model_reproduces_scores(bert_run):
    from eqn_keras.rundir import load_scores
    import pandas as pd

    texts = pd.read_csv(bert_run / "test_annotated_eqn.csv")["text"].tolist()
    np.testing.assert_allclose(Annotator(bert_run).raw_scores(texts), load_scores(bert_run / "scores_eqn.npz")["test"][0],
                               atol=1e-4)


def test_bert_model_object_scores_as_the_run(bert_run):
    """EQNModel.from_run on a BERT run: keras-hub's BertBackbone as backbone, the run's energies to the last bit."""
    import keras_hub
    import pandas as pd

    from eqn_keras import EQNModel

    model = EQNModel.from_run(bert_run)
    assert isinstance(model.backbone, keras_hub.models.BertBackbone) and model.arch == "bert"
    texts = pd.read_csv(bert_run / "test_annotated_eqn.csv")["text"].tolist()
    np.testing.assert_array_equal(model.predict(texts), Annotator(bert_run).score(texts))


def test_bert_run_loads_in_a_fresh_process(bert_run, tmp_path):
    """A BERT run (compiled with models/bert.json's AdamW + warm-up schedule) annotates from a new process,
    where nothing has registered eqn_keras's schedule yet; the scores are the run's own."""
    import pandas as pd

    from eqn_keras.rundir import load_scores

    source = pd.read_csv(bert_run / "test_annotated_eqn.csv")[["text"]]
    source.to_csv(tmp_path / "in.csv", index=False)
    subprocess.run([sys.executable, "-m", "eqn_keras.cli", "annotate", "--model", str(bert_run), "--input",
                    str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.csv"), "--precision", "float32"], check=True)
    names = json.loads((bert_run / "config.json").read_text())["dataset"]["label_names"]
    expected = np.clip(load_scores(bert_run / "scores_eqn.npz")["test"][0], 0, 10)
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv")[names].to_numpy(), expected, atol=0.0051)


def test_bert_scores_do_not_depend_on_padding(bert_run):
    annotator = Annotator(bert_run)
    texts = ["so happy", "i was really worried and nervous about the day today and it was so very bad"]
    together = annotator.score(texts)
    alone = annotator.score(texts[:1])
    np.testing.assert_allclose(together[:1], alone, atol=1e-4)


SERVE = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the WordPiece ops that tensorflow_model_server links)
m = tf.saved_model.load(sys.argv[1])
out = m.signatures["serving_default"](text=tf.constant(json.loads(sys.argv[2])))
assert "keras_hub" not in sys.modules and "eqn_keras" not in sys.modules
print(json.dumps(out["energy"].numpy().tolist()))
"""


def test_bert_export_serves_raw_text(bert_run, tmp_path):
    path = export_run(bert_run, out=tmp_path)
    texts = ["so happy and glad!", "mad, furious", "unknownword scared"]
    done = subprocess.run([sys.executable, "-c", SERVE, str(path), json.dumps(texts)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    served = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    assert np.abs(served - Annotator(bert_run).score(texts)).max() < 1e-4
    card = json.loads((path / "assets.extra" / "model_card.json").read_text())
    assert "tensorflow_text" in card["minimum_tf_serving"].lower().replace(" ", "_") or "TF Text" in card["minimum_tf_serving"]
    vocab = (path / "assets.extra" / "vocab.txt").read_text().splitlines()
    assert vocab[:4] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def test_preset_resolution_errors(tmp_path):
    with pytest.raises(InputError, match="not a BERT checkpoint"):
        resolve_preset(str(tmp_path))
    with pytest.raises(InputError, match="looked for a local directory"):
        resolve_preset("no_such_bert_preset")
    assert resolve_preset("bert_base_en") == "bert_base_en"  # keras-hub downloads it when online


def test_hf_checkpoint_directory_is_recognised(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert resolve_preset(str(tmp_path)) == str(tmp_path)


def test_bert_tokenize_takes_the_fast_path_with_the_same_ids(tiny_bert_preset, monkeypatch):
    """`tokenize` runs keras-hub's traced tf-text path (about 60x faster than its eager pure-Python one) and
    gives the ids the eager path gives, on texts that exercise casing, accents, CJK, emoji, invisible and
    control characters, unknown words and truncation."""
    import tensorflow as tf
    from keras_hub.src.tokenizers.word_piece_tokenizer import WordPieceTokenizer

    from eqn_keras.bert import BertTokenIds
    from eqn_keras.sequence import tokenize

    layer = BertTokenIds.from_preset(str(tiny_bert_preset), 12)
    texts = ["So HAPPY, glad!", "Café naïve résumé", "日本語 happy 😀", "soft\u00adhyphen zero\u200bwidth",
             "tab\tand\nnewline \x07bell", "unknownword scared", "   ", "happy " * 40]
    eager = np.asarray(layer(tf.constant(texts)))
    assert eager.shape == (len(texts), 12) and (eager[-1] != 0).all()  # the last one is truncated

    def python_path(*args, **kwargs):
        raise AssertionError("the pure-Python tokenizer ran")

    monkeypatch.setattr(WordPieceTokenizer, "_tokenize_python", python_path)
    np.testing.assert_array_equal(tokenize(layer, texts), eager)
    np.testing.assert_array_equal(tokenize(layer, texts, batch_size=3), eager)  # batches of another size, one trace


def test_uncased_bert_tokenizer_strips_accents_as_the_checkpoint_was_trained(tiny_bert_preset):
    """Uncased BERT vocabularies hold accent-free words (Hugging Face strips accents when it lowercases):
    "Café" must become the id of "cafe", not [UNK]; a saved model keeps its own setting."""
    import keras

    from eqn_keras.bert import BertTokenIds

    preset = tiny_bert_preset.parent / "tiny_bert_accents"
    if not preset.exists():
        import shutil

        shutil.copytree(tiny_bert_preset, preset)
        vocab_path = next(preset.rglob("vocabulary.txt"))
        vocab_path.write_text(vocab_path.read_text() + "cafe\nnaive\n")
    layer = BertTokenIds.from_preset(str(preset), 8)
    vocab = layer.vocabulary
    ids = layer.token_ids(["Café NAÏVE"])[0]
    assert [vocab[i] for i in ids if i] == ["[CLS]", "cafe", "naive", "[SEP]"]
    restored = BertTokenIds.from_config(keras.saving.serialize_keras_object(layer)["config"])
    assert restored.preprocessor.tokenizer.strip_accents is True


def test_bfloat16_scoring_computes_in_bf16_and_stays_near_float32(bert_run):
    """`precision="bfloat16"` sets the model's layers to mixed_bfloat16 in place, with the same weights: the backbone
    and the Dense layer compute in bfloat16, the head's output layers in float32; energies move by bf16 rounding
    only."""
    import pandas as pd

    texts = pd.read_csv(bert_run / "test_annotated_eqn.csv")["text"].tolist()
    exact, fast = Annotator(bert_run), Annotator(bert_run, precision="bfloat16")
    assert fast.precision == "bfloat16"
    backbone = next(l for l in fast.core.layers if l.name == "bert_backbone")
    head = next(l for l in fast.core.layers if l.name.endswith("_head"))
    assert backbone.compute_dtype == "bfloat16" and head.get_layer("dense").compute_dtype == "bfloat16"
    assert head.get_layer("scores").compute_dtype == "float32"
    a, b = exact.raw_scores(texts), fast.raw_scores(texts)
    assert b.dtype == np.float32
    diff = np.abs(a - b)
    assert 0 < diff.max() < 0.1 * (np.abs(a).max() + 1)  # bf16 really ran, and kept ~2-3 significant digits
    np.testing.assert_array_equal(a.argmax(axis=1)[diff.max(axis=1) < 1e-3], b.argmax(axis=1)[diff.max(axis=1) < 1e-3])
    np.testing.assert_allclose(exact.raw_scores(texts), a)  # the float32 Annotator was not changed by the other


def test_bfloat16_in_place_scores_as_a_model_rebuilt_under_the_policy(bert_run):
    """The in-place policy change computes what a copy of the model built under mixed_bfloat16 computes, to the
    bit, also when the float32 forward pass was traced first (its cached trace must not be reused)."""
    import keras

    from eqn_keras.heads import FLOAT32_LAYERS
    from eqn_keras.rundir import load_run, predict_scores, split_text_model, with_precision

    annotator = Annotator(bert_run)
    ids = annotator.token_ids(["so happy and glad today", "furious and mad", "a day"])
    core = annotator.core
    exact = predict_scores(core, ids)  # traced in float32
    config = keras.saving.serialize_keras_object(split_text_model(load_run(bert_run)[2])[1])

    def mixed(item):  # every float32 policy in the config, but the head's output layers'
        if isinstance(item, list):
            return [mixed(x) for x in item]
        if not isinstance(item, dict):
            return item
        inner = item.get("config")
        if isinstance(inner, dict) and inner.get("name") in FLOAT32_LAYERS:
            return item
        out = {k: mixed(v) for k, v in item.items()}
        dtype = out.get("config", {}).get("dtype") if isinstance(out.get("config"), dict) else None
        if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicy" and dtype["config"]["name"] == "float32":
            out["config"]["dtype"] = "mixed_bfloat16"
        return out

    rebuilt = keras.saving.deserialize_keras_object(mixed(config))
    rebuilt.set_weights(core.get_weights())
    assert with_precision(core, "bfloat16") is core
    fast = predict_scores(core, ids)
    np.testing.assert_array_equal(fast, predict_scores(rebuilt, ids))
    assert np.abs(fast - exact).max() > 0


def test_int8_scoring_quantizes_the_backbone_and_stays_near_float32(bert_run):
    """`precision="int8"`: Keras's int8 quantization of the backbone's dense layers (int8 kernels), the head left
    in float32; energies stay within 0.1 of the float32 ones on the 0-10 scale (this tiny BERT's error measured
    0.013) and the top label of texts whose scores are not close calls is kept."""
    import pandas as pd

    from eqn_keras.rundir import int8_layers

    texts = pd.read_csv(bert_run / "test_annotated_eqn.csv")["text"].tolist()
    exact, small = Annotator(bert_run), Annotator(bert_run, precision="int8")
    assert small.precision == "int8"
    quantized = int8_layers(small.core)
    assert len(quantized) >= 2 * 6  # per transformer layer: q, k, v, output projections and 2 feed-forward
    for layer in quantized:
        assert layer.quantization_mode == "int8"
        assert "int8" in {v.dtype for v in layer.weights}  # the kernel itself is int8 now
    head = next(l for l in small.core.layers if l.name.endswith("_head"))
    assert all(l.quantization_mode is None for l in head._flatten_layers() if hasattr(l, "quantization_mode"))
    a, b = exact.score(texts), small.score(texts)
    assert b.dtype == np.float32
    diff = np.abs(a - b)
    assert 0 < diff.max() < 0.1
    gap = np.sort(a, axis=1)[:, -1] - np.sort(a, axis=1)[:, -2]
    np.testing.assert_array_equal(a.argmax(axis=1)[gap > 2 * diff.max()], b.argmax(axis=1)[gap > 2 * diff.max()])


def test_int8_annotate_flag_and_job_identity(bert_run, tmp_path, capsys):
    """`--precision int8` is taken by the command line and said in its summary; the precision is part of what a
    resumed job must match (a job started in float32 is not continued in int8)."""
    from eqn_keras.annotate import TableAnnotator

    src = tmp_path / "in.csv"
    src.write_text("text\nso happy and glad today\nfurious and mad\n")
    assert main(["annotate", "--model", str(bert_run), "--input", str(src), "--output", str(tmp_path / "o.csv"),
                 "--precision", "int8"]) == 0
    assert "(int8)" in capsys.readouterr().out
    assert TableAnnotator(bert_run, precision="int8").options()["precision"] == "int8"
    assert TableAnnotator(bert_run, precision="float32").options()["precision"] == "float32"


def test_intensity_on_a_bert_run(bert_run, tmp_path):
    """`eqn-keras intensity` scores raw gold texts through the BERT run's own tokenizer."""
    from eqn_keras.intensity import evaluate_intensity

    gold = tmp_path / "gold.csv"
    gold.write_text("id,text,joy,anger\n1,so happy and glad,3,0\n2,furious and angry,0,3\n3,a day,0,0\n"
                    "4,glad day,2,0\n5,mad today,0,2\n")
    report = evaluate_intensity(bert_run, str(gold), resamples=0)
    assert report["texts"] == 5 and set(report["emotions"]) == {"joy", "anger"}
    assert json.loads((bert_run / "intensity.json").read_text())["eqn"][str(gold)]["stage"] == "eqn"
