"""Semantic hashing on MNIST: binary-code MLP autoencoders (straight-through bits) at 16, 32 and 64 bits;
the 8k training split is the database, the 1k test split the queries, a shared label makes an item relevant.

    aejax task --config hashing_mnist --workdir runs/hashing_mnist

Writes hashing.json / hashing.md (precision@100 and mAP next to PCA + sign and random projections) and
precision_at_k.png. Expected (2 CPU cores, about 2 minutes): see the README's hashing table.
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("ae_mnist")  # its 784-512-256-k MLP and training settings, one model per code size
    config.train.early_stopping_patience = 0
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    config.model.bottleneck = "binary"
    config.task.name = "hashing"
    config.task.code_sizes = (16, 32, 64)
    config.task.retrieval_k = 100
    return config
