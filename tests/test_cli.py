import json

import pandas as pd
import pytest

from eqn_keras.cli import main


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eqn-keras: error: ")
    return err[0]


def test_annotate_adds_one_column_per_label(tiny_run, tmp_path, capsys):
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2], "text": ["so happy and glad", "afraid of the dark"]}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "text", "anger", "fear", "joy"]
    assert frame.loc[0, ["anger", "fear", "joy"]].astype(float).idxmax() == "joy"
    assert "annotated 2 texts" in capsys.readouterr().out


def test_annotate_threshold_and_tsv(tiny_run, tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("body\nso happy and glad\nmad and angry\n", encoding="utf-8")
    out = tmp_path / "out.tsv"
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out),
                 "--text-col", "body", "--threshold", "5"]) == 0
    frame = pd.read_csv(out, sep="\t")
    values = frame[["anger", "fear", "joy"]].to_numpy()
    assert ((values == 0) | (values >= 5)).all()


def test_annotate_jsonl(tiny_run, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "worried and nervous"}\n{"text": "wonderful"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert set(rows[0]) == {"text", "anger", "fear", "joy"}


@pytest.mark.parametrize("content,needle", [
    ("words\nhello\n", "no column 'text'"),
    ("text\nhello\n   \n", "row 2, column 'text': empty text"),
    (b"text\nhello \xff there\n", "in.csv:2: byte 0xff"),
    ("", "file is empty"),
])
def test_annotate_bad_input(tiny_run, tmp_path, capsys, content, needle):
    src = tmp_path / "in.csv"
    src.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out.csv"
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out)]) == 2
    assert needle in _one_error_line(capsys)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_annotate_missing_input_and_bad_run(tiny_run, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert main(["annotate", "--model", str(tiny_run), "--input", str(tmp_path / "nope.csv"), "--output", str(out)]) == 2
    assert "nope.csv: file not found" in _one_error_line(capsys)
    assert main(["annotate", "--model", str(tmp_path), "--input", "x.csv", "--output", str(out)]) == 2
    assert "not a run directory" in _one_error_line(capsys)
    assert main(["annotate", "--model", str(tiny_run), "--stage", "zzz", "--input", "x.csv", "--output", str(out)]) == 2
    assert "no model for stage 'zzz'" in _one_error_line(capsys)
    assert not out.exists()


def test_train_bad_inputs_exit_2_without_output(tmp_path, capsys, emotion_csv):
    out = tmp_path / "run"
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,joy\n,anger\n", encoding="utf-8")
    cases = [
        (["--data", str(tmp_path / "missing.csv")], "file not found"),
        (["--data", str(emotion_csv), "--text-col", "txt"], "'txt'"),
        (["--data", str(bad)], "row 2"),
        (["--data", str(emotion_csv), "--label-names", "joy,anger"], "fear"),
    ]
    for extra, needle in cases:
        assert main(["train", "--arch", "ann", "--out", str(out), *extra]) == 2
        assert needle in _one_error_line(capsys)
        assert not out.exists()


def test_annotate_shards_concatenate_to_the_whole(tiny_run, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": [f"happy text number {i}" for i in range(10)]}).to_csv(src, index=False)
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "all.csv")]) == 0
    parts = []
    for i in range(3):
        out = tmp_path / f"part{i}.csv"
        assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out),
                     "--shard", f"{i}/3"]) == 0
        parts.append(pd.read_csv(out))
    assert [len(p) for p in parts] == [3, 3, 4]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), pd.read_csv(tmp_path / "all.csv"))


@pytest.mark.parametrize("shard", ["3/3", "a/b", "1"])
def test_annotate_bad_shard(tiny_run, tmp_path, capsys, shard):
    src = tmp_path / "in.csv"
    src.write_text("text\nhi\n")
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "o.csv"),
                 "--shard", shard]) == 2
    assert "--shard" in _one_error_line(capsys)
