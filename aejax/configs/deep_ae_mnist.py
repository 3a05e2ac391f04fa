"""Hinton & Salakhutdinov's (2006) deep MNIST autoencoder shape, 784-1000-500-250-30, on the 8k/1k/1k split,
run as the `features` task: test error in their units (squared error summed over pixels, mean over images)
next to PCA-30, and linear-probe / k-NN accuracy of the 30-d codes vs PCA-30 codes vs raw pixels.

    aejax task --config deep_ae_mnist --workdir runs/deep_ae_mnist

Their numbers (60k training images, RBM pretraining, logistic units): AE 3.00 vs PCA 13.87. Here the units
are ReLU, trained with Adam from random initialisation on 8k images (or set pretrain.method='greedy').
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.task.name = "features"
    config.model.hidden = (1000, 500, 250)
    config.model.latent_dim = 30
    config.train.epochs = 40
    config.train.early_stopping_patience = 8
    return config
