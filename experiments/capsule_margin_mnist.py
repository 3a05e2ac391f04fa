"""Capsule autoencoder on MNIST trained as in Sabour et al. (2017): margin loss on the capsule lengths (labels in
training; the label's capsule is the one decoded) plus 0.0005 x the summed squared reconstruction error
(= 0.392 x the per-pixel MSE). Evaluation masks by the longest capsule (no labels). Same CPU-sized layers as
capsule_mnist.py.

Defined in aejax/configs/capsule_margin_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/capsule_margin_mnist.py` in a checkout and `--config capsule_margin_mnist` anywhere run the same config:

    aejax train --config capsule_margin_mnist --workdir runs/capsule_margin_mnist
"""

from aejax.configs.capsule_margin_mnist import get_config

__all__ = ["get_config"]
