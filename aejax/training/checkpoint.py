"""Orbax checkpoints: the one module that saves and restores TrainState (plus a small JSON of loop state).

Steps are written to a temporary directory and renamed when complete, so a run killed mid-save leaves
only an ignored (and later cleaned) `*.orbax-checkpoint-tmp*` directory; `latest_step` is the last
complete one.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from aejax.training.state import TrainState

_STATE_FIELDS = ("step", "params", "opt_state", "rng", "model_state")


def _state_tree(state: TrainState) -> dict[str, Any]:
    """The saved fields; `extras` (a family's extra state, e.g. an AAE's discriminator) only where it exists,
    so checkpoints of the other families keep their layout."""
    tree = {field: getattr(state, field) for field in _STATE_FIELDS}
    if state.extras is not None:
        tree["extras"] = state.extras
    return tree


@contextlib.contextmanager
def _closed_loop_callbacks_dropped():
    """Drops Python's "Event loop is closed" reports from tensorstore's threads while a restore runs.

    When one read of a restore fails, Orbax closes its asyncio loop while tensorstore still runs the others;
    as they finish, their callbacks find the loop closed and Python prints each "RuntimeError: Event loop is
    closed" as an exception ignored in a tensorstore thread, around the clear error that matters. Those (and
    only those) are dropped here; on a failure the caller waits inside this block for the reads to finish."""
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        error = unraisable.exc_value
        if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
            return
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


class CheckpointError(ValueError):
    """A checkpoint exists but cannot be read (corrupt, half-written by hand, or from another model)."""


class Checkpointer:
    """Save every call it is given, keep the newest `max_to_keep`, restore the newest complete step."""

    def __init__(self, directory: str | Path, max_to_keep: int = 3):
        if max_to_keep < 1:
            raise ValueError(f"checkpoint.max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = Path(directory).resolve()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, state: TrainState, meta: dict[str, Any], step: int | None = None) -> None:
        """Asynchronous save of `state` at `step` (default `state.step`; a sweep's stacked state names it);
        call `wait()` before reading it back."""
        step = int(jax.device_get(state.step)) if step is None else step
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(_state_tree(state)), meta=ocp.args.JsonSave(meta)
        )
        self._manager.save(step, args=args, force=True)

    def restore(self, template: TrainState, step: int | None = None) -> tuple[TrainState, dict[str, Any]]:
        """Restore into the structure (and shapes, dtypes) of `template`; raises CheckpointError if unreadable."""
        self.wait()
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {str(self.directory)!r}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _state_tree(template))
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        with _closed_loop_callbacks_dropped():
            try:
                restored = self._manager.restore(step, args=args)
            except Exception as err:  # orbax/tensorstore raise many types for damaged files
                time.sleep(0.5)  # the failed restore's other reads finish within milliseconds
                raise CheckpointError(
                    f"checkpoint step {step} in {str(self.directory)!r} is corrupt, incomplete or from a "
                    f"different model ({type(err).__name__}: {str(err)[:300]}); delete that step directory to "
                    f"fall back to an earlier one (complete steps: {self.all_steps()})"
                ) from err
        return template.replace(**restored["state"]), dict(restored["meta"] or {})

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
