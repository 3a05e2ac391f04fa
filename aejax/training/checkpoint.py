"""Orbax checkpoints: the one module that saves and restores TrainState (plus a small JSON of loop state).

Steps are written to a temporary directory and renamed when complete, so a run killed mid-save leaves
only an ignored (and later cleaned) `*.orbax-checkpoint-tmp*` directory; `latest_step` is the last
complete one. A save that fails (disk full, read-only) is a CheckpointWriteError, raised by the next call that
waits for it (`save`, `wait`, `restore`, `close`): it names the step and the newest complete one, and the
failed step's temporary directory is removed.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from aejax.training.run_files import WorkdirWriteError, fault_advice, fault_errno, refused_write
from aejax.training.state import TrainState

_STATE_FIELDS = ("step", "params", "opt_state", "rng", "model_state")


def best_tree(state: TrainState) -> dict[str, Any]:
    """The part of a state that makes a run's result (weights, batch statistics, a family's extra state and
    the step), kept and saved beside the newest state as its best-validation weights (checkpoint.keep_best)."""
    tree = {field: getattr(state, field) for field in ("step", "params", "model_state")}
    if state.extras is not None:
        tree["extras"] = state.extras
    return tree


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


class CheckpointWriteError(WorkdirWriteError):
    """A checkpoint step that could not be written; `errno` is the disk's (ENOSPC, EROFS, ...) when known."""


class Checkpointer:
    """Save every call it is given, keep the newest `max_to_keep`, restore the newest complete step."""

    def __init__(self, directory: str | Path, max_to_keep: int = 3):
        if max_to_keep < 1:
            raise ValueError(f"checkpoint.max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = Path(directory).resolve()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True
        )
        try:
            self._manager = ocp.CheckpointManager(self.directory, options=options)
        except OSError as err:  # creating the directory
            raise refused_write(self.directory, err) from err
        self._in_flight: int | None = None  # the step of the asynchronous save not yet waited for

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(
        self,
        state: TrainState,
        meta: dict[str, Any],
        step: int | None = None,
        best: dict[str, Any] | None = None,
    ) -> None:
        """Asynchronous save of `state` at `step` (default `state.step`; a sweep's stacked state names it), and
        of the run's best-validation weights `best` (a `best_tree`) in the same step when given; call `wait()`
        before reading it back."""
        step = int(jax.device_get(state.step)) if step is None else step
        items = {"state": ocp.args.StandardSave(_state_tree(state)), "meta": ocp.args.JsonSave(meta)}
        if best is not None:
            items["best"] = ocp.args.StandardSave(best)
        args = ocp.args.Composite(**items)
        self.wait()  # an earlier save's failure names that step, not this one
        try:
            self._manager.save(step, args=args, force=True)
        except Exception as err:  # the blocking part: directories, a copy of the arrays to the host
            if fault_errno(err) is None:
                raise
            raise self._write_error(step, err) from err
        self._in_flight = step

    def restore(self, template: TrainState, step: int | None = None) -> tuple[TrainState, dict[str, Any]]:
        """Restore into the structure (and shapes, dtypes) of `template`; raises CheckpointError if unreadable."""
        self.wait()
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {str(self.directory)!r}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _state_tree(template))
        args = ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        restored = self._restore_items(step, args)
        return template.replace(**restored["state"]), dict(restored["meta"] or {})

    def restore_best(self, template: TrainState, step: int | None = None) -> dict[str, Any] | None:
        """The best-validation weights (a `best_tree` shaped like `template`'s) saved with `step` (default: the
        newest), or None when that step holds none (a run with checkpoint.keep_best off or no validation)."""
        self.wait()
        step = self.latest_step() if step is None else step
        if step is None or not (self.directory / str(step) / "best").is_dir():
            return None
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, best_tree(template))
        return dict(
            self._restore_items(step, ocp.args.Composite(best=ocp.args.StandardRestore(abstract)))["best"]
        )

    def _restore_items(self, step: int, args: ocp.args.Composite) -> Any:
        """The items `args` names from checkpoint `step`; a CheckpointError when they cannot be read."""
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
        return restored

    def wait(self) -> None:
        """Block until the save in flight is complete; a CheckpointWriteError if it failed."""
        step, self._in_flight = self._in_flight, None
        try:
            self._manager.wait_until_finished()
        except Exception as err:  # orbax re-raises the background thread's error, whatever its type
            if step is None:
                raise
            raise self._write_error(step, err) from err

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._manager.close()

    def _settle_writes(self) -> None:
        """Wait out a failed save's other writes: orbax reports the first failure while tensorstore still runs
        the rest, which would otherwise recreate files in the directory being removed."""
        async_manager = getattr(getattr(self._manager, "_checkpointer", None), "_async_manager", None)
        for commit in getattr(async_manager, "_commit_futures", None) or ():
            with contextlib.suppress(Exception):
                commit.result()

    def _remove_partial(self, step: int) -> None:
        """Remove the failed step's temporary directory; again while late writes (tensorstore's manifest) bring
        it back, for at most a second. What stays is ignored, and removed by the next Checkpointer here."""
        for _ in range(10):
            partial = list(self.directory.glob(f"{step}.orbax-checkpoint-tmp*"))
            if not partial:
                return
            for path in partial:
                shutil.rmtree(path, ignore_errors=True)
            time.sleep(0.1)

    def _write_error(self, step: int, error: Exception) -> CheckpointWriteError:
        """The named error for a failed save of `step`, after removing what it wrote (it frees the space)."""
        self._settle_writes()
        self._remove_partial(step)
        code = fault_errno(error)
        reason = fault_advice(code) if code else f"{type(error).__name__}: {str(error)[:400]}"
        newest = self.latest_step()
        kept = (
            f"the newest complete checkpoint, step {newest}, is kept and a rerun resumes from it"
            if newest is not None
            else "there is no complete checkpoint yet, so a rerun starts from step 0"
        )
        message = (
            f"checkpoint step {step} could not be written to {str(self.directory)!r} and its partial files are "
            f"removed; {kept}. Cause: {reason}"
        )
        return CheckpointWriteError(code, message) if code else CheckpointWriteError(message)

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
