"""One writer per workdir: an OS advisory lock held while a run writes there.

The lock is `flock` on `<workdir>/.aejax.lock`, so the kernel releases it when the holding process ends in any
way (kill -9 included) and no stale lock is ever left behind. The holder writes its pid and host into the file;
a second run reads them for its error and exits without touching the workdir. Within one process the lock is
re-entrant (a task holds it while its fits write to the same workdir).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = ".aejax.lock"

_held: dict[Path, list[int]] = {}  # resolved workdir -> [file descriptor, depth]


class WorkdirInUseError(RuntimeError):
    """Another process holds the workdir's lock; the message names its pid and host."""


def check_workdir_path(workdir: Path) -> None:
    """A workdir is a directory (or does not exist yet): a file there is a named error, not a traceback."""
    if workdir.exists() and not workdir.is_dir():
        raise ValueError(f"workdir {str(workdir)!r} is a file; a workdir is a directory (give another path)")


@contextlib.contextmanager
def workdir_lock(workdir: str | Path | None) -> Iterator[None]:
    """Hold `workdir`'s lock for the block (nothing when `workdir` is None); raises WorkdirInUseError at once
    when another process holds it."""
    if workdir is None:
        yield
        return
    workdir = Path(workdir)
    check_workdir_path(workdir)
    key = workdir.resolve()
    if key not in _held:
        _held[key] = [_acquire(workdir), 0]
    _held[key][1] += 1
    try:
        yield
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            os.close(_held.pop(key)[0])  # closing the descriptor releases the flock


def _acquire(workdir: Path) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(workdir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise WorkdirInUseError(
            f"workdir {str(workdir)!r} is in use by {holder}: wait for that run to end (or stop it), or give "
            "this run another workdir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)
    return fd


def _holder(fd: int) -> str:
    """'pid 123 on host h' from the lock file, or a plain description while the holder has not written yet."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {int(record['pid'])} on host {record['host']}"
    except (ValueError, KeyError, TypeError):
        return "another process"
