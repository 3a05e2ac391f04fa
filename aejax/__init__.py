"""aejax: a JAX/Flax functional research framework for autoencoders.

Nothing runs on import: each public name is imported on first use (PEP 562), so `import aejax` does not import
JAX, and `aejax train` can tune glibc's allocator before JAX starts its threads (aejax.host_memory).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public API: name -> the module that defines it. (The TYPE_CHECKING imports below repeat it for type
# checkers and editors; tests/test_host_memory.py checks that the two agree.)
_EXPORTS = {
    "Codec": "aejax.codec",
    "CorruptStreamError": "aejax.codec",
    "RunFileError": "aejax.training.run_files",
    "RunPreempted": "aejax.preemption",
    "Trained": "aejax.trained",
    "fit": "aejax.fitting",
    "get_config": "aejax.config",
    "get_dataset": "aejax.fitting",
    "keep_freed_memory": "aejax.host_memory",
    "load": "aejax.trained",
    "load_default": "aejax.config",
    "run_task": "aejax.tasks",
    "sweep": "aejax.sweep",
    "WorkdirInUseError": "aejax.workdir_lock",
    "WorkdirWriteError": "aejax.training.run_files",
}
_SUBMODULES = ("baselines", "config", "data", "models", "objectives", "plots", "tasks", "training")

__all__ = [
    "Codec",
    "CorruptStreamError",
    "RunFileError",
    "RunPreempted",
    "Trained",
    "WorkdirInUseError",
    "WorkdirWriteError",
    "baselines",
    "config",
    "data",
    "fit",
    "get_config",
    "get_dataset",
    "keep_freed_memory",
    "load",
    "load_default",
    "models",
    "objectives",
    "plots",
    "run_task",
    "sweep",
    "tasks",
    "training",
]

if TYPE_CHECKING:
    from aejax import baselines, config, data, models, objectives, plots, tasks, training
    from aejax.codec import Codec, CorruptStreamError
    from aejax.config import get_config, load_default
    from aejax.fitting import fit, get_dataset
    from aejax.host_memory import keep_freed_memory
    from aejax.preemption import RunPreempted
    from aejax.sweep import sweep
    from aejax.tasks import run_task
    from aejax.trained import Trained, load
    from aejax.training.run_files import RunFileError, WorkdirWriteError
    from aejax.workdir_lock import WorkdirInUseError


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"aejax.{name}")  # the import system also binds it here
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aejax' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups find it without calling this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The import system binds each submodule it loads as an attribute of its package: `aejax.sweep` (the
    function) must stay the function once the module `aejax.sweep` is imported, by whichever code imports it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return  # the module stays reachable as sys.modules["aejax.sweep"] and by `from aejax.sweep import`
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
