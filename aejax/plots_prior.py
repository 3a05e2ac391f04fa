"""Codes of a generative autoencoder against draws from its prior (PNG, written atomically).

The pictures alone, below `aejax.fitting` (which draws latent_prior.png after a fit); `aejax.plots_generative`
builds reports on them from a config's dataset.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from aejax.plots import plt, save_figure


def save_codes_vs_prior(
    path: str | Path,
    codes: np.ndarray,
    labels: np.ndarray | None,
    prior: np.ndarray,
    dims: tuple[int, int] = (0, 1),
    title: str = "codes",
) -> Path:
    """Two panels on the same axes: draws from the prior, and codes (coloured by label when given) over
    the prior draws in grey; code units `dims` only."""
    a, b = dims
    both = np.concatenate([codes[:, [a, b]], prior[:, [a, b]]])
    low, high = np.percentile(both, 0.5, axis=0), np.percentile(both, 99.5, axis=0)
    pad = 0.08 * (high - low)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharex=True, sharey=True)
    axes[0].scatter(prior[:, a], prior[:, b], s=3, alpha=0.4, color="0.35", linewidths=0)
    axes[0].set_title(f"prior draws ({prior.shape[0]})")
    axes[1].scatter(prior[:, a], prior[:, b], s=3, alpha=0.15, color="0.6", linewidths=0)
    if labels is None:
        axes[1].scatter(codes[:, a], codes[:, b], s=4, alpha=0.6, linewidths=0)
    else:
        colours = plt.get_cmap("tab10")
        for i, label in enumerate(np.unique(labels)):
            rows = labels == label
            axes[1].scatter(
                codes[rows, a],
                codes[rows, b],
                s=4,
                alpha=0.7,
                linewidths=0,
                color=colours(i % 10),
                label=str(label),
            )
        axes[1].legend(
            loc="center left", bbox_to_anchor=(1.02, 0.5), markerscale=3, frameon=False, title="label"
        )
    axes[1].set_title(f"{title} ({codes.shape[0]}) over the prior")
    for ax in axes:
        ax.set_xlim(low[0] - pad[0], high[0] + pad[0])
        ax.set_ylim(low[1] - pad[1], high[1] + pad[1])
        ax.set_xlabel(f"z[{a}]")
        ax.set_aspect("equal", adjustable="box")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"z[{b}]")
    return save_figure(fig, path)


def draw_prior_scatter(
    trained, x: np.ndarray, labels: np.ndarray | None, path: str | Path, seed: int = 0
) -> Path:
    """`save_codes_vs_prior` for a Trained generative model: the codes of `x` against as many prior draws."""
    codes = trained.encode(x)
    key = jax.random.PRNGKey(seed)
    prior = np.asarray(
        trained.model.apply({"params": trained.params}, key, codes.shape[0], method="prior_sample")
    )
    return save_codes_vs_prior(path, codes, labels, prior, title="codes")
