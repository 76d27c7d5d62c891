"""The `eqn-keras` command line: train, annotate, annotate-merge, evaluate, intensity, export, encoder, reproduce."""

from __future__ import annotations

import argparse
import functools
import gc
import signal
import sys
from pathlib import Path


EXIT_BAD_INPUT = 2  # a one-line error about the command: bad input, or another job holds the output
EXIT_OS_ERROR = 1   # a one-line error from the operating system (no space, read-only, ...): rerun once it is fixed
EXIT_TERMINATED = 128 + signal.SIGTERM


def _positive_int(value: str) -> int:
    """argparse type for counts and sizes: 0 or a negative number is an error, not a silent default."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def _add_data_args(p):
    p.add_argument("--data", required=True, help="dataset name (goemotions, 3tfn, 6emotions, 3tsa, 7health) or a CSV/TSV/JSONL path")
    p.add_argument("--data-dir", help="folder holding the named datasets (default: $EQN_DATA_DIR, else download)")
    p.add_argument("--test-data", help="your own test file (same columns as --data)")
    p.add_argument("--text-col", help="text column of a user file (default: text)")
    p.add_argument("--label-col", help="label column of a user file (default: label or labels)")
    p.add_argument("--label-sep", help="separator between several labels in one cell, e.g. ','")
    p.add_argument("--label-names", help="label names: comma-separated, or a file with one name per line")
    p.add_argument("--target-cols", metavar="COL,COL,...",
                   help="graded data: the columns of a user file holding each label's rated intensity (numbers; an "
                        "empty cell = not rated, filled in by label regression); they name the labels")
    p.add_argument("--target-range", metavar="LO,HI",
                   help="the ratings' scale, rescaled to the energy range (default: the data file's lowest and "
                        "highest rating)")


def build_parser() -> argparse.ArgumentParser:
    from .options import ARCHS, BAD_ROW_POLICIES, HEADS, INFERENCE_PRECISIONS, JIT_MODES, PATIENCE, XLA_MIN_ROWS
    from .tablestream import CHUNK_SIZE

    parser = argparse.ArgumentParser(prog="eqn-keras", description="Expansion Quantization Network for emotion annotation.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train CoEQN then EQN (or a baseline head) and write a run directory")
    t.add_argument("--arch", required=True, choices=ARCHS)
    _add_data_args(t)
    t.add_argument("--head", default="eqn", choices=list(HEADS),
                   help="eqn (default); single / multi baselines; eqn_bce = energies under sigmoid + BCE")
    t.add_argument("--stages", type=int,
                   help="1 stops after CoEQN; default 2 (EQN); 3+ regress again from the previous stage")
    t.add_argument("--regress-from", metavar="RUN_DIR[:STAGE]",
                   help="regress labels from an earlier run's stage (default its last) instead of training CoEQN")
    t.add_argument("--init-from", metavar="RUN_DIR[:STAGE]",
                   help="fine-tune: start every stage from an earlier run's weights and tokenizer (same arch; the "
                        "output layer is new when the label count differs), e.g. a GoEmotions run on rated data")
    t.add_argument("--regress-temperature", type=float, default=1.0,
                   help="temperature on the regressed scores: >1 softer, <1 closer to 0/10 (default 1, the paper)")
    t.add_argument("--epochs", type=_positive_int, help="at most this many epochs (default: the arch's, 10; BERT 3)")
    t.add_argument("--batch-size", type=_positive_int, help="default: the arch's (32)")
    t.add_argument("--seq-len", type=_positive_int, default=150)
    t.add_argument("--max-train", type=_positive_int, help="train on a seeded random subset of N texts (a quick try)")
    t.add_argument("--patience", type=int, default=PATIENCE, help="early-stopping patience in epochs")
    t.add_argument("--learning-rate", type=float)
    t.add_argument("--arch-config", metavar="JSON",
                   help="a JSON file whose keys override the arch's models/<arch>.json (e.g. optimizer, dropout)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--bert-preset", help="BERT checkpoint: HF or keras-hub directory, 'minilm', or a keras-hub preset name")
    t.add_argument("--mixed-precision", choices=("bfloat16", "float16"), help="mixed precision (GPUs, TPUs)")
    t.add_argument("--jit-compile", default="auto", choices=JIT_MODES,
                   help="XLA: auto = on where a GPU/TPU is visible")
    t.add_argument("--strategy", default="default", choices=("default", "mirrored", "multiworker", "tpu"),
                   help="tf.distribute strategy; multiworker reads TF_CONFIG")
    t.add_argument("--out", help="run directory (default runs/<data>-<arch>-<head>-<time>)")
    t.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    t.add_argument("--export", action="store_true", help="export the last stage to saved_models/ for TF Serving")
    t.add_argument("--export-dir", default="saved_models", help="where --export writes (default saved_models)")

    a = sub.add_parser("annotate", help="add one energy column per label (clipped to the run's range, 0-10) to a CSV/TSV/JSONL file")
    a.add_argument("--model", required=True, help="run directory")
    a.add_argument("--stage", help="which stage's model (default: the last one trained)")
    a.add_argument("--input", required=True)
    a.add_argument("--output", required=True)
    a.add_argument("--overwrite", action="store_true",
                   help="replace a file already at --output (default: refuse it; an unfinished job of the same "
                        "options resumes either way)")
    a.add_argument("--text-col", default="text")
    a.add_argument("--threshold", metavar="H|tuned",
                   help="energies whose raw (unclipped) score is below h become 0 (paper eq. 8); 'tuned' = the "
                        "stage's threshold tuned for macro-F1 on the dev split (metrics.json)")
    a.add_argument("--labels", action="store_true",
                   help="add a column 'annotated_labels': the names of the labels at or above the threshold "
                        "(--threshold, else the tuned one; the scores are then not zeroed), joined by --label-sep")
    a.add_argument("--label-sep", default="|", help="separator of the names in 'annotated_labels' (default '|')")
    a.add_argument("--batch-size", type=_positive_int,
                   help="texts per forward pass (default: the arch's predict_batch_size in models/<arch>.json, else 256)")
    a.add_argument("--precision", default="auto", choices=INFERENCE_PRECISIONS,
                   help="what the model computes in: auto (default) = bfloat16 for BERT runs on a CPU with native "
                        "bf16 matmuls (avx512_bf16 or AMX), else float32; bfloat16 energies differ from float32 by "
                        "bf16 rounding (docs/bert.md), float32 reproduces the run's own scores")
    a.add_argument("--jit-compile", default="auto", choices=JIT_MODES,
                   help="score through XLA: auto (default) = on where a GPU/TPU is visible, and on CPU for float32 "
                        f"BERT runs over {XLA_MIN_ROWS:,}+ rows (XLA compiles per batch shape for a few seconds, then "
                        "scores faster; energies differ from off by float round-off)")
    a.add_argument("--shard", help="i/n: annotate only the i-th of n contiguous parts (one per machine); "
                                   "join the outputs with annotate-merge")
    a.add_argument("--chunk-size", type=int, default=CHUNK_SIZE,
                   help=f"rows read, scored and written at a time (default {CHUNK_SIZE}); memory holds one chunk. "
                        "0 = the whole file in memory at once (no resume)")
    a.add_argument("--on-bad-row", default="error", choices=BAD_ROW_POLICIES,
                   help="error (default): check every row first and stop at the first unusable one (empty text, "
                        "unparsable record), naming its line; skip: annotate the rest and list the skipped rows "
                        "with line and reason in OUTPUT.skipped.csv")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.add_argument("--runner", help="run as an Apache Beam pipeline on this runner (DirectRunner, PrismRunner, "
                                    "DataflowRunner, FlinkRunner, SparkRunner; needs eqn-keras[beam]): --input may be "
                                    "a glob of shards, --output is the prefix of sharded outputs, and options this "
                                    "command does not know are Beam pipeline options")
    a.add_argument("--num-shards", type=int, default=0, help="with --runner: output shards (default: the runner's choice)")

    m = sub.add_parser("annotate-merge",
                       help="concatenate the outputs of 'annotate --shard i/n', in order, into one file")
    m.add_argument("parts", nargs="+", help="the shard outputs in shard order (0/n first)")
    m.add_argument("--output", required=True, help="the merged file (same format as the parts)")
    m.add_argument("--overwrite", action="store_true", help="replace a file already at --output")

    x = sub.add_parser("export", help="write a run's model as a TensorFlow Serving SavedModel")
    x.add_argument("run_dir")
    x.add_argument("--stage", help="coeqn | eqn (default: the last stage trained)")
    x.add_argument("--name", help="model name (default <dataset>-<arch>-<stage>)")
    x.add_argument("--version", type=int, help="version number (default: the next free one)")
    x.add_argument("--out", default="saved_models", help="model base folder (default saved_models)")

    from .encoders import add_encoder_parser

    add_encoder_parser(sub)

    # listed for --help; main() hands its arguments to benchmarks/reproduce.py untouched
    sub.add_parser("reproduce", help="the paper's Table 3 grid with seeds (benchmarks/reproduce.py)", add_help=False)

    e = sub.add_parser("evaluate", help="print the paper's Tables 3-6 for a run and write them as JSON")
    e.add_argument("run_dir")
    e.add_argument("--stage", action="append", help="stage(s) to report (default: all)")
    e.add_argument("--output", help="JSON file (default RUN_DIR/evaluation.json)")

    i = sub.add_parser("intensity", help="correlate a run's scores with human intensity ratings (Pearson, Spearman)")
    i.add_argument("run_dir")
    i.add_argument("--gold", required=True, nargs="+", metavar="NAME|PATH",
                   help="brighter-eng or emoint (every released file; NAME:ROLE for one, e.g. brighter-eng:dev), "
                        "or gold files: BRIGHTER-style .csv (text + one 0-3 column per emotion) or EmoInt-style "
                        "TSV (id, text, emotion, intensity 0-1)")
    i.add_argument("--stage", help="which stage's scores (default: the last one trained)")
    i.add_argument("--map", metavar="GOLD=LABEL,...",
                   help="gold emotions whose run label has another name (names match case-insensitively)")
    i.add_argument("--gold-scale", metavar="LO,HI", help="rating scale of gold files (default 0,3 for .csv, 0,1 for TSV)")
    i.add_argument("--data-dir", help="folder holding brighter-eng/ and emoint/ (default: $EQN_DATA_DIR, else download)")
    i.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for the 95%% intervals (0: none)")
    i.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    i.add_argument("--batch-size", type=_positive_int, help="texts per forward pass")
    i.add_argument("--output", help="JSON file (default RUN_DIR/intensity.json; other stages' and sets' reports are kept)")
    return parser


def _shown(value) -> str:
    """A metric as printed: 4 decimals, 'n/a' when undefined (a Pearson r of constant ratings)."""
    return "n/a" if value is None else f"{value:.4f}"


def cmd_train(args) -> int:
    from .training import TrainConfig, train

    cfg = TrainConfig(
        arch=args.arch, data=args.data, data_dir=args.data_dir, test_data=args.test_data, text_col=args.text_col,
        label_col=args.label_col, label_sep=args.label_sep, label_names=args.label_names, head=args.head,
        target_cols=args.target_cols, target_range=args.target_range,
        stages=args.stages, regress_temperature=args.regress_temperature,
        regress_from=args.regress_from, init_from=args.init_from, epochs=args.epochs,
        batch_size=args.batch_size, seq_len=args.seq_len,
        max_train=args.max_train, patience=args.patience, learning_rate=args.learning_rate, seed=args.seed,
        arch_config=args.arch_config, out=args.out, bert_preset=args.bert_preset, mixed_precision=args.mixed_precision,
        jit_compile=args.jit_compile, strategy=args.strategy,
        verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2),  # one line per epoch in a log file
    )
    result = train(cfg)
    final = result["stages"][result["final_stage"]]
    print(f"run directory: {result['run_dir']}")
    for name, report in result["stages"].items():
        print(f"{name:>7}  test accuracy {report['accuracy']:.4f}  {report['table3_metric']} {_shown(report['table3'])}"
              f"  ({report['wall_s']['stage']:.0f} s)")
    print(f"test {final['table3_metric']} ({result['final_stage']}): {_shown(final['table3'])}")
    if args.export:
        from .export import export_run

        print(f"exported: {export_run(result['run_dir'], out=args.export_dir)}")
    return 0


def cmd_export(args) -> int:
    from .export import export_run

    path = export_run(args.run_dir, stage=args.stage, name=args.name, version=args.version, out=args.out)
    print(f"exported: {path}")
    return 0


def cmd_annotate(args) -> int:
    from .annotate import annotate_file

    done = annotate_file(args.model, args.input, args.output, text_col=args.text_col, threshold=args.threshold,
                         stage=args.stage, batch_size=args.batch_size, shard=args.shard, labels=args.labels,
                         label_sep=args.label_sep, chunk_size=args.chunk_size, on_bad_row=args.on_bad_row,
                         verbose=0 if args.quiet else 1, precision=args.precision, jit_compile=args.jit_compile,
                         overwrite=args.overwrite)
    print(f"annotated {done.rows} texts -> {args.output} ({done.precision}{', XLA' if done.jit_compile else ''})")
    if done.skipped_path is not None:
        print(f"skipped {done.skipped} rows -> {done.skipped_path}")
    return 0


def cmd_annotate_beam(args, pipeline_args=()) -> int:
    """`annotate --runner`: RunInference over the run's SavedModel (a run directory is exported first)."""
    import tempfile

    from .fileio import InputError

    for flag, value in (("--threshold", args.threshold), ("--labels", args.labels), ("--shard", args.shard),
                        ("--stage", args.stage), ("--precision bfloat16", args.precision == "bfloat16"),
                        ("--jit-compile on", args.jit_compile == "on")):
        if value:
            raise InputError(f"{flag}: not available with --runner; the pipeline writes the energies of the "
                             "exported stage (export another stage with 'eqn-keras export --stage')")
    from .annotate import PREDICT_BATCH_SIZE

    try:
        from .beam import annotate_beam
    except ImportError as err:
        raise InputError(f"--runner {args.runner}: Apache Beam is not installed ({err}); "
                         'pip install "eqn-keras[beam]"') from None
    model = Path(args.model)
    with tempfile.TemporaryDirectory(prefix="eqn-beam-model-") as tmp:
        if (model / "config.json").is_file():
            from .export import export_run

            # a local copy: a remote runner's workers need --model on storage they can read (gs://, s3://, ...)
            model = export_run(model, out=tmp)
        shards = annotate_beam(model, args.input, args.output, text_col=args.text_col,
                               pipeline_args=[f"--runner={args.runner}", *pipeline_args], num_shards=args.num_shards,
                               batch_size=PREDICT_BATCH_SIZE if args.batch_size is None else args.batch_size)
    print(f"annotated {args.input} -> {len(shards)} shard(s): {', '.join(shards[:3])}{' ...' if len(shards) > 3 else ''}")
    return 0


def cmd_annotate_merge(args) -> int:
    from .tablestream import merge_tables

    merge_tables(args.parts, args.output, overwrite=args.overwrite)
    print(f"merged {len(args.parts)} parts -> {args.output}")
    return 0


def cmd_evaluate(args) -> int:
    from .annotate import evaluate_run
    from .metrics import format_tables

    reports = evaluate_run(args.run_dir, stages=args.stage, output=args.output)
    for stage, report in reports.items():
        print(f"== {stage} ==")
        print(format_tables(report))
    return 0


def cmd_intensity(args) -> int:
    from .intensity import evaluate_intensity, format_report

    gold = args.gold[0] if len(args.gold) == 1 else args.gold
    report = evaluate_intensity(args.run_dir, gold, stage=args.stage, mapping=args.map, data_dir=args.data_dir,
                                scale=args.gold_scale, resamples=args.resamples, seed=args.seed,
                                batch_size=args.batch_size, output=args.output)
    print(format_report(report))
    return 0


def cmd_reproduce(argv) -> int:
    import runpy

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "reproduce.py"
    if not script.is_file():
        from .fileio import InputError

        raise InputError(f"{script}: not found; 'reproduce' runs from a source checkout (pip install -e .)")
    return runpy.run_path(str(script))["main"](argv)


def _cmd_encoder(args) -> int:
    from .encoders import cmd_encoder

    return cmd_encoder(args)


def parse_command(argv) -> tuple:
    """(args, Beam pipeline options): options the parser does not know pass only to `annotate --runner`."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not (args.command == "annotate" and args.runner):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args, extra


def _target(args):
    """(the path a command writes, what a user does after an OS error on it): named when the error names none."""
    if args.command in ("annotate", "train"):
        return (getattr(args, "output", None) or args.out or "the run directory",
                "rerun the same command to resume where it stopped")
    return {"annotate-merge": getattr(args, "output", None), "export": getattr(args, "out", None),
            "evaluate": getattr(args, "output", None) or getattr(args, "run_dir", None),
            "intensity": getattr(args, "output", None) or getattr(args, "run_dir", None)}.get(args.command), \
        "rerun the command"


def main(argv=None) -> int:
    from .fileio import InputError, os_error_line

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["reproduce"]:
        return cmd_reproduce(argv[1:])
    args, extra = parse_command(argv)
    if args.command == "annotate" and args.runner:
        handler = functools.partial(cmd_annotate_beam, pipeline_args=extra)
    else:
        handler = {"train": cmd_train, "annotate": cmd_annotate, "annotate-merge": cmd_annotate_merge,
                   "evaluate": cmd_evaluate, "intensity": cmd_intensity, "export": cmd_export, "encoder": _cmd_encoder}[args.command]
    try:
        return handler(args)
    except InputError as err:
        print(f"eqn-keras: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        if err.errno is None:
            raise
        print(f"eqn-keras: error: {os_error_line(err, *_target(args))}", file=sys.stderr)
        return EXIT_OS_ERROR


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C, so open outputs are closed and what a rerun resumes from is kept."""


def _terminate(signum, frame):
    raise Terminated


def run() -> int:
    """The `eqn-keras` console script: `main`, after which the process ends. Its objects are frozen out of
    Python's final garbage collection, which would otherwise walk TensorFlow's whole object graph at exit
    (about 1.2 s of every command on this project's CPU); the OS frees the memory, every output is closed.
    SIGTERM ends a command with one line and status 143; annotate and train resume on the same command."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = main()
    except Terminated:
        print("eqn-keras: error: stopped by SIGTERM; rerun the same command to resume", file=sys.stderr)
        code = EXIT_TERMINATED
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(run())
