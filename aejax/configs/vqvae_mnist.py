"""VQ-VAE on MNIST (8k/1k/1k): the ae_mnist MLP with a 32-d code cut into 4 vectors of 8, each snapped to the
nearest of 64 codebook entries (straight-through gradients), codebook loss + 0.25 x commitment loss.

    aejax train --config vqvae_mnist --workdir runs/vqvae_mnist

results.json reports test MSE next to PCA-32 and the codebook usage and perplexity on the test split.
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")
    config.model.family = "vqvae"
    config.model.latent_dim = 32
    config.model.vqvae.embedding_dim = 8
    config.model.vqvae.num_embeddings = 64
    config.loss.regularizers = {
        "codebook": {"fn": "vq_codebook", "weight": 1.0},
        "commitment": {"fn": "vq_commitment", "weight": 0.25},
    }
    config.eval.jacobian_examples = 0
    return config
