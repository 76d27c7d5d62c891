"""eqn-keras: the Expansion Quantization Network (EQN) for micro-emotion annotation in Keras 3.

The public names below are imported lazily (PEP 562), on first use: `import eqn_keras.metrics` or
`import eqn_keras.labels` does not pull in TensorFlow, while `from eqn_keras import train` works as before.
"""

__version__ = "0.2.0"

import importlib as _importlib
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

# public name -> the submodule that defines it
_EXPORTS = {
    "init_full_labels": "labels", "regress_labels": "labels", "soften_scores": "labels",
    "threshold_annotate": "labels",
    "HEADS": "heads", "build_head": "heads", "eqn_head": "heads",
    "ARCHS": "options", "build_model": "builders", "load_arch_config": "builders",
    "FullLabelSequence": "sequence", "make_vectorizer": "sequence", "tokenize": "sequence",
    "DatasetSplits": "datasets", "TextDataset": "datasets", "load_dataset": "datasets",
    "TrainConfig": "options", "AnnotateOptions": "options", "load_run": "rundir", "train": "training",
    "fit_stages": "training",
    "Annotator": "annotate", "annotate_file": "annotate", "evaluate_run": "annotate",
    "export_run": "export", "export_model": "export",
    "EQNModel": "model",
    "GoldSet": "intensity", "evaluate_intensity": "intensity", "intensity_report": "intensity",
    "load_gold": "intensity",
    "InputError": "fileio", "Param": "fileio",
}

__all__ = [
    "ARCHS", "HEADS", "AnnotateOptions", "Annotator", "DatasetSplits", "EQNModel", "FullLabelSequence", "GoldSet",
    "InputError", "Param", "TextDataset",
    "TrainConfig", "annotate_file", "export_model", "export_run", "build_head", "build_model", "eqn_head", "evaluate_intensity", "evaluate_run",
    "fit_stages", "init_full_labels", "intensity_report", "load_arch_config", "load_dataset", "load_gold", "load_run", "make_vectorizer",
    "regress_labels", "soften_scores", "threshold_annotate", "tokenize", "train",
]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
