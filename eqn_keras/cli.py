"""The `eqn-keras` command line: train, annotate, annotate-merge, evaluate, intensity, export, encoder."""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import signal
import sys

from .options import positive_int


EXIT_BAD_INPUT = 2  # a one-line error about the command: bad input, or another job holds the output
EXIT_OS_ERROR = 1   # a one-line error from the operating system (no space, read-only, ...): rerun once it is fixed
EXIT_TERMINATED = 128 + signal.SIGTERM


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that remembers the flag of each destination: an error naming a library parameter
    (`fileio.Param`) is shown with the flag that sets it. Its subcommands' parsers are CommandParsers too."""

    def __init__(self, *args, **kwargs):
        self.flags, self.commands = {}, {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        if action.option_strings:
            self.flags.setdefault(action.dest, max(action.option_strings, key=len))
        return action

    def add_subparsers(self, **kwargs):
        action = super().add_subparsers(**kwargs)
        self.commands = action.choices
        return action


_positive_int = positive_int  # argparse type: a count or size of at least 1


def build_parser() -> argparse.ArgumentParser:
    from .options import AnnotateOptions, TrainConfig, add_options

    parser = CommandParser(prog="eqn-keras", description="Expansion Quantization Network for emotion annotation.")
    sub = parser.add_subparsers(dest="command", required=True)

    # the options of train and annotate are the fields of TrainConfig and AnnotateOptions (default, help, type)
    t = sub.add_parser("train", help="train CoEQN then EQN (or a baseline head) and write a run directory")
    add_options(t, TrainConfig)
    t.add_argument("--quiet", action="store_true", help="no Keras progress bars")
    t.add_argument("--export", action="store_true", help="export the last stage to saved_models/ for TF Serving")
    t.add_argument("--export-dir", default="saved_models", help="where --export writes (default saved_models)")

    a = sub.add_parser("annotate", help="add one energy column per label (clipped to the run's range, 0-10) to a CSV/TSV/JSONL file")
    a.add_argument("--model", required=True, metavar="MODEL",
                   help="a run directory (the --out of train; its last stage unless --stage), a preset folder "
                        "(EQNModel.save_to_preset), or a preset handle keras-hub downloads (hf://USER/NAME, "
                        "kaggle://USER/MODEL/keras/VARIANT)")
    add_options(a, AnnotateOptions, only=("stage",))
    a.add_argument("--input", required=True, dest="input_path", metavar="INPUT")
    a.add_argument("--output", required=True, dest="output_path", metavar="OUTPUT")
    add_options(a, AnnotateOptions, skip=("stage",))

    m = sub.add_parser("annotate-merge",
                       help="concatenate the outputs of 'annotate --shard i/n', in order, into one file")
    m.add_argument("parts", nargs="+", help="the shard outputs in shard order (0/n first)")
    m.add_argument("--output", required=True, help="the merged file (same format as the parts)")
    m.add_argument("--overwrite", action="store_true", help="replace a file already at --output")

    x = sub.add_parser("export", help="write a run's or a preset's model as a TensorFlow Serving SavedModel")
    x.add_argument("model", metavar="MODEL", help="a run directory, a preset folder (EQNModel.save_to_preset) or "
                                                  "a preset handle (hf://USER/NAME, kaggle://...)")
    x.add_argument("--stage", help="a run's coeqn | eqn (default: the last stage trained)")
    x.add_argument("--name", help="model name (default <dataset>-<arch>-<stage>)")
    x.add_argument("--version", type=int, help="version number (default: the next free one)")
    x.add_argument("--out", default="saved_models", help="model base folder (default saved_models)")

    from .encoders import add_encoder_parser

    add_encoder_parser(sub)

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
    i.add_argument("--map", dest="mapping", metavar="GOLD=LABEL,...",
                   help="gold emotions whose run label has another name (names match case-insensitively)")
    i.add_argument("--gold-scale", dest="scale", metavar="LO,HI", help="rating scale of gold files (default 0,3 for .csv, 0,1 for TSV)")
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
    from .options import TrainConfig, from_namespace
    from .training import train

    cfg = from_namespace(TrainConfig, args,
                         verbose=0 if args.quiet else (1 if sys.stdout.isatty() else 2))  # one line per epoch in a log
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
    from .export import export

    path = export(args.model, stage=args.stage, name=args.name, version=args.version, out=args.out)
    print(f"exported: {path}")
    return 0


# Installed packages that TensorFlow, Keras and keras-hub import when present, for features annotating never
# uses: scikit-learn (keras.wrappers), matplotlib (keras.visualization), SciPy (sparse inputs of TensorFlow's
# legacy tf.keras, scikit-learn), kagglehub (keras-hub's preset downloads), IPython (Keras's notebook display of
# saved files). Each import is optional in them (a try/except ImportError); kept out, they save seconds of every
# `eqn-keras annotate` on a 2-core CPU (benchmarks/results/startup.md).
UNUSED_BY_ANNOTATE = ("sklearn", "matplotlib", "scipy", "kagglehub", "IPython")


@contextlib.contextmanager
def kept_out(packages):
    """While the block runs, `import` of each of `packages` not imported yet fails with ImportError (Python's
    own mechanism: a None entry in sys.modules), so the libraries that import them optionally go on without;
    afterwards they import as usual. Packages already imported are left alone."""
    blocked = [name for name in packages if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def cmd_annotate(args) -> int:
    from .options import AnnotateOptions, from_namespace

    with kept_out(UNUSED_BY_ANNOTATE):
        from .annotate import annotate_file

        done = annotate_file(args.model, args.input_path, args.output_path,
                             options=from_namespace(AnnotateOptions, args))
    print(f"annotated {done.rows} texts -> {args.output_path} ({done.precision}{', XLA' if done.jit_compile else ''})")
    if done.skipped_path is not None:
        print(f"skipped {done.skipped} rows -> {done.skipped_path}")
    return 0


def cmd_annotate_beam(args, pipeline_args=()) -> int:
    """`annotate --runner`: RunInference over a SavedModel (a run directory or a preset is exported first)."""
    import tempfile

    from .fileio import InputError, Param
    from .options import AnnotateOptions, from_namespace

    options = from_namespace(AnnotateOptions, args)
    options.check_beam()  # the options the pipeline does not support, named
    from .annotate import PREDICT_BATCH_SIZE

    try:
        from .beam import annotate_beam, saved_model_for
    except ImportError as err:
        raise InputError(Param("runner", options.runner), f": Apache Beam is not installed ({err}); "
                         'pip install "eqn-keras[beam]"') from None
    with tempfile.TemporaryDirectory(prefix="eqn-beam-model-") as tmp:
        # a run directory or a preset, loaded as Annotator loads it, is exported to a local copy; a remote
        # runner's workers need an export on storage they can read (gs://, s3://, ...)
        model = saved_model_for(args.model, tmp)
        shards = annotate_beam(model, args.input_path, args.output_path, text_col=options.text_col,
                               pipeline_args=[f"--runner={options.runner}", *pipeline_args],
                               num_shards=options.num_shards,
                               batch_size=PREDICT_BATCH_SIZE if options.batch_size is None else options.batch_size)
    print(f"annotated {args.input_path} -> {len(shards)} shard(s): {', '.join(shards[:3])}"
          f"{' ...' if len(shards) > 3 else ''}")
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
    report = evaluate_intensity(args.run_dir, gold, stage=args.stage, mapping=args.mapping, data_dir=args.data_dir,
                                scale=args.scale, resamples=args.resamples, seed=args.seed,
                                batch_size=args.batch_size, output=args.output)
    print(format_report(report))
    return 0


def _cmd_encoder(args) -> int:
    from .encoders import cmd_encoder

    return cmd_encoder(args)


def parse_command(argv, parser=None) -> tuple:
    """(args, Beam pipeline options): options the parser does not know pass only to `annotate --runner`."""
    parser = build_parser() if parser is None else parser
    args, extra = parser.parse_known_args(argv)
    if extra and not (args.command == "annotate" and args.runner):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args, extra


def _target(args):
    """(the path a command writes, what a user does after an OS error on it): named when the error names none."""
    if args.command == "annotate":
        return args.output_path, "rerun the same command to resume where it stopped"
    if args.command == "train":
        return (args.out or "the run directory",
                "rerun the same command to resume where it stopped")
    return {"annotate-merge": getattr(args, "output", None), "export": getattr(args, "out", None),
            "evaluate": getattr(args, "output", None) or getattr(args, "run_dir", None),
            "intensity": getattr(args, "output", None) or getattr(args, "run_dir", None)}.get(args.command), \
        "rerun the command"


def main(argv=None) -> int:
    from .fileio import InputError, os_error_line

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, extra = parse_command(argv, parser)
    if args.command == "annotate" and args.runner:
        handler = functools.partial(cmd_annotate_beam, pipeline_args=extra)
    else:
        handler = {"train": cmd_train, "annotate": cmd_annotate, "annotate-merge": cmd_annotate_merge,
                   "evaluate": cmd_evaluate, "intensity": cmd_intensity, "export": cmd_export, "encoder": _cmd_encoder}[args.command]
    try:
        return handler(args)
    except InputError as err:  # the library's parameters shown as this command's flags
        print(f"eqn-keras: error: {err.for_command(parser.commands[args.command].flags)}", file=sys.stderr)
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
