"""Sequence anomalies: an LSTM autoencoder trained on 4000 clean generated sums of sines (64 steps) scores 1000
generated test sequences of which 20% hold a spike, a level shift or a frequency change.

Defined in aejax/configs/sequence_anomaly_sines.py (the settings and the result to expect); this file re-exports it, so that
`--config experiments/sequence_anomaly_sines.py` in a checkout and `--config sequence_anomaly_sines` anywhere run the same config:

    aejax task --config sequence_anomaly_sines --workdir runs/sequence_anomaly_sines
"""

from aejax.configs.sequence_anomaly_sines import get_config

__all__ = ["get_config"]
