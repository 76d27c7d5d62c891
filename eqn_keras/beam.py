"""Annotation on Apache Beam: read tables, score them with RunInference over an exported SavedModel, write shards.

For corpora that outgrow one machine: the same pipeline runs on the DirectRunner (or Prism) here and on
Dataflow, Flink or Spark by their pipeline options. The model is the `serving_default` raw-text
signature that `eqn-keras export` writes, so workers need TensorFlow (and TF Text for BERT exports), not
this package's training code; `saved_model_for` exports a run directory or a preset, loaded as `Annotator`
loads it, for a local runner. Needs the optional extra: pip install "eqn-keras[beam]".
"""

from __future__ import annotations

import glob
import io
import shutil
from pathlib import Path

import apache_beam as beam
import numpy as np
import pandas as pd
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from .annotate import annotated_frame, check_columns, text_errors
from .fileio import InputError, Param, table_format
from .tablestream import encode_chunk

LABELS_ASSET = "assets.extra/labels.txt"
HUB_HANDLES = ("hf://", "kaggle://")  # presets keras-hub downloads; other URLs name exports on remote storage
READ_CHUNK = 10_000


class SavedModelTextHandler(ModelHandler):
    """RunInference model handler for an `eqn-keras export` SavedModel: raw texts in, energies [C] out.

    Beam's own TFModelHandler loads with `tf.keras.models.load_model`, which Keras 3 refuses for a
    SavedModel (and it needs tensorflow_hub): this one loads with `tf.saved_model.load` and calls the
    serving signature, as TF Serving does.
    """

    def __init__(self, model_dir: str, max_batch_size: int = 256, min_batch_size: int = 1):
        self._model_dir = str(model_dir)
        self._batching = {"min_batch_size": min_batch_size, "max_batch_size": max_batch_size}

    def load_model(self):
        import tensorflow as tf

        try:
            import tensorflow_text  # noqa: F401  (registers the WordPiece ops of a BERT export)
        except ImportError:
            pass
        return tf.saved_model.load(self._model_dir).signatures["serving_default"]

    def run_inference(self, batch, model, inference_args=None):
        import tensorflow as tf

        energy = model(text=tf.constant(list(batch), dtype=tf.string))["energy"].numpy()
        return [PredictionResult(text, row) for text, row in zip(batch, energy)]

    def batch_elements_kwargs(self):
        return self._batching

    def get_metrics_namespace(self) -> str:
        return "eqn_keras"


def saved_model_for(model, out) -> str:
    """The SavedModel the pipeline scores with: `model` itself when it names one (an `eqn-keras export`, local
    or on remote storage), else the run directory or preset it names loaded as `Annotator` loads it
    (`ModelSource`) and exported into the folder `out`."""
    from .export import export
    from .model import RUN_CONFIG_FILE, TASK_CONFIG_FILE

    text = str(model)
    if "://" in text:
        return str(export(text, out=out)) if text.startswith(HUB_HANDLES) else text
    if (Path(text) / LABELS_ASSET).is_file():
        return text
    if not any((Path(text) / name).is_file() for name in (RUN_CONFIG_FILE, TASK_CONFIG_FILE)):
        raise InputError(Param("model", text), ": not an 'eqn-keras export' SavedModel, a run directory nor a "
                         "preset; expected the directory 'eqn-keras export' prints, the --out of 'eqn-keras train', "
                         "or a folder written by EQNModel.save_to_preset")
    return str(export(text, out=out))


def export_label_names(model_dir) -> list:
    """The label names an export carries (assets.extra/labels.txt, one per line, in score order)."""
    path = Path(model_dir) / LABELS_ASSET
    if not path.is_file():
        raise InputError(f"{model_dir}: not an 'eqn-keras export' SavedModel (no {LABELS_ASSET}); "
                         "expected the versioned directory that 'eqn-keras export' prints")
    return path.read_text(encoding="utf-8").splitlines()


def _frames(handle, fmt: str, path: str):
    """DataFrames of strings, READ_CHUNK rows at a time, from an open binary file."""
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    if fmt == "jsonl":
        reader = pd.read_json(text, lines=True, dtype=False, chunksize=READ_CHUNK)
        for frame in reader:
            yield frame.astype(object).where(frame.notna(), "").astype(str)
        return
    try:
        yield from pd.read_csv(text, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False,
                               chunksize=READ_CHUNK)
    except pd.errors.ParserError as err:
        raise InputError(f"{path}: cannot parse as {fmt.upper()} ({err})") from None


def read_header(pattern: str, fmt: str) -> list:
    """The column names of the first file matching `pattern` (every shard must have the same)."""
    matches = FileSystems.match([pattern])[0].metadata_list
    if not matches:
        raise InputError(f"{pattern}: no input file matches")
    first = sorted(m.path for m in matches)[0]
    with FileSystems.open(first) as handle:
        frame = next(_frames(handle, fmt, first), None)
    if frame is None:
        raise InputError(f"{first}: file is empty; expected a header and rows")
    return list(frame.columns)


class ReadRows(beam.DoFn):
    """(file, row number) -> row dict of one input shard, checked for its text column."""

    def __init__(self, fmt: str, text_col: str, columns: list):
        self._fmt, self._text_col, self._columns = fmt, text_col, columns

    def process(self, readable):
        path = readable.metadata.path
        row = 0
        with readable.open() as handle:
            for frame in _frames(handle, self._fmt, path):
                if list(frame.columns) != self._columns:
                    raise InputError(f"{path}: columns {list(frame.columns)}; expected those of the first shard, "
                                     f"{self._columns}")
                errors = text_errors(frame, self._text_col)
                bad = np.flatnonzero(errors != "")
                if bad.size:
                    raise InputError(f"{path}: row {row + bad[0] + 1}: {errors[bad[0]]}")
                for record in frame.to_dict("records"):
                    row += 1
                    yield (path, row, record), record[self._text_col]


def _format_batch(batch, columns, label_names, fmt):
    """Scored rows as the lines `eqn-keras annotate` writes for them (one element of WriteToText)."""
    frame = pd.DataFrame([record for (_, _, record), _ in batch], columns=columns)
    scores = pd.DataFrame(np.stack([result.inference for _, result in batch]), columns=label_names)
    return encode_chunk(annotated_frame(frame, scores, label_names), fmt, header=False).decode("utf-8").rstrip("\n")


def annotate_pipeline(pipeline, model_dir, input_pattern: str, output_prefix: str, text_col: str = "text",
                      num_shards: int = 0, batch_size: int = 256):
    """Add read -> RunInference -> write to `pipeline`; outputs are `<prefix>-SSSSS-of-NNNNN<suffix>` shards.

    Each output shard holds whole rows with every input column and one energy column per label (clipped by
    the export, 2 decimals), in no particular order; the input format (CSV, TSV, JSONL) is kept.
    """
    fmt_in = table_format(input_pattern)
    suffix = Path(output_prefix).suffix
    fmt_out = table_format(output_prefix) if suffix else fmt_in
    label_names = export_label_names(model_dir)
    columns = read_header(input_pattern, fmt_in)
    check_columns(columns, text_col, label_names, input_pattern)
    header = None
    if fmt_out != "jsonl":
        header = encode_chunk(pd.DataFrame(columns=columns + label_names), fmt_out, header=True).decode("utf-8")
        header = header.rstrip("\n")
    handler = KeyedModelHandler(SavedModelTextHandler(model_dir, max_batch_size=batch_size))
    prefix = str(output_prefix)[: -len(suffix)] if suffix else str(output_prefix)
    return (pipeline
            | "Match" >> fileio.MatchFiles(input_pattern)
            | "Open" >> fileio.ReadMatches()
            | "Read" >> beam.ParDo(ReadRows(fmt_in, text_col, columns))
            | "Spread" >> beam.Reshuffle()
            | "Score" >> RunInference(handler)
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch_size)
            | "Format" >> beam.Map(_format_batch, columns, label_names, fmt_out)
            | "Write" >> beam.io.WriteToText(prefix, file_name_suffix=suffix or f".{fmt_in}", header=header,
                                             num_shards=num_shards))


def _remove_temp(folder: str, stem: str) -> None:
    """Delete the write step's temporary folders (beam-temp-<stem>-*) that a failed run leaves."""
    pattern = FileSystems.join(folder, f"beam-temp-{stem}-*")
    if "://" not in folder:
        for path in glob.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
        return
    files = [m.path for m in FileSystems.match([pattern + "/*"])[0].metadata_list]
    if files:
        FileSystems.delete(files)


def annotate_beam(model_dir, input_pattern: str, output_prefix: str, text_col: str = "text",
                  pipeline_args=(), num_shards: int = 0, batch_size: int = 256) -> list:
    """Run the annotation pipeline with `pipeline_args` (e.g. --runner DirectRunner); return the shard paths.

    A failed run leaves no output shard and removes the runner's temporary files under the output's folder.
    """
    options = PipelineOptions(list(pipeline_args))
    suffix = Path(output_prefix).suffix
    prefix = str(output_prefix)[: -len(suffix)] if suffix else str(output_prefix)
    folder, stem = FileSystems.split(prefix)
    try:
        with beam.Pipeline(options=options) as pipeline:
            annotate_pipeline(pipeline, model_dir, input_pattern, output_prefix, text_col, num_shards, batch_size)
    except BaseException:
        _remove_temp(folder, stem)
        raise
    return sorted(m.path for m in FileSystems.match([f"{prefix}-*-of-*{suffix or ''}"])[0].metadata_list)
