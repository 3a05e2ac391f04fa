"""Semantic hashing on MNIST: binary-code MLP autoencoders (straight-through bits) at 16, 32 and 64 bits;
the 8k training split is the database, the 1k test split the queries, a shared label makes an item relevant.

    aejax task --config experiments/hashing_mnist.py --workdir runs/hashing_mnist

Writes hashing.json / hashing.md (precision@100 and mAP next to PCA + sign and random projections) and
precision_at_k.png. Expected (2 CPU cores, about 2 minutes): see the README's hashing table.
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.model.hidden = (512, 256)
    config.model.bottleneck = "binary"
    config.train.epochs = 30
    config.train.batch_size = 128
    config.train.learning_rate = 2e-3
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 200
    config.train.grad_clip_norm = 1.0
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    config.task.name = "hashing"
    config.task.code_sizes = (16, 32, 64)
    config.task.retrieval_k = 100
    return config
