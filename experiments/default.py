"""The default aejax configuration: it declares every key an experiment may set.

Defined in aejax/configs/default.py (every key and what it means); this file re-exports it, so that
`--config experiments/default.py` in a checkout and `--config default` anywhere run the same config:

    aejax train --config default --workdir runs/default
"""

from aejax.configs.default import get_config

__all__ = ["get_config"]
