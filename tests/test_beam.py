"""The Beam annotation pipeline (DirectRunner) gives what single-machine `eqn-keras annotate` gives."""

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("apache_beam")

from conftest import make_texts  # noqa: E402


@pytest.fixture(scope="module")
def export_dir(tiny_run, tmp_path_factory):
    from eqn_keras.export import export_run

    return export_run(tiny_run, out=tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """One table of 600 rows (ids, texts with quotes, commas and newlines), and the same rows as 3 shards."""
    _, rows = make_texts(600, seed=11)
    texts = [t if i % 9 else f'he said "{t}",\nthen left' for i, (t, _) in enumerate(rows)]
    frame = pd.DataFrame({"id": [f"r{i:04d}" for i in range(len(texts))], "text": texts, "source": "fixture"})
    base = tmp_path_factory.mktemp("corpus")
    (base / "shards").mkdir()
    for k in range(3):
        frame.iloc[k::3].to_csv(base / "shards" / f"part-{k}.csv", index=False)
        frame.iloc[k::3].to_json(base / "shards" / f"part-{k}.jsonl", orient="records", lines=True, force_ascii=False)
    frame.to_csv(base / "all.csv", index=False)
    frame.to_json(base / "all.jsonl", orient="records", lines=True, force_ascii=False)
    return base


def _single_machine(tiny_run, corpus, tmp_path):
    from eqn_keras.annotate import annotate_file

    annotate_file(tiny_run, corpus / "all.csv", tmp_path / "single.csv")
    return pd.read_csv(tmp_path / "single.csv", dtype={"id": str}, keep_default_na=False).set_index("id").sort_index()


def test_beam_equals_single_machine_annotation(tiny_run, export_dir, corpus, tmp_path):
    from eqn_keras.beam import annotate_beam

    shards = annotate_beam(export_dir, str(corpus / "shards" / "part-*.csv"), str(tmp_path / "beam" / "out.csv"),
                           pipeline_args=["--runner=DirectRunner"], num_shards=2)
    assert [p.rsplit("/", 1)[1] for p in shards] == ["out-00000-of-00002.csv", "out-00001-of-00002.csv"]
    beam = pd.concat([pd.read_csv(p, dtype={"id": str}, keep_default_na=False) for p in shards])
    single = _single_machine(tiny_run, corpus, tmp_path)
    assert list(beam.columns) == list(single.reset_index().columns)
    beam = beam.set_index("id").sort_index()
    assert len(beam) == 600 and beam.index.is_unique
    pd.testing.assert_frame_equal(beam[["text", "source"]], single[["text", "source"]])
    labels = [c for c in single.columns if c not in ("text", "source")]
    # same SavedModel graph as the run's model, rounded to 2 decimals like annotate: equal cell for cell
    np.testing.assert_array_equal(beam[labels].to_numpy(), single[labels].to_numpy())
    assert single[labels].to_numpy().std() > 0  # the scores depend on the text


def test_beam_jsonl_shards_are_the_single_machine_lines(tiny_run, export_dir, corpus, tmp_path):
    from eqn_keras.annotate import annotate_file
    from eqn_keras.beam import annotate_beam, export_label_names

    shards = annotate_beam(export_dir, str(corpus / "shards" / "part-*.jsonl"), str(tmp_path / "out.jsonl"),
                           pipeline_args=["--runner=DirectRunner"])
    lines = [line for p in shards for line in open(p, encoding="utf-8")]
    rows = [json.loads(line) for line in lines]
    names = export_label_names(export_dir)
    assert len(rows) == 600 and sorted(r["id"] for r in rows) == [f"r{i:04d}" for i in range(600)]
    assert all(list(r) == ["id", "text", "source", *names] for r in rows)
    # JSONL has one record per line: the shards hold, line for line, what single-machine annotate writes
    annotate_file(tiny_run, corpus / "all.jsonl", tmp_path / "single.jsonl")
    assert sorted(lines) == sorted(open(tmp_path / "single.jsonl", encoding="utf-8"))


def test_beam_refuses_a_run_directory_and_a_missing_column(tiny_run, export_dir, corpus, tmp_path):
    from eqn_keras.beam import annotate_beam
    from eqn_keras.fileio import InputError

    with pytest.raises(InputError, match="not an 'eqn-keras export' SavedModel"):
        annotate_beam(tiny_run, str(corpus / "all.csv"), str(tmp_path / "o.csv"))
    with pytest.raises(InputError, match="no column 'body'"):
        annotate_beam(export_dir, str(corpus / "all.csv"), str(tmp_path / "o.csv"), text_col="body")
    assert not list(tmp_path.iterdir())


def test_a_preset_is_exported_for_the_pipeline_and_an_export_is_used_as_it_is(tiny_run, export_dir, tmp_path):
    from eqn_keras import EQNModel
    from eqn_keras.beam import export_label_names, saved_model_for
    from eqn_keras.fileio import InputError

    EQNModel.from_run(tiny_run).save_to_preset(tmp_path / "preset")
    exported = saved_model_for(tmp_path / "preset", tmp_path / "out")
    assert exported == str(tmp_path / "out" / "emotions-ann-eqn" / "1")
    assert export_label_names(exported) == ["anger", "fear", "joy"]
    assert saved_model_for(export_dir, tmp_path / "unused") == str(export_dir)
    assert saved_model_for("gs://bucket/models/emotions/1", tmp_path / "unused") == "gs://bucket/models/emotions/1"
    with pytest.raises(InputError, match="not an 'eqn-keras export' SavedModel, a run directory nor a preset"):
        saved_model_for(tmp_path / "out", tmp_path / "unused")
    assert not (tmp_path / "unused").exists()


def test_cli_runner_exports_the_run_and_passes_beam_options(tiny_run, corpus, tmp_path, capsys):
    from eqn_keras.cli import main

    out = tmp_path / "cli" / "scored.csv"
    assert main(["annotate", "--runner", "DirectRunner", "--model", str(tiny_run), "--input",
                 str(corpus / "shards" / "part-*.csv"), "--output", str(out), "--num-shards", "3",
                 "--direct_num_workers=1"]) == 0  # the last one is Beam's, not ours
    shards = sorted((tmp_path / "cli").glob("scored-*-of-00003.csv"))
    assert len(shards) == 3 and "3 shard(s)" in capsys.readouterr().out
    beam = pd.concat([pd.read_csv(p, dtype={"id": str}, keep_default_na=False) for p in shards]).set_index("id")
    single = _single_machine(tiny_run, corpus, tmp_path)
    pd.testing.assert_frame_equal(beam.sort_index(), single)


def test_cli_runner_bad_row_is_one_line_and_leaves_no_output(tiny_run, tmp_path, capsys):
    from eqn_keras.cli import main

    (tmp_path / "in").mkdir()
    pd.DataFrame({"text": ["so happy", "worried"]}).to_csv(tmp_path / "in" / "a.csv", index=False)
    (tmp_path / "in" / "b.csv").write_text("text\nglad\n\"\"\nmad\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["annotate", "--runner", "DirectRunner", "--model", str(tiny_run), "--input",
                 str(tmp_path / "in" / "*.csv"), "--output", str(out / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("eqn-keras: error: ") and "b.csv: row 2: column 'text' is empty; expected non-empty text" in err
    assert list(out.iterdir()) == []
    assert main(["annotate", "--runner", "DirectRunner", "--model", str(tiny_run), "--input", "x.csv",
                 "--output", "y.csv", "--threshold", "2"]) == 2
    assert "--threshold: not available with --runner" in capsys.readouterr().err
