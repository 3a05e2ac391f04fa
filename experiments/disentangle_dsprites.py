"""Disentanglement on generated dSprites: VAE, beta-VAE, beta-TCVAE, FactorVAE and DIP-VAE-I over 3 seeds,
scored by every metric of aejax.disentanglement, with latent traversals.

Defined in aejax/configs/disentangle_dsprites.py (the settings and how they were sized); this file re-exports
it, so that `--config experiments/disentangle_dsprites.py` in a checkout and `--config disentangle_dsprites`
anywhere run the same config:

    aejax task --config experiments/disentangle_dsprites.py --workdir runs/disentangle
"""

from aejax.configs.disentangle_dsprites import get_config

__all__ = ["get_config"]
