"""Optimizers as data: `models/<arch>.json`'s "optimizer" entry becomes a Keras optimizer.

The Keras models use Adam at a constant rate. BERT uses the standard fine-tuning recipe (Devlin et al.;
Hugging Face's default): AdamW, linear warm-up over the first steps, then linear decay to zero at the last
step of the epoch limit, no weight decay on biases and LayerNorm parameters. Every head gets the same one.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="eqn_keras")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rate rising linearly from 0 to `peak` over `warmup_steps`, then falling linearly to 0 at `total_steps`."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = step / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak * keras.ops.clip(keras.ops.minimum(warmup, decay), 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


def make_optimizer(arch_cfg: dict, learning_rate: float, steps_per_epoch: int, epochs: int):
    """The arch's optimizer at `learning_rate`; the schedule spans `epochs` x `steps_per_epoch` steps."""
    spec = arch_cfg.get("optimizer") or {"name": "adam"}
    name = spec.get("name", "adam")
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name != "adamw":
        raise ValueError(f"optimizer '{name}' in the arch config: expected adam or adamw")
    total = max(1, steps_per_epoch * epochs)
    schedule = WarmupLinearDecay(learning_rate, round(spec.get("warmup_fraction", 0.1) * total), total)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=spec.get("weight_decay", 0.01),
                                       epsilon=spec.get("epsilon", 1e-6))
    optimizer.exclude_from_weight_decay(var_names=spec.get("no_weight_decay", ["bias", "gamma", "beta"]))
    return optimizer
