"""The streamed stepper: each step's batch is read from a row source (this process's share only), not gathered
from device-resident data.

The order is the in-memory path's (`begin_epoch` gets the same permutation of (seed, epoch)), so global batch `p`
holds the same rows and a streamed run takes the same steps as an in-memory one. With several processes each
reads the rows of its devices' slice of every global batch and the global batch is assembled with
`jax.make_array_from_process_local_data`.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from aejax.data.row_sources import RowSource
from aejax.data.streaming import BatchStream
from aejax.training.parallel import Placement
from aejax.training.stepper import StepFactories, Stepper, StepPlan, check_plan


def process_share(placement: Placement, batch_size: int) -> tuple[int, int]:
    """[lo, hi): the rows of a global batch that live on this process's devices (all of them in one process)."""
    if jax.process_count() == 1 or placement.backend != "sharded":
        return 0, batch_size
    sharding = NamedSharding(placement.mesh, P("data"))
    slices = sharding.addressable_devices_indices_map((batch_size,)).values()
    starts = [s[0].start or 0 for s in slices]
    stops = [batch_size if s[0].stop is None else s[0].stop for s in slices]
    lo, hi = min(starts), max(stops)
    if hi - lo != sum(b - a for a, b in zip(starts, stops, strict=True)):
        raise ValueError("this process's devices hold rows of a batch that are not contiguous")
    return lo, hi


class StreamStepper(Stepper):
    """One step per dispatch on batches a `BatchStream` reads ahead (see the module docstring)."""

    def __init__(self, plan: StepPlan, placement: Placement, train_fn, stream: BatchStream):
        super().__init__(plan, placement)
        self._train_fn, self.stream = train_fn, stream
        self._global = jax.process_count() > 1

    def begin_epoch(self, order):
        super().begin_epoch(order)
        self.stream.close()  # the next advance starts reading this epoch where it begins

    def advance(self, state, position, steps):
        if steps != 1:
            raise ValueError("the streamed stepper takes one step per dispatch")
        if self.stream.position != position or not self.stream.running:
            self.stream.start(self.order, position)
        local = self.stream.next(position)
        return self._train_fn(state, {"x": self._place(local)})

    def _place(self, local) -> Any:
        if self._global:
            sharding = NamedSharding(self.placement.mesh, P("data"))
            shape = (self.plan.batch_size, *local.shape[1:])
            return jax.make_array_from_process_local_data(sharding, local, shape)
        return self.placement.place_batch({"x": jax.device_put(local)})["x"]

    def close(self) -> None:
        self.stream.close()


def make_stream_stepper(
    plan: StepPlan, placement: Placement, source: RowSource, factories: StepFactories, prefetch: int = 4
) -> StreamStepper:
    """The stepper of a streamed run: the plain step (or a family's own), fed from `source`."""
    check_stream_plan(plan, placement)
    step_args = (plan.model, plan.objective, plan.schedule)
    if plan.family_step is not None:
        train_fn = plan.family_step(*step_args, log_norms=plan.log_norms)
    else:
        options = {
            "log_norms": plan.log_norms,
            "microbatch_size": plan.microbatch_size,
            "family": plan.family,
        }
        train_fn = factories.plain(*step_args, placement=placement, **options)
    share = process_share(placement, plan.batch_size)
    return StreamStepper(plan, placement, train_fn, BatchStream(source, plan.batch_size, share, prefetch))


def check_stream_plan(plan: StepPlan, placement: Placement) -> None:
    """`check_plan`'s checks and what a streamed run cannot do (before any file is written)."""
    check_plan(plan, placement)
    if plan.steps_per_dispatch > 1 or plan.hyper is not None:
        raise ValueError(
            "a streamed run (data.pipeline='stream') feeds one batch per step: set train.steps_per_dispatch to 0 "
            "or 1 (fused steps and vmapped sweeps read device-resident data)"
        )
    if plan.objective.needs_labels:
        raise ValueError(
            "streamed splits carry no labels; this objective needs them (data.pipeline='memory')"
        )
