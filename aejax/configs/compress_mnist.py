"""Learned compression of MNIST against JPEG: quantized-code MLP autoencoders (7 code sizes x 2 level counts),
arithmetic-coded with per-unit symbol frequencies learned on the 8k training split, on the 1k test images.

    aejax task --config compress_mnist --workdir runs/compress_mnist

Writes compress.json / compress.md (bits per pixel from actual bytes, mean PSNR) and rate_distortion.png.
Expected (2 CPU cores, jax 0.10.2, about 10 minutes): see the README's compression table; the learned codec
beats JPEG's scan bytes alone (let alone its files) at every rate it reaches (up to about 0.2 bpp).
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")  # its 784-512-256-k MLP and training settings, one model per code size
    config.train.early_stopping_patience = 0
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    config.model.bottleneck = "quantize"
    config.task.name = "compress"
    config.task.code_sizes = (4, 8, 16, 32, 64, 128, 256)
    config.task.quantize_levels = (3, 7)
    config.task.jpeg_qualities = (1, 5, 10, 20, 30, 50, 75, 90)
    return config
