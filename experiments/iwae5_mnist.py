"""IWAE (Burda et al. 2016) with k = 5 importance samples on dynamically binarized MNIST: vae_mnist.py's model
and schedule, trained on the k-sample bound instead of the ELBO; same test ELBO and NLL (k = 5000) report.

Defined in aejax/configs/iwae5_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/iwae5_mnist.py` in a checkout and `--config iwae5_mnist` anywhere run the same config:

    aejax train --config iwae5_mnist --workdir runs/iwae5_mnist
"""

from aejax.configs.iwae5_mnist import get_config

__all__ = ["get_config"]
