"""Stacked autoencoder on MNIST: greedy layer-wise pretraining of 784-512-256-32, then end-to-end fine-tuning.

Defined in aejax/configs/stacked_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/stacked_mnist.py` in a checkout and `--config stacked_mnist` anywhere run the same config:

    aejax train --config stacked_mnist --workdir runs/stacked_mnist
"""

from aejax.configs.stacked_mnist import get_config

__all__ = ["get_config"]
