"""Convolutional inpainting autoencoder on MNIST: a 12x12 centre square is missing (pixels set to -1); the loss is
the MSE over the whole image plus the MSE inside the hole. Run as the `inpaint` task: PSNR inside the hole on
the test images next to scikit-image's biharmonic inpainting and a mean fill.

    aejax task --config inpaint_conv_mnist --workdir runs/inpaint_conv_mnist
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("conv_mnist")
    config.task.name = "inpaint"
    config.loss.corruption.kind = "centre_square"
    config.loss.corruption.size = 12
    config.loss.regularizers = {"hole": {"fn": "hole_mse", "weight": 1.0}}
    return config
