"""The second generative table: the adversarial autoencoder (with a plain autoencoder of the same shape, whose
codes are measured against the AAE's prior) and the VQ-VAE."""

from __future__ import annotations

import sys
from pathlib import Path

from . import common

NAME = "generative-other"
MARKERS = ("<!-- generative-other:start -->", "<!-- generative-other:end -->")
SUMMARY = "adversarial AE (with a plain AE for the prior match) and VQ-VAE (about 2 min)"
PRIOR_MATCH = (
    "import json, sys, aejax; from aejax.plots_generative import prior_match_report as r; "
    "json.dump(r(aejax.load(sys.argv[1]), aejax.load(sys.argv[2])), open(sys.argv[3], 'w'), default=float)"
)


def _prior_match(workdir: Path) -> dict:
    """`prior_match_report(aae, plain AE)`: both sets of test codes against the AAE's prior (MMD^2)."""
    match = workdir / "prior_match.json"
    aae, plain = workdir / "aae_mnist", workdir / "aae_mnist_plain_ae"
    record = common.run([sys.executable, "-c", PRIOR_MATCH, str(aae), str(plain), str(match)], match)
    record["command"] = "python -c 'prior_match_report(aae_mnist, aae_mnist_plain_ae)'"
    return record


def run(workdir: Path) -> dict:
    """Train the AAE, the plain AE of its shape and the VQ-VAE in `workdir`; collect their results.json."""
    started = common.load()
    plain = "--config.model.family=autoencoder"
    runs = {"aae_mnist": common.train("aae_mnist", workdir)}
    runs["aae_mnist_plain_ae"] = common.attach(
        common.run(
            common.aejax_command("train", "aae_mnist", workdir / "aae_mnist_plain_ae", plain),
            workdir / "aae_mnist_plain_ae" / "results.json",
        ),
        workdir / "aae_mnist_plain_ae",
    )
    runs["prior_match"] = _prior_match(workdir)
    runs["vqvae_mnist"] = common.train("vqvae_mnist", workdir)
    return {"meta": common.runs_meta(list(runs.values()), started), "runs": runs}


def _aae_row(runs: dict) -> str:
    aae, plain, match = runs["aae_mnist"], runs["aae_mnist_plain_ae"], runs["prior_match"]["report"]
    test, model = aae["report"]["test"], aae["config"]["model"]
    widths = "-".join(str(w) for w in [784, *model["hidden"], model["latent_dim"]])
    return (
        f"| `{common.display(aae['command'])}` ({widths}, {aae['config']['adversarial']['prior']} prior) | MSE "
        f"{test['mse']:.4f} (PCA-{test['pca_components']} {test['pca_mse']:.4f}; a plain AE of the same shape, "
        f"`--config.model.family=autoencoder`, {plain['report']['test']['mse']:.4f}); discriminator accuracy "
        f"codes vs prior {test['disc_accuracy']:.2f} ({test['disc_accuracy_real']:.2f} on prior draws, "
        f"{test['disc_accuracy_fake']:.2f} on codes); prior MMD^2 {match['aae']['prior_mmd2']:.3f} (bandwidth "
        f"{match['aae']['mmd_bandwidth']:.2f}), vs {match['baseline']['prior_mmd2']:.3f} for the plain AE | "
        f"{aae['wall_seconds']:.0f} s (plain AE {plain['wall_seconds']:.0f} s) |"
    )


def _vqvae_row(run: dict) -> str:
    test, vq = run["report"]["test"], run["config"]["model"]["vqvae"]
    codes = run["config"]["model"]["latent_dim"] // vq["embedding_dim"]
    return (
        f"| `{common.display(run['command'])}` ({codes} x {vq['embedding_dim']}-d codes, {vq['num_embeddings']} "
        f"entries) | MSE {test['mse']:.4f} (PCA-{test['pca_components']} {test['pca_mse']:.4f}); codebook usage "
        f"{test['codebook_usage']:.2f}, perplexity {test['codebook_perplexity']:.1f} | {run['wall_seconds']:.0f} s |"
    )


def render(record: dict) -> str:
    runs = record["runs"]
    caption = (
        f"MNIST 8k/1k/1k; {common.wall(record['meta'])}; the prior match is `aejax.plots_generative."
        "prior_match_report` on both runs. " + common.regenerate(NAME)
    )
    lines = [
        common.paragraph(caption),
        "",
        "| command | result (test split) | wall |",
        "|---|---|---|",
        _aae_row(runs),
        _vqvae_row(runs["vqvae_mnist"]),
    ]
    return "\n".join(lines) + "\n"
