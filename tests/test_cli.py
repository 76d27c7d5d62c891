import json

import numpy as np
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
    ("text\nhello\n   \n", "in.csv:3: column 'text' is empty"),
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


LABELS = ["anger", "fear", "joy"]
TEXTS = ["so happy and glad today", "furious!!! and MAD", "i was worried, nervous", "x", "angry and scared",
         "the day was very glad"]


def _run_with_threshold(tiny_run, target, threshold):
    """A copy of the tiny run whose stored dev-tuned threshold for 'eqn' is `threshold`."""
    import shutil

    target.mkdir()
    for name in ("config.json", "coeqn.keras", "eqn.keras"):
        shutil.copy(tiny_run / name, target / name)
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    metrics["stages"]["eqn"]["threshold"] = threshold
    (target / "metrics.json").write_text(json.dumps(metrics))
    return target


def _names_at_or_above(raw, h):
    return ["|".join(name for name, score in zip(LABELS, row) if score >= h) for row in raw]


def test_annotate_energies_are_clipped_to_the_run_range(tiny_run, tmp_path):
    from eqn_keras.annotate import Annotator

    raw = Annotator(tiny_run).raw_scores(TEXTS)
    assert (raw < 0).any() and (raw > 10).any(), "the fixture run should score outside 0-10"
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(src, index=False)
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)[LABELS].to_numpy(), np.round(np.clip(raw, 0, 10), 2), atol=1e-9)


def test_tuned_threshold_is_the_stored_one(tiny_run):
    from eqn_keras.annotate import Annotator

    stages = json.loads((tiny_run / "metrics.json").read_text())["stages"]
    assert stages["coeqn"]["threshold"] != stages["eqn"]["threshold"]
    for stage in ("coeqn", "eqn"):
        annotator = Annotator(tiny_run, stage)
        assert annotator.tuned_threshold == stages[stage]["threshold"]
        assert annotator.threshold("tuned") == stages[stage]["threshold"]
        assert annotator.threshold("2.5") == 2.5 and annotator.threshold(None) is None


def test_annotate_threshold_tuned_and_labels(tiny_run, tmp_path):
    """--threshold tuned uses exactly the stored threshold: set it to one of the raw scores, which must pass."""
    from eqn_keras.annotate import Annotator

    raw = Annotator(tiny_run).raw_scores(TEXTS)
    h = float(np.sort(raw[4])[-2])  # 'angry and scared': its second label passes exactly at h
    assert 3 < h < 10 and (raw[3] < h).all(), "expected two labels for row 4 and none for 'x'"
    run = _run_with_threshold(tiny_run, tmp_path / "run", h)
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    assert main(["annotate", "--model", str(run), "--input", str(src), "--output", str(out),
                 "--threshold", "tuned", "--labels"]) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns) == ["id", "text", *LABELS, "annotated_labels"]
    expected = np.where(raw >= h, np.clip(raw, 0, 10), 0)
    np.testing.assert_allclose(frame[LABELS].to_numpy(dtype=float), np.round(expected, 2), atol=1e-9)
    names = _names_at_or_above(raw, h)
    assert frame["annotated_labels"].tolist() == names
    assert names[3] == "" and "|" in names[4]
    # a numeric threshold still works; --labels alone uses the tuned threshold and keeps every energy
    out2 = tmp_path / "out2.jsonl"
    assert main(["annotate", "--model", str(run), "--input", str(src), "--output", str(out2), "--labels",
                 "--label-sep", ";"]) == 0
    rows = [json.loads(line) for line in out2.read_text().splitlines()]
    assert [r["annotated_labels"] for r in rows] == [n.replace("|", ";") for n in names]
    np.testing.assert_allclose([[r[n] for n in LABELS] for r in rows], np.round(np.clip(raw, 0, 10), 2), atol=1e-9)
    out3 = tmp_path / "out3.csv"
    assert main(["annotate", "--model", str(run), "--input", str(src), "--output", str(out3), "--labels",
                 "--threshold", "5"]) == 0
    assert pd.read_csv(out3, keep_default_na=False)["annotated_labels"].tolist() == _names_at_or_above(raw, 5)


def test_threshold_outside_the_range_is_decided_on_raw_scores(tiny_run, tmp_path):
    """A tuned h below 0 (possible for a barely trained run): the labels are those the metrics counted."""
    from eqn_keras.annotate import Annotator

    raw = Annotator(tiny_run).raw_scores(TEXTS)
    h = -0.25
    assert ((raw >= h) & (raw < 0)).any() and (raw < h).any()
    annotator = Annotator(_run_with_threshold(tiny_run, tmp_path / "run", h))
    frame = annotator.annotate(TEXTS, "tuned", labels=True)
    assert frame["annotated_labels"].tolist() == _names_at_or_above(raw, h)
    np.testing.assert_allclose(frame[LABELS].to_numpy(), np.clip(raw, 0, 10), atol=1e-5)
    # above the range: raw scores from 14 up are annotations, shown as 10; those in (10, 14) are not
    assert (raw >= 14).any() and ((raw > 10) & (raw < 14)).any()
    frame = annotator.annotate(TEXTS, 14, labels=True)
    assert frame["annotated_labels"].tolist() == _names_at_or_above(raw, 14)
    np.testing.assert_allclose(frame[LABELS].to_numpy(), np.where(raw >= 14, 10, 0), atol=1e-5)


@pytest.mark.parametrize("flags,needle", [
    (["--threshold", "abc"], "--threshold abc: expected a number or 'tuned'"),
    (["--threshold", "nan"], "--threshold nan: expected a number"),
    (["--threshold", ""], "--threshold : expected a number"),
    (["--labels", "--label-sep", ""], "--label-sep"),
])
def test_annotate_bad_threshold_is_one_line(tiny_run, tmp_path, capsys, flags, needle):
    src = tmp_path / "in.csv"
    src.write_text("text\nhappy\n")
    out = tmp_path / "out.csv"
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out), *flags]) == 2
    assert needle in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == [src]


def test_annotate_labels_without_a_stored_threshold_or_with_a_clashing_column(tiny_run, tmp_path, capsys):
    run = _run_with_threshold(tiny_run, tmp_path / "run", None)
    src = tmp_path / "in.csv"
    src.write_text("text,annotated_labels\nhappy,x\n")
    out = tmp_path / "out.csv"
    for flags in (["--labels"], ["--threshold", "tuned"]):
        assert main(["annotate", "--model", str(run), "--input", str(src), "--output", str(out), *flags]) == 2
        assert "no dev-tuned threshold for stage 'eqn'" in _one_error_line(capsys)
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out), "--labels"]) == 2
    assert "column 'annotated_labels' exists" in _one_error_line(capsys)
    assert not out.exists()


def test_annotate_precision_flag(tiny_run, tmp_path, capsys):
    """auto keeps a non-BERT run in float32 (bf16 was measured for BERT only), so its energies are the exact
    ones; bfloat16 is taken when asked, said in the summary line, and part of what a resumed job must match."""
    from eqn_keras.annotate import Annotator

    src = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(src, index=False)
    exact = np.round(np.clip(Annotator(tiny_run).raw_scores(TEXTS), 0, 10).astype(np.float64), 2)
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "a.csv")]) == 0
    assert "(float32)" in capsys.readouterr().out
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "a.csv")[LABELS].to_numpy(), exact)
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "b.csv"),
                 "--precision", "bfloat16"]) == 0
    assert "(bfloat16)" in capsys.readouterr().out
    fast = pd.read_csv(tmp_path / "b.csv")[LABELS].to_numpy()
    assert 0 < np.abs(fast - exact).max() < 0.5
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "c"),
                 "--runner", "DirectRunner", "--precision", "bfloat16"]) == 2
    assert "--precision bfloat16: not available with --runner" in capsys.readouterr().err
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "d.csv"),
                 "--precision", "int8"]) == 2
    assert "--precision int8: for BERT runs" in capsys.readouterr().err and not (tmp_path / "d.csv").exists()


def test_annotate_does_not_import_what_it_does_not_use(tiny_run, tmp_path):
    """`eqn-keras annotate` keeps out the packages TensorFlow and Keras import only when installed (scikit-learn,
    matplotlib, SciPy, kagglehub, IPython): a fresh process annotates without importing any of them, and they import as
    usual after the command."""
    import subprocess
    import sys

    src = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(src, index=False)
    code = ("import sys; from eqn_keras.cli import UNUSED_BY_ANNOTATE, main; "
            f"assert main(['annotate', '--model', {str(tiny_run)!r}, '--input', {str(src)!r}, '--output', "
            f"{str(tmp_path / 'out.csv')!r}, '--quiet']) == 0; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in UNUSED_BY_ANNOTATE)); "
            "import sklearn; print('after', sklearn.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-2:] == ["[]", "after sklearn"]
    assert (tmp_path / "out.csv").is_file()


def test_annotate_jit_compile_flag(tiny_run, tmp_path, capsys, monkeypatch, no_op_determinism):
    """--jit-compile on scores through XLA (the traced forward pass compiled) to the same energies up to float
    round-off; auto leaves a small non-BERT job without it; the choice is part of what a resumed job must match."""
    from eqn_keras import rundir
    from eqn_keras.annotate import TableAnnotator

    monkeypatch.setattr("eqn_keras.distribute.accelerators_visible", lambda: False)  # auto's CPU rule
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(src, index=False)
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "a.csv")]) == 0
    assert capsys.readouterr().out.strip().endswith("(float32)")
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "m.csv"),
                 "--chunk-size", "0", "--jit-compile", "on"]) == 0  # the in-memory path too
    assert capsys.readouterr().out.strip().endswith("(float32, XLA)")
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "b.csv"),
                 "--jit-compile", "on"]) == 0
    assert capsys.readouterr().out.strip().endswith("(float32, XLA)")
    plain, xla = (pd.read_csv(tmp_path / name)[LABELS].to_numpy() for name in ("a.csv", "b.csv"))
    np.testing.assert_allclose(xla, plain, atol=0.0100001)  # 2 decimals: round-off may move the last digit
    scorer = TableAnnotator(tiny_run)
    assert scorer.choose_jit("on", None) is True and scorer.options()["jit_compile"] is True
    scorer.annotator.raw_scores(TEXTS[:2])
    assert rundir._SCORERS[scorer.annotator.core][0] is True  # the scorer that ran is the XLA one
    assert scorer.choose_jit("auto", 10**6) is False and scorer.options()["jit_compile"] is False
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "c"),
                 "--runner", "DirectRunner", "--jit-compile", "on"]) == 2
    assert "--jit-compile on: not available with --runner" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--batch-size", "0"], ["--batch-size", "-3"], ["--batch-size", "x"]])
def test_annotate_sizes_must_be_positive(tiny_run, tmp_path, capsys, flags):
    # --batch-size 0 once meant "the default" without a word; now argparse refuses it (exit 2, nothing written)
    src = tmp_path / "in.csv"
    src.write_text("text\nhappy\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(tmp_path / "o.csv"), *flags])
    assert exit_info.value.code == 2
    assert f"argument {flags[0]}: expected a positive integer, got '{flags[1]}'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [src]


def test_library_batch_size_zero_is_an_error(tiny_run):
    from eqn_keras.annotate import Annotator, TableAnnotator

    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        TableAnnotator(tiny_run, batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        Annotator(tiny_run).raw_scores(["happy"], batch_size=0)


def test_console_script_skips_the_final_collection(monkeypatch):
    """`eqn-keras` is `cli.run`: `main`, then its objects frozen out of the interpreter's final collection (the
    ~1.2 s TensorFlow's object graph costs at exit); the exit status is `main`'s."""
    from importlib.metadata import entry_points

    from eqn_keras import cli

    calls = []
    monkeypatch.setattr(cli, "main", lambda argv=None: calls.append("main") or 3)
    monkeypatch.setattr(cli.gc, "freeze", lambda: calls.append("freeze"))
    assert cli.run() == 3 and calls == ["main", "freeze"]
    (script,) = entry_points(group="console_scripts", name="eqn-keras")  # as installed from setup.cfg
    assert script.value == "eqn_keras.cli:run"


def test_help_and_option_errors_do_not_import_tensorflow():
    """The parser takes its choices from eqn_keras.options: --help and a mistyped option answer without the
    seconds a TensorFlow import takes (a fresh interpreter, as the console script starts)."""
    import subprocess
    import sys

    code = ("import sys\nfrom eqn_keras.cli import main\n"
            "try:\n    main(['train', '--arch', 'nope', '--data', 'x'])\nexcept SystemExit as e:\n    status = e.code\n"
            "try:\n    main(['annotate', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(status, [m for m in ('tensorflow', 'keras') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "2 []"
    assert "invalid choice: 'nope'" in done.stderr and "--on-bad-row" in done.stdout


def test_heads_and_builders_act_on_the_choices_the_parser_offers():
    from eqn_keras import builders, distribute, heads, options

    assert heads.HEADS is options.HEADS and builders.ARCHS is options.ARCHS
    assert distribute.JIT_MODES is options.JIT_MODES
