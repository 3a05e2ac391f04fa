"""Named errors for a workdir's files: one that cannot be read back, and a write the disk refused.

This module imports no JAX (aejax.config raises its errors while reading a workdir's config.json).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

# What a write fault means to the user, and what to do; other errnos pass through as the OSError they are.
WRITE_FAULTS = {
    errno.ENOSPC: ("the disk is full", "free space on it"),
    errno.EDQUOT: ("the disk quota is used up", "free space within the quota"),
    errno.EFBIG: ("the file grew past the size limit", "raise the file-size limit (ulimit -f)"),
    errno.EROFS: ("the file system is read-only", "make it writable"),
    errno.EACCES: ("permission denied", "make the workdir writable for this user"),
    errno.EPERM: ("permission denied", "make the workdir writable for this user"),
}


class RunFileError(ValueError):
    """A workdir file that exists but cannot be read: corrupt JSON, or a damaged line before a log's end."""


class WorkdirWriteError(OSError):
    """A write into a workdir that the disk refused (full, read-only, no permission); `errno` is the cause's."""


def fault_errno(error: BaseException) -> int | None:
    """The write-fault errno behind `error`: an OSError's own, one in its cause chain, or (for tensorstore's
    C++ errors, which carry only text) the one whose description its message quotes."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in WRITE_FAULTS:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    text = str(error)
    return next((code for code in WRITE_FAULTS if os.strerror(code) in text), None)


def fault_advice(code: int) -> str:
    """What a write-fault errno means and what to do, e.g. "the disk is full (No space left on device); free
    space on it (or give another workdir), then run the same command again"."""
    meaning, action = WRITE_FAULTS[code]
    return f"{meaning} ({os.strerror(code)}); {action} (or give another workdir), then run the same command again"


def refused_write(path: str | Path, error: OSError) -> OSError:
    """`error` as a WorkdirWriteError naming `path` when it is a write fault; else `error` unchanged."""
    code = fault_errno(error)
    if code is None:
        return error
    return WorkdirWriteError(
        code,
        f"could not write {str(path)!r}: {fault_advice(code)}",
    )


PROBE_BYTES = 64 * 1024  # a few file-system blocks: a zero-byte file can still be created on a full disk


def check_workdir_writable(workdir: str | Path) -> None:
    """Create `workdir` and write (and fsync) `PROBE_BYTES` in a probe file there, so that a read-only disk, a
    missing permission or a disk already full is a named error before any training (a disk that fills later is
    named where a write fails); a workdir that is a file is left to the workdir lock to name."""
    workdir = Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        return
    probe = workdir / f".aejax-write-probe-{os.getpid()}"
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(descriptor, bytes(PROBE_BYTES))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
            probe.unlink(missing_ok=True)
    except OSError as err:
        raise refused_write(workdir, err) from err


def parse_json(text: str | bytes, source: str, expected: str) -> Any:
    """`json.loads(text)`; a RunFileError naming `source`, the line and column, and `expected` if it fails."""
    try:
        return json.loads(text)
    except UnicodeDecodeError as err:
        raise RunFileError(
            f"{source} is not text (byte {err.start} is not UTF-8); expected {expected}. "
            "It is damaged: restore it from a copy, or train into a new workdir"
        ) from err
    except json.JSONDecodeError as err:
        raise RunFileError(
            f"{source} line {err.lineno} column {err.colno}: {err.msg}; expected {expected}. "
            "It is damaged: restore it from a copy, or train into a new workdir"
        ) from err


def read_json_file(path: str | Path, expected: str = "one JSON object, as aejax writes it") -> Any:
    """A workdir's JSON file (run.json, results.json); a RunFileError naming it when it is damaged."""
    return parse_json(Path(path).read_bytes(), repr(str(path)), expected)
