"""VAE on dynamically binarized MNIST (8k/1k/1k split of ../shared/data/mnist): 784-200-200-50 tanh MLPs,
Bernoulli likelihood, KL to N(0, I) in closed form; test ELBO and an importance-sampled NLL (k = 5000) in nats.

    aejax train --config vae_mnist --workdir runs/vae_mnist

The architecture is Burda et al.'s (2016) one-stochastic-layer model; they report NLL 86.76 (VAE) and 85.54
(IWAE, k = 5) with 60k training images; with 8k images expect higher numbers (see the README).
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.data.binarize = "dynamic"
    config.model.family = "vae"
    config.model.hidden = (200, 200)
    config.model.latent_dim = 50
    config.model.activation = "tanh"
    config.loss.reconstruction = "bernoulli"
    config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    config.train.epochs = 100
    config.train.batch_size = 100
    config.train.learning_rate = 1e-3
    config.train.early_stopping_patience = 15
    config.train.log_every_steps = 80
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    config.eval.log_likelihood_samples = 5000
    config.eval.log_likelihood_examples = 1000
    return config
