"""Semantic hashing on MNIST: binary-code MLP autoencoders (straight-through bits) at 16, 32 and 64 bits;
the 8k training split is the database, the 1k test split the queries, a shared label makes an item relevant.

Defined in aejax/configs/hashing_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/hashing_mnist.py` in a checkout and `--config hashing_mnist` anywhere run the same config:

    aejax task --config hashing_mnist --workdir runs/hashing_mnist
"""

from aejax.configs.hashing_mnist import get_config

__all__ = ["get_config"]
