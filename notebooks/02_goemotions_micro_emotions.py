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
# # Micro-emotions on GoEmotions: CoEQN, EQN and the paper's Tables 4–6
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/)
#
# GoEmotions (Reddit comments, 28 labels: 27 emotions and neutral) is the paper's main case. Most comments
# carry a single human label although many express several emotions; EQN gives every comment an energy
# from 0 to 10 on all 28 labels, so the second and third strongest labels, the **micro-emotions**, become
# visible. This notebook
#
# 1. looks at the label statistics that motivate EQN,
# 2. trains TextCNN through CoEQN (stage 1, on the 0/10 full labels) and EQN (stage 2, on the labels
#    regressed by CoEQN),
# 3. compares the two stages with the paper's Tables 4, 5 and 6,
# 4. draws the Pearson heatmaps of the annotated test set (Figs. 8 and 9),
# 5. shows micro-emotion examples and the energy distribution of every label.
#
# Run it top to bottom: **Runtime → Run all**.

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
# The one cell to edit. The **full** setting trains TextCNN on all 43,410 training comments for up to 10
# epochs per stage, the run behind
# `benchmarks/results/goemotions_textcnn.md` (seed 0: hit rate CoEQN 0.581, EQN 0.581; macro-F1 at the
# dev-tuned threshold EQN 0.39, the sigmoid head 0.42 over three seeds); about an hour on two CPU cores,
# minutes on a GPU. The **small** setting trains 1,500 comments for one epoch so that every cell runs in
# about two minutes; its tables have the right shape but not the right numbers (an undertrained model
# spreads its energies evenly). `EQN_NOTEBOOK_SMALL=1` in the environment selects it.
#
# Without `EQN_DATA_DIR` GoEmotions is downloaded (about 4 MB) and checked against its card.

# %% tags=["parameters"]
SMALL = os.environ.get("EQN_NOTEBOOK_SMALL") == "1"  # True: a quick look; False: the full run
DATASET = "goemotions"
ARCH = "textcnn"  # or lstm, cnn, ann (bert: see 03_bert_and_serving)
EPOCHS = 1 if SMALL else 10
MAX_TRAIN = 1500 if SMALL else None  # a seeded random sample of the training set; None = all of it
SEED = 0
WORK = Path("runs")

# %% [markdown]
# ## Label statistics
#
# `eqn.load_dataset` returns the official train / dev / test splits; each text's labels are a tuple of
# label ids.

# %%
import collections
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

splits = eqn.load_dataset(DATASET)
names = splits.label_names
print(f"{splits.name}: {splits.num_labels} labels, multi-label: {splits.multi_label}")
per_text = pd.DataFrame({role: collections.Counter(len(l) for l in getattr(splits, role).labels)
                         for role in ("train", "dev", "test")}).sort_index().fillna(0).astype(int)
per_text.index.name = "labels per text"
share = (per_text / per_text.sum()).round(3).add_suffix(" share")
pd.concat([per_text, share], axis=1)

# %% [markdown]
# Over 80 % of the comments have one label: whatever else a comment expresses, its target vector says 0.
# The labels are also very unbalanced:

# %%
counts = pd.DataFrame({role: np.bincount([i for l in getattr(splits, role).labels for i in l],
                                         minlength=len(names)) for role in ("train", "test")}, index=names)
counts = counts.sort_values("train", ascending=False)
fig, ax = plt.subplots(figsize=(11, 3.8))
ax.bar(counts.index, counts["train"], color="#4c72b0")
ax.set_yscale("log")
ax.set_ylabel("training texts (log scale)")
ax.set_title(f"{splits.name}: how often each label is annotated in the training split")
ax.tick_params(axis="x", rotation=70)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Train CoEQN, then EQN
#
# One call trains both stages (command line: `eqn-keras train --arch textcnn --data goemotions`). Stage 1,
# CoEQN, learns the 0/10 full labels; its scores on the training set replace the zeros (label regression);
# stage 2, EQN, learns those regressed labels. A finished run directory is reused on a second run.

# %%
setting = "small" if SMALL else "full"
RUN = WORK / f"{DATASET}-{ARCH}-eqn-{setting}"
if (RUN / "metrics.json").is_file():
    print(f"{RUN}: finished run reused (delete the folder to train again)")
    result = json.loads((RUN / "metrics.json").read_text())
else:
    result = eqn.train(eqn.TrainConfig(arch=ARCH, data=DATASET, epochs=EPOCHS, max_train=MAX_TRAIN, seed=SEED,
                                       out=str(RUN), verbose=2))

# %% [markdown]
# What EQN was trained on: a few regressed training labels, the human labels at 10.0 and CoEQN's energies
# elsewhere (the paper's Fig. 5), for the strongest five labels of each comment.

# %%
pd.set_option("display.max_colwidth", 100)


def top_labels(frame, k=3):
    """'name energy' of each row's k strongest labels, strongest first."""
    values = frame[names].to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return pd.DataFrame({f"#{j + 1}": [f"{names[i]} {values[r, i]:.2f}" for r, i in enumerate(order[:, j])]
                         for j in range(k)}, index=frame.index)


def human_labels(ids):
    return ", ".join(names[int(i)] for i in str(ids).split(","))


regressed = pd.read_csv(RUN / "regressed_train.csv")
sample = regressed.head(8)
pd.concat([sample["text"].str.slice(0, 100), sample["labels"].map(human_labels).rename("human labels"),
           top_labels(sample, 5)], axis=1)

# %% [markdown]
# ## CoEQN against EQN
#
# `hit_rate` is Table 3's GoEmotions metric: each text's top-k_i labels, k_i its number of human labels.
# The F1 scores need a threshold on the energies: `macro_f1` uses one threshold tuned for macro-F1 on the
# dev split, `macro_f1_per_label_thresholds` one threshold per label, each tuned on dev.

# %%
reports = eqn.evaluate_run(RUN)  # every stage's report, recomputed from the saved scores (Tables 3-6)
stage_names = {"coeqn": "CoEQN", "eqn": "EQN"}
summary_keys = ["hit_rate", "sample_f1", "macro_f1", "micro_f1", "macro_f1_per_label_thresholds", "threshold"]
pd.DataFrame({stage_names[s]: {k: r.get(k) for k in summary_keys} for s, r in reports.items()}).round(4)

# %% [markdown]
# The same report as text from the command line, `eqn-keras evaluate`, run as `python -m eqn_keras` with the
# kernel's own Python (its first lines; it also writes the reports as JSON):

# %%
# !{sys.executable} -m eqn_keras evaluate {RUN} --stage eqn --output {RUN}/evaluation_eqn.json | sed -n 1,18p

# %% [markdown]
# ### Table 4: hits by number of labels
#
# Texts grouped by how many human labels they carry; a hit is a human label among the text's top-k_i
# energies.

# %%
def side_by_side(key, columns):
    """One table per stage from report[key], joined column-wise under the stage's name."""
    return pd.concat({stage_names[s]: pd.DataFrame(r[key]).set_index("class")[columns]
                      for s, r in reports.items()}, axis=1)


side_by_side("hits_by_label_count", ["corpus", "labels", "hits", "hit_rate"]).round(4)

# %% [markdown]
# ### Table 5: the true label of single-label texts within the top 1, 2, 3
#
# The micro-emotion argument in numbers: when the strongest energy misses the single human label, the
# second or third strongest often finds it.

# %%
side_by_side("topk_expansion", ["hits", "increment", "hit_rate"]).round(4)

# %% [markdown]
# ### Table 6: per-label precision, recall and F1 at the dev-tuned threshold

# %%
per_label = {stage_names[s]: pd.DataFrame(r["per_label"]).set_index("label") for s, r in reports.items()}
table6 = pd.concat({"test": per_label["EQN"][["support"]],
                    **{stage: frame[["precision", "recall", "f1"]] for stage, frame in per_label.items()}}, axis=1)
table6.round(2)

# %% [markdown]
# ## Pearson heatmaps of the annotated test set (Figs. 8 and 9)
#
# Pearson r between the 28 labels' energies over the test set. Related emotions (joy and amusement,
# anger and annoyance) should be warm, opposites cool.

# %%
from IPython.display import Image, display

from eqn_keras.metrics import pearson_matrix, plot_pearson_heatmap

FIGURES = WORK / "figures"
FIGURES.mkdir(parents=True, exist_ok=True)
test = {stage: pd.read_csv(RUN / f"test_annotated_{stage}.csv") for stage in reports}
matrices = {}
for stage, frame in test.items():
    matrices[stage] = pearson_matrix(frame[names].to_numpy(), names)
    png = plot_pearson_heatmap(matrices[stage], FIGURES / f"{RUN.name}-pearson-{stage}.png",
                               f"GoEmotions test set, {ARCH} {stage_names[stage]}: Pearson r of the energies")
    display(Image(filename=str(png), width=1000))

# %% [markdown]
# The most correlated label pairs under EQN:

# %%
upper = matrices["eqn"].where(np.triu(np.ones((len(names), len(names)), dtype=bool), k=1))
pairs = upper.stack().dropna().rename("Pearson r").sort_values(ascending=False)
pd.concat([pairs.head(8), pairs.tail(4)]).round(3).to_frame()

# %% [markdown]
# ## Micro-emotions: the second and third strongest labels
#
# Single-label test comments whose second and third strongest EQN energies are highest: the human gave
# one label, the model finds two more. Energies at or above the run's dev-tuned threshold h would be
# annotations (eq. 8).

# %%
h = reports["eqn"]["threshold"]
eqn_test = test["eqn"]
single = eqn_test[~eqn_test["labels"].astype(str).str.contains(",")]
third = np.sort(single[names].to_numpy(), axis=1)[:, -3]
examples = single.iloc[np.argsort(-third, kind="stable")[:10]]
print(f"dev-tuned threshold h = {h:.2f}; {int((third >= h).sum())} of {len(single)} single-label test "
      "comments have a third label at or above it")
pd.concat([examples["text"].str.slice(0, 100), examples["labels"].map(human_labels).rename("human label"),
           top_labels(examples, 3)], axis=1)

# %% [markdown]
# And multi-label comments, where the human labels and the strongest energies can be compared directly:

# %%
multi = eqn_test[eqn_test["labels"].astype(str).str.contains(",")].head(6)
pd.concat([multi["text"].str.slice(0, 100), multi["labels"].map(human_labels).rename("human labels"),
           top_labels(multi, 4)], axis=1)

# %% [markdown]
# ## The energy distribution of every label
#
# For each label, EQN's test energies on the comments a human annotated with it (orange) and on all other
# comments (grey): the thick bar spans the middle half (25th to 75th percentile), the thin line the 5th to
# 95th, the dot is the median. Annotated comments should sit high; the grey lines are where micro-emotions
# live: mostly near 0, with a tail of comments that carry some of the emotion. The dashed line is h.

# %%
energies = eqn_test[names].to_numpy()
truth = np.zeros_like(energies, dtype=bool)
for row, ids in enumerate(eqn_test["labels"].astype(str)):
    truth[row, [int(i) for i in ids.split(",")]] = True
order = list(counts.index)  # most frequent label at the top
fig, ax = plt.subplots(figsize=(10, 11))
for y, name in enumerate(reversed(order)):
    j = names.index(name)
    for offset, mask, color in ((0.18, truth[:, j], "#dd8452"), (-0.18, ~truth[:, j], "#7f7f7f")):
        if mask.any():
            p5, p25, p50, p75, p95 = np.percentile(energies[mask, j], [5, 25, 50, 75, 95])
            ax.hlines(y + offset, p5, p95, color=color, linewidth=1.2)
            ax.hlines(y + offset, p25, p75, color=color, linewidth=6)
            ax.plot(p50, y + offset, "o", color="black", markersize=3)
ax.axvline(h, color="black", linestyle="--", linewidth=1)
ax.set_yticks(range(len(order)), list(reversed(order)))
ax.set_ylim(-0.7, len(order) - 0.3)
ax.set_xlabel("EQN energy on the test set")
ax.set_title("Energy per label: comments annotated with it (orange) and all others (grey)")
ax.grid(axis="x", alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Next
#
# - `benchmarks/results/goemotions_textcnn.md` (and `_lstm`, `_bert`): these tables at the full setting,
#   next to the paper's BERT numbers and the sigmoid baseline, with three seeds.
# - `eqn-keras annotate --model RUN --input comments.csv --output scored.csv --threshold tuned` annotates a
#   corpus of your own with all 28 energies.
# - `03_bert_and_serving`: the paper's model (BERT) and serving the result.
