"""Former home of `aejax.fit` and `aejax.run_task`, kept as re-exports for code that imports them from here.

`fit`, `get_dataset`, `evaluate_split`, `draw_pictures` and `run_results` live in `aejax.fitting`; `run_task`
and the task registry `TASKS` in `aejax.tasks.registry`. Nothing inside aejax imports this module.
"""

from aejax.fitting import draw_pictures, evaluate_split, fit, get_dataset, run_results
from aejax.tasks.registry import TASKS, run_task

__all__ = ["TASKS", "draw_pictures", "evaluate_split", "fit", "get_dataset", "run_results", "run_task"]
