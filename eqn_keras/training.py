"""The two-stage EQN fit loop: CoEQN on initialized full labels, label regression, EQN on regressed labels.

`train(TrainConfig(...))` writes one run directory: config.json, each stage's text-in model (.keras),
the regressed training labels (regressed_train.csv), each stage's annotated test set, its scores and
metrics.json. The same loop trains the conventional `single` / `multi` baselines in one stage.
`fit_stages(data, ...)` runs the loop with no run directory and returns each stage as an `EQNModel`; both take
the data as a name, a path, a DataFrame, a (texts, labels) pair or a `DatasetSplits`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import __version__
from .builders import build_model, load_arch_config, make_tokenizer
from .datasets import DatasetSplits, in_memory, load_dataset
from .distribute import (accelerators_visible, is_chief, make_strategy, resolve_jit,
                         set_precision)
from .fileio import InputError, Param, atomic_write, read_json_object, sha256_file, write_csv, write_json
from .heads import head_loss, head_spec, head_targets, prior_bias
from .labels import clip_energies, graded_full_labels, init_full_labels, regress_labels, rescale_ratings
from .callbacks import DevMetric, EpochLog, EpochRandomness, ResumeState, backup_epoch, read_history
from .compat import patch_multiworker_build
from .metrics import evaluation_report, pearson_matrix, plot_pearson_heatmap, plot_training_curves, table3_measure
from .optimizers import make_optimizer
from .options import TrainConfig
from .rundir import (CONFIG_FILE, METRICS_FILE, git_commit, load_run, load_stage_model, predict_scores,
                     prepare_run_dir, read_resume_json, read_run_config, refuse_finished, resume_config, run_lock,
                     save_scores, scores_frame, split_text_model, text_model)
from .sequence import FullLabelSequence, tokenize


def stage_names(head: str, stages: int, first: int = 1) -> list:
    """'coeqn', 'eqn', then 'eqn3', 'eqn4', ... for an energy head (from stage number `first`);
    the head's own name for a baseline."""
    if not head_spec(head).energy:
        return [head]
    return [{1: "coeqn", 2: "eqn"}.get(i, f"eqn{i}") for i in range(first, first + stages)]


def stage_number(name: str) -> int:
    """Position of a stage in the regression chain: coeqn and the baselines 1, eqn 2, eqnK K."""
    if name == "eqn":
        return 2
    return int(name[3:]) if name.startswith("eqn") and name[3:].isdigit() else 1


def _texts_digest(texts) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


def regressed_file(source_stage: str) -> str:
    """Where the labels regressed from a stage are written: regressed_train.csv for CoEQN (or a baseline)."""
    return "regressed_train.csv" if stage_number(source_stage) == 1 else f"regressed_train_{source_stage}.csv"


def _source_scores(spec: str, splits, train_split, train_digest: str, texts: dict, cfg) -> tuple:
    """(stage name, {role: energies}) of an earlier run's model on this run's train and dev texts.

    `spec` is RUN_DIR or RUN_DIR:STAGE. The stage's saved train and dev scores (scores_<stage>.npz) are used
    when it has them, so a folder holding only config.json and that file will do; else its model scores the
    texts. A baseline's 0-1 outputs are rescaled to energies.
    """
    run_dir, stage = spec, None
    if not Path(spec).is_dir() and ":" in spec:
        run_dir, stage = spec.rsplit(":", 1)
    source = read_run_config(run_dir)
    # Its model must not have seen this run's dev or test texts: same data, split seed and subset.
    keys = ("data", "test_data", "seed", "max_train", "max_value", "min_value")
    found = [source["dataset"]["name"], source["dataset"]["sizes"]["train"], source["dataset"].get("train_sha256"),
             *(source["config"].get(k) for k in keys)]
    expected = [splits.name, len(train_split), train_digest, *(getattr(cfg, k) for k in keys)]
    if found[2] is None:
        found[2] = expected[2]  # a run from before the digest was recorded: the other fields decide
    if found != expected or source["dataset"]["label_names"] != splits.label_names:
        raise InputError(Param("regress_from", spec), f": that run trained on {found[0]} ({found[1]} train texts, "
                         f"seed {found[5]}), this one on {expected[0]} ({expected[1]}, seed {expected[5]}); expected "
                         "the same ", Param("data"), ", ", Param("test_data"), ", ", Param("seed"), ", ",
                         Param("max_train"), ", energy range and labels")
    stage = stage or source["stages"][-1]
    saved = Path(run_dir) / f"scores_{stage}.npz"
    scores = None
    if saved.is_file():
        with np.load(saved) as data:
            if "train" in data.files:
                scores = {role: data[role] for role in ("train", "dev")}
    if scores is None or any(len(scores[role]) != len(texts[role]) for role in scores):
        _, stage, model = load_run(run_dir, stage)
        tokenizer, core = split_text_model(model)
        scores = {role: predict_scores(core, tokenize(tokenizer, texts[role])) for role in ("train", "dev")}
    if not head_spec(source["config"]["head"]).energy:
        scores = {role: cfg.min_value + (cfg.max_value - cfg.min_value) * s for role, s in scores.items()}
    return stage, scores


def _subsample(split, n: int, seed: int):
    if n is not None and n < 1:
        raise InputError(Param("max_train", n), ": expected a positive number of training texts")
    return split.sample(n, seed)


def _walk(layer):
    """A layer and, inside nested models, every layer below it."""
    yield layer
    for inner in getattr(layer, "layers", []) if isinstance(layer, keras.Model) else []:
        yield from _walk(inner)


def transfer_weights(target: keras.Model, source: keras.Model, skip=()) -> list:
    """Copy `source`'s weights into `target` layer by layer, matched by name (inside nested models too), where
    every weight's shape agrees: a fine-tuned model starts from another run's body and hidden head layer. The
    layers named in `skip` (the output layer `scores` when the labels differ) stay as built. Returns the names
    of the layers left as built."""
    found = {layer.name: layer for layer in _walk(source) if not isinstance(layer, keras.Model)}
    kept = []
    for layer in _walk(target):
        if isinstance(layer, keras.Model) or not layer.weights:
            continue
        other = None if layer.name in skip else found.get(layer.name)
        if other is None or [tuple(w.shape) for w in other.weights] != [tuple(w.shape) for w in layer.weights]:
            kept.append(layer.name)
            continue
        layer.set_weights(other.get_weights())
    return kept


def _split_spec(spec: str) -> tuple:
    """(run directory, stage or None) of a RUN_DIR[:STAGE] option."""
    if not Path(spec).is_dir() and ":" in spec:
        return tuple(spec.rsplit(":", 1))
    return spec, None


def _init_source(cfg):
    """(tokenizer, core, label names) of the run stage that `--init-from RUN[:STAGE]` names; the same arch is
    required."""
    config, stage, model = load_run(*_split_spec(cfg.init_from))
    if config["config"]["arch"] != cfg.arch:
        raise InputError(Param("init_from", cfg.init_from), f": that run's arch is {config['config']['arch']}, this "
                         f"one's {cfg.arch}; fine-tuning starts from a run of the same arch")
    return (*split_text_model(model), list(config["dataset"]["label_names"]))


def _fresh_model(cfg, arch_cfg, num_labels, train_seq, preset, init_core, keep_output):
    """A stage's model as built before its fit: seeded, from `init_core`'s weights or with the label prior as
    output bias."""
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg.arch, num_labels, cfg.head, arch_cfg, preset=preset,
                        energy_range=(cfg.min_value, cfg.max_value))
    if init_core is not None:
        # the output layer carries over only when it scores the same labels in the same order (`keep_output`)
        kept = transfer_weights(model, init_core, skip=() if keep_output else ("scores",))
        if any(name != "scores" for name in kept):
            print(f"[eqn-keras] --init-from: layers trained from scratch: {', '.join(kept)}", flush=True)
        if keep_output:
            return model  # its output bias is the source's, not the label prior
    if arch_cfg.get("prior_bias"):
        bias = prior_bias(cfg.head, train_seq.targets, cfg.max_value, cfg.min_value, arch_cfg.get("unit_scale", False))
        model.get_layer(f"{cfg.head}_head").get_layer("scores").bias.assign(bias.astype("float32"))
    return model


def _compiled_model(fresh_model, cfg, arch_cfg, train_seq, strategy):
    """A fresh model compiled for its fit, in the strategy's scope."""
    with strategy.scope():
        core = fresh_model()
        lr = cfg.learning_rate or arch_cfg.get("learning_rate", 1e-3)
        core.compile(optimizer=make_optimizer(arch_cfg, lr, len(train_seq), cfg.epochs),
                     loss=head_loss(cfg.head, cfg.max_value, cfg.min_value), jit_compile=resolve_jit(cfg.jit_compile))
    patch_multiworker_build(core, strategy)
    return core


def _fit_stage_in_memory(cfg, arch_cfg, num_labels, train_seq, dev_seq, strategy, preset, dev_metric,
                         init_core=None, keep_output: bool = False):
    """`_fit_stage` without a run directory: the same model, data, seeds and early stopping; the best epoch's
    weights are kept in memory (`EarlyStopping(restore_best_weights=True)`, the same epoch the checkpoint keeps)
    and the history is Keras's."""
    fresh_model = functools.partial(_fresh_model, cfg, arch_cfg, num_labels, train_seq, preset, init_core, keep_output)
    core = _compiled_model(fresh_model, cfg, arch_cfg, train_seq, strategy)
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    local = strategy is tf.distribute.get_strategy()
    callbacks = [EpochRandomness(train_seq), *([dev_metric] if local else []), stopping]
    fitted = core.fit(train_seq, validation_data=dev_seq, epochs=cfg.epochs, steps_per_epoch=len(train_seq),
                      shuffle=False, callbacks=callbacks, verbose=cfg.verbose)
    hist = {key: [float(v) for v in values] for key, values in fitted.history.items()}
    hist["best_epoch"] = int(np.argmin(hist["val_loss"])) + 1
    if not local:
        weights = core.get_weights()
        core = fresh_model()
        core.set_weights(weights)
    return core, hist


def _fit_stage(name, cfg, arch_cfg, num_labels, train_seq, dev_seq, work_dir, strategy, preset, dev_metric,
               init_core=None, keep_output: bool = False):
    """Build a fresh model, fit it with best-checkpoint and early-stopping callbacks, reload the best.

    Resumable: `BackupAndRestore` keeps the last finished epoch under backup/<name>/, the CSV log keeps
    the history (history_<name>.csv), and a finished fit leaves history_<name>.json, so a rerun after a
    kill continues the epoch loop, or skips the fit, and ends with the weights an uninterrupted run has.
    `work_dir` None: in memory (no files; the best epoch's weights kept by `EarlyStopping`), not resumable.
    """
    if work_dir is None:
        return _fit_stage_in_memory(cfg, arch_cfg, num_labels, train_seq, dev_seq, strategy, preset, dev_metric,
                                    init_core, keep_output)
    ckpt_dir = work_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    best = ckpt_dir / f"{name}.weights.h5"
    done = work_dir / f"history_{name}.json"
    backup, log = work_dir / "backup" / name, work_dir / f"history_{name}.csv"
    # what a corrupt resume file of this stage's fit asks the user to delete
    remedy = f"delete {log}, {done} and {backup} (those that exist) to train stage {name} again from its first epoch"

    fresh_model = functools.partial(_fresh_model, cfg, arch_cfg, num_labels, train_seq, preset, init_core, keep_output)
    finished = read_resume_json(done, remedy)
    if finished is not None and best.is_file():
        core = fresh_model()
        _load_best(core, best, remedy)
        return core, finished
    backup_epoch(backup, remedy)  # a corrupt backup record: this error, not a traceback from BackupAndRestore
    core = _compiled_model(fresh_model, cfg, arch_cfg, train_seq, strategy)
    checkpoint = keras.callbacks.ModelCheckpoint(str(best), monitor="val_loss", save_best_only=True,
                                                 save_weights_only=True)
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience)
    # predict_on_batch under a distribution strategy returns every replica's copy of the batch: the per-epoch
    # dev metric is recorded with the default strategy only (the final scores use a local model either way).
    local = strategy is tf.distribute.get_strategy()
    callbacks = [
        EpochRandomness(train_seq), *([dev_metric] if local else []), checkpoint, stopping,
        EpochLog(log, remedy),
        keras.callbacks.TensorBoard(str(work_dir / "tensorboard" / name), write_graph=False, profile_batch=0),
        keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True, delete_checkpoint=False),
        ResumeState(backup, log, checkpoint, stopping, remedy),
    ]
    core.fit(train_seq, validation_data=dev_seq, epochs=cfg.epochs, steps_per_epoch=len(train_seq), shuffle=False,
             callbacks=callbacks, verbose=cfg.verbose)
    hist = read_history(log, remedy)
    if not hist.get("val_loss"):
        raise InputError(f"{log}: no epoch recorded after the fit; {remedy}")
    hist["best_epoch"] = int(np.argmin(hist["val_loss"])) + 1
    if not local:
        # Score with a local copy: every worker then holds complete scores for label regression.
        core = fresh_model()
    _load_best(core, best, remedy)
    write_json(done, hist)
    shutil.rmtree(backup, ignore_errors=True)
    return core, hist


def _load_best(core, best: Path, remedy: str) -> None:
    """The best epoch's weights into `core`; a missing or cut checkpoint is an InputError ending with `remedy`."""
    if not best.is_file():
        raise InputError(f"{best}: missing (removed while the run was interrupted?); {remedy}")
    try:
        core.load_weights(str(best))
    except (OSError, ValueError) as err:
        raise InputError(f"{best}: unreadable ({str(err).splitlines()[0][:80]}); {remedy}") from None


def _options(cfg, options: dict, data, test_data):
    """The TrainConfig of a call: `cfg` (default TrainConfig()) with `options` (its field names) replaced, and
    `data` / `test_data` recorded by name when they are in memory (config.json holds names, not tables)."""
    cfg = TrainConfig() if cfg is None else cfg
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"expected a TrainConfig, got {type(cfg).__name__}; pass data as data=...")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise TypeError(f"unknown training option {unknown[0]!r}; expected TrainConfig's fields")
    if data is not None:
        options["data"] = _data_name(data)
    if test_data is not None:
        options["test_data"] = _data_name(test_data)
    return dataclasses.replace(cfg, **options)


def _data_name(data) -> str:
    """How config.json names a dataset argument: a name or path as given, a DatasetSplits by its name, a
    DataFrame or (texts, labels) pair as 'dataframe'."""
    if isinstance(data, DatasetSplits):
        return data.name
    if in_memory(data):
        return "dataframe"
    return str(data)


def _resolved(cfg):
    """(cfg with epochs and batch size filled in, stages, head spec, arch config, BERT preset) of a TrainConfig."""
    stages = cfg.resolved_stages()
    spec = head_spec(cfg.head)
    arch_cfg = load_arch_config(cfg.arch)
    if cfg.init_from:  # the model is built like the run it starts from (vocabulary size, widths, ...)
        arch_cfg = {**arch_cfg, **read_run_config(_split_spec(cfg.init_from)[0]).get("arch_config", {})}
    if cfg.arch_config:
        arch_cfg = {**arch_cfg, **read_json_object(cfg.arch_config, "arch_config")}
    cfg = dataclasses.replace(cfg, epochs=arch_cfg.get("epochs", 10) if cfg.epochs is None else cfg.epochs,
                              batch_size=arch_cfg.get("batch_size", 32) if cfg.batch_size is None else cfg.batch_size)
    if cfg.epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {cfg.epochs!r}")
    preset = None
    if cfg.arch == "bert":
        from .bert import resolve_preset

        preset = resolve_preset(cfg.bert_preset or arch_cfg["preset"])
    return cfg, stages, spec, arch_cfg, preset


def train(cfg: TrainConfig | None = None, *, data=None, test_data=None, **options) -> dict:
    """Run the configured stages into a run directory (`cfg.out`); return the metrics dict also written to
    metrics.json.

    `data` (default `cfg.data`): a dataset name or file path, a pandas DataFrame (a text column and a label
    column, see `load_dataset`), a (texts, labels) pair of lists, or a `DatasetSplits`; `test_data` likewise
    for the test split. `options`: TrainConfig fields that replace `cfg`'s, e.g.
    `train(data=frame, arch="textcnn", out="runs/frame")`. The loop is `fit_stages`'s, with every output
    written (and an interrupted run resumed).
    """
    cfg = _options(cfg, options, data, test_data)
    cfg, stages, spec, arch_cfg, preset = _resolved(cfg)
    strategy = make_strategy(cfg.strategy)
    # Every worker of a multi-worker run trains and saves (saving is collective); only the chief keeps its files,
    # and holds the run directory's lock: a second `train` on the same --out stops here, before it writes.
    chief = is_chief()
    existed = cfg.out is not None and Path(cfg.out).exists()
    run_dir = prepare_run_dir(cfg.out, cfg) if chief else Path(tempfile.mkdtemp(prefix="eqn-worker-"))
    previous_policy = keras.mixed_precision.global_policy()
    try:
        with run_lock(run_dir) if chief else contextlib.nullcontext():
            try:
                if chief:
                    refuse_finished(run_dir)  # a job that held the lock before this one may have finished it
                policy = set_precision(cfg.mixed_precision)
                return _train(cfg, stages, spec, arch_cfg, preset, strategy, policy, run_dir, chief,
                              data=data, test_data=test_data)[0]
            finally:
                keras.mixed_precision.set_global_policy(previous_policy)
    finally:
        if chief and not existed:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only when empty: a run stopped by bad input before it wrote anything


def fit_stages(data=None, cfg: TrainConfig | None = None, *, test_data=None, **options) -> dict:
    """The two-stage EQN loop in memory: {stage name: EQNModel}, e.g. {"coeqn": ..., "eqn": ...}; no file is
    written.

    The same loop, data handling, seeds and early stopping as `train` (`data`, `test_data` and `options` as
    there; `out` is ignored). Each model carries its stage's dev-tuned threshold and its test metrics
    (`model.stage_metrics`); save one with `model.save("stage.keras")` or `model.save_to_preset(dir)`.
    """
    cfg = _options(cfg, options, data, test_data)
    cfg, stages, spec, arch_cfg, preset = _resolved(cfg)
    strategy = make_strategy(cfg.strategy)
    previous_policy = keras.mixed_precision.global_policy()
    try:
        policy = set_precision(cfg.mixed_precision)
        return _train(cfg, stages, spec, arch_cfg, preset, strategy, policy, None, True, data=data,
                      test_data=test_data)[1]
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _load_splits(cfg, spec, data=None, test_data=None):
    """(splits, train split) of the configured dataset (`data` / `test_data` when given in memory, see `train`),
    subsampled to --max-train, checked for this head."""
    splits: DatasetSplits = load_dataset(
        cfg.data if data is None else data, cfg.data_dir, test_data=cfg.test_data if test_data is None else test_data,
        text_col=cfg.text_col, label_col=cfg.label_col,
        label_sep=cfg.label_sep, label_names=cfg.label_names, seed=cfg.seed, target_cols=cfg.target_cols,
        target_range=cfg.target_range)
    if splits.rating_scale is not None and not spec.energy:
        raise InputError(Param("target_cols"), ": graded targets train an energy head (", Param("head", "eqn"),
                         f" or eqn_bce), not the '{cfg.head}' baseline")
    if spec.needs_single_label and splits.multi_label:
        raise InputError(Param("head", "single"), f": dataset '{splits.name}' is multi-label; use ",
                         Param("head", "multi"), " or eqn")
    if cfg.seq_len < 1:
        raise InputError(Param("seq_len", cfg.seq_len), ": expected a positive length")
    train_split = _subsample(splits.train, cfg.max_train, cfg.seed)
    for role, split in (("train", train_split), ("dev", splits.dev), ("test", splits.test)):
        if len(split) == 0:
            raise InputError(f"dataset '{splits.name}': the {role} split is empty")
    return splits, train_split


def _write_config(run_dir, cfg, stage_list, arch_cfg, splits, train_split, train_digest, preset, strategy, policy):
    """config.json: the options, the data and the provenance; an interrupted run's is kept, with this restart."""
    config = {
        "config": dataclasses.asdict(cfg), "stages": stage_list, "arch_config": arch_cfg,
        "dataset": {"name": splits.name, "label_names": splits.label_names, "multi_label": splits.multi_label,
                    "sizes": {"train": len(train_split), "dev": len(splits.dev), "test": len(splits.test)},
                    "train_sha256": train_digest,
                    "notes": splits.notes},
        "eqn_keras": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
        "commit": git_commit(), "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "bert_preset": preset, "dtype_policy": policy, "replicas": strategy.num_replicas_in_sync,
    }
    previous = resume_config(run_dir, config)
    if previous is not None:
        restart = {"at": datetime.datetime.now().isoformat(timespec="seconds"), "commit": config["commit"]}
        config = {**previous, "resumed": previous.get("resumed", []) + [restart]}
        print(f"[eqn-keras] resuming the unfinished run in {run_dir}", flush=True)
    write_json(run_dir / CONFIG_FILE, config)


def _regress(from_stage, stage_scores, model_sha256=None, *, run_dir, labels, ids, texts, names, train_digest, cfg,
             rated=None):
    """Label regression (eq. 3): annotated labels back to max, the rest keep the stage's scores (graded data,
    `rated`: every rated label keeps its rating, only unrated ones take the scores).

    `stage_scores` None: a finished stage of an interrupted run, scored again with its saved model. Kept at
    full precision in regressed_<stage>.npz with the digests of the texts and of the model that scored
    them, so a resumed run reuses them only when both still match. `run_dir` None: nothing is written.
    """
    cache = None if run_dir is None else run_dir / f"regressed_{from_stage}.npz"
    if model_sha256 and cache.is_file():
        try:
            with np.load(cache) as data:
                if str(data["train_sha256"]) == train_digest and str(data["model_sha256"]) == model_sha256:
                    return {role: data[role] for role in ("train", "dev")}
        except (OSError, ValueError, KeyError, EOFError) as err:
            raise InputError(f"{cache}: corrupt ({str(err).splitlines()[0][:80]}); delete it (a rerun regresses "
                             "the labels again)") from None
    if stage_scores is None:
        core = split_text_model(load_stage_model(run_dir / f"{from_stage}.keras", cfg.arch))[1]
        stage_scores = {role: predict_scores(core, ids[role]) for role in ("train", "dev")}
    regressed = {role: regress_labels(labels[role], stage_scores[role], cfg.max_value, cfg.min_value,
                                      cfg.regress_temperature, rated=None if rated is None else rated[role])
                 for role in ("train", "dev")}
    if run_dir is not None:
        write_csv(run_dir / regressed_file(from_stage),
                  scores_frame(texts["train"], labels["train"], regressed["train"], names))
    if model_sha256:
        with atomic_write(cache, "wb") as handle:
            np.savez(handle, train_sha256=train_digest, model_sha256=model_sha256, **regressed)
    return regressed


def _stage_outputs(run_dir, name, cfg, core, tokenizer, ids, texts, labels, splits, energy, history, started):
    """A fitted stage's scores and report; with a run directory also saved: its text-in model, scores, annotated
    test set, report and plots. (report, scores)."""
    names = splits.label_names
    fit_seconds = time.perf_counter() - started
    if run_dir is not None:
        model_path = run_dir / f"{name}.keras"
        text_model(tokenizer, core).save(model_path)
    scores = {role: predict_scores(core, ids[role]) for role in ("train", "dev", "test")}
    if run_dir is not None:
        save_scores(run_dir / f"scores_{name}.npz", scores, labels, splits.num_labels)
        write_csv(run_dir / f"test_annotated_{name}.csv",
                  scores_frame(texts["test"], labels["test"], scores["test"], names,
                               (cfg.min_value, cfg.max_value) if energy else None))
    if splits.rating_scale is None:
        report = evaluation_report(scores["test"], labels["test"], names, splits.multi_label,
                                   dev_scores=scores["dev"], dev_labels=labels["dev"])
    else:
        report = graded_report(scores, labels, splits, cfg)
    report["history"] = history
    report["wall_s"] = {"fit": round(fit_seconds, 1), "stage": round(time.perf_counter() - started, 1)}
    if run_dir is None:
        return report, scores
    report["model_sha256"] = sha256_file(model_path)
    title = f"{cfg.arch} {name} on {splits.name}"
    plot_training_curves(history, run_dir / f"curves_{name}.png", f"{title}: training curves")
    plot_pearson_heatmap(pearson_matrix(scores["test"], names), run_dir / f"pearson_{name}.png",
                         f"{title}: Pearson r of test scores")
    write_json(run_dir / f"report_{name}.json", report)
    return report, scores


def graded_pearson(scores, texts, ratings, names, scale, cfg, resamples: int = 0) -> dict:
    """How a graded run's energies (clipped, as users see them) follow the ratings: `eqn_keras.intensity`'s report."""
    from .intensity import GoldSet, intensity_report

    gold = GoldSet("ratings", list(texts), list(names), np.asarray(ratings, dtype=np.float64), tuple(scale))
    return intensity_report(clip_energies(scores, (cfg.min_value, cfg.max_value)), gold, resamples=resamples)


def graded_report(scores, labels, splits, cfg) -> dict:
    """A graded stage's test report: the average Pearson r with the test ratings is its Table 3 measure
    (`intensity` holds the whole report); the paper's classification metrics are computed over the texts
    rated above the scale's bottom for some label (a top-k metric needs k >= 1), threshold tuned on dev's."""
    keep = {role: [i for i, ls in enumerate(labels[role]) if ls] for role in ("dev", "test")}
    report = evaluation_report(scores["test"][keep["test"]], [labels["test"][i] for i in keep["test"]],
                               splits.label_names, True, dev_scores=scores["dev"][keep["dev"]],
                               dev_labels=[labels["dev"][i] for i in keep["dev"]])
    intensity = graded_pearson(scores["test"], splits.test.texts, splits.test.ratings, splits.label_names,
                               splits.rating_scale, cfg, resamples=1000)
    intensity["gold"] = "test ratings"
    report.update(intensity=intensity, classification_texts=len(keep["test"]), table3_metric="pearson",
                  table3=intensity["average"]["pearson"]["value"])
    return report


def _finished_stage(run_dir, name):
    """The report of a stage an interrupted run finished (its saved model's digest matches), else None."""
    model_path, report_path = run_dir / f"{name}.keras", run_dir / f"report_{name}.json"
    report = read_resume_json(report_path, f"delete it (a rerun writes stage {name}'s outputs again)")
    if isinstance(report, dict) and model_path.is_file() and report.get("model_sha256") == sha256_file(model_path):
        return report
    return None


def _train(cfg, stages, spec, arch_cfg, preset, strategy, policy, run_dir, chief, data=None,
           test_data=None) -> tuple:
    """The two-stage loop: (metrics dict, {stage: EQNModel}). With `run_dir` every output is written there and a
    stage an interrupted run finished is reused (it has no model in the dict); with None nothing is written."""
    from .model import EQNModel, summary_metrics

    splits, train_split = _load_splits(cfg, spec, data, test_data)
    texts = {"train": train_split.texts, "dev": splits.dev.texts, "test": splits.test.texts}
    labels = {"train": train_split.labels, "dev": splits.dev.labels, "test": splits.test.labels}
    train_digest = _texts_digest(train_split.texts)
    first, source = 1, None
    if cfg.regress_from:
        # Start from an earlier run's stage instead of training CoEQN again.
        source_stage, source = _source_scores(cfg.regress_from, splits, train_split, train_digest, texts, cfg)
        first = stage_number(source_stage) + 1
    stage_list = stage_names(cfg.head, stages, first)
    keras.utils.set_random_seed(cfg.seed)
    if not accelerators_visible() and not resolve_jit(cfg.jit_compile):
        # A CPU run with the same seed repeats exactly. Not on GPUs (some kernels have no deterministic
        # version) nor with XLA (Keras silently drops jit_compile while op determinism is on).
        tf.config.experimental.enable_op_determinism()
    if run_dir is not None:
        _write_config(run_dir, cfg, stage_list, arch_cfg, splits, train_split, train_digest, preset, strategy, policy)

    init_core, keep_output = None, False
    if cfg.init_from:  # fine-tuning: the earlier run's tokenizer (its vocabulary) and weights
        tokenizer, init_core, source_labels = _init_source(cfg)
        keep_output = source_labels == list(splits.label_names)
    else:
        tokenizer = make_tokenizer(cfg.arch, arch_cfg, train_split.texts, cfg.seq_len, preset)
    ids = {role: tokenize(tokenizer, texts[role]) for role in ("train", "dev", "test")}
    C = splits.num_labels
    rated = None
    if splits.rating_scale is not None:  # graded data: ratings rescaled to energies, NaN where not rated
        rated = {role: rescale_ratings(split.ratings, splits.rating_scale, cfg.max_value, cfg.min_value)
                 for role, split in (("train", train_split), ("dev", splits.dev))}
    regress = functools.partial(_regress, run_dir=run_dir, labels=labels, ids=ids, texts=texts,
                                names=splits.label_names, train_digest=train_digest, cfg=cfg, rated=rated)
    # Step 1 (full-label initialization): annotated labels at max, all others at min (graded: their ratings).
    if rated is None:
        full = {role: init_full_labels(labels[role], C, cfg.max_value, cfg.min_value) for role in ("train", "dev")}
    else:
        full = {role: graded_full_labels(rated[role], cfg.min_value) for role in ("train", "dev")}
    if cfg.regress_from:
        full = regress(source_stage, source)
    results = {"run_dir": str(run_dir), "dataset": splits.name, "arch": cfg.arch, "head": cfg.head,
               "multi_label": splits.multi_label, "stages": {}}
    if cfg.regress_from:
        results["regressed_from"] = source_stage
    if rated is None:
        metric_name, metric_fn = table3_measure(splits.multi_label)
        dev_metric = DevMetric(metric_name, lambda model: metric_fn(predict_scores(model, ids["dev"]), labels["dev"]))
    else:
        dev_metric = DevMetric("pearson", lambda model: graded_pearson(
            predict_scores(model, ids["dev"]), texts["dev"], splits.dev.ratings, splits.label_names,
            splits.rating_scale, cfg)["average"]["pearson"]["value"] or float("nan"))
    models = {}
    for name in stage_list:
        # Steps 2 and 5: a fresh model fitted on the current full labels (CoEQN, then EQN on regressed ones).
        report, scores = None if run_dir is None else _finished_stage(run_dir, name), None
        if report is not None:
            print(f"[eqn-keras] stage {name}: finished before the interruption, reused", flush=True)
        else:
            print(f"[eqn-keras] stage {name}: {cfg.arch} on {splits.name} ({len(train_split)} train texts)", flush=True)
            train_seq = FullLabelSequence(ids["train"], head_targets(cfg.head, full["train"], cfg.max_value),
                                          batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed, stream=True)
            dev_seq = FullLabelSequence(ids["dev"], head_targets(cfg.head, full["dev"], cfg.max_value),
                                        batch_size=cfg.batch_size)
            started = time.perf_counter()
            core, history = _fit_stage(name, cfg, arch_cfg, C, train_seq, dev_seq, run_dir, strategy, preset,
                                       dev_metric, init_core, keep_output)
            report, scores = _stage_outputs(run_dir, name, cfg, core, tokenizer, ids, texts, labels, splits,
                                            spec.energy, history, started)
            if run_dir is None:
                models[name] = EQNModel.from_parts(
                    tokenizer, core, label_names=splits.label_names, arch=cfg.arch, head_kind=cfg.head,
                    energy_range=(cfg.min_value, cfg.max_value) if spec.energy else None,
                    threshold=report.get("threshold"), stage=name, dataset=splits.name, arch_config=arch_cfg,
                    metrics=summary_metrics(report))
        results["stages"][name] = report
        shown = "n/a" if report["table3"] is None else f"{report['table3']:.4f}"
        print(f"[eqn-keras] {name} test {report['table3_metric']}: {shown}", flush=True)
        if spec.energy and name != stage_list[-1]:
            # Steps 3 and 4: this stage's scores of the training texts, regressed into the next stage's labels.
            full = regress(name, scores, report.get("model_sha256"))
    results["final_stage"] = name
    if run_dir is None:
        return results, models
    write_json(run_dir / METRICS_FILE, results)
    if (run_dir / "backup").is_dir() and not any((run_dir / "backup").iterdir()):
        (run_dir / "backup").rmdir()
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
    return results, models
