"""MLP autoencoder 784-74-32-74-784 on MNIST: about the parameter count of conv_mnist.py, the same 32-d code,
schedule and epochs, as its baseline.

Defined in aejax/configs/mlp_matched_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/mlp_matched_mnist.py` in a checkout and `--config mlp_matched_mnist` anywhere run the same config:

    aejax train --config mlp_matched_mnist --workdir runs/mlp_matched_mnist
"""

from aejax.configs.mlp_matched_mnist import get_config

__all__ = ["get_config"]
