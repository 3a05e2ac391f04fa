"""aejax: a JAX/Flax functional research framework for autoencoders."""

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
