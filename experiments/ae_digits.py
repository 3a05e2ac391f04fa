"""MLP autoencoder on scikit-learn's bundled 8x8 digits (the embedded default data, works offline).

Defined in aejax/configs/ae_digits.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/ae_digits.py` in a checkout and `--config ae_digits` anywhere run the same config:

    aejax train --config ae_digits --workdir runs/ae_digits
"""

from aejax.configs.ae_digits import get_config

__all__ = ["get_config"]
