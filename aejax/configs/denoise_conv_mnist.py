"""Blind convolutional denoising autoencoder on MNIST (the conv_mnist.py network, 20 epochs): trained on
x + N(0, s^2) with s ~ U(0.1, 0.6) per image, run as the `denoise` task: PSNR and SSIM at sigma 0.2, 0.3 and
0.5 on 500 test images next to the noisy input, non-local means and total variation (scikit-image; their strengths chosen per sigma on validation images).

    aejax task --config denoise_conv_mnist --workdir runs/denoise_conv_mnist
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("conv_mnist")
    config.task.name = "denoise"
    config.task.noise_levels = (0.2, 0.3, 0.5)
    config.task.max_examples = 500
    config.train.epochs = 20
    config.loss.corruption.kind = "gaussian"
    config.loss.corruption.std = 0.1
    config.loss.corruption.std_max = 0.6
    return config
