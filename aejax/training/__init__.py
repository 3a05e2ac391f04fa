"""Train state, pure steps, optimizers, checkpoints and the fit loop."""

from aejax.training.checkpoint import Checkpointer, CheckpointError, CheckpointWriteError
from aejax.training.loop import EpochLoop, NonFiniteLossError, TrainResult, evaluate, run_training
from aejax.training.members import Members
from aejax.training.metrics_log import MetricsLog
from aejax.training.optim import OPTIMIZERS, make_optimizer, make_schedule
from aejax.training.run_files import RunFileError, WorkdirWriteError
from aejax.training.specs import CheckpointSpec, TrainSpec, epoch_permutation
from aejax.training.state import TrainState, count_params, create_train_state
from aejax.training.stepper import Stepper, StepPlan, make_stepper
from aejax.training.steps import eval_step, make_eval_step, make_train_step, train_step

__all__ = [
    "OPTIMIZERS",
    "CheckpointError",
    "CheckpointSpec",
    "CheckpointWriteError",
    "Checkpointer",
    "EpochLoop",
    "Members",
    "MetricsLog",
    "NonFiniteLossError",
    "RunFileError",
    "StepPlan",
    "Stepper",
    "TrainResult",
    "TrainSpec",
    "TrainState",
    "WorkdirWriteError",
    "count_params",
    "create_train_state",
    "epoch_permutation",
    "eval_step",
    "evaluate",
    "make_eval_step",
    "make_optimizer",
    "make_schedule",
    "make_stepper",
    "make_train_step",
    "run_training",
    "train_step",
]
