"""Convolutional inpainting autoencoder on MNIST: a 12x12 centre square is missing (pixels set to -1); the loss is
the MSE over the whole image plus the MSE inside the hole. Run as the `inpaint` task: PSNR inside the hole on
the test images next to scikit-image's biharmonic inpainting and a mean fill.

Defined in aejax/configs/inpaint_conv_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/inpaint_conv_mnist.py` in a checkout and `--config inpaint_conv_mnist` anywhere run the same config:

    aejax task --config inpaint_conv_mnist --workdir runs/inpaint_conv_mnist
"""

from aejax.configs.inpaint_conv_mnist import get_config

__all__ = ["get_config"]
