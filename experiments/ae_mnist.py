"""MLP autoencoder on real MNIST images read from a local IDX directory (8k/1k/1k split of the 10k files).

Defined in aejax/configs/ae_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/ae_mnist.py` in a checkout and `--config ae_mnist` anywhere run the same config:

    aejax train --config ae_mnist --workdir runs/ae_mnist --config.data.path=../shared/data/mnist
"""

from aejax.configs.ae_mnist import get_config

__all__ = ["get_config"]
