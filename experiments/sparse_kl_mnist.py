"""KL-sparse autoencoder on MNIST: 256 sigmoid code units pushed to fire with mean rate rho = 0.05.

Defined in aejax/configs/sparse_kl_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/sparse_kl_mnist.py` in a checkout and `--config sparse_kl_mnist` anywhere run the same config:

    aejax train --config sparse_kl_mnist --workdir runs/sparse_kl_mnist
"""

from aejax.configs.sparse_kl_mnist import get_config

__all__ = ["get_config"]
