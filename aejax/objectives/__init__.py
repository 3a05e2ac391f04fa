"""Reconstruction losses, regularizers and their composition into an objective."""

from aejax.objectives.corruptions import (
    CORRUPTIONS,
    Corruption,
    gaussian_noise,
    masking_noise,
    salt_and_pepper,
)
from aejax.objectives.forward import Forward
from aejax.objectives.jacobian import hutchinson_frobenius_sq, jacobian_frobenius_sq, per_example_jacobian
from aejax.objectives.losses import (
    RECONSTRUCTION_LOSSES,
    bernoulli_cross_entropy,
    bernoulli_nll_from_logits,
    get_reconstruction_loss,
    mean_absolute_error,
    mean_squared_error,
)
from aejax.objectives.objective import Objective
from aejax.objectives.regularizers import (
    REGULARIZERS,
    bias_l1,
    bias_l2,
    code_l1,
    code_l2,
    contractive,
    contractive_hutchinson,
    kl_divergence_bernoulli,
    kl_sparsity,
    resolve_regularizer,
    weight_l1,
    weight_l2,
)

__all__ = [
    "CORRUPTIONS",
    "RECONSTRUCTION_LOSSES",
    "REGULARIZERS",
    "Corruption",
    "Forward",
    "Objective",
    "bernoulli_cross_entropy",
    "bernoulli_nll_from_logits",
    "bias_l1",
    "bias_l2",
    "code_l1",
    "code_l2",
    "contractive",
    "contractive_hutchinson",
    "gaussian_noise",
    "get_reconstruction_loss",
    "hutchinson_frobenius_sq",
    "jacobian_frobenius_sq",
    "kl_divergence_bernoulli",
    "kl_sparsity",
    "masking_noise",
    "mean_absolute_error",
    "mean_squared_error",
    "per_example_jacobian",
    "resolve_regularizer",
    "salt_and_pepper",
    "weight_l1",
    "weight_l2",
]
