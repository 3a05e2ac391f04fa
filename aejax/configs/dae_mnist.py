"""Denoising autoencoder on MNIST: the encoder sees x + N(0, 0.3^2) clipped to [0, 1], the loss the clean x.

    aejax train --config dae_mnist --workdir runs/dae_mnist

Same network and schedule as ae_mnist.py. results.json reports test PSNR of the noisy input and of its
reconstruction (`psnr_noisy_input`, `psnr_reconstruction`); see the README's regularized-AE table.
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.loss.corruption.kind = "gaussian"
    config.loss.corruption.std = 0.3
    config.loss.corruption.clip = True
    return config
