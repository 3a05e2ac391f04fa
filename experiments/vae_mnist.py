"""VAE on dynamically binarized MNIST (8k/1k/1k split of ../shared/data/mnist): 784-200-200-50 tanh MLPs,
Bernoulli likelihood, KL to N(0, I) in closed form; test ELBO and an importance-sampled NLL (k = 5000) in nats.

Defined in aejax/configs/vae_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/vae_mnist.py` in a checkout and `--config vae_mnist` anywhere run the same config:

    aejax train --config vae_mnist --workdir runs/vae_mnist
"""

from aejax.configs.vae_mnist import get_config

__all__ = ["get_config"]
