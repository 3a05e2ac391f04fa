"""The fit loop: epochs of shuffled batches, validation, early stopping, NaN guard, logging, checkpoints, resume.

Resuming is exact: the batch order of epoch e is a permutation drawn from (seed, e), the position inside the
epoch is `step % steps_per_epoch`, and the step key is folded from the state's key, so a run killed at any
moment and restarted ends with the same bits as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax.experimental import multihost_utils
from tqdm.auto import tqdm

from aejax.data.batching import padded_batches
from aejax.data.row_sources import RowSource
from aejax.objectives.objective import Objective
from aejax.preemption import PreemptionWatch, RunPreempted
from aejax.training.checkpoint import Checkpointer, best_tree
from aejax.training.members import EarlyStopping, Members, check_early_stopping, monitored
from aejax.training.metrics_log import MetricsLog
from aejax.training.parallel import Placement, check_processes_agree, is_primary, process_local
from aejax.training.run_log import RunLog
from aejax.training.specs import (
    CheckpointSpec,
    TrainSpec,
    auto_microbatch_size,
    auto_steps_per_dispatch,
)
from aejax.training.state import TrainState, create_train_state
from aejax.training.stepper import StepFactories, Stepper, StepPlan, check_plan, make_stepper
from aejax.training.steps import (
    make_eval_step,
    make_fused_train_steps,
    make_indexed_train_step,
    make_train_step,
)
from aejax.training.stream_stepper import check_stream_plan, make_stream_stepper


class PipelineMismatchError(ValueError):
    """A resumed streamed run reads other data (or another seed or batch size) than the run it resumes."""


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or Inf loss; the message names the step and the last good checkpoint."""


logger = logging.getLogger("aejax")


def device_batches(x: np.ndarray, batch_size: int) -> list[tuple[jax.Array, jax.Array]]:
    """`x` as padded batches (rows, weight) placed on the device once, for a split evaluated every epoch."""
    batches = [(b.rows, b.weight) for b in padded_batches(x, min(batch_size, x.shape[0]))]
    return jax.device_put(batches)


def evaluate(eval_fn, state: TrainState, x, batch_size: int) -> dict[str, float]:
    """Means over every example of `x` (the last batch is padded and masked, never dropped); `x` is an array or
    its `device_batches`, or a RowSource read in chunks. The batches' sums are fetched in one transfer at the end."""
    if isinstance(x, list):
        batches = x
    else:
        chunks = (
            x.padded_batches(batch_size)
            if isinstance(x, RowSource)
            else padded_batches(x, min(batch_size, len(x)))
        )
        batches = ((b.rows, b.weight) for b in chunks)
    sums = jax.device_get([eval_fn(state, {"x": rows, "weight": weight}) for rows, weight in batches])
    totals = {key: sum(float(batch[key]) for batch in sums) for key in sums[0]}
    count = totals.pop("count")
    return {key: value / count for key, value in totals.items()}


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
    steps_trained: int = 0  # the steps the run went through (its newest state's step)
    weights: str = "last"  # which state `state` is: "best" (validation, checkpoint.keep_best) or "last"
    checkpoint_seconds: float = 0.0  # of this session's train_seconds, the time spent blocked in saves
    started: float = 0.0  # time.perf_counter() when this session's loop began


def _checked_init_params(template: Any, params: Any) -> Any:
    expected = jax.tree_util.tree_map(lambda x: (tuple(x.shape), str(x.dtype)), template)
    given = jax.tree_util.tree_map(lambda x: (tuple(np.shape(x)), str(np.asarray(x).dtype)), params)
    if jax.tree_util.tree_structure(template) != jax.tree_util.tree_structure(params) or expected != given:
        raise ValueError(f"init_params do not match the model's parameters: expected {expected}, got {given}")
    return jax.tree_util.tree_map(jnp.asarray, params)


def _mean_metrics(records: list[dict[str, Any]]) -> dict[str, float]:
    keys = records[0].keys()
    return {k: float(np.mean([float(r[k]) for r in records])) for k in keys}


@dataclasses.dataclass
class EpochLoop:
    """Epochs of shuffled batches, and at each logging point the hooks: NaN guard, train log and progress
    (`_log_train`), validation and early stopping at epoch ends (`_evaluate`), checkpoint (`_checkpoint`).

    One loop serves a single run and a vmapped sweep (`members`): a sweep's members each get their own log
    records, validation and early stopping; a member that stopped keeps its state while the others go on.
    `logs` holds each member's metrics log (None: none written); `monitor` names the validation metric early
    stopping watches."""

    train: TrainSpec
    checkpoint: CheckpointSpec
    n_train: int
    x_val: np.ndarray | None
    eval_fn: Callable
    placement: Placement
    members: Members
    checkpointer: Checkpointer | None = None
    logs: list[MetricsLog | None] | None = None
    desc: str = "train"
    monitor: str = "reconstruction"  # the validation metric early stopping watches (a family's `monitor`)
    # pictures of a member's state for the writers that take images, drawn at each validation
    pictures: Callable[[TrainState], dict[str, np.ndarray]] | None = None
    # a streamed run's pipeline (source fingerprint, seed, batch size): saved with each checkpoint, checked on resume
    pipeline: dict[str, Any] | None = None

    def __post_init__(self):
        check_early_stopping(self.train, self.x_val)
        self.steps_per_epoch = self.train.steps_per_epoch(self.n_train)
        self.total_steps = self.train.epochs * self.steps_per_epoch
        count = self.members.count
        self.logs = self.logs or [None] * count
        self.stoppers = [
            EarlyStopping(self.train.early_stopping_patience, self.train.early_stopping_min_delta)
            for _ in range(count)
        ]
        self.stopped = [False] * count
        self.histories: list[list[dict[str, Any]]] = [[] for _ in range(count)]
        self.step, self.resumed_from, self.last_saved = 0, None, None
        # the best-validation weights (a `best_tree`, stacked for a sweep) with checkpoint.keep_best, and which
        # members' part of it holds their own best epoch's weights
        self.best: Any = None
        self.kept = [False] * count
        self.seconds_before, self.started = 0.0, time.perf_counter()
        self.saved_at, self.checkpoint_seconds = (
            self.started,
            0.0,
        )  # checkpoint.every_seconds counts from here
        # the validation split stays on the device, in the batches each epoch's pass reads
        self.val_batches = (
            self.x_val
            if self.x_val is None or isinstance(self.x_val, RowSource)  # a streamed split is read in chunks
            else device_batches(self.x_val, self.train.eval_batch_size)
        )
        # SIGTERM/SIGINT stop a run that has somewhere to save (see aejax.training.preemption)
        self.watch = PreemptionWatch(enabled=self.checkpointer is not None)

    def seconds(self) -> float:
        """Training time summed over every resumed part of the run."""
        return self.seconds_before + time.perf_counter() - self.started

    def active(self) -> list[int]:
        return [i for i, stopped in enumerate(self.stopped) if not stopped]

    # ------------------------------------------------------------------------------------------- resume
    def resume(self, state: TrainState) -> TrainState:
        """The newest checkpoint's state, step, stopping state and seconds so far, when there is one."""
        if self.checkpointer is None:
            return state
        if self.checkpointer.latest_step() is None:  # a fresh start; records of a run killed before its first
            for log in self.logs:  # save would otherwise stay in the log beside the new ones
                if log is not None:
                    log.truncate_after(0)
            return state
        # several processes restore straight into the replicated layout the steps use
        template = self.placement.place_state(state) if jax.process_count() > 1 else state
        state, meta = self.checkpointer.restore(template)
        self._check_pipeline(meta.get("pipeline"))
        self.step = int(meta["step"]) if self.members.stacked else int(state.step)
        self.resumed_from = self.last_saved = self.step
        entries = meta.get("members", []) if self.members.stacked else [meta]
        for i, entry in enumerate(entries):
            self.stoppers[i].load_meta(entry)
            self.stopped[i] = bool(entry.get("stopped_early", False))
        self.seconds_before = float(meta.get("train_seconds", 0.0))
        kept = [bool(entry.get("kept_best", False)) for entry in entries]
        if self._keeps_best() and any(kept):
            self.best = self.checkpointer.restore_best(template)  # None from a run that kept no best weights
            self.kept = kept if self.best is not None else self.kept
        for log in self.logs:
            if log is not None:
                log.truncate_after(self.step)
        return state

    def _check_pipeline(self, saved: dict[str, Any] | None) -> None:
        """A streamed run resumes only on the data, seed and batch size it saved (its order is theirs)."""
        if saved is None or self.pipeline is None:
            return
        changed = [key for key, value in self.pipeline.items() if saved.get(key) != value]
        if changed:
            raise PipelineMismatchError(
                f"the checkpoint in {self.checkpointer.directory} was written by a streamed run with other "
                f"{', '.join(changed)} ({', '.join(f'{k}={saved.get(k)!r}' for k in changed)}; now "
                f"{', '.join(f'{k}={self.pipeline[k]!r}' for k in changed)}): resume on the same data and "
                "settings, or use a new workdir"
            )

    def _keeps_best(self) -> bool:
        return self.checkpoint.keep_best and self.x_val is not None

    def _meta(self, done: bool) -> dict[str, Any]:
        ends = {"finished": done, "steps_per_epoch": self.steps_per_epoch, "total_steps": self.total_steps}
        if self.pipeline is not None:  # where the stream stands: the next step's epoch and global batch
            epoch, position = divmod(self.step, self.steps_per_epoch)
            ends["pipeline"] = {**self.pipeline, "epoch": epoch, "position": position}
        entries = [
            {**stopper.to_meta(), "stopped_early": stopped, "kept_best": kept}
            for stopper, stopped, kept in zip(self.stoppers, self.stopped, self.kept, strict=True)
        ]
        if not self.members.stacked:
            return {"train_seconds": self.seconds(), **entries[0], **ends}
        return {"step": self.step, "train_seconds": self.seconds(), "members": entries, **ends}

    # --------------------------------------------------------------------------------------------- loop
    def run(self, state: TrainState, stepper: Stepper) -> list[TrainResult]:
        """Train from `self.step` to the end (or until every member stopped); one result per member.
        Raises RunPreempted after saving a checkpoint when a SIGTERM/SIGINT asked it to stop."""
        state = self.placement.place_state(state)
        stepper.set_active(np.logical_not(self.stopped))
        bar = tqdm(
            total=self.total_steps,
            initial=min(self.step, self.total_steps),
            disable=not self.train.progress or not is_primary(),
            desc=self.desc,
            unit="step",
            dynamic_ncols=True,
            leave=False,
        )
        try:
            with self.watch.installed():
                state = self.placement.host_state(self._epochs(state, stepper, bar))
                finished = self.step >= self.total_steps or not self.active()
                if self.checkpointer is not None and self.last_saved != self.step:
                    self._checkpoint(state, done=finished)
                # every process gets here: they agree, also on a signal during the last step or save
                if self.checkpointer is not None and self.watch.requested(collective=True):
                    self.checkpointer.wait()  # the saves on disk before the process may end
                    raise RunPreempted(
                        self.watch.received, self.step, self.total_steps, self.checkpointer.directory
                    )
        finally:
            bar.close()
        return self._results(state, stepper)

    def _epochs(self, state: TrainState, stepper: Stepper, bar: tqdm) -> TrainState:
        """Dispatches of steps until the end, until every member stopped, or until a preemption signal (then
        the steps since the last logging point are logged and the loop returns early)."""
        pending: list[tuple[int, dict[str, jax.Array], int]] = []  # (first step, metrics, steps they cover)
        order_epoch = -1
        while self.step < self.total_steps and self.active():
            epoch, position = divmod(self.step, self.steps_per_epoch)
            if order_epoch != epoch:
                stepper.begin_epoch(self.members.order(epoch, self.n_train))
                order_epoch = epoch
            span = self._span(position, stepper.steps_per_dispatch)
            state, metrics = stepper.advance(state, position, span)
            pending.append((self.step, metrics, span))
            self.step += span
            event = self._event_after(self.step)
            if event:
                self._after_steps(state, self._fetch(pending, stepper), bar, epoch, stepper)
            if self._preempted(event):
                if pending:
                    fetched = self._fetch(pending, stepper)
                    self._nan_guard(state, fetched)
                    self._log_train(fetched, bar)
                break
        return state

    @staticmethod
    def _fetch(pending: list, stepper: Stepper) -> list[tuple[int, dict[str, Any]]]:
        """The pending dispatches' metrics, one (step, record) per step; empties `pending`."""
        fetched = [
            (first + i, record)
            for first, metrics, steps in pending
            for i, record in enumerate(stepper.step_metrics(metrics, steps))
        ]
        pending.clear()
        return fetched

    def _preempted(self, event: bool) -> bool:
        """Whether a SIGTERM/SIGINT stops the loop now: after any step in one process; in several, at a
        logging point (`event`), where every process takes part in agreeing on it."""
        if jax.process_count() > 1:
            return event and self.watch.requested(collective=True)
        return self.watch.requested(collective=False)

    def _after_steps(self, state, fetched, bar: tqdm, epoch: int, stepper: Stepper) -> None:
        """The hooks at a logging point, in order: NaN guard, train log, validation, checkpoint."""
        self._nan_guard(state, fetched)
        self._log_train(fetched, bar)
        stopped_now = False
        if self.step % self.steps_per_epoch == 0 and self.x_val is not None:
            stopped_now = self._evaluate(state, epoch)
            if stopped_now:
                stepper.set_active(np.logical_not(self.stopped))
        if self._save_due(self.step) or stopped_now or self.step == self.total_steps or self._time_due():
            done = self.step == self.total_steps or not self.active()
            self._checkpoint(self.placement.host_state(state), done=done)

    def _save_due(self, count: int) -> bool:
        """Whether checkpoint.every_steps or every_epochs saves after `count` steps."""
        return self.checkpointer is not None and self.checkpoint.due_at(count, self.steps_per_epoch)

    def _time_due(self) -> bool:
        """Whether checkpoint.every_seconds have passed since the last save (process 0's clock decides for all
        processes of a run, so that they save together)."""
        if self.checkpointer is None or self.checkpoint.every_seconds <= 0:
            return False
        due = time.perf_counter() - self.saved_at >= self.checkpoint.every_seconds
        if jax.process_count() > 1:
            due = bool(multihost_utils.broadcast_one_to_all(np.asarray(due)))
        return due

    def _event_after(self, count: int) -> bool:
        """Whether the loop logs, validates or saves after `count` steps."""
        return (
            count % self.steps_per_epoch == 0
            or self._save_due(count)
            or count % self.train.log_every_steps == 0
            or count == self.total_steps
        )

    def _span(self, position: int, longest: int) -> int:
        """`longest` steps in one dispatch when they stay inside the epoch and nothing (logging, validation,
        a save) falls inside them; else one."""
        inside = range(self.step + 1, self.step + longest)
        fits = longest > 1 and position + longest <= self.steps_per_epoch
        return longest if fits and not any(self._event_after(s) for s in inside) else 1

    # -------------------------------------------------------------------------------------------- hooks
    def _nan_guard(self, state: TrainState, fetched: list[tuple[int, dict[str, Any]]]) -> None:
        checkpointer = self.checkpointer
        where = (
            f"the last good checkpoint is step {self.last_saved} in {checkpointer.directory}"
            if checkpointer is not None and self.last_saved is not None
            else "no checkpoint was saved"
        )
        advice = "Lower train.learning_rate or set train.grad_clip_norm."
        for step, metrics in fetched:
            losses = np.atleast_1d(np.asarray(metrics["loss"]))
            bad = [i for i in self.active() if not np.isfinite(losses[i])]
            if bad:
                raise NonFiniteLossError(
                    f"loss is {float(losses[bad[0]])} at step {step} (epoch {step // self.steps_per_epoch})"
                    f"{self.members.naming(bad)}; training stopped and {where}. {advice}"
                )
        # A finite loss can still give an inf gradient; extras hold e.g. a discriminator's parameters.
        finite = self._finite(state, fetched[-1][1] if fetched else None)
        bad = [i for i in self.active() if not finite[i]]
        if bad:
            last = self.step - 1
            raise NonFiniteLossError(
                f"parameters became non-finite at or before step {last} (epoch {last // self.steps_per_epoch})"
                f"{self.members.naming(bad)}; training stopped and {where}. {advice}"
            )

    def _finite(self, state: TrainState, metrics: dict[str, Any] | None) -> np.ndarray:
        """Whether each member's parameters (and extra state) are finite: read off the newest step's
        param_norm and grad_norm metrics where the step logs them (train.log_norms) and there is no extra state,
        else checked on the device."""
        if metrics is None or state.extras is not None or "param_norm" not in metrics:
            return self.members.finite((state.params, state.extras))
        norms = np.stack([np.atleast_1d(np.asarray(metrics[key])) for key in ("param_norm", "grad_norm")])
        return np.all(np.isfinite(norms), axis=0)

    def _log_train(self, fetched: list[tuple[int, dict[str, Any]]], bar: tqdm) -> None:
        epoch = (self.step - 1) // self.steps_per_epoch
        losses = []
        for member in self.active():
            means = _mean_metrics([self.members.select(metrics, member) for _, metrics in fetched])
            self._emit(member, {"split": "train", "step": self.step, "epoch": epoch, **means})
            losses.append(means["loss"])
        bar.update(len(fetched))
        bar.set_postfix(loss=f"{np.mean(losses):.4g}", epoch=epoch, refresh=False)

    def _evaluate(self, state: TrainState, epoch: int) -> bool:
        """Validation of every active member, and its early-stopping update; True when one stopped."""
        host = process_local(self.placement.host_state(state))
        stopped_now = False
        for member in self.active():
            val = evaluate(
                self.eval_fn, self.members.select(host, member), self.val_batches, self.train.eval_batch_size
            )
            self._emit(member, {"split": "val", "step": self.step, "epoch": epoch, **val})
            self._draw(member, self.members.select(host, member))
            if self.stoppers[member].update(monitored(val, self.monitor), epoch):
                self.stopped[member] = stopped_now = True
        improved = [m for m, stopper in enumerate(self.stoppers) if stopper.best_epoch == epoch]
        if improved and self._keeps_best():
            self.best = self.members.merge(self.best, best_tree(self.placement.host_state(state)), improved)
            for member in improved:
                self.kept[member] = True
        return stopped_now

    def _draw(self, member: int, state: TrainState) -> None:
        """The evaluation pictures into the member's writers that take images. Pictures a model cannot draw
        (an error) are switched off with a warning rather than ending the run."""
        log = self.logs[member]
        if self.pictures is None or log is None or not getattr(log, "takes_images", False):
            return
        try:
            images = self.pictures(state)
        except Exception as err:  # pictures are a view of the run, never a reason to lose it
            logger.warning("evaluation pictures switched off: %s: %s", type(err).__name__, err)
            self.pictures = None
            return
        log.append_images(self.step, images)

    def _checkpoint(self, state: TrainState, *, done: bool) -> None:
        """An asynchronous save: the copy of the state to the host blocks (counted in checkpoint_seconds),
        the write runs on while training goes on."""
        if self.checkpointer is not None:
            started = time.perf_counter()
            self.checkpointer.save(state, self._meta(done), step=self.step, best=self.best)
            self.last_saved, self.saved_at = self.step, time.perf_counter()
            self.checkpoint_seconds += self.saved_at - started

    def _emit(self, member: int, record: dict[str, Any]) -> None:
        self.histories[member].append(record)
        if self.logs[member] is not None:
            self.logs[member].append(record)

    def _result(self, state: TrainState, member: int) -> tuple[TrainState, int]:
        """A member's result state (its newest, with the best-validation weights when they were kept: params,
        model state and step, while opt_state and rng stay the newest's, so it is for use, not for resuming)
        and the steps it trained (a sweep's stopped members stopped before the others)."""
        last = process_local(self.members.select(state, member))
        steps = int(jax.device_get(last.step))
        if not self.kept[member]:
            return last, steps
        return last.replace(**process_local(self.members.select(self.best, member))), steps

    def _results(self, state: TrainState, stepper: Stepper) -> list[TrainResult]:
        seconds = self.seconds()
        results = [self._result(state, member) for member in range(self.members.count)]
        return [
            TrainResult(
                state=results[member][0],
                total_steps=self.total_steps,
                steps_per_epoch=self.steps_per_epoch,
                resumed_from=self.resumed_from,
                stopped_early=self.stopped[member],
                best_val=None if not math.isfinite(stopper.best) else stopper.best,
                best_epoch=stopper.best_epoch,
                history=self.histories[member],
                train_seconds=seconds,
                microbatch_size=stepper.microbatch_size,
                steps_per_dispatch=stepper.steps_per_dispatch,
                steps_trained=results[member][1],
                weights="best" if self.kept[member] else "last",
                checkpoint_seconds=self.checkpoint_seconds,
                started=self.started,
            )
            for member, stopper in enumerate(self.stoppers)
        ]


def _check_data(objective: Objective, x_train, y_train, x_val, seed: int) -> None:
    if objective.needs_labels and y_train is None:
        raise ValueError(
            "a regularizer of this objective needs labels (e.g. capsule_margin): the training split has none"
        )
    # a streamed split is compared by its fingerprint (files, sizes, rows), never read whole
    values = [a.fingerprint() if isinstance(a, RowSource) else a for a in (x_train, y_train, x_val)]
    check_processes_agree(  # the global batches come from each process's own copy of the data
        "the processes of this run hold different training data, labels, validation data or seeds: every "
        "process must load the same data (same source, path and split settings) and the same config",
        *(b"" if a is None else a for a in values),
        seed,
    )


def _initial_state(
    model, tx, input_shape: tuple[int, ...], seed: int, init_params: Any, family
) -> TrainState:
    state = create_train_state(model, tx, input_shape, seed, None if family is None else family.init_extras)
    if init_params is not None:
        state = state.replace(
            params=_checked_init_params(state.params, init_params), opt_state=tx.init(init_params)
        )
    return state


def _step_plan(
    model, objective, schedule, train: TrainSpec, placement: Placement, state, input_shape, family
) -> StepPlan:
    """The run's StepPlan with train.microbatch_size=0 resolved; steps_per_dispatch=0 waits for `_dispatch`."""
    family_step = None if family is None else family.train_step
    eligible = family_step is None and placement.backend == "single" and jax.process_count() == 1
    microbatch_size = train.microbatch_size or auto_microbatch_size(
        state, objective, train.batch_size, input_shape, eligible=eligible
    )
    return StepPlan(
        model,
        objective,
        schedule,
        train.batch_size,
        log_norms=train.log_norms,
        microbatch_size=microbatch_size,
        steps_per_dispatch=max(1, train.steps_per_dispatch),
        family=family,
    )


def _dispatch(plan: StepPlan, train: TrainSpec, placement: Placement, remaining_steps: int) -> StepPlan:
    """`plan` with train.steps_per_dispatch=0 resolved for the steps left (see auto_steps_per_dispatch)."""
    if train.steps_per_dispatch:
        return plan
    fusable = plan.family_step is None and placement.backend == "single"
    steps = auto_steps_per_dispatch(train.log_every_steps, remaining_steps, fusable)
    return dataclasses.replace(plan, steps_per_dispatch=steps)


def _pipeline(source: RowSource, seed: int, batch_size: int) -> dict[str, Any]:
    """What a streamed run's order depends on, saved with its checkpoints (`EpochLoop._check_pipeline`)."""
    return {"kind": "stream", "source": source.fingerprint(), "seed": seed, "batch_size": batch_size}


def _step_factories() -> StepFactories:
    """This module's names of the step builders, read when a run starts (so that tests can wrap them)."""
    return StepFactories(make_train_step, make_indexed_train_step, make_fused_train_steps)


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
    family: Any = None,
    pictures: Callable[[TrainState], dict[str, np.ndarray]] | None = None,
    prefetch: int = 4,
) -> TrainResult:
    """Train (or resume) and return the final state; writes checkpoints and metrics when `workdir` is set.

    `init_params` (same tree as the model's) replaces the seeded initialisation of a fresh run, e.g.
    weights from greedy layer-wise pretraining; a resumed run takes its parameters from the checkpoint.
    `y_train` (integer labels) goes into every batch as 'y' when the objective needs labels. `family` (the
    model's aejax.families.Family) hands in its own step, extra state, loss and evaluation pieces.
    `pictures` (aejax.training.eval_pictures) draws images of the state at each validation for the metric
    writers that take them (TensorBoard, MLflow). `x_train` (and `x_val`) may be a RowSource (aejax.data.row_sources):
    the run then streams its batches (`prefetch` of them read ahead), in the in-memory path's order.

    One of several jax.distributed processes runs this on the same global batches (the order depends on the
    seed alone): the steps and checkpoint saves are collective, process 0 alone writes the metrics log, and
    evaluation runs on each process's local copy of the replicated state.
    """
    _check_data(objective, x_train, y_train, x_val, seed)
    tx, schedule = train.build_optimizer(train.epochs * train.steps_per_epoch(x_train.shape[0]))
    input_shape = tuple(x_train.shape[1:])
    state = _initial_state(model, tx, input_shape, seed, init_params, family)
    placement = Placement.create(train.backend, train.batch_size)
    plan = _step_plan(model, objective, schedule, train, placement, state, input_shape, family)
    streamed = isinstance(x_train, RowSource)
    # these checks before any file is written
    check_stream_plan(plan, placement) if streamed else check_plan(plan, placement)
    check_early_stopping(train, x_val)
    loop = EpochLoop(
        train=train,
        checkpoint=checkpoint,
        n_train=x_train.shape[0],
        x_val=x_val,
        eval_fn=make_eval_step(model, objective, family),
        monitor="reconstruction" if family is None else family.monitor,
        placement=placement,
        members=Members((seed,)),
        checkpointer=Checkpointer(workdir / "checkpoints", checkpoint.max_to_keep) if workdir else None,
        logs=[RunLog(workdir, train.writers) if workdir and is_primary() else None],
        pictures=pictures,
        pipeline=_pipeline(x_train, seed, train.batch_size) if streamed else None,
    )
    stepper = None
    try:
        state = loop.resume(state)
        if streamed:
            stepper = make_stream_stepper(plan, placement, x_train, _step_factories(), prefetch)
        else:
            plan = _dispatch(plan, train, placement, loop.total_steps - loop.step)
            stepper = make_stepper(plan, placement, x_train, y_train, _step_factories())
        result = loop.run(state, stepper)[0]
    finally:
        if streamed and stepper is not None:
            stepper.close()
        closing = time.perf_counter()
        if loop.checkpointer is not None:
            loop.checkpointer.close()  # waits for the last save's write
        for log in loop.logs:
            if log is not None:
                log.close()
    waited = time.perf_counter() - closing
    return dataclasses.replace(
        result,
        train_seconds=result.train_seconds + waited,
        checkpoint_seconds=result.checkpoint_seconds + waited,
    )
