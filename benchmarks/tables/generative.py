"""The generative-autoencoder table: VAE and IWAE (k = 5, 50) with their test NLL, then the adversarial
autoencoder (with a plain AE of the same shape for the prior match) and the VQ-VAE."""

from __future__ import annotations

import sys
from pathlib import Path

from . import common

NAME = "generative-table"
MARKERS = ("<!-- generative-table:start -->", "<!-- generative-table:end -->")
PENDING = "not regenerated yet: the README still shows the numbers pasted from run directories"
SUMMARY = "VAE / IWAE-5 / IWAE-50 test NLL, AAE and VQ-VAE (about 25 min)"
VAES = (("vae_mnist", "ELBO"), ("iwae5_mnist", "IWAE, k = 5"), ("iwae50_mnist", "IWAE, k = 50"))
PRIOR_MATCH = (
    "import json, sys, aejax; from aejax.plots_generative import prior_match_report as r; "
    "json.dump(r(aejax.load(sys.argv[1]), aejax.load(sys.argv[2])), open(sys.argv[3], 'w'), default=float)"
)


def train(config: str, workdir: Path, *overrides: str) -> dict:
    argv = common.aejax_command("train", config, workdir / config, *overrides)
    return common.run(argv, workdir / config / "results.json")


def run(workdir: Path) -> dict:
    """Train every model of the table in `workdir` and collect each run's results.json."""
    started = common.load()
    runs = {config: train(config, workdir) for config, _ in VAES}
    runs["aae_mnist"] = train("aae_mnist", workdir)
    plain = "--config.model.family=autoencoder"
    runs["aae_mnist_plain_ae"] = common.run(
        common.aejax_command("train", "aae_mnist", workdir / "aae_mnist_plain_ae", plain),
        workdir / "aae_mnist_plain_ae" / "results.json",
    )
    match = workdir / "prior_match.json"
    argv = [
        sys.executable,
        "-c",
        PRIOR_MATCH,
        str(workdir / "aae_mnist"),
        str(workdir / "aae_mnist_plain_ae"),
    ]
    runs["prior_match"] = common.run([*argv, str(match)], match)
    runs["prior_match"]["command"] = "python -c 'prior_match_report(aae_mnist, aae_mnist_plain_ae)'"
    runs["vqvae_mnist"] = train("vqvae_mnist", workdir)
    return {"meta": common.runs_meta(list(runs.values()), started), "runs": runs}


def _vae_row(run: dict, label: str, best_nll: float) -> str:
    test, latent = run["report"]["test"], run["config"]["model"]["latent_dim"]
    nll = f"{test['nll']:.2f}"
    return (
        f"| `{common.display(run['command'])}` | {label} | {test['elbo']:.2f} | {test['reconstruction']:.2f} / "
        f"{test['kl']:.2f} | {f'**{nll}**' if test['nll'] == best_nll else nll} | {test['nll_bits_per_dim']:.4f} | "
        f"{test['active_units']} / {latent} | {run['wall_seconds']:.0f} s |"
    )


def _vae_caption(runs: dict, meta: dict) -> str:
    config, test = runs["vae_mnist"]["config"], runs["vae_mnist"]["report"]["test"]
    model, train = config["model"], config["train"]
    widths = "-".join(str(w) for w in [784, *model["hidden"], model["latent_dim"]])
    return (
        "Dynamically binarized MNIST (8k train images of `../shared/data/mnist`, 1k val, 1k test binarized once), "
        f"{widths} {model['activation']} MLPs, Adam {train['learning_rate']:g}, batch {train['batch_size']}, "
        f"{train['epochs']} epochs; test NLL from k = {test['nll_samples']} importance samples on the "
        f"{test['nll_examples']:,} test images ({common.wall(meta)}; wall time includes the NLL estimate). Burda "
        "et al. (2016) report 86.76 / 85.54 for this architecture with 60k training images. "
        + common.regenerate(NAME)
    )


def _vae_summary(tests: list[dict]) -> str:
    """Whether the runs show Burda et al.'s pattern: a tighter bound, lower NLL and more active units, worse ELBO."""
    nll = [t["nll"] for t in tests]
    units = [t["active_units"] for t in tests]
    elbo = [t["elbo"] for t in tests]
    if nll == sorted(nll, reverse=True) and units == sorted(units) and elbo == sorted(elbo, reverse=True):
        return (
            "As in Burda et al., training on the tighter bound lowers the NLL and uses more latent units while "
            "its ELBO gets worse."
        )
    return (
        f"Training on the tighter bound gives test NLLs {' / '.join(f'{v:.2f}' for v in nll)}, active units "
        f"{' / '.join(map(str, units))} and ELBOs {' / '.join(f'{v:.2f}' for v in elbo)} (k = 1, 5, 50)."
    )


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
    tests = [runs[config]["report"]["test"] for config, _ in VAES]
    best = min(t["nll"] for t in tests)
    lines = [
        common.paragraph(_vae_caption(runs, record["meta"])),
        "",
        "| command | trained on | test ELBO | reconstruction / KL | test NLL (nats) | bits/dim | active units | wall |",
        "|---|---|---|---|---|---|---|---|",
        *(_vae_row(runs[config], label, best) for config, label in VAES),
        "",
        common.paragraph(_vae_summary(tests)),
        "",
        "| command | result (test split) | wall |",
        "|---|---|---|",
        _aae_row(runs),
        _vqvae_row(runs["vqvae_mnist"]),
    ]
    return "\n".join(lines) + "\n"
