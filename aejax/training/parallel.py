"""Data-parallel backends behind one step signature: the same global batch gives the same update on each.

- `single`: one device, plain `jax.jit`.
- `sharded`: `jax.jit` over a ("data",) mesh of every visible device; the state is replicated and each batch is
  split along its first axis. XLA inserts the collectives, so the step is the single-device program.
- `pmap`: `jax.pmap` over the local devices with the batch reshaped to (devices, batch / devices, ...); each
  device computes loss and gradients of its shard and they are averaged with `pmean` over the axis "batch".
  Batch-level statistics inside a regularizer (e.g. kl_sparsity's mean activation) are then per shard, and a
  step's random draws (dropout, corruption) differ from the single-device ones.
- `auto`: `sharded` when several accelerator devices are visible, else `single`. Several CPU "devices" are
  nearly always one host's cores split up (or faked for tests), where data parallelism adds only overhead.

Several processes (`initialize_distributed`, one per host) run `sharded` over the devices of all of them: every
process runs the same program on the same global batches, and `process_local` gives each a host-local copy of
the replicated state for work that must not wait on the others (evaluation, pictures).
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import jax_utils
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from aejax.training.compiler import TrainStepJit

BACKENDS = ("auto", "single", "sharded", "pmap")
AXIS = "batch"  # the pmap axis name the train step averages over


def initialize_distributed(
    coordinator_address: str, num_processes: int, process_id: int, timeout_s: int = 120
):
    """Join a multi-process run (one process per host, or several on one machine for tests): after this every
    process sees all devices in `jax.devices()`, and the 'sharded' backend spans them. Each process must then
    feed the same global batches (aejax's loop does: the permutation depends on the seed alone). On CPU the
    cross-process collectives go through gloo."""
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in [0, {num_processes}), got {process_id}")
    # Only CPU collectives read this setting; it must be set before any backend starts, so it is set always.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=timeout_s,
    )


def is_primary() -> bool:
    """Whether this process writes the files that exist once per run (logs, results, pictures): process 0."""
    return jax.process_index() == 0


def single_process_only(what: str) -> None:
    """A named error for entry points that run in one process (their files and loops are not collective)."""
    if jax.process_count() > 1:
        raise ValueError(
            f"{what} runs in a single process, but this is one of {jax.process_count()} (jax.distributed); "
            "aejax.fit (and `aejax train` without config.sweep) trains across processes"
        )


def check_processes_agree(message: str, *values) -> None:
    """As one of several processes: raise `message` on every process unless all passed equal `values` (arrays,
    bytes, strings or ints, compared by checksum); nothing with one process."""
    if jax.process_count() == 1:
        return

    def digest(value) -> int:
        if isinstance(value, int):
            return value & 0xFFFFFFFF
        if isinstance(value, str):
            value = value.encode()
        return zlib.crc32(value if isinstance(value, bytes) else np.ascontiguousarray(value).tobytes())

    multihost_utils.assert_equal(np.asarray([digest(v) for v in values], np.uint32), message)


def process_local(tree: Any) -> Any:
    """`tree` with every array that spans several processes replaced by this process's copy (on a local
    device). Only for replicated arrays (the train state): a sharded array has no full local copy."""

    def local(a):
        if not isinstance(a, jax.Array) or a.is_fully_addressable:
            return a
        if not a.is_fully_replicated:
            raise ValueError(
                f"an array of shape {a.shape} is sharded across processes; only replicated ones have a local copy"
            )
        return a.addressable_data(0)

    return jax.tree.map(local, tree)


def resolve_backend(name: str, batch_size: int, devices: list | None = None) -> str:
    """The concrete backend for `name` (see the module docstring); checks the batch splits evenly."""
    if name not in BACKENDS:
        raise ValueError(f"unknown train.backend {name!r}; valid: {', '.join(BACKENDS)}")
    devices = jax.devices() if devices is None else devices
    if jax.process_count() > 1:
        if name in ("single", "pmap"):
            raise ValueError(
                f"train.backend={name!r} runs on this process's devices only, but this is one of "
                f"{jax.process_count()} processes (jax.distributed): use 'sharded' (or 'auto'), which spans the "
                "devices of every process"
            )
        if batch_size % len(devices):
            raise ValueError(
                f"this is one of {jax.process_count()} processes (jax.distributed), so train.backend={name!r} "
                f"splits each batch over the {len(devices)} devices of all of them: train.batch_size "
                f"({batch_size}) must be a multiple of {len(devices)}"
            )
        name = "sharded"
    if name == "auto":
        name = "sharded" if len(devices) > 1 and devices[0].platform != "cpu" else "single"
        if name == "sharded" and batch_size % len(devices):
            name = "single"
    if name in ("sharded", "pmap") and batch_size % len(devices):
        raise ValueError(
            f"train.backend={name!r} splits each batch over {len(devices)} devices: train.batch_size "
            f"({batch_size}) must be a multiple of {len(devices)}"
        )
    return name


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where the state and the batches live for one backend, and how to get a host-side state back."""

    backend: str
    devices: tuple

    @classmethod
    def create(cls, backend: str, batch_size: int) -> Placement:
        devices = tuple(jax.local_devices() if backend == "pmap" else jax.devices())
        return cls(resolve_backend(backend, batch_size, list(devices)), devices)

    @functools.cached_property
    def mesh(self):
        return jax.sharding.Mesh(np.array(self.devices), ("data",))

    @functools.cached_property
    def replicated(self) -> NamedSharding:
        """The sharded backend's layout of the state (and the step's metrics): a full copy on every device."""
        return NamedSharding(self.mesh, P())

    def place_state(self, state):
        if self.backend == "sharded":
            # A copy (jnp.array) so that donating the placed state never deletes the caller's buffers.
            return jax.tree.map(lambda a: jax.device_put(jnp.array(a), self.replicated), state)
        if self.backend == "pmap":
            return jax_utils.replicate(state, devices=list(self.devices))
        return state

    def place_batch(self, batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
        if self.backend == "sharded":
            sharded = NamedSharding(self.mesh, P("data"))
            return {k: jax.device_put(v, sharded) for k, v in batch.items()}
        if self.backend == "pmap":
            n = len(self.devices)
            return {k: jnp.reshape(v, (n, v.shape[0] // n, *v.shape[1:])) for k, v in batch.items()}
        return batch

    def host_state(self, state):
        """A state usable by single-device code (evaluation, checkpoints): pmap's first replica."""
        if self.backend == "pmap":
            return jax.tree.map(lambda a: a[0], state)
        return state

    def metrics(self, metrics: dict[str, Any]) -> dict[str, Any]:
        if self.backend == "pmap":  # already averaged over devices: every replica holds the same value
            return jax.tree.map(lambda a: a[0], metrics)
        return metrics

    def compile(self, bound_step: Callable, *, donate: bool = True) -> Callable:
        """The step for this backend from a (state, batch[, axis_name]) function."""
        donate_argnums = (0,) if donate else ()
        if self.backend == "pmap":
            return jax.pmap(
                functools.partial(bound_step, axis_name=AXIS),
                axis_name=AXIS,
                donate_argnums=donate_argnums,
                devices=list(self.devices),
            )
        # sharded: state and metrics come out in the layout place_state makes
        layout = {"out_shardings": self.replicated} if self.backend == "sharded" else {}
        return TrainStepJit(bound_step, donate_argnums=donate_argnums, **layout)
