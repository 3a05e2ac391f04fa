"""Transformer autoencoder on MNIST read as 28-step sequences of rows (one token per row), 32-d code pooled from
the encoder tokens; the decoder's 28 learned queries cross-attend to 4 memory tokens made from the code.

Defined in aejax/configs/attention_rows_mnist.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/attention_rows_mnist.py` in a checkout and `--config attention_rows_mnist` anywhere run the same config:

    aejax train --config attention_rows_mnist --workdir runs/attention_rows_mnist
"""

from aejax.configs.attention_rows_mnist import get_config

__all__ = ["get_config"]
