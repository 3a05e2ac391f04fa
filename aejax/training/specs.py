"""Run settings and the policies that resolve their automatic values: TrainSpec (the `train` section),
CheckpointSpec (`checkpoint`), the epoch order, and what train.steps_per_dispatch=0 / microbatch_size=0 pick."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import optax

from aejax.objectives.objective import Objective
from aejax.training.optim import make_optimizer, make_schedule
from aejax.training.state import TrainState


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Plain-value training settings (the `train` section of a config)."""

    epochs: int = 20
    batch_size: int = 128
    eval_batch_size: int = 1024
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    min_learning_rate_ratio: float = 0.0
    grad_clip_norm: float = 0.0
    early_stopping_patience: int = 0
    early_stopping_min_delta: float = 0.0
    log_every_steps: int = 25
    log_norms: bool = True
    progress: bool = True
    writers: tuple[str, ...] = ("tensorboard",)  # beside metrics.jsonl (aejax.training.run_log.WRITERS)
    backend: str = "auto"  # auto | single | sharded | pmap (aejax.training.parallel)
    steps_per_dispatch: int = 0  # > 1: that many steps in one lax.scan over device-resident data; 0: auto
    # > 0: gradients over slices of this many examples in a lax.scan, averaged (= batch_size: off); 0: auto
    microbatch_size: int = 0

    def __post_init__(self):
        from aejax.training.run_log import check_writers

        object.__setattr__(self, "writers", check_writers(self.writers))
        for name in ("epochs", "batch_size", "eval_batch_size", "log_every_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.microbatch_size and (
            self.microbatch_size > self.batch_size or self.batch_size % self.microbatch_size
        ):
            raise ValueError(
                f"train.microbatch_size={self.microbatch_size} must divide train.batch_size={self.batch_size} "
                "(0 picks it, train.batch_size turns microbatching off)"
            )
        for name in (
            "warmup_steps",
            "early_stopping_patience",
            "grad_clip_norm",
            "weight_decay",
            "microbatch_size",
            "steps_per_dispatch",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")

    def steps_per_epoch(self, num_train: int) -> int:
        if self.batch_size < 1:
            raise ValueError(f"train.batch_size must be >= 1, got {self.batch_size}")
        if num_train < self.batch_size:
            raise ValueError(
                f"train.batch_size={self.batch_size} is larger than the training split ({num_train} examples)"
            )
        return num_train // self.batch_size  # the last partial batch is dropped; each epoch reshuffles

    def build_optimizer(self, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
        schedule = make_schedule(
            self.schedule, self.learning_rate, total_steps, self.warmup_steps, self.min_learning_rate_ratio
        )
        return make_optimizer(self.optimizer, schedule, self.weight_decay, self.grad_clip_norm), schedule


@dataclasses.dataclass(frozen=True)
class CheckpointSpec:
    """When the fit loop saves (`config.checkpoint`). It saves at the end of the run, when early stopping ends
    it, on a preemption signal, and wherever one of the cadences that is set falls due: every `every_steps`
    steps, at the end of every `every_epochs`-th epoch, and at the first logging point (train.log_every_steps,
    an epoch end) at least `every_seconds` after the previous save (or the start). The default is the time
    bound alone, so checkpoints cost a bounded share of the run's wall time however short its epochs are."""

    every_steps: int = 0  # 0: no step cadence
    every_epochs: int = 0  # 0: no epoch cadence
    every_seconds: float = 30.0  # 0: no time cadence
    max_to_keep: int = 3
    keep_best: bool = True  # with a validation split, the best-validation epoch's state is the run's result

    def __post_init__(self):
        for name in ("every_steps", "every_epochs", "every_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"checkpoint.{name} must be >= 0 (0 turns it off), got {getattr(self, name)}"
                )
        if self.max_to_keep < 1:
            raise ValueError(f"checkpoint.max_to_keep must be >= 1, got {self.max_to_keep}")

    def due_at(self, step: int, steps_per_epoch: int) -> bool:
        """Whether the step or epoch cadence saves after `step` steps (the time cadence is the loop's)."""
        by_steps = self.every_steps > 0 and step % self.every_steps == 0
        epochs, inside = divmod(step, steps_per_epoch)
        by_epochs = self.every_epochs > 0 and inside == 0 and epochs % self.every_epochs == 0
        return by_steps or by_epochs


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The batch order of one epoch, a function of (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


# train.steps_per_dispatch=0 fuses runs at least this long (see auto_steps_per_dispatch)
AUTO_FUSE_MIN_STEPS = 20_000


def auto_steps_per_dispatch(log_every_steps: int, remaining_steps: int, fusable: bool) -> int:
    """The K that train.steps_per_dispatch=0 picks. Fused steps are the same bits with one dispatch per K steps
    (measured 1.0-1.25x the plain loop on CPU, see README's Speed table: 0.05-0.4 ms less per step) but compile a
    second program (1-2 s for the main job's small MLP on a 2-core CPU), so they are used for the plain
    single-device step in runs of AUTO_FUSE_MIN_STEPS or more, long enough to repay that compile. K is the largest
    divisor of log_every_steps up to 10, so chunks end where the loop logs and no chunk falls back to single
    steps except at epoch ends and saves."""
    if not fusable or remaining_steps < AUTO_FUSE_MIN_STEPS:
        return 1
    return max(k for k in range(1, 11) if log_every_steps % k == 0)


# train.microbatch_size=0 slices a convolutional model's batches into about this many input values per slice
AUTO_MICROBATCH_VALUES = 64 * 784  # 64 MNIST images


def auto_microbatch_size(
    state: TrainState, objective: Objective, batch_size: int, input_shape: tuple[int, ...], eligible: bool
) -> int:
    """The slice size train.microbatch_size=0 picks, 0 for whole batches. Measured on a 2-core CPU (README's
    Speed table): the conv AE's step runs 1.1-1.2x faster at batch 128 and ~1.45x at batch 1024 with slices of
    16-64 MNIST images, whose temporaries stay in cache, while dense models run 0.7-0.85x as fast (their matmuls
    lose efficiency). So slicing is chosen for the plain step on one CPU device (`eligible`), for models with
    2-D convolutions (4-D kernels) and without batch statistics, whose objective is per-example
    (`Objective.per_example`: then the update is the whole batch's up to float rounding): the largest divisor
    of the batch below it that holds at most AUTO_MICROBATCH_VALUES input values (at least 8 rows)."""
    if not eligible or jax.default_backend() != "cpu" or jax.tree.leaves(state.model_state):
        return 0
    convolutional = any(
        getattr(path[-1], "key", None) == "kernel" and leaf.ndim == 4
        for path, leaf in jax.tree_util.tree_leaves_with_path(state.params)
    )
    if not convolutional or not objective.per_example:
        return 0
    target = max(8, AUTO_MICROBATCH_VALUES // max(1, math.prod(input_shape)))
    sizes = [m for m in range(8, min(target, batch_size - 1) + 1) if batch_size % m == 0]
    return max(sizes, default=0)
