"""Contractive autoencoder on MNIST: the loss adds ||d code / d input||_F^2, computed exactly per example.

    aejax train --config cae_mnist --workdir runs/cae_mnist

Same network as ae_sigmoid_mnist.py (sigmoid code), its baseline. The exact penalty costs one reverse pass per code unit (32 here), so a step is
several times slower than the plain one; cae_hutchinson_mnist.py estimates it with one jvp instead.
results.json reports `jacobian_frobenius_mean` next to the test MSE.
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_sigmoid_mnist")
    config.loss.regularizers = {"contractive": {"fn": "contractive", "weight": 3e-4}}
    return config
