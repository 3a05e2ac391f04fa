"""Hinton & Salakhutdinov's (2006) deep MNIST autoencoder shape, 784-1000-500-250-30, on the 8k/1k/1k split,
run as the `features` task: test error in their units (squared error summed over pixels, mean over images)
next to PCA-30, and linear-probe / k-NN accuracy of the 30-d codes vs PCA-30 codes vs raw pixels.

Defined in aejax/configs/deep_ae_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/deep_ae_mnist.py` in a checkout and `--config deep_ae_mnist` anywhere run the same config:

    aejax task --config deep_ae_mnist --workdir runs/deep_ae_mnist
"""

from aejax.configs.deep_ae_mnist import get_config

__all__ = ["get_config"]
