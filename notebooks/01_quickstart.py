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
# # eqn-keras quickstart: an energy score for every label
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/)
#
# The Expansion Quantization Network (EQN, Zhou, Luo and Chen) turns a dataset annotated with one or a few
# labels per text into **an energy score from 0 to 10 for every label**. This notebook runs the whole
# loop on 3TFN (finance tweets: Bearish, Bullish, Neutral) with TextCNN:
#
# 1. **Full-label initialization**: each text's annotated label becomes 10.0, every other label 0.0.
# 2. **CoEQN**: TextCNN ending in a linear head is trained with MSE on those full labels.
# 3. **Label regression**: CoEQN scores the training set; annotated labels go back to 10.0, the zeros
#    become the scores CoEQN gave them (the "micro-emotions").
# 4. **EQN**: a fresh TextCNN is trained on the regressed labels.
# 5. **Output**: energies per label; argmax gives a class, a threshold gives annotations.
#
# Then it compares EQN with the conventional softmax head, draws the Pearson heatmap of the energies and
# annotates a few texts of your own. Run it top to bottom: **Runtime → Run all**.

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
# The one cell to edit. The **full** setting (`SMALL = False`) trains on the whole training set for up to
# 10 epochs, as in `benchmarks/results/table3.md` (TextCNN on 3TFN, seed 0; over
# three seeds the softmax head scored 0.810 accuracy, CoEQN 0.822, EQN 0.825); it takes about 15 minutes on
# two CPU cores. The **small** setting trains a few hundred texts for one epoch, to see every step in about
# a minute (its numbers mean nothing). `EQN_NOTEBOOK_SMALL=1` in the environment selects it (the project's
# CI does); papermill users can set these names as parameters.
#
# Without `EQN_DATA_DIR` the dataset is downloaded into `~/.cache/eqn-keras` and checked against the
# sha256 in its card.

# %% tags=["parameters"]
SMALL = os.environ.get("EQN_NOTEBOOK_SMALL") == "1"  # True: a quick look; False: the full run
DATASET = "3tfn"  # a named dataset (goemotions, 3tfn, 6emotions, 3tsa) or a CSV / TSV / JSONL path
ARCH = "textcnn"
EPOCHS = 1 if SMALL else 10  # at most; early stopping keeps the best epoch by dev loss
MAX_TRAIN = 400 if SMALL else None  # a seeded random sample of the training set; None = all of it
SEED = 0
WORK = Path("runs")  # run directories go here

# %% [markdown]
# ## Train CoEQN, regress the labels, train EQN
#
# One call runs both stages and writes a run directory (docs/getting-started.md, "The run directory", lists its files).
# The command-line equivalent is
# `eqn-keras train --arch textcnn --data 3tfn --out runs/3tfn-textcnn-eqn`. A finished run directory is
# reused when you run the notebook again; delete it to train afresh.

# %%
import json

import pandas as pd

setting = "small" if SMALL else "full"


def train_once(**options):
    """eqn.train, or the metrics of a finished run already in options['out']."""
    metrics = Path(options["out"]) / "metrics.json"
    if metrics.is_file():
        print(f"{options['out']}: finished run reused (delete the folder to train again)")
        return json.loads(metrics.read_text())
    return eqn.train(eqn.TrainConfig(**options))


common = dict(arch=ARCH, data=DATASET, epochs=EPOCHS, max_train=MAX_TRAIN, seed=SEED, verbose=2)
RUN = WORK / f"{DATASET}-{ARCH}-eqn-{setting}"
result = train_once(head="eqn", out=str(RUN), **common)
label_names = result["stages"]["eqn"]["label_names"]
print("stages:", ", ".join(result["stages"]), "| labels:", ", ".join(label_names))

# %% [markdown]
# ## The regressed training labels (the paper's Fig. 5)
#
# `regressed_train.csv` holds what EQN trains on: the annotated label (`labels`, an id) is 10.0, every
# other label keeps the energy CoEQN gave it. A Bearish tweet with some Neutral energy is one CoEQN found
# partly neutral: that is the information a one-hot label throws away.

# %%
pd.set_option("display.max_colwidth", 90)


def energy_table(frame, rows=8):
    """The first rows of an energy table, energies shaded from 0 (white) to 10 (dark)."""
    shown = frame.head(rows).copy()
    shown["text"] = shown["text"].str.slice(0, 90)
    return (shown.style.background_gradient(cmap="Oranges", vmin=0, vmax=10, subset=label_names)
            .format("{:.2f}", subset=label_names).set_properties(subset=["text"], **{"text-align": "left"})
            .hide(axis="index"))


regressed = pd.read_csv(RUN / "regressed_train.csv")
print(f"{len(regressed)} training texts; label ids: " + ", ".join(f"{i} {n}" for i, n in enumerate(label_names)))
energy_table(regressed)

# %% [markdown]
# How much energy did regression give the labels that were *not* annotated? (10.0 is the annotated one.)

# %%
annotated = regressed[label_names].to_numpy() >= 10.0
other = regressed[label_names].where(~annotated)
other.describe().loc[["count", "mean", "50%", "max"]].round(2)

# %% [markdown]
# ## The test set annotated by CoEQN and by EQN (Figs. 6 and 7)
#
# Every test text gets an energy for every label. `labels` is the human annotation.

# %%
test_coeqn = pd.read_csv(RUN / "test_annotated_coeqn.csv")
energy_table(test_coeqn)

# %%
test_eqn = pd.read_csv(RUN / "test_annotated_eqn.csv")
energy_table(test_eqn)

# %% [markdown]
# ## EQN against the conventional head
#
# The paper's baseline is the same TextCNN ending in softmax + cross-entropy (`head="single"`, one stage):
# only the last activation and the loss differ. Accuracy is the argmax (Table 3's metric for single-label
# data); macro-F1 is at one threshold tuned on the dev split.

# %%
BASELINE_RUN = WORK / f"{DATASET}-{ARCH}-single-{setting}"
baseline = train_once(head="single", out=str(BASELINE_RUN), **common)

reports = {"softmax baseline": baseline["stages"]["single"], "CoEQN": result["stages"]["coeqn"],
           "EQN": result["stages"]["eqn"]}
columns = ["accuracy", "macro_f1", "micro_f1", "threshold"]
pd.DataFrame({name: {c: r.get(c) for c in columns} for name, r in reports.items()}).T.round(4)

# %% [markdown]
# Per label (Table 6's layout) at EQN's dev-tuned threshold:

# %%
pd.DataFrame(result["stages"]["eqn"]["per_label"]).set_index("label").round(3)

# %% [markdown]
# ## Pearson heatmap of the test energies
#
# How the labels' energies move together over the test set (the paper's Figs. 2, 8 and 9). Bearish and
# Bullish should be negatively correlated.

# %%
from IPython.display import Image, display

from eqn_keras.metrics import pearson_matrix, plot_pearson_heatmap

FIGURES = WORK / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)
for stage, frame in (("CoEQN", test_coeqn), ("EQN", test_eqn)):
    matrix = pearson_matrix(frame[label_names].to_numpy(), label_names)
    png = plot_pearson_heatmap(matrix, FIGURES / f"{RUN.name}-pearson-{stage.lower()}.png",
                               f"{DATASET} test set, {ARCH} {stage}: Pearson r of the energies")
    display(Image(filename=str(png), width=480))

# %% [markdown]
# ## Annotate your own texts
#
# `eqn.Annotator(run_dir)` loads the run's last stage (the model takes raw strings). `score` gives the
# energies, clipped to 0–10. `annotate(texts, threshold=h)` keeps only the energies at or above h (the
# paper's eq. 8) and zeroes the rest; `threshold="tuned"` takes the run's own h, tuned for macro-F1 on the
# dev split (stored in `metrics.json` under `stages.<stage>.threshold`), and `labels=True` adds the names
# of the labels that pass it.

# %%
MY_TEXTS = [
    "$TSLA beats estimates, shares jump 8% after hours",
    "Fed holds rates steady, signals patience",
    "Retailer cuts full-year guidance as margins shrink",
    "Bank stocks slide on recession fears while gold hits a record",
]

annotator = eqn.Annotator(RUN)
print(f"stage {annotator.stage}, dev-tuned threshold h = {annotator.tuned_threshold:.3f}")

energies = pd.DataFrame(annotator.score(MY_TEXTS), columns=annotator.label_names, index=MY_TEXTS).round(2)
energies["argmax"] = energies[annotator.label_names].idxmax(axis=1)
energies

# %%
kept = annotator.annotate(MY_TEXTS, threshold="tuned", labels=True).round(2)
kept.index = MY_TEXTS
kept

# %% [markdown]
# The same from the command line, for a whole file (CSV, TSV or JSONL; the rows come back with one energy
# column per label, and `--labels` adds `annotated_labels`). In a terminal the command is `eqn-keras annotate`;
# here it runs as `python -m eqn_keras` with the kernel's own Python, which works whether or not the
# environment's scripts are on the PATH:

# %%
MY_CSV, SCORED_CSV = WORK / "my_texts.csv", WORK / "my_texts_scored.csv"
pd.DataFrame({"text": MY_TEXTS}).to_csv(MY_CSV, index=False)
# !{sys.executable} -m eqn_keras annotate --model {RUN} --input {MY_CSV} --output {SCORED_CSV} --threshold tuned --labels
pd.read_csv(SCORED_CSV)

# %% [markdown]
# ## Next
#
# - `02_goemotions_micro_emotions`: 28 emotions, multi-label, the paper's Tables 4–6 and micro-emotions.
# - `03_bert_and_serving`: BERT through keras-hub and a TensorFlow Serving export.
# - The documentation (docs/training.md, docs/datasets.md, docs/method.md) covers every option of `eqn-keras train`,
#   your own datasets and the metrics.
