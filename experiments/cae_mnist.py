"""Contractive autoencoder on MNIST: the loss adds ||d code / d input||_F^2, computed exactly per example.

Defined in aejax/configs/cae_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/cae_mnist.py` in a checkout and `--config cae_mnist` anywhere run the same config:

    aejax train --config cae_mnist --workdir runs/cae_mnist
"""

from aejax.configs.cae_mnist import get_config

__all__ = ["get_config"]
