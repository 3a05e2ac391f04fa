"""Append-only JSONL metrics log that survives being killed mid-write."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


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
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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


class MetricsLog:
    """One JSON object per line, each with at least `split` and `step`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """All complete records; a partial last line (from a kill) is skipped."""
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps({k: _jsonable(v) for k, v in record.items()}, sort_keys=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")

    def truncate_after(self, step: int) -> None:
        """Keep only records up to `step` (used when resuming from the checkpoint at `step`)."""
        kept = [r for r in self.read() if int(r.get("step", 0)) <= step]
        write_atomic(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))
