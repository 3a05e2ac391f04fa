"""IWAE (Burda et al. 2016) with k = 50 importance samples on dynamically binarized MNIST: vae_mnist.py's model
and schedule, trained on the k-sample bound instead of the ELBO; same test ELBO and NLL (k = 5000) report.

Defined in aejax/configs/iwae50_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/iwae50_mnist.py` in a checkout and `--config iwae50_mnist` anywhere run the same config:

    aejax train --config iwae50_mnist --workdir runs/iwae50_mnist
"""

from aejax.configs.iwae50_mnist import get_config

__all__ = ["get_config"]
