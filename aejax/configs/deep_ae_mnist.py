"""Hinton & Salakhutdinov's (2006) deep MNIST autoencoder shape, 784-1000-500-250-30, on the 8k/1k/1k split,
run as the `features` task: test error in their units (squared error summed over pixels, mean over images)
next to PCA-30, and linear-probe / k-NN accuracy of the 30-d codes vs PCA-30 codes vs raw pixels.

    aejax task --config deep_ae_mnist --workdir runs/deep_ae_mnist

Their numbers (60k training images, RBM pretraining, logistic units): AE 3.00 vs PCA 13.87. Here the units
are ReLU, trained with Adam from random initialisation on 8k images (or set pretrain.method='greedy'). Trained
on the images as they are, this network learns the 8k by heart (7.64 on test); each training batch is therefore
augmented with shifts of -1..1 whole pixels per axis and rotations of up to 8 degrees, fresh every step
(loss.augment; validation and test images are left alone), over a longer cosine schedule whose best validation
epoch is the result (checkpoint.keep_best). Nothing here is specific to digits: any 28x28 grayscale set trains
the same way.

Expected (one core of a 2-core CPU, jax 0.10.2): about 6 minutes; test error about 3.8 vs PCA-30's 13.76
(benchmarks/results/applications.json has the measured run).
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.task.name = "features"
    config.model.hidden = (1000, 500, 250)
    config.model.latent_dim = 30
    config.loss.augment.kind = "affine"
    config.loss.augment.shift = 1
    config.loss.augment.rotation = 8.0
    config.train.epochs = 140
    config.train.early_stopping_patience = 40
    return config
