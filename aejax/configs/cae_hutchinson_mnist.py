"""Contractive autoencoder on MNIST with a Hutchinson estimate of ||d code / d input||_F^2: one Jacobian-vector
product with a Rademacher direction per example and step (unbiased; cost independent of the input size).

    aejax train --config cae_hutchinson_mnist --workdir runs/cae_hutchinson_mnist
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("cae_mnist")
    config.loss.regularizers = {
        "contractive": {"fn": "contractive_hutchinson", "weight": 3e-4, "num_projections": 1}
    }
    return config
