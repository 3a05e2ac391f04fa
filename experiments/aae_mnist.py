"""Adversarial autoencoder (Makhzani et al. 2015) on MNIST (8k/1k/1k split of the local 10k IDX files): an MLP
784-512-256-8 whose codes are matched to an 8-d standard normal prior by a 256-256 discriminator; the
discriminator and the encoder's adversarial phase each use Adam at 5e-4 (beta1 0.5), the reconstruction phase
Adam at 1e-3.

Defined in aejax/configs/aae_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/aae_mnist.py` in a checkout and `--config aae_mnist` anywhere run the same config:

    aejax train --config aae_mnist --workdir runs/aae_mnist
    aejax train --config aae_mnist --workdir runs/aae_mnist_plain_ae --config.model.family=autoencoder
"""

from aejax.configs.aae_mnist import get_config

__all__ = ["get_config"]
