"""Stacked autoencoder on MNIST: greedy layer-wise pretraining of 784-512-256-32, then end-to-end fine-tuning.

    aejax train --config stacked_mnist --workdir runs/stacked_mnist

Stage s trains a shallow autoencoder on the codes of stages < s (workdir/pretrain/stage_<s>); the stages are
unrolled into the deep model, which is then fine-tuned with the ae_mnist.py schedule. Killed at any point,
the same command resumes (finished stages are reloaded, not retrained).
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.pretrain.method = "greedy"
    config.pretrain.epochs = 10
    return config
