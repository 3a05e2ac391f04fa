"""VQ-VAE on MNIST (8k/1k/1k): the ae_mnist MLP with a 32-d code cut into 4 vectors of 8, each snapped to the
nearest of 64 codebook entries (straight-through gradients), codebook loss + 0.25 x commitment loss.

Defined in aejax/configs/vqvae_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/vqvae_mnist.py` in a checkout and `--config vqvae_mnist` anywhere run the same config:

    aejax train --config vqvae_mnist --workdir runs/vqvae_mnist
"""

from aejax.configs.vqvae_mnist import get_config

__all__ = ["get_config"]
