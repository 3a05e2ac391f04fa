"""The VAE / IWAE table: trained on the ELBO and on the IWAE bound (k = 5, 50), test ELBO, NLL and active units
(the adversarial AE and the VQ-VAE are `generative_other`)."""

from __future__ import annotations

from pathlib import Path

from . import common

NAME = "generative-table"
MARKERS = ("<!-- generative-table:start -->", "<!-- generative-table:end -->")
SUMMARY = "VAE / IWAE-5 / IWAE-50 test NLL (about 25 min)"
VAES = (("vae_mnist", "ELBO"), ("iwae5_mnist", "IWAE, k = 5"), ("iwae50_mnist", "IWAE, k = 50"))


def run(workdir: Path) -> dict:
    """Train the VAE and the two IWAEs in `workdir` (each with its NLL estimate) and collect their results.json."""
    started = common.load()
    runs = {config: common.train(config, workdir) for config, _ in VAES}
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
    ]
    return "\n".join(lines) + "\n"
