"""One options object per command: the train and annotate parsers are built from TrainConfig's and
AnnotateOptions' fields, a resumed annotation's identity and Beam's unsupported options come from field
markers, and library errors name parameters that the command line shows as flags."""

import dataclasses

import pandas as pd
import pytest

from eqn_keras.cli import build_parser, main
from eqn_keras.fileio import InputError
from eqn_keras.options import AnnotateOptions, TrainConfig, flag_of, from_namespace, option_fields

ANNOTATE = ["annotate", "--model", "run", "--input", "in.csv", "--output", "out.csv"]


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eqn-keras: error: "), err
    return err[0][len("eqn-keras: error: "):]


def test_command_defaults_are_the_fields_defaults():
    """A command given no options runs with the dataclass defaults: one place for every default."""
    parser = build_parser()
    assert from_namespace(AnnotateOptions, parser.parse_args(ANNOTATE)) == AnnotateOptions()
    args = parser.parse_args(["train", "--arch", "ann", "--data", "x.csv"])
    assert from_namespace(TrainConfig, args) == TrainConfig(arch="ann", data="x.csv")


@pytest.mark.parametrize("cls, command", [(AnnotateOptions, "annotate"), (TrainConfig, "train")])
def test_every_field_is_a_flag_with_its_help(cls, command):
    sub = build_parser().commands[command]
    text = sub.format_help()
    for field in option_fields(cls):
        assert sub.flags[field.name] == flag_of(field)
        if field.metadata["help"]:
            assert field.metadata["help"].split()[0] in text
    hidden = {f.name for f in dataclasses.fields(cls)} - {f.name for f in option_fields(cls)}
    assert hidden == ({"max_value", "min_value", "verbose"} if cls is TrainConfig else set())


def test_flags_set_the_fields():
    args = build_parser().parse_args([*ANNOTATE, "--quiet", "--threshold", "tuned", "--labels", "--shard", "1/4",
                                      "--chunk-size", "0", "--on-bad-row", "skip", "--overwrite", "--stage", "coeqn"])
    assert from_namespace(AnnotateOptions, args) == AnnotateOptions(
        verbose=0, threshold="tuned", labels=True, shard="1/4", chunk_size=0, on_bad_row="skip", overwrite=True,
        stage="coeqn")


def test_resume_identity_is_derived_from_the_fields():
    """Fields marked affects_output=False (progress, replacing a file, Beam's) are not in a resumed job's
    identity; every other field is, so a new option that changes the output cannot be forgotten there."""
    identity = AnnotateOptions().output_identity()
    assert set(identity) == {f.name for f in dataclasses.fields(AnnotateOptions)} - {
        "overwrite", "verbose", "runner", "num_shards"}
    assert AnnotateOptions(verbose=0, overwrite=True).output_identity() == identity
    assert AnnotateOptions(label_sep=";").output_identity() != identity
    assert AnnotateOptions().output_identity(precision="float32")["precision"] == "float32"
    with pytest.raises(TypeError, match="not fields of AnnotateOptions: nope"):
        AnnotateOptions().output_identity(nope=1)
    assert set(TrainConfig.output_fields()) == {f.name for f in dataclasses.fields(TrainConfig)} - {"out", "verbose"}


def test_beam_refusals_come_from_the_field_markers():
    AnnotateOptions(precision="float32", jit_compile="off", batch_size=8, text_col="body").check_beam()
    for options, shown in [(AnnotateOptions(threshold=2.0), "threshold: not available with runner"),
                           (AnnotateOptions(labels=True), "labels: not available"),
                           (AnnotateOptions(precision="bfloat16"), "precision='bfloat16': not available"),
                           (AnnotateOptions(on_bad_row="skip"), "on_bad_row='skip': not available")]:
        with pytest.raises(InputError, match=shown):
            options.check_beam()


def test_a_skip_policy_is_refused_with_a_runner(capsys):
    """Beam stops at a bad row: --on-bad-row skip is refused there, not silently ignored."""
    assert main([*ANNOTATE, "--runner", "DirectRunner", "--on-bad-row", "skip"]) == 2
    assert _one_error_line(capsys).startswith("--on-bad-row skip: not available with --runner;")


def test_options_or_keywords(tiny_run, tmp_path):
    from eqn_keras import annotate_file

    src = tmp_path / "in.csv"
    pd.DataFrame({"text": ["so happy and glad", "afraid of the dark", "furious"]}).to_csv(src, index=False)
    annotate_file(tiny_run, src, tmp_path / "a.csv", threshold=5, labels=True, verbose=0)
    options = AnnotateOptions(threshold=5, labels=True, verbose=0)
    annotate_file(tiny_run, src, tmp_path / "b.csv", options=options)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert "annotated_labels" in pd.read_csv(tmp_path / "a.csv").columns
    annotate_file(tiny_run, src, tmp_path / "c.csv", options=options, labels=False)  # a keyword overrides
    assert "annotated_labels" not in pd.read_csv(tmp_path / "c.csv").columns
    with pytest.raises(TypeError):
        annotate_file(tiny_run, src, tmp_path / "d.csv", treshold=5)
    with pytest.raises(TypeError):
        annotate_file(tiny_run, src, tmp_path / "d.csv", options={"threshold": 5})
    assert not (tmp_path / "d.csv").exists()


@pytest.mark.parametrize("values, flags, library, command", [
    ({"shard": "a/b"}, ["--shard", "a/b"], "shard='a/b': expected i/n", "--shard a/b: expected i/n"),
    ({"chunk_size": 0, "on_bad_row": "skip"}, ["--chunk-size", "0", "--on-bad-row", "skip"],
     "on_bad_row='skip': needs streaming; expected chunk_size > 0",
     "--on-bad-row skip: needs streaming; expected --chunk-size > 0"),
    ({"threshold": "high"}, ["--threshold", "high"], "threshold='high': expected a number",
     "--threshold high: expected a number"),
    ({"labels": True, "label_sep": ""}, ["--labels", "--label-sep", ""], "label_sep: expected a non-empty",
     "--label-sep: expected a non-empty"),
])
def test_library_errors_name_parameters_the_command_its_flags(tiny_run, tmp_path, capsys, values, flags, library,
                                                              command):
    from eqn_keras import annotate_file

    src = tmp_path / "in.csv"
    src.write_text("text\nhappy\n")
    out = tmp_path / "out.csv"
    with pytest.raises(InputError) as err:
        annotate_file(tiny_run, src, out, **values)
    assert str(err.value).startswith(library) and "--" not in str(err.value)
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out), *flags]) == 2
    assert _one_error_line(capsys).startswith(command)


def test_an_existing_output_names_the_parameters(tiny_run, tmp_path, capsys):
    from eqn_keras import annotate_file

    src = tmp_path / "in.csv"
    src.write_text("text\nhappy\n")
    out = tmp_path / "out.csv"
    out.write_text("mine")
    with pytest.raises(InputError, match="pass overwrite=True to replace it, or choose another output_path$"):
        annotate_file(tiny_run, src, out)
    assert main(["annotate", "--model", str(tiny_run), "--input", str(src), "--output", str(out)]) == 2
    assert _one_error_line(capsys).endswith("pass --overwrite to replace it, or choose another --output")


def test_train_errors_name_parameters_the_command_its_flags(capsys, tmp_path):
    with pytest.raises(InputError, match=r"^stages=3: the 'multi' baseline head trains in one stage; label "
                                         r"regression needs head='eqn' or eqn_bce$"):
        TrainConfig(head="multi", stages=3).resolved_stages()
    assert main(["train", "--arch", "ann", "--data", "x.csv", "--head", "multi", "--stages", "3",
                 "--out", str(tmp_path / "run")]) == 2
    assert _one_error_line(capsys) == ("--stages 3: the 'multi' baseline head trains in one stage; label regression "
                                       "needs --head eqn or eqn_bce")
