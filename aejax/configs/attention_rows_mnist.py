"""Transformer autoencoder on MNIST read as 28-step sequences of rows (one token per row), 32-d code pooled from
the encoder tokens; the decoder's 28 learned queries cross-attend to 4 memory tokens made from the code.

    aejax train --config attention_rows_mnist --workdir runs/attention_rows_mnist

Expected (2 CPU cores): the README's sequence table (benchmarks/sequence_mnist.py).
"""

from aejax.config import load_default


def get_config():
    config = load_default()
    config.data.source = "mnist"
    config.data.path = "../shared/data/mnist"
    config.data.flatten = False
    config.data.as_sequences = True
    config.model.family = "attention"
    config.model.latent_dim = 32
    config.model.attention.model_dim = 128
    config.model.attention.num_heads = 4
    config.model.attention.mlp_dim = 256
    config.model.attention.layers = 2
    config.model.output_activation = "sigmoid"
    config.train.epochs = 10
    config.train.batch_size = 128
    config.train.learning_rate = 1e-3
    config.train.schedule = "warmup_cosine"
    config.train.warmup_steps = 200
    config.train.grad_clip_norm = 1.0
    config.eval.jacobian_examples = 0
    return config
