"""Dimensionality reduction on MNIST (8k/1k/1k): the ae_mnist network at code sizes 2, 10 and 30 against PCA,
in squared error per image (summed over pixels), with trustworthiness of each embedding (5 neighbours, 1,000
test images), the error-vs-k curve and a 2-D latent scatter coloured by digit.

    aejax task --config reduce_mnist --workdir runs/reduce_mnist
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.task.name = "reduce"
    config.task.code_sizes = (2, 10, 30)
    config.task.max_examples = 1000
    return config
