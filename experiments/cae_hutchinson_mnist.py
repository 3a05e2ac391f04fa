"""Contractive autoencoder on MNIST with a Hutchinson estimate of ||d code / d input||_F^2: one Jacobian-vector
product with a Rademacher direction per example and step (unbiased; cost independent of the input size).

Defined in aejax/configs/cae_hutchinson_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/cae_hutchinson_mnist.py` in a checkout and `--config cae_hutchinson_mnist` anywhere run the same config:

    aejax train --config cae_hutchinson_mnist --workdir runs/cae_hutchinson_mnist
"""

from aejax.configs.cae_hutchinson_mnist import get_config

__all__ = ["get_config"]
