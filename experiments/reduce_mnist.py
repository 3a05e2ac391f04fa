"""Dimensionality reduction on MNIST (8k/1k/1k): an MLP autoencoder 784-1024-512-k at code sizes 2, 10 and 30
against PCA, trained on shifted and rotated copies of the training images (loss.augment), in squared error per
image (summed over pixels), with trustworthiness of each embedding (5 neighbours, 1,000 test images), the
error-vs-k curve and a 2-D latent scatter coloured by digit.

Defined in aejax/configs/reduce_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/reduce_mnist.py` in a checkout and `--config reduce_mnist` anywhere run the same config:

    aejax task --config reduce_mnist --workdir runs/reduce_mnist
"""

from aejax.configs.reduce_mnist import get_config

__all__ = ["get_config"]
