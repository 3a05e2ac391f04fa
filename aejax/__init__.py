"""aejax: a JAX/Flax functional research framework for autoencoders."""

# first, before JAX starts threads: glibc keeps freed memory for XLA-CPU's next step (AEJAX_KEEP_FREED_MEMORY=0
# turns it off; see aejax.host_memory)
from aejax.host_memory import keep_freed_memory

keep_freed_memory()

from aejax import baselines, config, data, models, objectives, plots, tasks, training
from aejax.api import fit, get_dataset, run_task
from aejax.codec import Codec
from aejax.config import get_config, load_default
from aejax.sweep import sweep
from aejax.trained import Trained, load

__version__ = "0.1.0"

__all__ = [
    "Codec",
    "Trained",
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
