"""eqn-keras: the Expansion Quantization Network (EQN) for micro-emotion annotation in Keras 3."""

__version__ = "0.1.0"

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from .labels import init_full_labels, regress_labels, soften_scores, threshold_annotate  # noqa: E402
from .heads import HEADS, build_head, eqn_head  # noqa: E402
from .builders import ARCHS, build_model, load_arch_config  # noqa: E402
from .sequence import FullLabelSequence, make_vectorizer, tokenize  # noqa: E402
from .datasets import DatasetSplits, TextDataset, load_dataset  # noqa: E402
from .training import TrainConfig, load_run, train  # noqa: E402
from .annotate import Annotator, annotate_file, evaluate_run  # noqa: E402
from .export import export_run  # noqa: E402
from .fileio import InputError  # noqa: E402

__all__ = [
    "ARCHS", "HEADS", "Annotator", "DatasetSplits", "FullLabelSequence", "InputError", "TextDataset",
    "TrainConfig", "annotate_file", "export_run", "build_head", "build_model", "eqn_head", "evaluate_run",
    "init_full_labels", "load_arch_config", "load_dataset", "load_run", "make_vectorizer",
    "regress_labels", "soften_scores", "threshold_annotate", "tokenize", "train",
]
