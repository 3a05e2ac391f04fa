"""LSTM sequence-to-sequence autoencoder on MNIST read as 28-step sequences of 28-pixel rows (8k/1k/1k split),
32-d code, the decoder running free (on its own outputs) in training and evaluation.

Defined in aejax/configs/lstm_rows_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/lstm_rows_mnist.py` in a checkout and `--config lstm_rows_mnist` anywhere run the same config:

    aejax train --config lstm_rows_mnist --workdir runs/lstm_rows_mnist
"""

from aejax.configs.lstm_rows_mnist import get_config

__all__ = ["get_config"]
