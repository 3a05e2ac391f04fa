"""The stepper: what advances a train state by one span of steps over rows of the training data.

`make_stepper` builds one per run from a `StepPlan`; the fit loop then only calls `begin_epoch(order)` and
`advance(state, position, steps)` and reads `steps_per_dispatch`, the longest span it may ask for. How the
steps run is the stepper's business:

- one device, plain step: the rows are gathered inside the jitted step (one dispatch per step), and spans of
  `steps_per_dispatch` > 1 steps run fused in one `lax.scan` over device-resident data;
- a batch-taking step (sharded or pmapped plain step, a family's own step): the batch is gathered first, on
  the host when several processes each feed the same global batch, and placed for the backend;
- a vmapped sweep: the plain step vmapped over the members' stacked states, each member with its own rows
  and hyper-parameters; a member that stopped keeps its state (`set_active`).
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from aejax.objectives.objective import Objective
from aejax.training.compiler import TrainStepJit
from aejax.training.parallel import Placement
from aejax.training.state import TrainState
from aejax.training.steps import make_fused_train_steps, make_indexed_train_step, make_train_step, train_step

Metrics = dict[str, Any]


class StepFactories(NamedTuple):
    """The builders of the plain steps (aejax.training.steps'), passed in so that a caller can wrap them."""

    plain: Callable = make_train_step
    indexed: Callable = make_indexed_train_step
    fused: Callable = make_fused_train_steps


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """What a stepper is built from (the settings already resolved: no 0 = auto here)."""

    model: nn.Module
    objective: Objective
    schedule: optax.Schedule
    batch_size: int
    log_norms: bool = True
    microbatch_size: int = 0  # > 0: gradients over slices of this many rows; 0: whole batches
    steps_per_dispatch: int = 1  # > 1: spans of up to this many steps fused in one lax.scan
    family: Any = None  # the model's Family record (aejax.families): its own step, loss and evaluation pieces
    hyper: dict | None = None  # a vmapped sweep's per-member hyper-parameters, stacked (train_step's `hyper`)

    @property
    def family_step(self) -> Callable | None:
        """The family's own train step factory; None for the generic step."""
        return None if self.family is None else self.family.train_step


def epoch_batches(order: np.ndarray, batch_size: int, steps: int) -> list[jax.Array]:
    """The row indices of an epoch's `steps` batches, as device arrays sent in one transfer."""
    return jax.device_put([order[i * batch_size : (i + 1) * batch_size] for i in range(steps)])


def fetch(tree: Any) -> Any:
    """`jax.device_get(tree)`; on one CPU process by `np.asarray` of each leaf, which reads the buffer in place
    (measured 4 us a scalar against device_get's 15: a long run's per-step metrics are thousands of them)."""
    if jax.process_count() == 1 and jax.default_backend() == "cpu":
        return jax.tree.map(np.asarray, tree)
    return jax.device_get(tree)


_take_rows = jax.jit(lambda data, idx: data[idx])


class Stepper(abc.ABC):
    """Advances a state by spans of steps over the current epoch's order (see the module docstring)."""

    def __init__(self, plan: StepPlan, placement: Placement):
        self.plan, self.placement = plan, placement
        self.order: np.ndarray | None = None

    @property
    def steps_per_dispatch(self) -> int:
        """The longest span `advance` takes; longer than 1 only where steps fuse."""
        return self.plan.steps_per_dispatch

    @property
    def microbatch_size(self) -> int:
        return self.plan.microbatch_size

    def begin_epoch(self, order: np.ndarray) -> None:
        """The epoch's permutation of the training rows: (n,), or (members, n) for a sweep."""
        self.order = order

    @abc.abstractmethod
    def advance(self, state: TrainState, position: int, steps: int) -> tuple[TrainState, Metrics]:
        """`steps` steps on the epoch's batches `position`, `position + 1`, ...; metrics as `step_metrics` reads."""

    def set_active(self, active: np.ndarray) -> None:
        """Which members still train (a sweep's early stopping); a single run ends when it stops instead."""
        return  # only the sweep's stepper masks members

    def step_metrics(self, metrics: Metrics, steps: int) -> list[dict[str, np.ndarray]]:
        """The host values of each step of a span `advance` returned."""
        host = fetch(self.placement.metrics(metrics))
        if steps == 1:
            return [host]
        return [{key: value[i] for key, value in host.items()} for i in range(steps)]

    def _rows(self, position: int, steps: int) -> np.ndarray:
        size = self.plan.batch_size
        return self.order[..., position * size : (position + steps) * size]


class _BatchStepper(Stepper):
    """A step that takes the batch: gathered on the device, or on the host when each of several processes
    holds the whole data and feeds the same global batch, then placed for the backend."""

    def __init__(self, plan, placement, train_fn, x: np.ndarray, y: np.ndarray | None):
        super().__init__(plan, placement)
        self._train_fn = train_fn
        self._on_host = jax.process_count() > 1
        self._x = x if self._on_host else jax.device_put(x)
        self._y = y if y is None or self._on_host else jax.device_put(y)

    def _gather(self, data, rows: np.ndarray):
        return data[rows] if self._on_host else _take_rows(data, jnp.asarray(rows))

    def advance(self, state, position, steps):
        rows = self._rows(position, steps)
        batch = {"x": self._gather(self._x, rows)}
        if self._y is not None:
            batch["y"] = self._gather(self._y, rows)
        return self._train_fn(state, self.placement.place_batch(batch))


class _IndexedStepper(Stepper):
    """The plain step on one device, its rows gathered inside it; spans longer than 1 run `fused_fn`."""

    def __init__(self, plan, placement, indexed_fn, fused_fn, x: np.ndarray, y: np.ndarray | None):
        super().__init__(plan, placement)
        self._indexed_fn, self._fused_fn = indexed_fn, fused_fn
        self._x = jax.device_put(x)
        self._y = None if y is None else jax.device_put(y)
        self._epoch_rows: list[jax.Array] = []

    def begin_epoch(self, order):
        super().begin_epoch(order)
        # the row indices go to the device once per epoch instead of once per step
        size = self.plan.batch_size
        self._epoch_rows = epoch_batches(order, size, order.shape[0] // size)

    def advance(self, state, position, steps):
        if steps > 1:
            idx = self._rows(position, steps).reshape(steps, self.plan.batch_size)
            return self._fused_fn(state, self._x, self._y, jnp.asarray(idx))
        return self._indexed_fn(state, self._x, self._y, self._epoch_rows[position])


class _SweepStepper(Stepper):
    """The plain step vmapped over a sweep's stacked member states, each on its own rows and hyper."""

    def __init__(self, plan, placement, x: np.ndarray):
        super().__init__(plan, placement)
        self._step_fn = _member_steps(plan)
        self._x = jax.device_put(x)
        self._active = jnp.ones(plan.hyper["lr_scale"].shape[0], bool)

    def set_active(self, active):
        self._active = jnp.asarray(active, bool)

    def advance(self, state, position, steps):
        idx = jnp.asarray(self._rows(position, steps))
        return self._step_fn(state, self._x, idx, self.plan.hyper, self._active)


def _member_steps(plan: StepPlan) -> Callable:
    """(states, x, idx_MxB, hyper, active_M) -> (states, metrics of each member): one plain step per member;
    a member whose `active` is False keeps its state (its update is computed and dropped)."""
    bound = functools.partial(
        train_step,
        model=plan.model,
        objective=plan.objective,
        schedule=plan.schedule,
        log_norms=plan.log_norms,
        microbatch_size=plan.microbatch_size,
        family=plan.family,
    )

    def member_step(state, x, idx, hyper, active):
        new_state, metrics = bound(state, {"x": x[idx]}, hyper=hyper)
        # the member's own learning rate (the schedule is linear in train.learning_rate)
        metrics["learning_rate"] = metrics["learning_rate"] * hyper["lr_scale"]
        return jax.tree.map(lambda new, old: jnp.where(active, new, old), new_state, state), metrics

    return TrainStepJit(jax.vmap(member_step, in_axes=(0, None, 0, 0, 0)), donate_argnums=(0,))


def check_plan(plan: StepPlan, placement: Placement) -> None:
    family = plan.family.name if plan.family is not None else ""
    if plan.family_step is not None and placement.backend == "pmap":
        raise ValueError(
            f"train.backend='pmap' runs the plain train step; the {family!r} family's own step runs "
            "with train.backend 'single' or 'sharded'"
        )
    if plan.family_step is not None and plan.microbatch_size:
        raise ValueError(
            f"train.microbatch_size applies to the plain train step; the {family!r} family's own step "
            "takes whole batches (set it to 0)"
        )
    if plan.steps_per_dispatch > 1 and (plan.family_step is not None or placement.backend != "single"):
        raise ValueError(
            "train.steps_per_dispatch > 1 fuses the plain train step on one device (train.backend 'single')"
        )
    if plan.hyper is not None and (plan.family_step is not None or placement.backend != "single"):
        raise ValueError("a vmapped sweep runs the plain train step on one device")


def make_stepper(
    plan: StepPlan,
    placement: Placement,
    x_train: np.ndarray,
    y_train: np.ndarray | None = None,
    factories: StepFactories | None = None,
) -> Stepper:
    """The one stepper for `plan` on `placement`; `y_train` goes into every batch as 'y' when the objective
    needs labels."""
    check_plan(plan, placement)
    factories = StepFactories() if factories is None else factories
    y = np.asarray(y_train) if plan.objective.needs_labels else None
    step_args = (plan.model, plan.objective, plan.schedule)
    if plan.hyper is not None:
        return _SweepStepper(plan, placement, x_train)
    if plan.family_step is not None:
        train_fn = plan.family_step(*step_args, log_norms=plan.log_norms)
        return _BatchStepper(plan, placement, train_fn, x_train, y)
    options = {"log_norms": plan.log_norms, "microbatch_size": plan.microbatch_size, "family": plan.family}
    if placement.backend != "single":
        train_fn = factories.plain(*step_args, placement=placement, **options)
        return _BatchStepper(plan, placement, train_fn, x_train, y)
    indexed_fn = factories.indexed(*step_args, **options)
    fused_fn = factories.fused(*step_args, **options) if plan.steps_per_dispatch > 1 else None
    return _IndexedStepper(plan, placement, indexed_fn, fused_fn, x_train, y)
