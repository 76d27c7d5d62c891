"""Tests of eqn_keras.datasets: dataset cards, named-dataset readers on made-up fixtures of the same
shape, the row validator they share, user files, bad input, downloads through file:// URLs, splits; and real-data counts
(integration, needs EQN_DATA_DIR)."""

from __future__ import annotations

import collections
import hashlib
import os
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from eqn_keras import datasets as ds
from eqn_keras.datasets import ChecksumError, DatasetSplits, TextDataset, load_dataset, readers
from eqn_keras.fileio import InputError

REPO = Path(__file__).resolve().parent.parent
_ENV_DATA_DIR = os.environ.get("EQN_DATA_DIR")


def _real_data_dir():
    if not _ENV_DATA_DIR:
        return None
    path = Path(_ENV_DATA_DIR).expanduser()
    if not path.is_absolute() and not path.is_dir():
        path = REPO / path
    return path if path.is_dir() else None


REAL_DATA = _real_data_dir()


def real_data_test(func):
    """Mark a test as integration; skip it when EQN_DATA_DIR does not point at the real datasets."""
    func = pytest.mark.skipif(REAL_DATA is None, reason="EQN_DATA_DIR is not set to the real datasets")(func)
    return pytest.mark.integration(func)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """No test reads the real data folder or the user's download cache unless it asks to."""
    monkeypatch.delenv("EQN_DATA_DIR", raising=False)
    monkeypatch.setenv("EQN_CACHE_DIR", str(tmp_path / "cache"))


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def all_rows(splits: DatasetSplits):
    return [(t, l) for part in (splits.train, splits.dev, splits.test) for t, l in zip(part.texts, part.labels)]


# --- fixtures shaped like the named datasets (made-up texts) ---------------------------------------


def make_goemotions(root: Path) -> Path:
    d = root / "goemotions"
    write(d / "train.tsv",
          "I love this so much\t18\taa1\n"
          '"She said ""wow"" and left, laughing "\t1,17\taa2\n'
          "why would anyone do that\t6,7,9\taa3\n"
          "thanks a lot friend\t15\taa4\n"
          '"Quoted, with comma"\t27\taa5\n')
    write(d / "dev.tsv", "meh whatever\t27\tbb1\nso scary out there\t14\tbb2\n")
    write(d / "test.tsv", "what a relief\t23\tcc1\n\"a \"\"quote\"\" here\"\t0,4\tcc2\n")
    return root


def make_3tfn(root: Path, n_train: int = 20) -> Path:
    d = root / "3tfn"
    rows = ["text,label"]
    for i in range(n_train):
        rows.append(f"$TICK{i} shares move on report number {i},{i % 3}")
    rows.append('"Stock jumps after\nsplit, analysts say",1')  # CRLF records, LF inside quotes (as upstream)
    write(d / "sent_train.csv", "\r\n".join(rows) + "\r\n")
    write(d / "sent_valid.csv", 'text,label\n"Bank falls,\nfirm warns",0\nquiet trading day,2\n', newline="\r\n")
    return root


def make_6emotions(root: Path) -> Path:
    d = root / "6emotions"
    write(d / "train.txt", "i feel down today;sadness\ni am so happy;joy\ni adore you;love\n"
                           "this makes me furious;anger\ni am scared;fear\nwhat a shock;surprise\n")
    write(d / "val.txt", "\ni feel blue;sadness\ni feel great;joy\n")
    write(d / "test.txt", "i am afraid;fear\ni feel amazed;surprise\n")
    return root


def make_3tsa(root: Path, n: int = 30) -> Path:
    rows = ["clean_comment,category"]
    for i in range(n):
        rows.append(f" comment number {i} about things ,{(i % 3) - 1}")
    rows += [",0", ",1", '"   ",-1', '" ",0', '"a comment with\na newline",1']
    write(root / "3tsa" / "Reddit_Data.csv", "\n".join(rows) + "\n")
    return root


HEALTH = ["Anxiety", "Bipolar", "Depression", "Normal", "Personality disorder", "Stress", "Suicidal"]


def make_7health(root: Path, n: int = 28) -> Path:
    rows = [",statement,status"]
    for i in range(n):
        rows.append(f'{i},"statement {i}, made up",{HEALTH[i % 7]}')
    rows += [f"{n},,Normal", f'{n + 1},"  ",Stress']
    write(root / "7health" / "Combined Data.csv", "\n".join(rows) + "\n")
    return root


# --- cards ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,n_labels,multi,roles", [
    ("goemotions", 28, True, {"train", "dev", "test"}),
    ("3tfn", 3, False, {"train", "test"}),
    ("6emotions", 6, False, {"train", "dev", "test"}),
    ("3tsa", 3, False, {"data"}),
    ("7health", 7, False, {"data"}),
])
def test_cards(name, n_labels, multi, roles):
    card = ds.load_card(name)
    for key in ("name", "description", "upstream", "license", "format", "label_names", "multi_label",
                "files", "split_rule", "notes"):
        assert key in card, key
    assert card["name"] == name
    assert len(card["label_names"]) == n_labels == len(set(card["label_names"]))
    assert card["multi_label"] is multi
    assert set(card["files"]) == roles
    for spec in card["files"].values():
        assert spec["sha256"] is None or len(spec["sha256"]) == 64
        assert spec["url"] is None or spec["url"].startswith("https://")
    assert ds.card_path(name) == REPO / "eqn_keras" / "presets" / "datasets" / f"{name}.json"


def test_card_details():
    ge = ds.load_card("goemotions")
    assert ge["label_names"][0] == "admiration" and ge["label_names"][26] == "surprise"
    assert ge["label_names"][27] == "neutral"
    assert ds.load_card("6emotions")["label_names"] == ["sadness", "joy", "love", "anger", "fear", "surprise"]
    assert ds.load_card("6emotions")["files"]["dev"]["sha256"] is None
    assert ds.load_card("3tsa")["label_names"] == ["negative", "neutral", "positive"]
    assert ds.load_card("3tsa")["files"]["data"]["archive"]["format"] == "zip"
    assert ds.load_card("7health")["files"]["data"]["url"] is None


def test_card_unknown_name():
    with pytest.raises(InputError, match="unknown dataset 'nope'"):
        ds.card_path("nope")


def test_card_not_taken_from_a_foreign_datasets_folder(tmp_path, monkeypatch):
    """Cards are the package's data: a `datasets/` folder in the working directory (or site-packages' PyPI
    `datasets` package) is never read instead."""
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "3tfn.json").write_text('{"name": "3tfn", "label_names": ["x"]}')
    monkeypatch.chdir(tmp_path)
    assert ds.card_dirs() == [resources.files("eqn_keras.presets") / "datasets"]
    assert ds.card_path("3tfn") == REPO / "eqn_keras" / "presets" / "datasets" / "3tfn.json"
    assert len(ds.load_card("3tfn")["label_names"]) == 3


# --- named datasets on fixtures ------------------------------------------------------------------


def test_goemotions_fixture(tmp_path):
    s = load_dataset("goemotions", make_goemotions(tmp_path))
    assert s.name == "goemotions" and s.multi_label and s.num_labels == 28
    assert (len(s.train), len(s.dev), len(s.test)) == (5, 2, 2)
    assert s.train.texts[1] == 'She said "wow" and left, laughing '
    assert s.train.texts[4] == "Quoted, with comma"
    assert s.train.labels == [(18,), (1, 17), (6, 7, 9), (15,), (27,)]
    assert s.test.texts[1] == 'a "quote" here' and s.test.labels[1] == (0, 4)
    assert s.notes["files"]["train"]["origin"] == "data_dir"
    assert s.notes["files"]["train"]["sha256"] == "mismatch"  # made-up file, not the real one
    assert "official" in s.notes["split"]


@pytest.mark.parametrize("cell,match", [("28", r"row 2: label id 28 in column 2 is out of range; expected 0\.\.27 \('admiration'"),
                                        ("joy", r"row 2: unknown label 'joy' in column 2; expected an id 0\.\.27 .*"
                                                r"several separated by ','")])
def test_goemotions_bad_label(tmp_path, cell, match):
    make_goemotions(tmp_path)
    write(tmp_path / "goemotions" / "dev.tsv", f"fine\t1\tx1\nnot fine\t{cell}\tx2\n")
    with pytest.raises(InputError, match=match) as err:
        load_dataset("goemotions", tmp_path)
    assert str(tmp_path / "goemotions" / "dev.tsv") in str(err.value)


def test_3tfn_fixture_crlf_quoted_newlines(tmp_path):
    s = load_dataset("3tfn", make_3tfn(tmp_path))
    assert s.label_names == ["Bearish", "Bullish", "Neutral"] and not s.multi_label
    assert len(s.test) == 2 and s.test.texts[0] == "Bank falls,\nfirm warns" and s.test.labels == [(0,), (2,)]
    assert (len(s.train), len(s.dev)) == (19, 2)  # 21 train rows, 10% dev carved
    texts = s.train.texts + s.dev.texts
    assert "Stock jumps after\nsplit, analysts say" in texts
    assert not any("\r" in t for t in texts)
    assert "dev carved from sent_train.csv" in s.notes["split"] and "stratified" in s.notes["split"]
    assert all(len(l) == 1 for _, l in all_rows(s))


def test_3tfn_bad_label(tmp_path):
    write(tmp_path / "3tfn" / "sent_train.csv", "text,label\nok,0\nbad,3\n")
    write(tmp_path / "3tfn" / "sent_valid.csv", "text,label\nok,0\n")
    with pytest.raises(InputError, match=r"sent_train\.csv: row 2: label id 3 in column 'label' is out of range; "
                                         r"expected 0\.\.2 \('Bearish', 'Bullish', 'Neutral'\)"):
        load_dataset("3tfn", tmp_path)


def test_6emotions_fixture(tmp_path):
    s = load_dataset("6emotions", make_6emotions(tmp_path))
    assert (len(s.train), len(s.dev), len(s.test)) == (6, 2, 2)  # leading blank line in val.txt skipped
    assert s.train.labels == [(i,) for i in range(6)]
    assert s.dev.texts == ["i feel blue", "i feel great"]
    assert s.notes["files"]["dev"]["sha256"] == "unverified"


def test_6emotions_unknown_label_names_line(tmp_path):
    make_6emotions(tmp_path)
    write(tmp_path / "6emotions" / "val.txt", "\ni feel blue;sadness\ni feel great;happiness\n")
    with pytest.raises(InputError, match=r"val\.txt:3: unknown label 'happiness' in the part after ';'; "
                                         r"expected one of 'sadness', 'joy'"):
        load_dataset("6emotions", tmp_path)


def test_6emotions_missing_separator(tmp_path):
    make_6emotions(tmp_path)
    write(tmp_path / "6emotions" / "test.txt", "i am afraid;fear\ni feel amazed surprise\n")
    with pytest.raises(InputError, match=r"test\.txt:2: no ';' in the line; expected 'text;label_name'"):
        load_dataset("6emotions", tmp_path)


def test_3tsa_fixture_drops_empty(tmp_path):
    s = load_dataset("3tsa", make_3tsa(tmp_path))
    assert s.label_names == ["negative", "neutral", "positive"]
    assert s.notes["dropped"] == {"empty_text": 2, "whitespace_text": 2, "total": 4}
    assert (len(s.train), len(s.dev), len(s.test)) == (25, 3, 3)
    rows = dict(all_rows(s))
    assert rows[" comment number 0 about things "] == (0,)  # -1 -> negative
    assert rows[" comment number 1 about things "] == (1,)  # 0 -> neutral
    assert rows[" comment number 2 about things "] == (2,)  # 1 -> positive
    assert rows["a comment with\na newline"] == (2,)
    assert "80% train / 10% dev / 10% test" in s.notes["split"]


def test_3tsa_bad_category(tmp_path):
    write(tmp_path / "3tsa" / "Reddit_Data.csv", "clean_comment,category\nfine,1\nodd,2\n")
    with pytest.raises(InputError, match=r"Reddit_Data\.csv: row 2: unknown label '2' in column 'category'; "
                                         r"expected one of '-1', '0', '1'$"):
        load_dataset("3tsa", tmp_path)


def test_7health_fixture(tmp_path):
    s = load_dataset("7health", make_7health(tmp_path), seed=3)
    assert s.label_names == HEALTH and s.num_labels == 7
    assert s.notes["dropped"]["total"] == 2
    assert len(s.train) + len(s.dev) + len(s.test) == 28 and len(s.test) == 3 and len(s.dev) == 3
    assert dict(all_rows(s))["statement 4, made up"] == (4,)  # Personality disorder


def test_7health_unknown_status(tmp_path):
    write(tmp_path / "7health" / "Combined Data.csv", ",statement,status\n0,hello,Normal\n1,hi,Happy\n")
    with pytest.raises(InputError, match=r"Combined Data\.csv: row 2: unknown label 'Happy' in column 'status'"):
        load_dataset("7health", tmp_path)


# --- the one row validator every reader shares ---------------------------------------------------


@pytest.mark.parametrize("name,file,content,where,column", [
    ("goemotions", "dev.tsv", "fine\t1\tx1\n\"  \"\t2\tx2\n", "dev.tsv: row 2", "text in column 1 is empty"),
    ("goemotions", "dev.tsv", "fine\t1\tx1\nno label here\n", "dev.tsv: row 2",
     "label in column 2 is empty; expected one or more labels"),
    ("3tfn", "sent_valid.csv", 'text,label\nok,0\n"",1\n', "sent_valid.csv: row 2", "text in column 'text' is empty"),
    ("6emotions", "val.txt", "\ni feel blue;sadness\n ;joy\n", "val.txt:3", "text in the part before ';' is empty"),
    ("6emotions", "val.txt", "i feel blue;sadness\ni feel;\n", "val.txt:2",
     "label in the part after ';' is empty; expected a label"),
])
def test_readers_share_the_row_checks(tmp_path, name, file, content, where, column):
    {"goemotions": make_goemotions, "3tfn": make_3tfn, "6emotions": make_6emotions}[name](tmp_path)
    write(tmp_path / name / file, content)
    with pytest.raises(InputError) as err:
        load_dataset(name, tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / name / where}: ") and column in msg and "\n" not in msg, msg


def test_validate_rows_drops_dedupes_and_names_the_place():
    label_map = ds.LabelMap(["a", "b", "c"], sep=",")
    data, dropped = ds.validate_rows("f.csv", [1, 2, 3, 4, 5], ["x\r\ny", "", "  ", "z", "w"],
                                     ["a,b,a", "a", "b", "", "2,c"], label_map, drop_empty=True, drop_unlabelled=True)
    assert data.texts == ["x\ny", "w"] and data.labels == [(0, 1), (2,)]
    assert dropped == {"empty_text": 1, "whitespace_text": 1, "no_label": 1}
    with pytest.raises(InputError, match=r"^f\.csv:7: unknown label 'd' in field 2; expected one of 'a', 'b', 'c' "
                                         r"or an id 0\.\.2, several separated by ','$"):
        ds.validate_rows("f.csv", [7], ["text"], ["a,d"], label_map, columns=("field 1", "field 2"), unit="line")
    with pytest.raises(InputError, match=r"^f\.csv: row 1: column 'text' holds list; expected text$"):
        ds.validate_rows("f.csv", [1], [["a list"]], ["a"], label_map)
    by_value = ds.LabelMap(["negative", "positive"], by_id=False, values=["-1", "1"])
    assert ds.validate_rows("f.csv", [1, 2], ["x", "y"], ["1", " -1 "], by_value)[0].labels == [(1,), (0,)]
    with pytest.raises(InputError, match=r"unknown label '0' in column 'label'; expected one of '-1', '1'$"):
        ds.validate_rows("f.csv", [1], ["x"], ["0"], by_value)


def test_7health_missing_tells_where_to_put_it(tmp_path):
    with pytest.raises(InputError) as err:
        load_dataset("7health", tmp_path / "data")
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "data" / "7health" / "Combined Data.csv") in msg
    assert "kaggle" in msg.lower() and "no download URL" in msg


def test_named_dataset_uses_env_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EQN_DATA_DIR", str(make_6emotions(tmp_path / "env")))
    s = load_dataset("6emotions")
    assert len(s.train) == 6 and s.notes["files"]["train"]["path"].startswith(str(tmp_path / "env"))


def test_named_dataset_with_test_data_native(tmp_path):
    make_6emotions(tmp_path)
    other = write(tmp_path / "mytest.txt", "i am cross;anger\ni feel loved;love\ni feel lost;sadness\n")
    s = load_dataset("6emotions", tmp_path, test_data=other)
    assert s.test.labels == [(3,), (2,), (0,)] and len(s.dev) == 2
    assert s.notes["files"]["test"]["origin"] == "test_data"


def test_named_dataset_with_test_data_user_table(tmp_path):
    make_3tsa(tmp_path)
    other = write(tmp_path / "mytest.jsonl", '{"text": "good stuff", "label": "positive"}\n'
                                             '{"text": "bad stuff", "label": 0}\n')
    s = load_dataset("3tsa", tmp_path, test_data=other)
    assert s.test.labels == [(2,), (0,)]
    assert len(s.train) + len(s.dev) == 31 and len(s.dev) == 3


def test_named_dataset_rejects_other_label_names(tmp_path):
    with pytest.raises(InputError, match="differ from the dataset card"):
        load_dataset("3tfn", make_3tfn(tmp_path), label_names=["a", "b", "c"])
    assert load_dataset("3tfn", tmp_path, label_names="Bearish,Bullish,Neutral").num_labels == 3


def test_unknown_dataset_name():
    with pytest.raises(InputError, match="unknown dataset 'emotionz'; expected one of goemotions"):
        load_dataset("emotionz")


# --- downloads -----------------------------------------------------------------------------------


def _patch_card(monkeypatch, name, **files):
    """Make load_card(name) return the real card with files replaced by `files` (role -> spec updates)."""
    real = ds.load_card

    def fake(n):
        card = real(n)
        if n == name:
            for role, update in files.items():
                card["files"][role] = {**card["files"][role], **update}
        return card

    monkeypatch.setattr(readers, "load_card", fake)  # where load_named looks it up


def test_download_file_url_and_cache(tmp_path, monkeypatch):
    src = make_3tfn(tmp_path / "upstream") / "3tfn"
    _patch_card(monkeypatch, "3tfn",
                train={"url": (src / "sent_train.csv").as_uri(), "sha256": sha(src / "sent_train.csv")},
                test={"url": (src / "sent_valid.csv").as_uri(), "sha256": sha(src / "sent_valid.csv")})
    s = load_dataset("3tfn")
    cached = tmp_path / "cache" / "3tfn" / "sent_train.csv"
    assert cached.is_file() and cached.read_bytes() == (src / "sent_train.csv").read_bytes()
    assert s.notes["files"]["train"] == {"path": str(cached), "origin": "download",
                                         "url": (src / "sent_train.csv").as_uri(), "sha256": "ok"}
    again = load_dataset("3tfn")
    assert again.notes["files"]["train"]["origin"] == "cache"
    assert again.train.texts == s.train.texts


def test_download_falls_back_from_data_dir_without_the_files(tmp_path, monkeypatch):
    src = make_6emotions(tmp_path / "upstream") / "6emotions"
    _patch_card(monkeypatch, "6emotions",
                **{role: {"url": (src / f).as_uri(), "sha256": sha(src / f)}
                   for role, f in (("train", "train.txt"), ("dev", "val.txt"), ("test", "test.txt"))})
    s = load_dataset("6emotions", tmp_path / "empty_data_dir")
    assert {info["origin"] for info in s.notes["files"].values()} == {"download"}


def test_download_checksum_mismatch(tmp_path, monkeypatch):
    src = make_3tfn(tmp_path / "upstream") / "3tfn"
    _patch_card(monkeypatch, "3tfn",
                train={"url": (src / "sent_train.csv").as_uri(), "sha256": "0" * 64},
                test={"url": (src / "sent_valid.csv").as_uri(), "sha256": sha(src / "sent_valid.csv")})
    cached = tmp_path / "cache" / "3tfn" / "sent_train.csv"
    with pytest.raises(ChecksumError) as err:
        load_dataset("3tfn")
    msg = str(err.value)
    assert isinstance(err.value, InputError) and "\n" not in msg
    assert str(cached) in msg and "sha256" in msg and "0" * 64 in msg
    assert not cached.exists()


def test_corrupt_cached_file_is_downloaded_again(tmp_path, monkeypatch):
    src = make_3tfn(tmp_path / "upstream") / "3tfn"
    _patch_card(monkeypatch, "3tfn",
                train={"url": (src / "sent_train.csv").as_uri(), "sha256": sha(src / "sent_train.csv")},
                test={"url": (src / "sent_valid.csv").as_uri(), "sha256": sha(src / "sent_valid.csv")})
    write(tmp_path / "cache" / "3tfn" / "sent_train.csv", "text,label\ntruncated")
    s = load_dataset("3tfn")
    assert s.notes["files"]["train"]["origin"] == "download" and len(s.train) + len(s.dev) == 21


def test_download_failure_is_one_line(tmp_path, monkeypatch):
    missing = (tmp_path / "nowhere" / "sent_train.csv").as_uri()
    _patch_card(monkeypatch, "3tfn", train={"url": missing})
    with pytest.raises(InputError) as err:
        load_dataset("3tfn")
    assert "download failed" in str(err.value) and missing in str(err.value) and "\n" not in str(err.value)


def _zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_download_zip_archive(tmp_path, monkeypatch):
    csv_path = make_3tsa(tmp_path / "upstream") / "3tsa" / "Reddit_Data.csv"
    archive = _zip(tmp_path / "Reddit_Data.csv.zip",
                   {"__MACOSX/._Reddit_Data.csv": b"junk", "Reddit_Data.csv": csv_path.read_bytes()})
    _patch_card(monkeypatch, "3tsa", data={"url": archive.as_uri(), "sha256": sha(csv_path)})
    s = load_dataset("3tsa")
    cache = tmp_path / "cache" / "3tsa"
    assert (cache / "Reddit_Data.csv").read_bytes() == csv_path.read_bytes()
    assert not (cache / "Reddit_Data.csv.zip").exists()
    assert s.notes["files"]["data"]["sha256"] == "ok" and s.notes["dropped"]["total"] == 4


def test_download_zip_inner_checksum_mismatch(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "Reddit_Data.csv.zip", {"Reddit_Data.csv": b"clean_comment,category\nhi,1\n"})
    _patch_card(monkeypatch, "3tsa", data={"url": archive.as_uri(), "sha256": "f" * 64})
    with pytest.raises(ChecksumError, match="Reddit_Data.csv: sha256 .* does not match the dataset card"):
        load_dataset("3tsa")
    assert not (tmp_path / "cache" / "3tsa" / "Reddit_Data.csv").exists()


def test_download_zip_without_member(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "other.zip", {"something_else.csv": b"x"})
    _patch_card(monkeypatch, "3tsa", data={"url": archive.as_uri()})
    with pytest.raises(InputError, match="other.zip: no 'Reddit_Data.csv' in the archive; found something_else.csv"):
        load_dataset("3tsa")


# --- user files ----------------------------------------------------------------------------------


def test_user_csv_label_names_inferred(tmp_path):
    rows = "\n".join(f"text number {i},{['joy', 'anger', 'fear'][i % 3]}" for i in range(30))
    s = load_dataset(write(tmp_path / "mine.csv", "text,label\n" + rows + "\n"))
    assert s.name == "mine" and s.label_names == ["anger", "fear", "joy"] and not s.multi_label
    assert (len(s.train), len(s.dev), len(s.test)) == (24, 3, 3)
    assert dict(all_rows(s))["text number 0"] == (2,)
    for part in (s.dev, s.test):  # stratified: one row of each class
        assert sorted(l[0] for l in part.labels) == [0, 1, 2]


def test_user_integer_ids_inferred(tmp_path):
    s = load_dataset(write(tmp_path / "ids.csv", "text,label\na,0\nb,3\nc,1\n"))
    assert s.label_names == ["0", "1", "2", "3"]
    assert sorted(l for _, l in all_rows(s)) == [(0,), (1,), (3,)]


def test_user_tsv_multilabel_with_sep_and_names(tmp_path):
    path = write(tmp_path / "multi.tsv", "labels\ttext\njoy,love\thappy and in love\nfear\tscared\n"
                                         "1\tjoyful\nanger, fear\tangry and scared\n")
    s = load_dataset(path, label_sep=",", label_names=["anger", "joy", "love", "fear"])
    assert s.multi_label and s.label_names == ["anger", "joy", "love", "fear"]
    rows = dict(all_rows(s))
    assert rows == {"happy and in love": (1, 2), "scared": (3,), "joyful": (1,), "angry and scared": (0, 3)}


def test_user_jsonl_list_labels_and_custom_columns(tmp_path):
    path = write(tmp_path / "data.jsonl", '{"sentence": "one", "emotions": ["a", "b"]}\n\n'
                                          '{"sentence": "two", "emotions": ["c"]}\n'
                                          '{"sentence": "three", "emotions": "a"}\n')
    s = load_dataset(path, text_col="sentence", label_col="emotions")
    assert s.multi_label and s.label_names == ["a", "b", "c"]
    assert dict(all_rows(s)) == {"one": (0, 1), "two": (2,), "three": (0,)}


def test_user_label_names_from_string_and_file(tmp_path):
    data = write(tmp_path / "d.csv", "text,label\nx,neg\ny,pos\nz,0\n")
    by_string = load_dataset(data, label_names="neg, pos")
    names_file = write(tmp_path / "names.txt", "neg\npos\n\n")
    by_file = load_dataset(data, label_names=str(names_file))
    assert by_string.label_names == by_file.label_names == ["neg", "pos"]
    assert sorted(all_rows(by_string)) == sorted(all_rows(by_file))
    assert dict(all_rows(by_file))["z"] == (0,)


def test_user_test_data(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(20)))
    test = write(tmp_path / "test.csv", "text,label\nfirst,b\nsecond,c\n")
    s = load_dataset(train, test_data=test)
    assert s.label_names == ["a", "b", "c"]  # inferred from train and test together
    assert s.test.texts == ["first", "second"] and s.test.labels == [(1,), (2,)]
    assert (len(s.train), len(s.dev)) == (18, 2)
    assert "test from" in s.notes["split"]
    assert s.notes["files"] == {"data": {"path": str(train), "origin": "user file"},
                                "test": {"path": str(test), "origin": "test_data"}}


# --- bad user input ------------------------------------------------------------------------------


def _error(path, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        load_dataset(path, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


def test_error_missing_file(tmp_path):
    msg = _error(tmp_path / "absent.csv")
    assert str(tmp_path / "absent.csv") in msg and "file not found" in msg


def test_error_missing_text_column(tmp_path):
    path = write(tmp_path / "d.csv", "sentence,label\na,b\n")
    msg = _error(path)
    assert str(path) in msg and "no column 'text'" in msg and "'sentence', 'label'" in msg


def test_error_misspelt_label_column(tmp_path):
    path = write(tmp_path / "d.csv", "text,lable\na,b\n")
    msg = _error(path)
    assert str(path) in msg and "no column 'label' or 'labels'" in msg and "'lable'" in msg
    msg = _error(path, label_col="labl")
    assert "no column 'labl'" in msg and "'text', 'lable'" in msg


def test_error_wrong_field_separator(tmp_path):
    path = write(tmp_path / "d.csv", "text\tlabel\na\tb\n")
    msg = _error(path)
    assert str(path) in msg and "no column 'text'" in msg and "tab-separated" in msg and ".tsv" in msg
    path = write(tmp_path / "s.csv", "text;label\na;b\n")
    assert "';'-separated" in _error(path)


@pytest.mark.parametrize("text", ['""', '"   "'])
def test_error_empty_text(tmp_path, text):
    path = write(tmp_path / "d.csv", f"text,label\nfine,a\n{text},b\n")
    msg = _error(path)
    assert str(path) in msg and "row 2" in msg and "column 'text'" in msg and "empty" in msg


def test_error_label_id_out_of_range(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nx,0\ny,5\n")
    msg = _error(path, label_names=["a", "b", "c"])
    assert str(path) in msg and "row 2" in msg and "label id 5" in msg and "expected 0..2" in msg


def test_error_unknown_label_name(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "x", "label": "joy"}\n{"text": "y", "label": "joyy"}\n')
    msg = _error(path, label_names="sadness,joy,love")
    assert str(path) in msg and "row 2" in msg and "unknown label 'joyy'" in msg and "'sadness', 'joy'" in msg


def test_error_wrong_label_separator(tmp_path):
    path = write(tmp_path / "d.csv", 'text,labels\nx,joy\ny,"joy;love"\n')
    msg = _error(path, label_sep=",", label_names=["joy", "love"])
    assert "row 2" in msg and "unknown label 'joy;love'" in msg and "is label_sep ';'" in msg
    msg = _error(path, label_names=["joy", "love"])  # no label_sep at all
    assert "pass label_sep=';'" in msg


def test_error_empty_label(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nx,a\ny,\n")
    msg = _error(path)
    assert str(path) in msg and "row 2" in msg and "column 'label' is empty" in msg


def test_error_not_utf8(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nok,a\ncaf\xe9,b\n")
    msg = _error(path)
    assert f"{path}:3:" in msg and "not UTF-8" in msg


@pytest.mark.parametrize("content,match", [("", "file is empty"), ("text,label\n", "no data rows")])
def test_error_empty_dataset(tmp_path, content, match):
    path = write(tmp_path / "d.csv", content)
    msg = _error(path)
    assert str(path) in msg and match in msg


def test_error_too_few_rows(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nx,a\ny,b\n")
    assert "2 rows are too few to split; expected at least 3" in _error(path)


def test_error_bad_label_names(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nx,a\ny,b\nz,a\n")
    assert "appears twice" in _error(path, label_names=["a", "b", "a"])
    msg = _error(path, label_names=str(tmp_path / "names.txt"))
    assert str(tmp_path / "names.txt") in msg and "file not found" in msg


def test_error_unknown_extension(tmp_path):
    path = write(tmp_path / "d.xlsx", "text,label\nx,a\n")
    assert "unknown table format '.xlsx'" in _error(path)


# --- splits --------------------------------------------------------------------------------------


def _big_csv(tmp_path, n=200):
    rows = "".join(f"text {i},{'abcd'[i % 7 % 4]}\n" for i in range(n))
    return write(tmp_path / "big.csv", "text,label\n" + rows)


def test_split_deterministic_and_disjoint(tmp_path):
    path = _big_csv(tmp_path)
    a, b, c = load_dataset(path, seed=1), load_dataset(path, seed=1), load_dataset(path, seed=2)
    assert (a.train, a.dev, a.test) == (b.train, b.dev, b.test)
    assert a.test.texts != c.test.texts
    texts = a.train.texts + a.dev.texts + a.test.texts
    assert sorted(texts) == sorted(f"text {i}" for i in range(200))
    assert (len(a.train), len(a.dev), len(a.test)) == (160, 20, 20)
    assert "seed 1" in a.notes["split"] and "stratified on the first label" in a.notes["split"]


def test_split_is_stratified(tmp_path):
    s = load_dataset(_big_csv(tmp_path))
    full = collections.Counter(l[0] for _, l in all_rows(s))
    for part in (s.dev, s.test):
        counts = collections.Counter(l[0] for l in part.labels)
        for label, n in full.items():
            assert abs(counts[label] - n / 10) <= 1


def test_split_falls_back_when_a_class_is_tiny(tmp_path):
    rows = "".join(f"t{i},a\n" for i in range(19)) + "lonely,b\n"
    s = load_dataset(write(tmp_path / "d.csv", "text,label\n" + rows), seed=5)
    assert "unstratified" in s.notes["split"]
    assert len(s.train) + len(s.dev) + len(s.test) == 20


def test_split_dataset_helper():
    data = TextDataset([f"t{i}" for i in range(10)], [(i % 2,) for i in range(10)])
    train, dev, test, rule = ds.split_dataset(data, (0.1, 0.1), seed=0)
    assert (len(train), len(dev), len(test)) == (8, 1, 1)
    assert "unstratified" in rule  # one test row cannot hold both classes
    train, dev, test, _ = ds.split_dataset(data, (0.2, 0), seed=0)
    assert (len(train), len(dev), len(test)) == (8, 2, 0)


def test_sample_is_a_seeded_subset_in_file_order():
    data = TextDataset([f"t{i}" for i in range(50)], [(i % 3,) for i in range(50)])
    a, b, c = data.sample(10, seed=1), data.sample(10, seed=1), data.sample(10, seed=2)
    assert a.texts == b.texts != c.texts
    rows = [int(t[1:]) for t in a.texts]
    assert len(rows) == 10 == len(set(rows)) and rows == sorted(rows) and rows != list(range(10))
    assert a.labels == [(i % 3,) for i in rows]
    assert data.sample(None) is data and data.sample(50) is data
    with pytest.raises(InputError, match=r"^n=0: expected a positive number of rows"):
        data.sample(0)


# --- real data (integration) ---------------------------------------------------------------------


def _real(name):
    return load_dataset(name, REAL_DATA)


@real_data_test
def test_real_goemotions():
    s = _real("goemotions")
    assert (len(s.train), len(s.dev), len(s.test)) == (43410, 5426, 5427)
    assert s.multi_label and s.num_labels == 28
    per_row = {part: collections.Counter(len(l) for l in getattr(s, part).labels) for part in ("train", "dev", "test")}
    assert per_row["train"] == {1: 36308, 2: 6541, 3: 532, 4: 28, 5: 1}
    assert per_row["dev"] == {1: 4548, 2: 809, 3: 62, 4: 7}
    assert per_row["test"] == {1: 4590, 2: 774, 3: 61, 4: 2}
    assert {f["sha256"] for f in s.notes["files"].values()} == {"ok"}
    assert all(t.strip() for t in s.train.texts)
    labels_txt = (REAL_DATA / "goemotions" / "labels.txt").read_text(encoding="utf-8").split("\n")
    assert [n for n in labels_txt if n] == s.label_names


@real_data_test
def test_real_3tfn():
    s = _real("3tfn")
    assert len(s.train) + len(s.dev) == 9543 and len(s.dev) == 954 and len(s.test) == 2388
    train_counts = collections.Counter(l[0] for l in s.train.labels + s.dev.labels)
    assert train_counts == {0: 1442, 1: 1923, 2: 6178}
    assert collections.Counter(l[0] for l in s.test.labels) == {0: 347, 1: 475, 2: 1566}
    assert sum("\n" in t for t in s.train.texts + s.dev.texts) == 184
    assert sum("\n" in t for t in s.test.texts) == 43
    assert {f["sha256"] for f in s.notes["files"].values()} == {"ok"}


@real_data_test
def test_real_6emotions(monkeypatch):
    monkeypatch.setenv("EQN_DATA_DIR", str(REAL_DATA))  # through the environment this time
    s = load_dataset("6emotions")
    assert (len(s.train), len(s.dev), len(s.test)) == (16000, 2000, 2000)
    counts = collections.Counter(s.label_names[l[0]] for l in s.train.labels)
    assert counts == {"sadness": 4666, "joy": 5362, "love": 1304, "anger": 2159, "fear": 1937, "surprise": 572}


@real_data_test
def test_real_3tsa():
    s = _real("3tsa")
    assert s.notes["dropped"] == {"empty_text": 99, "whitespace_text": 121, "total": 220}
    total = len(s.train) + len(s.dev) + len(s.test)
    assert total == 37249 - 220
    assert (len(s.dev), len(s.test)) == (3703, 3703)
    assert s.notes["files"]["data"]["sha256"] == "ok"
    again = _real("3tsa")
    assert again.test.texts == s.test.texts
