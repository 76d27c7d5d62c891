"""The choices the library and the command line offer (architectures, heads, precisions, ...), as plain data,
and one options object per command: `TrainConfig` (train) and `AnnotateOptions` (annotate).

Each option is a dataclass field carrying its default and help text (`option(...)`); the command line's
parsers are built from the fields (`add_options`), so a default is typed once. Importable without TensorFlow,
so `eqn-keras --help` and a mistyped option answer at once instead of after the seconds a TensorFlow import
takes; the modules that act on a choice import it from here.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

TOKEN_ARCHS = ("ann", "cnn", "lstm", "textcnn")  # TextVectorization-tokenized Keras models
ARCHS = TOKEN_ARCHS + ("bert",)


@dataclass(frozen=True)
class HeadSpec:
    """How a head ends, what it is trained with, and how full labels become its targets."""

    activation: str
    loss: str
    needs_single_label: bool = False
    energy: bool = False  # trains on full / regressed energy labels, so it has CoEQN and EQN stages


HEADS = {
    "eqn": HeadSpec(activation="linear", loss="mean_squared_error", energy=True),
    "single": HeadSpec(activation="softmax", loss="categorical_crossentropy", needs_single_label=True),
    "multi": HeadSpec(activation="sigmoid", loss="binary_crossentropy"),
    "eqn_bce": HeadSpec(activation="sigmoid", loss="energy_bce", energy=True),
}

PATIENCE = 2  # epochs without a lower dev loss before early stopping ends a stage (eqn-keras train --patience)
JIT_MODES = ("auto", "on", "off")
# On CPU, XLA compiles the BERT forward pass once per batch shape (widths padded to multiples of 8), then scores
# faster: benchmarks/bert_speed.md's cli table has XLA losing on 5,427 texts and winning on 43,410.
XLA_MIN_ROWS = 10_000
INFERENCE_PRECISIONS = ("auto", "float32", "bfloat16", "int8")
BAD_ROW_POLICIES = ("error", "skip")  # what annotating does with a row it cannot read
CHUNK_SIZE = 10_000  # records per chunk by default: a few MB in memory, few enough chunks to add little time
SEQ_LEN = 150  # tokens per text the token models read (longer texts are cut)
MAX_VALUE, MIN_VALUE = 10.0, 0.0  # the energy range (paper: 0-10)
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


def positive_int(value: str) -> int:
    """argparse type for counts and sizes: 0 or a negative number is an error, not a silent default."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def option(default=None, help=None, *, flag=None, cli=True, affects_output=True, beam=True, **argparse_kwargs):
    """A dataclass field that is an option of a command: its default, its help, and how it is used.

    `flag`: its command-line name (default `--` + the field name with dashes); `cli=False`: not on the command
    line. `affects_output=False`: it does not change what the command writes (a progress bar, whether an existing
    file may be replaced, how Beam shards its output); the others make up a resumed job's identity (batch and chunk
    sizes and XLA among them: they move float round-off, and chunks are a Parquet output's row groups).
    `beam`: which values `annotate --runner` supports (True: any, False: only the default, or a tuple of
    values). The rest (type, choices, metavar, action, required, ...) goes to `ArgumentParser.add_argument`.
    """
    meta = {"help": help, "flag": flag, "cli": cli, "affects_output": affects_output, "beam": beam,
            "argparse": argparse_kwargs}
    return dataclasses.field(default=default, metadata=meta)


def option_fields(cls) -> list:
    """The fields of an options dataclass that are command-line options, in order."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", False)]


def flag_of(field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def add_options(parser, cls, only=None, skip=()) -> None:
    """Add the fields of `cls` (those in `only`, else all but `skip`) to an argparse parser, in field order:
    the field's default, help and argparse settings in one place, the field name as the destination."""
    for field in option_fields(cls):
        if (only is not None and field.name not in only) or field.name in skip:
            continue
        kwargs = dict(field.metadata["argparse"])
        if not kwargs.get("required"):
            kwargs.setdefault("default", field.default)
        if field.metadata["help"] is not None:
            kwargs["help"] = field.metadata["help"]
        parser.add_argument(flag_of(field), dest=field.name, **kwargs)


def from_namespace(cls, args, **extra):
    """An options dataclass from parsed arguments (its command-line fields) and `extra` values."""
    return cls(**{f.name: getattr(args, f.name) for f in option_fields(cls)}, **extra)


class OptionsMixin:
    """What every options dataclass offers: `with_values`, `output_fields`."""

    @classmethod
    def with_values(cls, options=None, **values):
        """`options` (default: every field's default) with some fields set: how a function taking `options=` also
        takes the fields as keyword arguments. An unknown name is a TypeError, as for a misspelled keyword."""
        if options is None:
            return cls(**values)
        if not isinstance(options, cls):
            raise TypeError(f"options: expected {cls.__name__}, got {type(options).__name__}")
        return dataclasses.replace(options, **values) if values else options

    @classmethod
    def output_fields(cls) -> list:
        """The names of the fields that change what the command writes (`affects_output`)."""
        return [f.name for f in dataclasses.fields(cls) if f.metadata.get("affects_output", True)]


@dataclass(frozen=True)
class AnnotateOptions(OptionsMixin):
    """Every option of annotating a file (`annotate_file`, `eqn-keras annotate`): what is scored and how.

    The model (`--model`: a run directory or a preset), the input and the output are the job's arguments, not
    options. Fields marked
    `affects_output=False` do not change the annotated file; the others, resolved, are what a resumed job must
    match (see `output_identity`). `beam`: what `--runner` supports, checked by `check_beam`.
    """

    stage: str | None = option(help="which stage of a run (default: the last one trained; a preset holds one)",
                               beam=False)
    overwrite: bool = option(
        False, "replace a file already at --output (default: refuse it; an unfinished job of the same options "
               "resumes either way)", affects_output=False, action="store_true")
    text_col: str = option("text")
    threshold: float | str | None = option(
        help="energies whose raw (unclipped) score is below h become 0 (paper eq. 8); 'tuned' = the stage's "
             "threshold tuned for macro-F1 on the dev split (a run's metrics.json, a preset's config)", beam=False,
        metavar="H|tuned")
    labels: bool = option(
        False, "add a column 'annotated_labels': the names of the labels at or above the threshold (--threshold, "
               "else the tuned one; the scores are then not zeroed), joined by --label-sep",
        beam=False, action="store_true")
    label_sep: str = option("|", "separator of the names in 'annotated_labels' (default '|')")
    # the batch changes float round-off in the scores, so a resumed job keeps it
    batch_size: int | None = option(
        help="texts per forward pass (default: the model's predict_batch_size, models/<arch>.json's when it was "
             "trained, else 256)",
        type=positive_int)
    precision: str = option(
        "auto", "what the model computes in: auto (default) = bfloat16 for BERT runs on a CPU with native bf16 "
                "matmuls (avx512_bf16 or AMX), else float32; bfloat16 energies differ from float32 by bf16 rounding "
                "(docs/bert.md), float32 reproduces the run's own scores; int8 (BERT runs) = Keras's int8 "
                "quantization of the transformer's dense layers, scored through XLA under --jit-compile auto; "
                "never chosen by auto: its energies differ from float32 by far more than bf16's "
                "(benchmarks/results/int8.md)",
        beam=("auto", "float32"), choices=INFERENCE_PRECISIONS)
    jit_compile: str = option(
        "auto", "score through XLA: auto (default) = on where a GPU/TPU is visible, and on CPU for int8 and for "
                f"float32 BERT runs over {XLA_MIN_ROWS:,}+ rows (XLA compiles per batch shape for a few seconds, then scores "
                "faster; energies differ from off by float round-off)",
        beam=("auto", "off"), choices=JIT_MODES)
    shard: str | None = option(
        help="i/n: annotate only the i-th of n contiguous parts (one per machine); join the outputs with "
             "annotate-merge", beam=False)
    # chunks are the output's Parquet row groups and the scoring batches' boundaries: a resumed job keeps them
    chunk_size: int = option(
        CHUNK_SIZE, f"rows read, scored and written at a time (default {CHUNK_SIZE}); memory holds one chunk. "
                    "0 = the whole file in memory at once (no resume)", type=int)
    on_bad_row: str = option(
        "error", "error (default): check every row first and stop at the first unusable one (empty text, "
                 "unparsable record), naming its line; skip: annotate the rest and list the skipped rows with line "
                 "and reason in OUTPUT.skipped.csv", beam=("error",), choices=BAD_ROW_POLICIES)
    verbose: int = option(1, "no progress bar", flag="--quiet", affects_output=False, action="store_const", const=0)
    runner: str | None = option(
        help="run as an Apache Beam pipeline on this runner (DirectRunner, PrismRunner, DataflowRunner, "
             "FlinkRunner, SparkRunner; needs eqn-keras[beam]): --input may be a glob of shards, --output is the "
             "prefix of sharded outputs, and options this command does not know are Beam pipeline options",
        affects_output=False)
    num_shards: int = option(0, "with --runner: output shards (default: the runner's choice)",
                             affects_output=False, type=int)

    def output_identity(self, **resolved) -> dict:
        """The fields that change the annotated file, with `resolved` values in place of the given ones (the
        stage, threshold, precision, ... that 'last', 'tuned' or 'auto' turned into): what a resumed job must
        match."""
        unknown = set(resolved) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"not fields of {type(self).__name__}: {', '.join(sorted(unknown))}")
        return {name: resolved.get(name, getattr(self, name)) for name in self.output_fields()}

    def check_beam(self) -> None:
        """An InputError naming the first option set to a value `annotate --runner` does not support."""
        from .fileio import InputError, Param

        for field in dataclasses.fields(self):
            supported, value = field.metadata.get("beam", True), getattr(self, field.name)
            if supported is True or value == field.default or (supported and value in supported):
                continue
            shown = Param(field.name) if supported is False else Param(field.name, value)
            raise InputError(shown, ": not available with ", Param("runner"), "; the pipeline writes the energies "
                             "of the exported stage (export another stage with 'eqn-keras export --stage')")


@dataclass
class TrainConfig(OptionsMixin):
    """Everything a run depends on (the options of `eqn-keras train`); written to the run directory as config.json.

    A run resumes only with the same values of the fields that change what it computes (`output_fields`).
    """

    arch: str = option("textcnn", required=True, choices=ARCHS)
    data: str = option("3tfn", "dataset name (goemotions, 3tfn, 6emotions, 3tsa, 7health) or a CSV/TSV/JSONL path",
                       required=True)
    data_dir: str | None = option(help="folder holding the named datasets (default: $EQN_DATA_DIR, else download)")
    test_data: str | None = option(help="your own test file (same columns as --data)")
    text_col: str | None = option(help="text column of a user file (default: text)")
    label_col: str | None = option(help="label column of a user file (default: label or labels)")
    label_sep: str | None = option(help="separator between several labels in one cell, e.g. ','")
    label_names: str | list | None = option(help="label names: comma-separated, or a file with one name per line")
    target_cols: str | list | None = option(
        help="graded data: the columns of a user file holding each label's rated intensity (numbers; an empty cell "
             "= not rated, filled in by label regression); they name the labels", metavar="COL,COL,...")
    target_range: str | list | None = option(
        help="the ratings' scale, rescaled to the energy range (default: the data file's lowest and highest "
             "rating)", metavar="LO,HI")
    head: str = option("eqn", "eqn (default); single / multi baselines; eqn_bce = energies under sigmoid + BCE",
                       choices=list(HEADS))
    stages: int | None = option(help="1 stops after CoEQN; default 2 (EQN); 3+ regress again from the previous stage",
                                type=int)
    regress_from: str | None = option(
        help="regress labels from an earlier run's stage (default its last) instead of training CoEQN",
        metavar="RUN_DIR[:STAGE]")
    init_from: str | None = option(
        help="fine-tune: start every stage from an earlier run's weights and tokenizer (same arch; the output layer "
             "is new when the label count differs), e.g. a GoEmotions run on rated data", metavar="RUN_DIR[:STAGE]")
    regress_temperature: float = option(
        1.0, "temperature on the regressed scores: >1 softer, <1 closer to 0/10 (default 1, the paper)", type=float)
    epochs: int | None = option(help="at most this many epochs (default: the arch's, 10; BERT 3)", type=positive_int)
    batch_size: int | None = option(help="default: the arch's (32)", type=positive_int)
    seq_len: int = option(SEQ_LEN, type=positive_int)
    max_train: int | None = option(help="train on a seeded random subset of N texts (a quick try)", type=positive_int)
    patience: int = option(PATIENCE, "early-stopping patience in epochs", type=int)
    learning_rate: float | None = option(type=float)
    arch_config: str | None = option(
        help="a JSON file whose keys override the arch's models/<arch>.json (e.g. optimizer, dropout)", metavar="JSON")
    seed: int = option(0, type=int)
    bert_preset: str | None = option(
        help="BERT checkpoint: HF or keras-hub directory, 'minilm', or a keras-hub preset name")
    mixed_precision: str | None = option(help="mixed precision (GPUs, TPUs)", choices=("bfloat16", "float16"))
    jit_compile: str = option("auto", "XLA: auto = on where a GPU/TPU is visible", choices=JIT_MODES)
    strategy: str = option("default", "tf.distribute strategy; multiworker reads TF_CONFIG", choices=STRATEGIES)
    out: str | None = option(help="run directory (default runs/<data>-<arch>-<head>-<time>)", affects_output=False)
    max_value: float = option(MAX_VALUE, cli=False)
    min_value: float = option(MIN_VALUE, cli=False)
    # the command line's --quiet, else by whether stdout is a terminal (one line per epoch in a log file)
    verbose: int = option(1, cli=False, affects_output=False)

    def resolved_stages(self) -> int:
        from .fileio import InputError, Param

        if self.head not in HEADS:
            raise ValueError(f"unknown head '{self.head}'; expected one of {', '.join(HEADS)}")
        if not HEADS[self.head].energy:
            if self.stages not in (None, 1) or self.regress_from:
                given = Param("stages", self.stages) if self.regress_from is None else Param("regress_from")
                raise InputError(given, f": the '{self.head}' baseline head trains in one stage; label regression "
                                 "needs ", Param("head", "eqn"), " or eqn_bce")
            return 1
        if self.stages is not None and self.stages < 1:
            raise InputError(Param("stages", self.stages), ": expected 1 (CoEQN), 2 (CoEQN then EQN) or more "
                             "(each further stage trains on labels regressed from the previous one)")
        if not self.regress_temperature > 0:
            raise InputError(Param("regress_temperature", self.regress_temperature), ": expected a positive number")
        return self.stages or (1 if self.regress_from else 2)


# the scalar metrics a stage's summary (and a preset's model card) shows, in order (metrics.LABEL_RULE_SUFFIX: per-label thresholds)
SUMMARY_KEYS = ("accuracy", "hit_rate", "sample_precision", "sample_recall", "sample_f1", "threshold",
                "macro_precision", "macro_recall", "macro_f1", "micro_precision", "micro_recall", "micro_f1",
                "macro_f1_per_label_thresholds", "micro_f1_per_label_thresholds")
