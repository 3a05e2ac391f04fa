"""GRU sequence-to-sequence autoencoder on MNIST read as 28-step sequences of 28-pixel rows (8k/1k/1k split),
32-d code, the decoder running free (on its own outputs) in training and evaluation.

    aejax train --config gru_rows_mnist --workdir runs/gru_rows_mnist

Expected (2 CPU cores, jax 0.10.2): the README's sequence table (benchmarks/sequence_mnist.py runs it next to
the MLP, attention and capsule autoencoders).
"""

from aejax.config import get_config as _named


def get_config():
    config = _named("lstm_rows_mnist")
    config.model.sequence.cell = "gru"
    return config
