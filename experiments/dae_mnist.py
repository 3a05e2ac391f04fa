"""Denoising autoencoder on MNIST: the encoder sees x + N(0, 0.3^2) clipped to [0, 1], the loss the clean x.

Defined in aejax/configs/dae_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/dae_mnist.py` in a checkout and `--config dae_mnist` anywhere run the same config:

    aejax train --config dae_mnist --workdir runs/dae_mnist
"""

from aejax.configs.dae_mnist import get_config

__all__ = ["get_config"]
