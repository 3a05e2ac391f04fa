"""Overcomplete denoising autoencoder on MNIST: a 1024-d code (wider than the 784 pixels) trained to fill in
inputs zeroed with probability 0.5 (masking noise); the corruption keeps it from learning the identity.

    aejax train --config dae_masking_mnist --workdir runs/dae_masking_mnist
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.model.hidden = (1024,)
    config.model.latent_dim = 1024
    config.loss.corruption.kind = "masking"
    config.loss.corruption.fraction = 0.5
    return config
