"""Disentanglement metrics of codes against ground-truth factors (pure NumPy and scikit-learn).

From (codes, factors) rows: `mig`, `sap`, `dci`, `modularity` (with explicitness). From a representation
function and a ground-truth model (`GroundTruth`): `beta_vae_score`, `factor_vae_score`. Each docstring names
its paper and estimator settings, which follow disentanglement_lib's defaults where it has them.
"""

from aejax.disentanglement.beta_vae import beta_vae_score
from aejax.disentanglement.dci import CLASSIFIERS as DCI_CLASSIFIERS
from aejax.disentanglement.dci import dci, dci_from_importance
from aejax.disentanglement.factor_vae import factor_vae_score
from aejax.disentanglement.intervention import GroundTruth
from aejax.disentanglement.mig import mig, mig_from_mutual_info
from aejax.disentanglement.modularity import modularity, modularity_from_mutual_info
from aejax.disentanglement.mutual_info import (
    discrete_entropy,
    discrete_mutual_info,
    discretize_codes,
    mutual_info_matrix,
)
from aejax.disentanglement.sap import sap

__all__ = [
    "DCI_CLASSIFIERS",
    "GroundTruth",
    "beta_vae_score",
    "dci",
    "dci_from_importance",
    "discrete_entropy",
    "discrete_mutual_info",
    "discretize_codes",
    "factor_vae_score",
    "mig",
    "mig_from_mutual_info",
    "modularity",
    "modularity_from_mutual_info",
    "mutual_info_matrix",
    "sap",
]
