"""Shared pytest setup: make the project importable when pytest runs without an install."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Modules holding the longest tests (minutes each: notebooks, real-data training, kill-and-resume), run first
# and in this order: under pytest-xdist the other workers then fill the time around them, instead of one
# worker starting a notebook when the rest of the suite is done. Whole modules move, so module-scoped
# fixtures are still set up once.
LONG_MODULES = ("test_notebooks.py", "test_integration.py", "test_resume.py", "test_bert.py", "test_distribute.py",
                "test_annotate_stream.py", "test_faults.py", "test_export.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order

WORDS = {
    "joy": ["happy", "glad", "great", "love", "wonderful", "smile"],
    "anger": ["angry", "mad", "furious", "hate", "annoyed", "rage"],
    "fear": ["scared", "afraid", "worried", "nervous", "panic", "dread"],
}
FILLER = ["the", "a", "today", "really", "was", "so", "i", "it", "this", "day", "and", "very"]


def make_texts(n, seed=0, multi=False):
    """Made-up texts whose emotion words give their labels (learnable in a few epochs)."""
    rng = np.random.default_rng(seed)
    names = list(WORDS)
    rows = []
    for _ in range(n):
        k = 2 if multi and rng.random() < 0.3 else 1
        labels = sorted(rng.choice(len(names), size=k, replace=False).tolist())
        words = [str(w) for w in rng.choice(FILLER, size=rng.integers(2, 12))]
        for j in labels:
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(WORDS[names[j]])))
        rows.append((" ".join(words), labels))
    return names, rows


def word_count_text(rng, filler: int):
    """(text, {emotion: count}): `filler` filler words and 0-3 of each emotion's words, shuffled; the counts are
    what a rater of intensity by word count would give (a learnable gold)."""
    counts = {e: int(rng.integers(0, 4)) for e in WORDS}
    words = [str(w) for w in rng.choice(FILLER, size=filler)]
    for emotion, count in counts.items():
        words += [str(w) for w in rng.choice(WORDS[emotion], size=count)]
    rng.shuffle(words)
    return " ".join(words), counts


def write_csv(path, rows, names, sep=","):
    import pandas as pd

    pd.DataFrame({"text": [t for t, _ in rows],
                  "label": [sep.join(names[j] for j in ls) for ls, in [(l,) for _, l in rows]]}).to_csv(path, index=False)
    return path


@pytest.fixture
def no_op_determinism():
    """Keras refuses XLA while TF op determinism is on (eqn-keras train turns it on for CPU runs); TF's public
    API can only turn it on, so the switch Keras itself reads."""
    from tensorflow.python.framework import config

    was_on = config.is_op_determinism_enabled()
    config.disable_op_determinism()
    yield
    if was_on:
        config.enable_op_determinism()


@pytest.fixture(scope="session")
def emotion_csv(tmp_path_factory):
    """A single-label user CSV (text,label with label names)."""
    names, rows = make_texts(240, seed=1)
    return write_csv(tmp_path_factory.mktemp("data") / "emotions.csv", rows, names)


@pytest.fixture(scope="session")
def multi_csv(tmp_path_factory):
    """A multi-label user CSV, labels joined by '|'."""
    names, rows = make_texts(300, seed=2, multi=True)
    return write_csv(tmp_path_factory.mktemp("data") / "multi.csv", rows, names, sep="|")


@pytest.fixture(scope="session")
def small_vocab(tmp_path_factory):
    """An --arch-config for runs on the made-up texts: a 64-token vocabulary. They hold about 30 words, so the
    presets' 5,000-20,000 only add embedding rows no text reaches (same scores, to the last bit, for the ANN
    run below) that every optimizer step and checkpoint still carries."""
    path = tmp_path_factory.mktemp("arch_config") / "vocab64.json"
    path.write_text('{"vocab_size": 64}')
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, emotion_csv, small_vocab):
    """A finished two-stage ANN run on the single-label fixture."""
    from eqn_keras.cli import main

    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", "--arch", "ann", "--data", str(emotion_csv), "--epochs", "8", "--batch-size", "16", "--learning-rate", "0.005",
                 "--seed", "3", "--arch-config", str(small_vocab), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="session")
def arch_runs(tmp_path_factory, emotion_csv, small_vocab):
    """One quick single-stage run per arch (for export tests)."""
    from eqn_keras.builders import TOKEN_ARCHS
    from eqn_keras.cli import main

    base = tmp_path_factory.mktemp("arch_runs")
    for arch in TOKEN_ARCHS:
        assert main(["train", "--arch", arch, "--data", str(emotion_csv), "--epochs", "1", "--stages", "1",
                     "--arch-config", str(small_vocab), "--out", str(base / arch), "--quiet"]) == 0
    return {arch: base / arch for arch in TOKEN_ARCHS}


@pytest.fixture(scope="session")
def killable_train_data(tmp_path_factory, small_vocab):
    """(CSV, --arch-config) of the runs that resume and fault tests stop mid-epoch: 600 fixture texts, so an epoch
    lasts a fraction of a second (long enough to be caught inside one)."""
    names, rows = make_texts(600, seed=5)
    return write_csv(tmp_path_factory.mktemp("killable") / "emotions.csv", rows, names), small_vocab


def killable_train_args(data, out) -> list:
    """`eqn-keras train` arguments (without the program) of a two-stage ANN run on `killable_train_data`."""
    csv, arch_config = data
    return [str(a) for a in ["train", "--arch", "ann", "--data", csv, "--epochs", "4", "--patience", "1",
                             "--batch-size", "16", "--seed", "7", "--arch-config", arch_config, "--out", out,
                             "--quiet"]]


@pytest.fixture(scope="session")
def tiny_bert_preset(tmp_path_factory):
    """A keras-hub preset directory holding a random 2-layer, hidden-32 BERT and a vocabulary of the fixture words."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(1)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for ws in WORDS.values() for w in ws} | set(FILLER))
    vocab += ["!", ",", ".", "?"]
    path = tmp_path_factory.mktemp("tiny_bert")
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=2, num_heads=2, hidden_dim=32,
                                             intermediate_dim=64, max_sequence_length=160)
    backbone.save_to_preset(str(path))
    keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True).save_to_preset(str(path))
    return path
