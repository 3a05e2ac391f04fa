"""Capsule autoencoder on MNIST trained as in Sabour et al. (2017): margin loss on the capsule lengths (labels in
training; the label's capsule is the one decoded) plus 0.0005 x the summed squared reconstruction error
(= 0.392 x the per-pixel MSE). Evaluation masks by the longest capsule (no labels). Same CPU-sized layers as
capsule_mnist.py.

    aejax train --config capsule_margin_mnist --workdir runs/capsule_margin_mnist

Expected (2 CPU cores): the README's sequence/attention/capsule table (benchmarks/sequence_mnist.py reports the
test accuracy of the longest capsule as the class).
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("capsule_mnist")
    config.loss.regularizers = {"margin": {"fn": "capsule_margin", "weight": 1.0}}
    config.loss.reconstruction_weight = 0.0005 * 784
    return config
