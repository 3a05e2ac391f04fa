"""A run's metric writers: `metrics.jsonl` (always: resuming and the pictures read it) and those named in
`train.writers`, each fed the same records, each truncated to the checkpoint's step when a run resumes.

A metric writer (the shape of CLU's `MetricWriter`, keyed by aejax's metric records) has
`append(record)`: one record {"split", "step", "epoch", metric: value, ...}, written as scalars
`<split>/<metric>` at `step`; `append_images(step, {tag: (H, W[, 3]) array in [0, 1]})`; `truncate_after(step)`:
called once when a run resumes from the checkpoint at `step`, after which the steps that follow are appended
exactly once; and `close()`. Register another one in `WRITERS` (a factory of the workdir).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aejax.training.metrics_log import MetricsLog
from aejax.training.tensorboard import TensorBoardLog


class MetricWriter(Protocol):
    def append(self, record: dict[str, Any]) -> None: ...

    def append_images(self, step: int, images: dict[str, np.ndarray]) -> None: ...

    def truncate_after(self, step: int) -> None: ...

    def close(self) -> None: ...


def _mlflow(workdir: Path) -> MetricWriter:
    from aejax.training.mlflow_log import MlflowLog

    return MlflowLog(workdir)


WRITERS: dict[str, Callable[[Path], MetricWriter | None]] = {
    "jsonl": lambda workdir: None,  # metrics.jsonl: always written; naming it changes nothing
    "tensorboard": lambda workdir: TensorBoardLog(workdir / "tensorboard"),
    "mlflow": _mlflow,  # when MLflow is installed (aejax.training.mlflow_log)
}


def check_writers(names: Sequence[str]) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        raise ValueError(
            f"unknown train.writers {unknown}; valid: {', '.join(WRITERS)} (metrics.jsonl is always written)"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"train.writers names a writer twice: {list(names)}")
    return names


class RunLog:
    """metrics.jsonl plus the writers of `train.writers`, with MetricsLog's interface."""

    def __init__(self, workdir: str | Path, writers: Sequence[str] = ("tensorboard",)):
        workdir = Path(workdir)
        self.jsonl = MetricsLog(workdir / "metrics.jsonl")
        made = (WRITERS[name](workdir) for name in check_writers(writers))
        self.writers: list[MetricWriter] = [writer for writer in made if writer is not None]

    @property
    def path(self) -> Path:
        return self.jsonl.path

    @property
    def takes_images(self) -> bool:
        return bool(self.writers)

    def read(self) -> list[dict[str, Any]]:
        return self.jsonl.read()

    def append(self, record: dict[str, Any]) -> None:
        self.jsonl.append(record)
        for writer in self.writers:
            writer.append(record)

    def append_images(self, step: int, images: dict[str, np.ndarray]) -> None:
        for writer in self.writers:
            writer.append_images(step, images)

    def truncate_after(self, step: int) -> None:
        self.jsonl.truncate_after(step)
        for writer in self.writers:
            writer.truncate_after(step)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
