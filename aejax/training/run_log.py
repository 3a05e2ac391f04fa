"""A run's metric writers: `metrics.jsonl` (always: resuming and the pictures read it) and those named in
`train.writers`, each fed the same records, each truncated to the checkpoint's step when a run resumes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aejax.training.metrics_log import MetricsLog
from aejax.training.tensorboard import TensorBoardLog

WRITERS: dict[str, Callable[[Path], Any]] = {
    "tensorboard": lambda workdir: TensorBoardLog(workdir / "tensorboard"),
}


def check_writers(names: Sequence[str]) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        raise ValueError(
            f"unknown train.writers {unknown}; valid: {', '.join(WRITERS)} (metrics.jsonl is always written)"
        )
    return names


class RunLog:
    """metrics.jsonl plus the writers of `train.writers`, with MetricsLog's interface."""

    def __init__(self, workdir: str | Path, writers: Sequence[str] = ("tensorboard",)):
        workdir = Path(workdir)
        self.jsonl = MetricsLog(workdir / "metrics.jsonl")
        self.writers = [WRITERS[name](workdir) for name in check_writers(writers)]

    @property
    def path(self) -> Path:
        return self.jsonl.path

    def read(self) -> list[dict[str, Any]]:
        return self.jsonl.read()

    def append(self, record: dict[str, Any]) -> None:
        self.jsonl.append(record)
        for writer in self.writers:
            writer.append(record)

    def truncate_after(self, step: int) -> None:
        self.jsonl.truncate_after(step)
        for writer in self.writers:
            writer.truncate_after(step)
