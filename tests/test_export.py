import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from eqn_keras.annotate import Annotator
from eqn_keras.builders import TOKEN_ARCHS
from eqn_keras.cli import main
from eqn_keras.export import export_run

TEXTS = ["so happy and glad today", "furious!!! and MAD", "i was worried, nervous", "x"]

# Runs in a fresh interpreter that imports TensorFlow only, like a model server would; serves every export
# given (one process for all: each start imports TensorFlow, which is most of the time).
SERVE_SCRIPT = r"""
import json, sys
import tensorflow as tf
paths, texts = json.loads(sys.argv[1]), json.loads(sys.argv[2])
served = {}
for key, path in paths.items():
    model = tf.saved_model.load(path)
    out = model.signatures["serving_default"](text=tf.constant(texts))
    ids = model.signatures["token_ids"](token_ids=tf.constant([[2, 3, 0, 0]], dtype=tf.int32))
    served[key] = {k: v.numpy().tolist() if v.dtype != tf.string else [s.decode() for s in v.numpy()]
                   for k, v in out.items()} | {"ids_energy": ids["energy"].numpy().tolist()}
assert "eqn_keras" not in sys.modules and "keras_hub" not in sys.modules
print(json.dumps(served))
"""


@pytest.fixture(scope="module")
def exports(arch_runs, tiny_run, tmp_path_factory):
    """Each arch's run and the tiny two-stage run, exported: {key: SavedModel folder}."""
    out = tmp_path_factory.mktemp("exports")
    paths = {arch: export_run(arch_runs[arch], out=out / "models") for arch in TOKEN_ARCHS}
    paths["tiny"] = export_run(tiny_run, out=out / "tiny")
    return paths


@pytest.fixture(scope="module")
def served(exports):
    """What a TensorFlow-only process gets from each export's signatures for TEXTS."""
    done = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, json.dumps({k: str(p) for k, p in exports.items()}),
                           json.dumps(TEXTS)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("arch", TOKEN_ARCHS)
def test_export_serves_raw_text_like_keras(arch_runs, exports, served, arch):
    assert exports[arch] == exports["ann"].parent.parent / f"emotions-{arch}-coeqn" / "1"
    annotator = Annotator(arch_runs[arch])
    expected, top = annotator.score(TEXTS), annotator.raw_scores(TEXTS).argmax(axis=1)
    energy = np.array(served[arch]["energy"])
    assert energy.shape == (len(TEXTS), 3)
    assert np.abs(energy - expected).max() < 1e-4
    assert served[arch]["top_label_id"] == top.tolist()
    assert served[arch]["top_label"] == [["anger", "fear", "joy"][i] for i in top]
    np.testing.assert_allclose(served[arch]["top_score"], expected.max(axis=1), atol=1e-4)
    assert np.array(served[arch]["ids_energy"]).shape == (1, 3)


def test_served_energies_are_clipped_like_the_annotator(tiny_run, exports, served):
    """The tiny run's linear head scores outside 0-10: serving_default and token_ids clip, as Annotator does."""
    annotator = Annotator(tiny_run)
    raw = annotator.raw_scores(TEXTS)
    assert (raw < 0).any() and (raw > 10).any(), "the fixture run should score outside 0-10"
    np.testing.assert_allclose(served["tiny"]["energy"], np.clip(raw, 0, 10), atol=1e-4)
    assert served["tiny"]["top_label_id"] == raw.argmax(axis=1).tolist()
    np.testing.assert_allclose(served["tiny"]["top_score"], np.clip(raw.max(axis=1), 0, 10), atol=1e-4)
    raw_ids = np.asarray(annotator.core.predict_on_batch(np.array([[2, 3, 0, 0]], dtype=np.int32)))
    np.testing.assert_allclose(served["tiny"]["ids_energy"], np.clip(raw_ids, 0, 10), atol=1e-4)
    card = json.loads((exports["tiny"] / "assets.extra" / "model_card.json").read_text())
    assert card["energy_range"] == [0.0, 10.0]
    assert card["threshold"] == json.loads((tiny_run / "metrics.json").read_text())["stages"]["eqn"]["threshold"]


def test_model_card_labels_and_layout(arch_runs, exports):
    path = exports["textcnn"]
    assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    assert (path / "assets" / "labels.txt").read_text().split() == ["anger", "fear", "joy"]
    card = json.loads((path / "assets.extra" / "model_card.json").read_text())
    assert card["arch"] == "textcnn" and card["stage"] == "coeqn" and card["label_names"] == ["anger", "fear", "joy"]
    for key in ("dataset", "metrics", "threshold", "eqn_keras", "tensorflow"):
        assert key in card
    assert export_run(arch_runs["textcnn"], out=path.parent.parent).name == "2"


def test_warmup_requests_replay_through_the_signature(arch_runs, exports):
    """TF Serving's warm-up file parses back into Predict requests on serving_default whose texts (several
    lengths, batches of 1, 8 and 32) the SavedModel scores like the Annotator."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = exports["lstm"]
    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
               for r in tf.data.TFRecordDataset(str(path / "assets.extra" / "tf_serving_warmup_requests"))]
    requests = [r.predict_log.request for r in records]
    assert {r.model_spec.name for r in requests} == {"emotions-lstm-coeqn"}
    assert {r.model_spec.signature_name for r in requests} == {"serving_default"}
    batches = [[t.decode() for t in tf.make_ndarray(r.inputs["text"])] for r in requests]
    assert sorted({len(b) for b in batches}) == [1, 8, 32]
    assert len({len(t.split()) for b in batches for t in b}) >= 4  # several text lengths, some past seq_len
    assert max(len(t.split()) for b in batches for t in b) > 150
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    annotator = Annotator(arch_runs["lstm"])
    for request, batch in zip(requests, batches):
        energy = signature(**{k: tf.make_ndarray(v) for k, v in request.inputs.items()})["energy"].numpy()
        np.testing.assert_allclose(energy, annotator.score(batch), atol=1e-4)


def test_saved_model_cli_lists_signatures(exports):
    cli = shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip("saved_model_cli not on PATH")
    path = exports["lstm"]
    shown = subprocess.run([cli, "show", "--dir", str(path), "--all"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for needle in ("signature_def['serving_default']", "inputs['text']", "DT_STRING", "outputs['energy']",
                   "signature_def['token_ids']"):
        assert needle in shown.stdout


def test_graph_pins_no_device(exports):
    """The model's math is free to run on a GPU: nothing names a GPU, TPU or job, and the only pinned nodes
    are the tokenizer's string ops, which Keras places on CPU:0 (they have no GPU kernels; every server has
    a CPU:0), and TensorFlow's own checkpoint save/restore functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = exports["cnn"]
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    nodes = [("", n) for n in graph.node] + [(f.signature.name, n) for f in graph.library.function for n in f.node_def]
    assert len(nodes) > 50
    devices = {n.device for _, n in nodes}
    # save/restore functions of lookup tables are colocated with the table (job:localhost, the local process)
    assert all(d.endswith(("CPU:0", "CPU:*")) or d == "" for d in devices), devices
    assert not any(("GPU" in d) or ("TPU" in d) or ("/job:" in d and "/job:localhost" not in d) for d in devices)
    serving = [(fn, n) for fn, n in nodes if "serve_" in fn]
    assert any(n.op == "Conv1D" or n.op == "Conv2D" for _, n in serving)
    pinned = {n.name.split("/")[0] for _, n in serving if n.device}
    assert pinned <= {"vectorizer", "vectorizer_1"}, pinned
    math_ops = [n for _, n in serving if n.op in ("MatMul", "Conv2D", "Conv1D", "BiasAdd", "Relu")]
    assert math_ops and not any(n.device for n in math_ops)


def test_export_bad_inputs_leave_nothing(arch_runs, tmp_path, capsys):
    no_model = tmp_path / "run"
    shutil.copytree(arch_runs["ann"], no_model)
    (no_model / "coeqn.keras").unlink()
    out = tmp_path / "models"
    assert main(["export", str(no_model), "--out", str(out)]) == 2
    assert "no model for stage 'coeqn'" in capsys.readouterr().err
    assert not out.exists()

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["export", str(arch_runs["ann"]), "--out", str(blocker)]) == 1  # an OS error: one line, exit 1
    err = capsys.readouterr().err
    assert str(blocker) in err and ("Not a directory" in err or "File exists" in err) and err.count("\n") == 1

    assert main(["export", str(arch_runs["ann"]), "--out", str(out), "--version", "3"]) == 0
    assert main(["export", str(arch_runs["ann"]), "--out", str(out), "--version", "3"]) == 2
    assert "version 3 already exists" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "emotions-ann-coeqn").iterdir()) == ["3"]


def test_export_from_a_preset_serves_as_the_runs_export(tiny_run, exports, tmp_path):
    """`eqn-keras export PRESET`: the same signatures and outputs as the run's export, the same model card but
    for what only a run directory records."""
    import tensorflow as tf

    from eqn_keras import EQNModel

    EQNModel.from_run(tiny_run).save_to_preset(tmp_path / "preset")
    assert main(["export", str(tmp_path / "preset"), "--out", str(tmp_path / "models")]) == 0
    path = tmp_path / "models" / "emotions-ann-eqn" / "1"
    served = [tf.saved_model.load(str(p)).signatures for p in (exports["tiny"], path)]
    for name, args in (("serving_default", {"text": tf.constant(TEXTS)}),
                       ("token_ids", {"token_ids": tf.constant([[2, 3, 0, 0]], dtype=tf.int32)})):
        run, preset = (s[name](**args) for s in served)
        for key in run:
            np.testing.assert_array_equal(preset[key].numpy(), run[key].numpy())
    cards = [json.loads((p / "assets.extra" / "model_card.json").read_text()) for p in (exports["tiny"], path)]
    assert cards[1]["multi_label"] is None and cards[1]["run_commit"] is None
    assert {k: v for k, v in cards[1].items() if k not in ("multi_label", "run_commit")} == \
        {k: v for k, v in cards[0].items() if k not in ("multi_label", "run_commit")}
    assert (path / "assets.extra" / "tf_serving_warmup_requests").is_file()
