"""The fit loop: epochs of shuffled batches, validation, early stopping, NaN guard, logging, checkpoints, resume.

Resuming is exact: the batch order of epoch e is a permutation drawn from (seed, e), the position inside the
epoch is `step % steps_per_epoch`, and the step key is folded from the state's key, so a run killed at any
moment and restarted ends with the same bits as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from aejax.objectives.objective import Objective
from aejax.training.adversarial import make_adversarial_train_step
from aejax.training.checkpoint import Checkpointer
from aejax.training.metrics_log import MetricsLog
from aejax.training.optim import make_optimizer, make_schedule
from aejax.training.parallel import Placement, check_processes_agree, is_primary, process_local
from aejax.training.state import TrainState, create_train_state
from aejax.training.steps import (
    make_eval_step,
    make_fused_train_steps,
    make_indexed_train_step,
    make_train_step,
)

# Families whose step is not the plain `make_train_step`, keyed by the model's `family` class attribute; their
# extra state is made by `state.FAMILY_EXTRAS` and lives in `TrainState.extras`.
FAMILY_TRAIN_STEPS = {"aae": make_adversarial_train_step}


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or Inf loss; the message names the step and the last good checkpoint."""


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
    backend: str = "auto"  # auto | single | sharded | pmap (aejax.training.parallel)
    steps_per_dispatch: int = 0  # > 1: that many steps in one lax.scan over device-resident data; 0: auto
    # > 0: gradients over slices of this many examples in a lax.scan, averaged (= batch_size: off); 0: auto
    microbatch_size: int = 0

    def __post_init__(self):
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
    every_steps: int = 0  # 0: at the end of each epoch
    max_to_keep: int = 3

    def __post_init__(self):
        if self.every_steps < 0 or self.max_to_keep < 1:
            raise ValueError(
                f"checkpoint.every_steps must be >= 0 and checkpoint.max_to_keep >= 1, "
                f"got {self.every_steps} and {self.max_to_keep}"
            )


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The batch order of one epoch, a function of (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


# train.steps_per_dispatch=0 fuses runs at least this long (see auto_steps_per_dispatch)
AUTO_FUSE_MIN_STEPS = 500


def auto_steps_per_dispatch(log_every_steps: int, remaining_steps: int, fusable: bool) -> int:
    """The K that train.steps_per_dispatch=0 picks. Fused steps are the same bits with one dispatch per K steps
    (measured 1.0-1.25x the plain loop on CPU, see README's Speed table) but compile a second program, so they
    are used for the plain single-device step in runs long enough to repay that compile. K is the largest
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


def epoch_batches(order: np.ndarray, batch_size: int, steps: int) -> list[jax.Array]:
    """The row indices of an epoch's `steps` batches, as device arrays sent in one transfer."""
    return jax.device_put([order[i * batch_size : (i + 1) * batch_size] for i in range(steps)])


def evaluate(eval_fn, state: TrainState, x: np.ndarray, batch_size: int) -> dict[str, float]:
    """Means over every example of `x` (the last batch is padded and masked, never dropped)."""
    totals: dict[str, float] = {}
    n = x.shape[0]
    batch_size = min(batch_size, n)
    for start in range(0, n, batch_size):
        chunk = x[start : start + batch_size]
        weight = np.ones(batch_size, np.float32)
        if chunk.shape[0] < batch_size:
            pad = batch_size - chunk.shape[0]
            weight[chunk.shape[0] :] = 0.0
            chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
        sums = jax.device_get(eval_fn(state, {"x": chunk, "weight": weight}))
        for key, value in sums.items():
            totals[key] = totals.get(key, 0.0) + float(value)
    count = totals.pop("count")
    return {key: value / count for key, value in totals.items()}


@dataclasses.dataclass
class _EarlyStopping:
    patience: int
    min_delta: float
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record an epoch's validation value; True when training should stop."""
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return self.patience > 0 and self.bad_epochs >= self.patience

    def to_meta(self) -> dict[str, Any]:
        return {
            "best_val": self.best if math.isfinite(self.best) else None,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
        }

    def load_meta(self, meta: Mapping[str, Any]) -> None:
        self.best = math.inf if meta.get("best_val") is None else float(meta["best_val"])
        self.best_epoch = int(meta.get("best_epoch", -1))
        self.bad_epochs = int(meta.get("bad_epochs", 0))


@dataclasses.dataclass
class TrainResult:
    state: TrainState
    total_steps: int
    steps_per_epoch: int
    resumed_from: int | None
    stopped_early: bool
    best_val: float | None
    best_epoch: int
    history: list[dict[str, Any]]
    train_seconds: float = 0.0  # wall time of the training loop, summed over every resumed part of the run
    microbatch_size: int = (
        0  # what the steps used (train.microbatch_size, or what 0 picked); 0: whole batches
    )
    steps_per_dispatch: int = 1  # likewise for train.steps_per_dispatch


def family_step_of(model: nn.Module) -> Callable | None:
    """The family's own train step factory (FAMILY_TRAIN_STEPS), None for the plain step."""
    return FAMILY_TRAIN_STEPS.get(getattr(model, "family", ""))


def _checked_init_params(template: Any, params: Any) -> Any:
    expected = jax.tree_util.tree_map(lambda x: (tuple(x.shape), str(x.dtype)), template)
    given = jax.tree_util.tree_map(lambda x: (tuple(np.shape(x)), str(np.asarray(x).dtype)), params)
    if jax.tree_util.tree_structure(template) != jax.tree_util.tree_structure(params) or expected != given:
        raise ValueError(f"init_params do not match the model's parameters: expected {expected}, got {given}")
    return jax.tree_util.tree_map(jnp.asarray, params)


def _mean_metrics(records: list[dict[str, Any]]) -> dict[str, float]:
    keys = records[0].keys()
    return {k: float(np.mean([float(r[k]) for r in records])) for k in keys}


def run_training(
    *,
    model: nn.Module,
    objective: Objective,
    x_train: np.ndarray,
    x_val: np.ndarray | None,
    train: TrainSpec,
    checkpoint: CheckpointSpec,
    seed: int,
    workdir: Path | None,
    init_params: Any = None,
    y_train: np.ndarray | None = None,
) -> TrainResult:
    """Train (or resume) and return the final state; writes checkpoints and metrics when `workdir` is set.

    `init_params` (same tree as the model's) replaces the seeded initialisation of a fresh run, e.g.
    weights from greedy layer-wise pretraining; a resumed run takes its parameters from the checkpoint.
    `y_train` (integer labels) goes into every batch as 'y' when the objective needs labels.
    """
    if objective.needs_labels and y_train is None:
        raise ValueError(
            "a regularizer of this objective needs labels (e.g. capsule_margin): the training split has none"
        )
    n_train = x_train.shape[0]
    steps_per_epoch = train.steps_per_epoch(n_train)
    total_steps = train.epochs * steps_per_epoch
    tx, schedule = train.build_optimizer(total_steps)
    input_shape = tuple(x_train.shape[1:])
    state = create_train_state(model, tx, input_shape, seed)
    if init_params is not None:
        state = state.replace(
            params=_checked_init_params(state.params, init_params), opt_state=tx.init(init_params)
        )
    placement = Placement.create(train.backend, train.batch_size)
    # One of several jax.distributed processes: each runs this loop on the same global batches (the order
    # depends on the seed alone), the steps and checkpoint saves are collective, and process 0 alone writes
    # the metrics log. Evaluation runs on each process's local copy of the replicated state.
    multiprocess = jax.process_count() > 1
    check_processes_agree(  # the global batches come from each process's own copy of the data
        "the processes of this run hold different training data, labels, validation data or seeds: every "
        "process must load the same data (same source, path and split settings) and the same config",
        *(b"" if a is None else a for a in (x_train, y_train, x_val)),
        seed,
    )
    microbatch_size = train.microbatch_size or auto_microbatch_size(
        state,
        objective,
        train.batch_size,
        input_shape,
        eligible=family_step_of(model) is None and placement.backend == "single" and not multiprocess,
    )
    train_fn = indexed_fn = None  # one of them: batch-taking steps, or the single-device indexed step
    family_step = family_step_of(model)
    if family_step is not None:
        if placement.backend == "pmap":
            raise ValueError(
                f"train.backend='pmap' runs the plain train step; the {model.family!r} family's own step runs "
                "with train.backend 'single' or 'sharded'"
            )
        if train.microbatch_size:
            raise ValueError(
                f"train.microbatch_size applies to the plain train step; the {model.family!r} family's own step "
                "takes whole batches (set it to 0)"
            )
        train_fn = family_step(model, objective, schedule, log_norms=train.log_norms)
    elif placement.backend == "single":  # the batch is gathered inside the step: one dispatch per step
        indexed_fn = make_indexed_train_step(
            model,
            objective,
            schedule,
            log_norms=train.log_norms,
            microbatch_size=microbatch_size,
        )
    else:
        train_fn = make_train_step(
            model,
            objective,
            schedule,
            log_norms=train.log_norms,
            placement=placement,
            microbatch_size=microbatch_size,
        )
    eval_fn = make_eval_step(model, objective)
    stopper = _EarlyStopping(train.early_stopping_patience, train.early_stopping_min_delta)
    if train.early_stopping_patience > 0 and x_val is None:
        raise ValueError("train.early_stopping_patience > 0 needs a validation split (data.val_fraction > 0)")

    checkpointer = Checkpointer(workdir / "checkpoints", checkpoint.max_to_keep) if workdir else None
    log = MetricsLog(workdir / "metrics.jsonl") if workdir and is_primary() else None
    resumed_from, stopped_early = None, False
    seconds_before, loop_started = 0.0, time.perf_counter()
    if checkpointer is not None and checkpointer.latest_step() is not None:
        # several processes restore straight into the replicated layout the steps use
        state, meta = checkpointer.restore(placement.place_state(state) if multiprocess else state)
        resumed_from = int(state.step)
        stopper.load_meta(meta)
        seconds_before = float(meta.get("train_seconds", 0.0))
        stopped_early = bool(meta.get("stopped_early", False))
        if log is not None:
            log.truncate_after(resumed_from)

    history: list[dict[str, Any]] = []
    last_saved = resumed_from

    def emit(record: dict[str, Any]) -> None:
        history.append(record)
        if log is not None:
            log.append(record)

    def save(state: TrainState, *, done: bool) -> None:
        nonlocal last_saved
        if checkpointer is None:
            return
        meta = {
            "train_seconds": seconds_before + time.perf_counter() - loop_started,
            **stopper.to_meta(),
            "stopped_early": stopped_early,
            "finished": done,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps,
        }
        checkpointer.save(state, meta)
        last_saved = int(state.step)

    start = int(state.step)
    state = placement.place_state(state)
    fused_steps, fused_fn = train.steps_per_dispatch, None
    if fused_steps == 0:
        fused_steps = auto_steps_per_dispatch(
            train.log_every_steps, total_steps - start, family_step is None and placement.backend == "single"
        )
    if fused_steps > 1:
        if family_step is not None or placement.backend != "single":
            raise ValueError(
                "train.steps_per_dispatch > 1 fuses the plain train step on one device (train.backend 'single')"
            )
        fused_fn = make_fused_train_steps(
            model, objective, schedule, log_norms=train.log_norms, microbatch_size=microbatch_size
        )

    def event_after(count: int) -> bool:
        """Whether the loop logs, validates or saves after `count` steps."""
        epoch_end = count % steps_per_epoch == 0
        save = (checkpoint.every_steps > 0 and count % checkpoint.every_steps == 0) or (
            checkpoint.every_steps == 0 and epoch_end
        )
        return epoch_end or save or count % train.log_every_steps == 0 or count == total_steps

    # several processes: each global batch is gathered on the host and placed across all processes' devices
    x_device = x_train if multiprocess else jax.device_put(x_train)
    y_device = None
    if objective.needs_labels:
        y_device = np.asarray(y_train) if multiprocess else jax.device_put(np.asarray(y_train))
    take = jax.jit(lambda data, idx: data[idx])

    def gather(data, rows: np.ndarray):
        return data[rows] if multiprocess else take(data, jnp.asarray(rows))

    params_finite = jax.jit(
        lambda tree: jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))
    )
    pending: list[tuple[int, dict[str, jax.Array], int]] = []  # (first step, metrics, steps they cover)
    bar = tqdm(
        total=total_steps,
        initial=min(start, total_steps),
        disable=not train.progress or not is_primary(),
        desc="train",
        unit="step",
        dynamic_ncols=True,
        leave=False,
    )
    order, order_epoch = None, -1
    try:
        step = start
        while step < total_steps and not stopped_early:
            epoch, position = divmod(step, steps_per_epoch)
            if order_epoch != epoch:
                order, order_epoch = epoch_permutation(seed, epoch, n_train), epoch
                # the single-device step's row indices, sent to the device once per epoch instead of per step
                batch_rows = epoch_batches(order, train.batch_size, steps_per_epoch) if indexed_fn else None
            # K steps in one dispatch when nothing (logging, validation, a save) falls inside the chunk.
            fuse = (
                fused_fn is not None
                and position + fused_steps <= steps_per_epoch
                and not any(event_after(s) for s in range(step + 1, step + fused_steps))
            )
            span = fused_steps if fuse else 1
            idx = order[position * train.batch_size : (position + span) * train.batch_size]
            if span > 1:
                state, metrics = fused_fn(
                    state, x_device, y_device, jnp.asarray(idx.reshape(span, train.batch_size))
                )
            elif indexed_fn is not None:
                state, metrics = indexed_fn(state, x_device, y_device, batch_rows[position])
            else:
                batch = {"x": gather(x_device, idx)}
                if y_device is not None:
                    batch["y"] = gather(y_device, idx)
                state, metrics = train_fn(state, placement.place_batch(batch))
            pending.append((step, metrics, span))
            step += span
            epoch_end = step % steps_per_epoch == 0
            save_due = (checkpoint.every_steps > 0 and step % checkpoint.every_steps == 0) or (
                checkpoint.every_steps == 0 and epoch_end
            )
            if not event_after(step):
                continue
            fetched = []
            for s, m, n in pending:
                m = jax.device_get(placement.metrics(m))
                fetched.extend(
                    [(s, m)] if n == 1 else [(s + i, {k: v[i] for k, v in m.items()}) for i in range(n)]
                )
            pending.clear()
            where = (
                f"the last good checkpoint is step {last_saved} in {checkpointer.directory}"
                if checkpointer is not None and last_saved is not None
                else "no checkpoint was saved"
            )
            advice = "Lower train.learning_rate or set train.grad_clip_norm."
            for s, m in fetched:
                if not np.isfinite(m["loss"]):
                    raise NonFiniteLossError(
                        f"loss is {float(m['loss'])} at step {s} (epoch {s // steps_per_epoch}); training stopped "
                        f"and {where}. {advice}"
                    )
            # A finite loss can still give an inf gradient; extras hold e.g. a discriminator's parameters.
            if not bool(params_finite((state.params, state.extras))):
                raise NonFiniteLossError(
                    f"parameters became non-finite at or before step {step - 1} (epoch {(step - 1) // steps_per_epoch}); "
                    f"training stopped and {where}. {advice}"
                )
            means = _mean_metrics([m for _, m in fetched])
            emit({"split": "train", "step": step, "epoch": (step - 1) // steps_per_epoch, **means})
            bar.update(len(fetched))
            bar.set_postfix(loss=f"{means['loss']:.4g}", epoch=(step - 1) // steps_per_epoch, refresh=False)
            if epoch_end and x_val is not None:
                val = evaluate(
                    eval_fn, process_local(placement.host_state(state)), x_val, train.eval_batch_size
                )
                emit({"split": "val", "step": step, "epoch": epoch, **val})
                # Variational models stop on the validation -ELBO, others on the reconstruction loss.
                monitored = val.get("negative_elbo", val["reconstruction"])
                if multiprocess:  # every process tracks process 0's value, so all stop at the same step
                    monitored = float(multihost_utils.broadcast_one_to_all(np.asarray(monitored, np.float32)))
                stopped_early = stopper.update(monitored, epoch)
            if save_due or stopped_early or step == total_steps:
                save(placement.host_state(state), done=step == total_steps or stopped_early)
        state = placement.host_state(state)
        if checkpointer is not None and last_saved != int(state.step):
            save(state, done=True)
    finally:
        bar.close()
        if checkpointer is not None:
            checkpointer.close()
    return TrainResult(
        state=process_local(state),
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        resumed_from=resumed_from,
        stopped_early=stopped_early,
        best_val=None if not math.isfinite(stopper.best) else stopper.best,
        best_epoch=stopper.best_epoch,
        history=history,
        train_seconds=seconds_before + time.perf_counter() - loop_started,
        microbatch_size=microbatch_size,
        steps_per_dispatch=fused_steps,
    )
