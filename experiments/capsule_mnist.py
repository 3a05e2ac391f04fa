"""Capsule autoencoder on MNIST images (Sabour et al. 2017 layout, sized for CPU): 9x9 conv (64), primary capsules
(8 types of 8-d, 9x9 stride 2), 3 routing iterations to 10 capsules of 16-d, poses masked by the longest capsule
(no labels in training), MLP decoder 512-1024.

Defined in aejax/configs/capsule_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/capsule_mnist.py` in a checkout and `--config capsule_mnist` anywhere run the same config:

    aejax train --config capsule_mnist --workdir runs/capsule_mnist
"""

from aejax.configs.capsule_mnist import get_config

__all__ = ["get_config"]
