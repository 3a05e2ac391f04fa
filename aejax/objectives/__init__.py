"""Reconstruction losses, regularizers and their composition into an objective."""

from aejax.objectives.forward import Forward
from aejax.objectives.losses import (
    RECONSTRUCTION_LOSSES,
    bernoulli_cross_entropy,
    bernoulli_nll_from_logits,
    get_reconstruction_loss,
    mean_absolute_error,
    mean_squared_error,
)
from aejax.objectives.objective import Objective
from aejax.objectives.regularizers import REGULARIZERS, code_l2, resolve_regularizer, weight_l2

__all__ = [
    "RECONSTRUCTION_LOSSES",
    "REGULARIZERS",
    "Forward",
    "Objective",
    "bernoulli_cross_entropy",
    "bernoulli_nll_from_logits",
    "code_l2",
    "get_reconstruction_loss",
    "mean_absolute_error",
    "mean_squared_error",
    "resolve_regularizer",
    "weight_l2",
]
