"""Preemption: SIGTERM (what schedulers and spot/TPU preemption send) or SIGINT ends a run cleanly.

While a run with a workdir trains, the first SIGTERM or SIGINT only sets a flag. The loop sees it after the
step in flight, logs the steps since its last record, saves a checkpoint, waits for every save to be on
disk, and raises `RunPreempted`; `aejax train` prints how to resume and exits with `PREEMPTED_EXIT_STATUS`.
The same command then resumes bit-identically (the loop's resume is exact at any step).

A second signal while that happens ends the process at once by the signal's default action: a checkpoint
being written stays a temporary directory that the next run ignores and cleans, and the newest complete one
is what resumes.

Several jax.distributed processes agree on the stopping step: at each logging point they all take part in one
small collective (`process_allgather` of their flags), and all stop there if any of them was signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

# EX_TEMPFAIL (sysexits.h): a temporary failure, the same command may be retried; distinct from aejax's
# errors (2) and from a death by signal (128 + n in shells).
PREEMPTED_EXIT_STATUS = 75
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunPreempted(Exception):
    """Training stopped on SIGTERM/SIGINT after saving a checkpoint; the same command resumes it."""

    def __init__(self, signal_name: str, step: int, total_steps: int, directory: Path | None):
        self.signal_name, self.step, self.total_steps, self.directory = (
            signal_name,
            step,
            total_steps,
            directory,
        )
        where = f"checkpoint saved in {directory}" if directory is not None else "no workdir: nothing saved"
        super().__init__(
            f"stopped by {signal_name} at step {step} of {total_steps}; {where}; run the same command again to "
            "resume from this step"
        )


class PreemptionWatch:
    """Turns the first SIGTERM/SIGINT into a flag the loop polls; a second one ends the process at once.

    Signal handlers exist only in the main thread: elsewhere (or with `enabled=False`) nothing is installed and
    a signal keeps its usual effect."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signalled: str | None = None  # the signal this process received
        self.agreed = False  # several processes: one of them was signalled, all stop at the same step
        self._previous: dict[int, object] = {}

    @property
    def received(self) -> str | None:
        """What stops the run: this process's signal, or (several processes) another one's; None: nothing."""
        return self.signalled or ("a signal to another process" if self.agreed else None)

    def _handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.signalled is not None:  # this process's second signal: the default action, now
            logger.warning("%s again while stopping: exiting at once", name)
            self._restore()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signalled = name
        logger.warning("%s received: finishing the current step, saving a checkpoint, then stopping", name)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def requested(self, collective: bool) -> bool:
        """Whether to stop now. With `collective` (a point every process reaches at the same step), several
        processes agree: True on all of them when any was signalled. Otherwise this process's own flag (the
        loop only acts on that in a single-process run)."""
        import jax  # here, not above: the CLI imports this module before JAX
        import numpy as np
        from jax.experimental import multihost_utils

        if collective and jax.process_count() > 1:
            flags = multihost_utils.process_allgather(np.int32(self.signalled is not None))
            self.agreed = self.agreed or bool(np.any(flags))
        return self.received is not None

    @contextlib.contextmanager
    def installed(self) -> Iterator[PreemptionWatch]:
        """The handlers while the block runs. A signal the process inherited as ignored (SIG_IGN, as shells
        start background jobs for SIGINT) stays ignored, and one whose handler was set outside Python is left."""
        if not self.enabled:
            yield self
            return
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            if current is not None and current != signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield self
        finally:
            self._restore()
