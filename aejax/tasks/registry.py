"""The task registry: `config.task.name` -> how to run the task and how to summarise its report.

Each task module registers itself at import (`register_task(...)` at module level: a dict insertion, nothing
else); `aejax.tasks` imports the built-in ones. A report is the dict the runner returns, also written to the
workdir as `<name>.json`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_collections

from aejax import config as config_lib
from aejax._registry import lookup
from aejax.data import Dataset
from aejax.training.parallel import single_process_only
from aejax.workdir_lock import workdir_lock

Report = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Task:
    """`run(config, workdir, data=None) -> report`; `lines(report)` is the text a person reads instead of the
    report's JSON (`aejax task`, `aejax eval`)."""

    name: str
    run: Callable[[ml_collections.ConfigDict, str | Path | None, Dataset | None], Report]
    lines: Callable[[Report], list[str]]

    @property
    def report_file(self) -> str:
        return f"{self.name}.json"


TASKS: dict[str, Task] = {}


def register_task(
    name: str,
    run: Callable[[ml_collections.ConfigDict, str | Path | None, Dataset | None], Report],
    lines: Callable[[Report], list[str]],
) -> Task:
    """Add (or replace) the task `name`; called once at the top level of the task's module."""
    task = Task(name=name, run=run, lines=lines)
    TASKS[name] = task
    return task


def get_task(name: str) -> Task:
    return lookup(TASKS, name, "task.name")


def report_lines(name: str, report: Report) -> list[str]:
    """The registered task's summary of `report`; the report's numbers for a task not registered here."""
    if name in TASKS:
        return TASKS[name].lines(report)
    scalars = {k: v for k, v in report.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return [f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in scalars.items())]


def run_task(
    config: ml_collections.ConfigDict, workdir: str | Path | None = None, data: Dataset | None = None
) -> Report:
    """Run the application named by `config.task.name` (see TASKS); returns its report,
    which is also written to the workdir as `<task>.json` next to its pictures."""
    config_lib.validate(config)
    single_process_only("aejax.run_task")
    if config.task.name == "none":
        raise ValueError(f"config.task.name is 'none'; set it to one of: {', '.join(sorted(TASKS))}")
    if config.data.pipeline == "stream":
        raise ValueError(
            f"the {config.task.name!r} task reads its splits in memory, and data.pipeline is 'stream': set "
            "data.pipeline='auto' or 'memory' (streamed data trains through aejax.fit / aejax train)"
        )
    with workdir_lock(workdir):  # one writer per workdir; the task's own fits there re-enter it
        return get_task(config.task.name).run(config, workdir, data)
