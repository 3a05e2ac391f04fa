"""L1-sparse autoencoder on MNIST: 256 ReLU code units with an L1 activity penalty on the code.

Defined in aejax/configs/sparse_l1_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/sparse_l1_mnist.py` in a checkout and `--config sparse_l1_mnist` anywhere run the same config:

    aejax train --config sparse_l1_mnist --workdir runs/sparse_l1_mnist
"""

from aejax.configs.sparse_l1_mnist import get_config

__all__ = ["get_config"]
