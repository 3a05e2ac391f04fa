"""I-AutoRec on MovieLens 100k: each of the 1,682 items is a vector of its ratings by the 943 users (0 = none);
a 500-unit sigmoid autoencoder is trained on the observed entries of 90% of the ratings (seeded split) and
predicts the held-out 10%.

Defined in aejax/configs/autorec_ml100k.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/autorec_ml100k.py` in a checkout and `--config autorec_ml100k` anywhere run the same config:

    aejax task --config autorec_ml100k --workdir runs/autorec_ml100k --config.data.path=../shared/data/ml-100k
"""

from aejax.configs.autorec_ml100k import get_config

__all__ = ["get_config"]
