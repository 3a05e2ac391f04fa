"""L1-sparse autoencoder on MNIST: 256 ReLU code units with an L1 activity penalty on the code.

    aejax train --config sparse_l1_mnist --workdir runs/sparse_l1_mnist

results.json reports `code_active_fraction` (units with h > 0.1 per example) and `code_dead_fraction`.
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.model.hidden = (512,)
    config.model.latent_dim = 256
    config.model.code_activation = "relu"
    config.loss.regularizers = {"activity": {"fn": "code_l1", "weight": 1e-4}}
    return config
