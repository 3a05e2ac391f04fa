"""Adversarial autoencoder (Makhzani et al. 2015) on MNIST (8k/1k/1k split of the local 10k IDX files): an MLP
784-512-256-8 whose codes are matched to an 8-d standard normal prior by a 256-256 discriminator; the
discriminator and the encoder's adversarial phase each use Adam at 5e-4 (beta1 0.5), the reconstruction phase
Adam at 1e-3.

    aejax train --config aae_mnist --workdir runs/aae_mnist
    # the same network without the adversarial phases, and both sets of test codes against the AAE's prior:
    aejax train --config aae_mnist --workdir runs/aae_mnist_plain_ae --config.model.family=autoencoder
    python -c "import aejax; from aejax.plots_generative import prior_match_report as r; \
print(r(aejax.load('runs/aae_mnist'), aejax.load('runs/aae_mnist_plain_ae')))"

Measured by `python benchmarks/reproduce.py generative-other` (README; 2 CPU cores shared with other work, jax
0.10.2): test MSE per pixel 0.0250 (plain autoencoder of the same shape 0.0188, PCA-8 0.0370); the trained
discriminator tells test codes from prior draws with accuracy 0.63 (0.67 on prior draws, 0.58 on codes), while
the unbiased MMD^2 of test codes to the prior is 0.002 against 0.363 for the plain autoencoder's codes (Gaussian
kernel, bandwidth 2.71 from the median heuristic on 1000 prior draws); an earlier run gave MSE 0.0277,
accuracy 0.49 and MMD^2 0.023. Pictures: samples.png, latent_prior.png (code units 0 and 1).
The mixture prior was harder at this budget: with latent_dim=2 (adversarial.prior='mixture') the test MSE was
0.052 (PCA-2 0.055) and the codes did not yet form the ring of 10 clusters.
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.model.family = "aae"
    config.model.latent_dim = 8
    config.model.hidden = (512, 256)
    config.adversarial.prior = "gaussian"
    config.adversarial.discriminator_hidden = (256, 256)
    config.adversarial.discriminator_learning_rate = 5e-4
    config.adversarial.generator_learning_rate = 5e-4
    config.train.epochs = 30
    config.train.batch_size = 128
    config.train.learning_rate = 1e-3
    config.train.log_every_steps = 31
    return config
