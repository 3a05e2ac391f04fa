"""KL-sparse autoencoder on MNIST: 256 sigmoid code units pushed to fire with mean rate rho = 0.05.

    aejax train --config sparse_kl_mnist --workdir runs/sparse_kl_mnist

The penalty is sum_j KL(rho || rho_hat_j) with rho_hat_j the batch-mean activation of unit j. results.json
reports `code_mean_activation` (target: within 20% of rho) and `code_active_fraction` (|h| > 0.1).
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.model.hidden = (512,)
    config.model.latent_dim = 256
    config.model.code_activation = "sigmoid"
    config.loss.regularizers = {"sparsity": {"fn": "kl_sparsity", "weight": 0.05, "rho": 0.05}}
    return config
