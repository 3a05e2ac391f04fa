"""Overcomplete denoising autoencoder on MNIST: a 1024-d code (wider than the 784 pixels) trained to fill in
inputs zeroed with probability 0.5 (masking noise); the corruption keeps it from learning the identity.

Defined in aejax/configs/dae_masking_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/dae_masking_mnist.py` in a checkout and `--config dae_masking_mnist` anywhere run the same config:

    aejax train --config dae_masking_mnist --workdir runs/dae_masking_mnist
"""

from aejax.configs.dae_masking_mnist import get_config

__all__ = ["get_config"]
