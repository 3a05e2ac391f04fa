"""Applications of trained autoencoders: each module is a set of pure functions over a `Trained` and arrays,
and registers its task (`aejax.tasks.registry`); importing this package registers the built-in ones."""

from aejax.tasks import (
    anomaly,
    autorec,
    compression,
    disentangle,
    features,
    hashing,
    ksparse,
    reduction,
    restoration,
    segmentation,
    sequence_anomaly,
)
from aejax.tasks.registry import TASKS, Task, get_task, register_task, report_lines, run_task

__all__ = [
    "TASKS",
    "Task",
    "anomaly",
    "autorec",
    "compression",
    "disentangle",
    "features",
    "get_task",
    "hashing",
    "ksparse",
    "reduction",
    "register_task",
    "report_lines",
    "restoration",
    "run_task",
    "segmentation",
    "sequence_anomaly",
]
