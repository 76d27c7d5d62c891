"""`--data tfds:NAME`: TFDS text datasets, on tiny datasets that TFDS itself builds and prepares here
(offline, no mocks of TFDS): a ClassLabel, a Sequence of ClassLabel and GoEmotions-style bool
features, and one `eqn-keras train` through the CLI in a fresh process (which loads the prepared
folder from files, without this module's builder code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from conftest import ROOT, make_texts  # noqa: E402
from eqn_keras.datasets import DEV_FRACTION, load_dataset  # noqa: E402
from eqn_keras.fileio import InputError  # noqa: E402

NAMES = ["joy", "anger", "fear"]


def _rows(n, seed, multi=False):
    return make_texts(n, seed=seed, multi=multi)[1]


class EqnTestSingle(tfds.core.GeneratorBasedBuilder):
    """One ClassLabel; train / validation / a test split whose labels are hidden (-1), as GLUE's are."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "sentence": tfds.features.Text(), "title": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=NAMES), "idx": np.int32}),
            supervised_keys=("sentence", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(120, 1), "validation": self._generate_examples(30, 2),
                "test": self._generate_examples(20, 3, hidden=True)}

    def _generate_examples(self, n, seed, hidden=False):
        for i, (text, labels) in enumerate(_rows(n, seed)):
            yield i, {"sentence": text, "title": f"title {i}", "label": -1 if hidden else labels[0], "idx": i}


class EqnTestSequence(tfds.core.GeneratorBasedBuilder):
    """A Sequence of ClassLabel (multi-label), a train split only; one row without labels, one empty text."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "text": tfds.features.Text(), "emotions": tfds.features.Sequence(tfds.features.ClassLabel(names=NAMES))}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i, (text, labels) in enumerate(_rows(100, 4, multi=True)):
            yield i, {"text": text, "emotions": labels}
        yield 100, {"text": "no label here", "emotions": []}
        yield 101, {"text": "  ", "emotions": [0]}


class EqnTestBools(tfds.core.GeneratorBasedBuilder):
    """One bool feature per emotion, like TFDS's goemotions builder; train / validation / test."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
            {"comment_text": tfds.features.Text(), **{name: np.bool_ for name in NAMES}}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(160, 5), "validation": self._generate_examples(30, 6),
                "test": self._generate_examples(30, 7)}

    def _generate_examples(self, n, seed):
        for i, (text, labels) in enumerate(_rows(n, seed, multi=True)):
            yield i, {"comment_text": text, **{name: j in labels for j, name in enumerate(NAMES)}}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """A data_dir where TFDS prepared the three builders (no network: nothing to download)."""
    data_dir = tmp_path_factory.mktemp("tfds")
    config = tfds.download.DownloadConfig(try_download_gcs=False)
    for cls in (EqnTestSingle, EqnTestSequence, EqnTestBools):
        cls(data_dir=str(data_dir)).download_and_prepare(download_config=config)
    return data_dir


def test_single_label_classlabel(tfds_dir):
    s = load_dataset("tfds:eqn_test_single", tfds_dir, seed=3)
    assert s.name == "tfds:eqn_test_single" and s.label_names == NAMES and not s.multi_label
    # the hidden (-1) test split is dropped: validation becomes the test split, dev is carved from train
    assert len(s.test) == 30 and len(s.train) + len(s.dev) == 120 and len(s.dev) == round(120 * DEV_FRACTION)
    assert s.notes["dropped"] == {"test.no_label": 20, "total": 20}
    assert "test from the TFDS 'validation' split" in s.notes["split"]
    assert s.notes["tfds"]["text_feature"] == "sentence" and s.notes["tfds"]["label_features"] == ["label"]
    builder = EqnTestSingle(data_dir=str(tfds_dir))
    truth = {row["sentence"].decode(): int(row["label"])
             for row in tfds.as_numpy(builder.as_dataset(split="validation", shuffle_files=False))}
    assert {t: l for t, (l,) in zip(s.test.texts, s.test.labels)} == truth
    assert sorted(s.train.texts + s.dev.texts) == sorted(t for t, _ in _rows(120, 1))
    # the same seed gives the same split; another text feature can be named
    assert load_dataset("tfds:eqn_test_single", tfds_dir, seed=3).dev.texts == s.dev.texts
    titles = load_dataset("tfds:eqn_test_single", tfds_dir, text_col="title")
    assert all(t.startswith("title ") for t in titles.train.texts)


def test_multi_label_sequence_train_only(tfds_dir):
    s = load_dataset("tfds:eqn_test_sequence", tfds_dir)
    assert s.label_names == NAMES and s.multi_label
    assert len(s.train) + len(s.dev) + len(s.test) == 100
    assert s.notes["dropped"] == {"train.no_label": 1, "train.empty_text": 1, "total": 2}
    assert s.notes["split"].startswith("from the TFDS 'train' split: seeded random split")
    truth = {t: tuple(ls) for t, ls in _rows(100, 4, multi=True)}
    got = dict(zip(s.train.texts + s.dev.texts + s.test.texts, s.train.labels + s.dev.labels + s.test.labels))
    assert got == truth and any(len(ls) == 2 for ls in got.values())


def test_multi_label_bool_features_like_goemotions(tfds_dir):
    s = load_dataset("tfds:eqn_test_bools", tfds_dir)
    assert s.label_names == sorted(NAMES) and s.multi_label  # bool features: sorted names
    assert (len(s.train), len(s.dev), len(s.test)) == (160, 30, 30)
    assert s.notes["split"] == "TFDS splits train / validation / test"
    truth = {t: tuple(sorted(sorted(NAMES).index(NAMES[j]) for j in ls)) for t, ls in _rows(30, 7, multi=True)}
    assert {t: tuple(sorted(ls)) for t, ls in zip(s.test.texts, s.test.labels)} == truth


def test_tfds_errors(tfds_dir):
    with pytest.raises(InputError, match=r"tfds:eqn_no_such_set: Dataset eqn_no_such_set not found") as err:
        load_dataset("tfds:eqn_no_such_set", tfds_dir)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=r"'idx' is not a text feature; text features: sentence, title"):
        load_dataset("tfds:eqn_test_single", tfds_dir, text_col="idx")
    with pytest.raises(InputError, match=r"feature 'idx' is not a ClassLabel"):
        load_dataset("tfds:eqn_test_single", tfds_dir, label_col="idx")
    with pytest.raises(InputError, match=r"no feature 'nope'"):
        load_dataset("tfds:eqn_test_single", tfds_dir, label_col="nope")
    with pytest.raises(InputError, match=r"label_names .* differ"):
        load_dataset("tfds:eqn_test_single", tfds_dir, label_names="a,b,c")
    with pytest.raises(InputError, match="test_data does not apply"):
        load_dataset("tfds:eqn_test_single", tfds_dir, test_data=str(tfds_dir / "x.csv"))
    with pytest.raises(InputError, match="expected tfds:NAME"):
        load_dataset("tfds:", tfds_dir)


def test_cli_train_on_a_prepared_tfds_folder(tfds_dir, tmp_path, small_vocab):
    """A fresh process that never saw the builder code: TFDS reads the prepared folder from files."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "eqn_keras.cli", "train", "--arch", "ann", "--data", "tfds:eqn_test_bools",
           "--data-dir", str(tfds_dir), "--epochs", "1", "--stages", "1", "--arch-config", str(small_vocab),
           "--out", str(out), "--quiet"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"]["name"] == "tfds:eqn_test_bools"
    assert config["dataset"]["label_names"] == sorted(NAMES) and config["dataset"]["multi_label"] is True
    assert config["dataset"]["notes"]["rows"] == {"train": 160, "dev": 30, "test": 30}


def test_tfds_goemotions_builder_on_local_files(tmp_path):
    """TFDS's own goemotions builder (28 bool features), its downloads replaced by tiny local TSVs in
    the upstream format: `tfds:goemotions` gives the labels of the TSVs, by name."""
    from tensorflow_datasets.text import goemotions

    names = goemotions._EMOTION_LABELS
    rows = {"train": [("so happy for you", "17"), ("what a mess, I am furious", "2,10"), ("ok then", "27")] * 10,
            "validation": [("thanks a lot", "15"), ("no idea why", "6")] * 3,
            "test": [("that is scary", "14,19"), ("wow", "26")] * 3}
    for split, lines in rows.items():
        (tmp_path / f"{split}.tsv").write_text("".join(f"{t}\t{ids}\tid{i}\n" for i, (t, ids) in enumerate(lines)))

    class GoemotionsLocal(goemotions.Goemotions):
        def _split_generators(self, dl_manager):
            return {split: self._generate_examples(str(tmp_path / f"{split}.tsv")) for split in rows}

    data_dir = tmp_path / "tfds"
    GoemotionsLocal(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    s = load_dataset("tfds:goemotions_local", data_dir)
    assert s.multi_label and s.label_names == sorted(names) and len(names) == 28
    assert s.notes["tfds"]["text_feature"] == "comment_text"
    assert (len(s.train), len(s.dev), len(s.test)) == (30, 6, 6)
    got = sorted((t, tuple(sorted(s.label_names[i] for i in ls))) for t, ls in zip(s.test.texts, s.test.labels))
    want = sorted((t, tuple(sorted(names[int(i)] for i in ids.split(",")))) for t, ids in rows["test"])
    assert got == want


def test_registered_tfds_builders_can_prepare():
    """tensorflow-datasets 4.9.10 needs importlib_resources to find a registered builder's checksums
    before download_and_prepare, but declares it only for Python < 3.9 (tensorflow/datasets#11212);
    setup.cfg declares it."""
    assert tfds.builder_cls("goemotions").code_path.name == "goemotions.py"
