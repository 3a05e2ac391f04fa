"""ae_mnist.py with sigmoid code units: the unregularized baseline for the contractive autoencoders.

Defined in aejax/configs/ae_sigmoid_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/ae_sigmoid_mnist.py` in a checkout and `--config ae_sigmoid_mnist` anywhere run the same config:

    aejax train --config ae_sigmoid_mnist --workdir runs/ae_sigmoid_mnist
"""

from aejax.configs.ae_sigmoid_mnist import get_config

__all__ = ["get_config"]
