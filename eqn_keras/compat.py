"""Every use of Keras internals, in one place: what each relies on is pinned by tests/test_compat.py, which
fails when a Keras release changes it underneath (setup.cfg pins the Keras minor version those tests pass on).

- `BackupAndRestore`'s files: the resume checks read its record before Keras does, to name a corrupt one.
- `SeedGenerator`'s state variable ([seed, counter]): reset per epoch so a resumed fit draws the same masks.
- `_keras_logits`: Keras's sigmoid leaves its logits on its output for a stable cross-entropy; so does ours.
- the TensorFlow trainer's multi-worker build and scalar reduction (keras-team/keras#20585): patched.
- keras-hub's preset loading (`keras_hub.src.utils.preset_utils`): reading a preset's files, local or on a hub
  (hf://, kaggle://), and loading a Task from its task.json; keras-hub exports only the saving side
  (`upload_preset`, `Task.save_to_preset`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

BACKUP_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore
BACKUP_WEIGHTS = "latest.weights.h5"  # its weights; both have a previous copy, `<name>.bkp`
SEED_STATE_SUFFIX = "seed_generator_state"  # the path of a keras.random.SeedGenerator's state variable
LOGITS_ATTRIBUTE = "_keras_logits"


def seed_states(model: keras.Model) -> list:
    """The state variables ([seed, counter]) of every SeedGenerator in `model` (dropout and the like)."""
    return [v for v in model.variables if v.path.endswith(SEED_STATE_SUFFIX)]


def set_seed_counter(variable, counter: int) -> None:
    """Restart a SeedGenerator's draws at `counter`, keeping its seed."""
    state = variable.numpy()  # not ops.convert_to_numpy: np.array(tf.Variable) warns under NumPy 2
    variable.assign(np.array([state[0], counter], dtype=state.dtype))


def attach_logits(output, logits) -> None:
    """Leave `logits` on a symbolic `output` the way Keras's sigmoid does (eager tensors take no attributes)."""
    try:
        setattr(output, LOGITS_ATTRIBUTE, logits)
    except AttributeError:
        pass


def logits_of(output):
    """The logits `attach_logits` (or Keras's sigmoid) left on `output`, else None."""
    return getattr(output, LOGITS_ATTRIBUTE, None)


def patch_multiworker_build(model: keras.Model, strategy) -> None:
    """Work around keras-team/keras#20585: Keras 3's fit() builds a model under MultiWorkerMirroredStrategy by
    all-reducing a data batch, which fails; build it from this worker's own share of the batch instead."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def build_from_local_batch(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], batch)
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = build_from_local_batch
    patch_scalar_mean_reduction()


def patch_scalar_mean_reduction() -> None:
    """keras-team/keras#20585, second half: Keras 3 averages per-worker scalars (the loss) with
    `strategy.reduce("MEAN", v, axis=0)`, which fails for rank-0 values; reduce them with axis=None."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer.reduce_per_replica, "_eqn_patched", False):
        return
    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            def mean(v):
                rank = v.values[0].shape.rank if hasattr(v, "values") else getattr(v.shape, "rank", None)
                return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

            return tf.nest.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica._eqn_patched = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def _preset_utils():
    from keras_hub.src.utils import preset_utils

    return preset_utils


def preset_file(preset: str, path: str) -> str:
    """The local path of the file `path` of a preset (a folder, or a hub handle whose file keras-hub downloads
    into its cache); FileNotFoundError when the preset has no such file."""
    return _preset_utils().get_file(preset, path)


def preset_json(preset: str, name: str) -> dict:
    """The JSON file `name` of a preset (FileNotFoundError when it has none)."""
    return _preset_utils().load_json(preset, name)


def load_preset_task(preset: str, cls, load_weights: bool = True, **kwargs):
    """keras-hub's loading of the Task subclass `cls` from a preset: its task.json deserialized (backbone and
    preprocessor included), then model.weights.h5 and task.weights.h5 loaded into it (with `load_weights`)."""
    return _preset_utils().get_preset_loader(preset).load_task(cls, load_weights, True, **kwargs)
