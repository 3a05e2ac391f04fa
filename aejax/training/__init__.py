"""Train state, pure steps, optimizers, checkpoints and the fit loop."""

from aejax.training.checkpoint import Checkpointer, CheckpointError
from aejax.training.loop import (
    CheckpointSpec,
    EpochLoop,
    Members,
    NonFiniteLossError,
    TrainResult,
    TrainSpec,
    epoch_permutation,
    evaluate,
    run_training,
)
from aejax.training.metrics_log import MetricsLog
from aejax.training.optim import OPTIMIZERS, make_optimizer, make_schedule
from aejax.training.state import TrainState, count_params, create_train_state
from aejax.training.stepper import Stepper, StepPlan, make_stepper
from aejax.training.steps import eval_step, make_eval_step, make_train_step, train_step

__all__ = [
    "OPTIMIZERS",
    "CheckpointError",
    "CheckpointSpec",
    "Checkpointer",
    "EpochLoop",
    "Members",
    "MetricsLog",
    "NonFiniteLossError",
    "StepPlan",
    "Stepper",
    "TrainResult",
    "TrainSpec",
    "TrainState",
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
