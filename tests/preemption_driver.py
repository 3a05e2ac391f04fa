"""Signals sent from inside a run at a chosen step, for tests/test_preemption.py (and, through
AEJAX_TEST_SIGNAL_AT_STEP, one process of tests/multiprocess_worker.py).

preemption_driver.py STEP SIGNAL SECOND ARGS...   `aejax ARGS...`, sending this process SIGNAL (TERM or INT)
                                                 once the loop is past STEP; with SECOND=1 a second SIGNAL
                                                 arrives while the preemption checkpoint is being saved
"""

import os
import signal
import sys
import time


def install(step: int, signal_name: str, second: bool = False) -> None:
    """Make the fit loop signal this process once it has run `step` steps (the first poll at or after it),
    and with `second` again while the checkpoint that follows is being saved."""
    from aejax.training import loop

    signum = getattr(signal, f"SIG{signal_name}")
    preempted, checkpoint = loop.EpochLoop._preempted, loop.EpochLoop._checkpoint

    def preempted_at(self, event):
        if self.step >= step and self.watch.received is None:
            os.kill(os.getpid(), signum)  # the handler runs before the next line
        return preempted(self, event)

    def checkpoint_interrupted(self, state, *, done):
        checkpoint(self, state, done=done)
        if second and self.watch.received is not None:
            os.kill(os.getpid(), signum)  # the default action: the process ends here
            time.sleep(30)
            raise AssertionError("a second signal did not end the process")

    loop.EpochLoop._preempted = preempted_at
    loop.EpochLoop._checkpoint = checkpoint_interrupted


if __name__ == "__main__":
    install(int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1")
    from aejax.cli import main

    raise SystemExit(main(sys.argv[4:]))
