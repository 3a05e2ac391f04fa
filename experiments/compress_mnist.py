"""Learned compression of MNIST against JPEG: quantized-code MLP autoencoders (7 code sizes x 2 level counts),
arithmetic-coded with per-unit symbol frequencies learned on the 8k training split, on the 1k test images.

Defined in aejax/configs/compress_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/compress_mnist.py` in a checkout and `--config compress_mnist` anywhere run the same config:

    aejax task --config compress_mnist --workdir runs/compress_mnist
"""

from aejax.configs.compress_mnist import get_config

__all__ = ["get_config"]
