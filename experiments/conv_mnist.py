"""Convolutional autoencoder on MNIST images (8k/1k/1k): two stride-2 3x3 convolutions (16, 32 channels), a
32-d dense code, a resize-then-convolve decoder; about 120k parameters, 6 epochs. On CPU the convolutions run as
matmuls (model.conv_impl='auto') and each step averages its gradient over 32-row slices (train.microbatch_size),
several times faster there than XLA's CPU convolutions; the same update up to float rounding.

Defined in aejax/configs/conv_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/conv_mnist.py` in a checkout and `--config conv_mnist` anywhere run the same config:

    aejax train --config conv_mnist --workdir runs/conv_mnist
"""

from aejax.configs.conv_mnist import get_config

__all__ = ["get_config"]
