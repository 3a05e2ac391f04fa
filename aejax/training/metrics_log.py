"""Append-only JSONL metrics log that survives being killed mid-write, and whole-file atomic writes.

A write the disk refuses (full, read-only) is a WorkdirWriteError that leaves the file as it was; a damaged
line before the log's last one is a RunFileError (a cut-short last line is what a kill leaves, and is skipped).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path
from typing import Any

from aejax.training.run_files import RunFileError, refused_write


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/Inf; keep them visible as strings
    return value


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file so readers see the old or the new content, never a half-written one."""
    write_atomic_bytes(path, text.encode())


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """`write_atomic` for binary content."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):  # on a read-only disk there is none, and none can be removed
            tmp.unlink(missing_ok=True)
        raise refused_write(path, err) from err


def replace_between_markers(path: Path, markers: tuple[str, str], text: str) -> None:
    """Replace what stands between two marker lines of a text file (a README table), atomically."""
    path = Path(path)
    content = path.read_text()
    begin, end = markers
    if begin not in content or end not in content:
        raise ValueError(f"{str(path)!r} has no {begin} ... {end} markers to put the table between")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    write_atomic(path, f"{head}{begin}\n{text}{end}{tail}")


def _write_all(fd: int, data: bytes) -> None:
    """`os.write` until all of `data` is written (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _complete_size(fd: int, size: int) -> int:
    """The length of the file's complete lines: `size` up to just after its last newline."""
    end = size
    while end > 0:
        start = max(0, end - 4096)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _record(line: str, source: str, number: int) -> dict[str, Any]:
    """One line of the log as a record; a RunFileError naming the file and line when it is not one."""
    expected = "one JSON object per line; only the last line may be cut short (by a kill mid-write)"
    fix = f"delete line {number} (or the file, losing only the logged history) and run again"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise RunFileError(
            f"{source} line {number} column {err.colno} is damaged ({err.msg}); expected {expected}: {fix}"
        ) from err
    if not isinstance(record, dict):
        raise RunFileError(
            f"{source} line {number} holds a JSON {type(record).__name__}; expected {expected}: {fix}"
        )
    return record


class MetricsLog:
    """One JSON object per line, each with at least `split` and `step`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """All complete records. A last line without its newline (a kill mid-write) is skipped; a damaged line
        before it is a RunFileError naming the file and line."""
        if not self.path.exists():
            return []
        *lines, _cut_short = self.path.read_bytes().split(b"\n")
        source = repr(str(self.path))
        return [
            _record(line.decode(errors="replace"), source, number)
            for number, line in enumerate(lines, start=1)
            if line.strip()
        ]

    def append(self, record: dict[str, Any]) -> None:
        """Add one line. A cut-short last line is dropped first; a refused write (disk full, read-only) is a
        WorkdirWriteError that leaves the file as it was, never a half line."""
        line = json.dumps({k: _jsonable(v) for k, v in record.items()}, sort_keys=True) + "\n"
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as err:
            raise refused_write(self.path, err) from err
        complete = None
        try:
            size = os.fstat(fd).st_size
            complete = _complete_size(fd, size)
            if complete < size:
                os.ftruncate(fd, complete)
            _write_all(fd, line.encode())
        except OSError as err:
            if complete is not None:  # back to the whole lines it held; a cut line would read as damage
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, complete)
            raise refused_write(self.path, err) from err
        finally:
            os.close(fd)

    def truncate_after(self, step: int) -> None:
        """Keep only records up to `step` (used when resuming from the checkpoint at `step`)."""
        if not self.path.exists():
            return
        kept = [r for r in self.read() if int(r.get("step", 0)) <= step]
        write_atomic(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
