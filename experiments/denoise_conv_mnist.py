"""Blind convolutional denoising autoencoder on MNIST (the conv_mnist.py network, 20 epochs): trained on
x + N(0, s^2) with s ~ U(0.1, 0.6) per image, run as the `denoise` task: PSNR and SSIM at sigma 0.2, 0.3 and
0.5 on 500 test images next to the noisy input, non-local means and total variation (scikit-image; their strengths chosen per sigma on validation images).

Defined in aejax/configs/denoise_conv_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/denoise_conv_mnist.py` in a checkout and `--config denoise_conv_mnist` anywhere run the same config:

    aejax task --config denoise_conv_mnist --workdir runs/denoise_conv_mnist
"""

from aejax.configs.denoise_conv_mnist import get_config

__all__ = ["get_config"]
