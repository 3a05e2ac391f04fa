"""MLP autoencoder 784-74-32-74-784 on MNIST: about the parameter count of conv_mnist.py, the same 32-d code,
schedule and epochs, as its baseline.

    aejax train --config mlp_matched_mnist --workdir runs/mlp_matched_mnist
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("conv_mnist")
    config.data.flatten = True
    config.model.encoder = "mlp"
    config.model.decoder = "mlp"
    config.model.hidden = (74,)
    return config
