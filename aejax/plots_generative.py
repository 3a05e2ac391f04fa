"""Pictures and reports of generative autoencoders: codes against draws from the prior.

`prior_match_report` reads the test split of a trained model's config (`aejax.fitting.get_dataset`); the
pictures themselves live in `aejax.plots_prior`, below the fit that draws them.
"""

from __future__ import annotations

import jax
import numpy as np

from aejax.fitting import get_dataset
from aejax.plots_prior import draw_prior_scatter, save_codes_vs_prior
from aejax.training.adversarial import prior_mmd

__all__ = ["draw_prior_scatter", "prior_match_report", "save_codes_vs_prior"]


def prior_match_report(aae, baseline=None, split: str = "test") -> dict:
    """For a Trained AAE (and optionally a baseline Trained with the same code size, e.g. a plain autoencoder):
    write `latent_prior.png` (codes of `split` against the AAE's prior) into each workdir and return the prior
    MMD^2 of each model's codes against the AAE's prior (`aejax.training.adversarial.prior_mmd`)."""
    x, y = get_dataset(aae.config).split(split)
    seed = aae.config.seed
    report = {"aae": prior_mmd(aae.model, aae.encode(x), seed)}
    if aae.workdir is not None:
        draw_prior_scatter(aae, x, y, aae.workdir / "latent_prior.png", seed=seed)
    if baseline is not None:
        codes = baseline.encode(x)
        report["baseline"] = prior_mmd(aae.model, codes, seed)
        if baseline.workdir is not None:
            prior = np.asarray(
                aae.model.apply(
                    {"params": aae.params}, jax.random.PRNGKey(seed), len(x), method="prior_sample"
                )
            )
            save_codes_vs_prior(
                baseline.workdir / "latent_prior.png", codes, y, prior, title=f"{split} codes"
            )
    return report
