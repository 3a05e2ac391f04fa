"""Scoring, summaries and pictures of the disentangle task (`aejax.tasks.disentangle`).

Every model is scored on the same fresh sample of the generator (seeded by data.split_seed, not by the
model's seed): `task.metric_examples` codes for mig, sap, dci and modularity, and `task.score_examples`
training points (half as many evaluation points) for the beta-VAE and FactorVAE scores. Codes are the
posterior means (`Trained.encode`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aejax import plots
from aejax.disentanglement import (
    beta_vae_score,
    dci,
    discrete_entropy,
    discretize_codes,
    factor_vae_score,
    mig,
    modularity,
    mutual_info_matrix,
    sap,
)
from aejax.training.metrics_log import write_atomic

METRIC_COLUMNS = (
    "mig",
    "sap",
    "dci_disentanglement",
    "dci_completeness",
    "dci_informativeness",
    "modularity",
    "explicitness",
    "beta_vae_score",
    "factor_vae_score",
    "negative_elbo",
)
TRAVERSAL_VALUES = np.linspace(-2.5, 2.5, 9)


def score_model(trained, ground_truth, config) -> dict[str, Any]:
    """Every metric of one trained model, plus its test -ELBO and the (K, F) matrix of each code unit's mutual
    information with each factor over the factor's entropy (what the traversal pictures are labelled with)."""
    task = config.task
    rng = np.random.default_rng(config.data.split_seed + 1)
    indices = ground_truth.sample_factors(int(task.metric_examples), rng)
    codes = encode(trained, ground_truth.render(indices))
    scores = {"mig": mig(codes, indices), "sap": sap(codes, indices)}
    scores.update({f"dci_{k}": v for k, v in dci(codes, indices, classifier="random_forest").items()})
    scores.update(modularity(codes, indices))
    n = int(task.score_examples)
    sizes = {"num_train": n, "num_eval": max(1, n // 2)}
    represent = lambda x: encode(trained, x)
    beta = beta_vae_score(represent, ground_truth, np.random.default_rng(config.data.split_seed + 2), **sizes)
    factor = factor_vae_score(
        represent,
        ground_truth,
        np.random.default_rng(config.data.split_seed + 3),
        num_variance_estimate=n,
        **sizes,
    )
    scores["beta_vae_score"] = beta["eval_accuracy"]
    scores["factor_vae_score"] = factor["eval_accuracy"]
    scores["active_dims"] = factor["num_active_dims"]
    scores["negative_elbo"] = trained.results["test"]["negative_elbo"]
    scores["unit_factor_mi"] = normalized_mutual_info(codes, indices).round(4).tolist()
    return scores


def encode(trained, images: np.ndarray) -> np.ndarray:
    """Posterior means of images (N, H, W, C), flattened when the model reads flat vectors."""
    return trained.encode(images.reshape(images.shape[0], *trained.input_shape))


def normalized_mutual_info(codes: np.ndarray, indices: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """(K, F): I(z_k; v_j) / H(v_j) with codes in `num_bins` equal-width bins (MIG's estimator)."""
    mi = mutual_info_matrix(discretize_codes(codes, num_bins), indices)
    entropy = np.array([discrete_entropy(column) for column in indices.T])
    return mi / np.maximum(entropy, 1e-12)[None, :]


def model_summary(trained: list, scores: list, seconds: dict, workdir, name: str, ground_truth, config):
    """Mean and sample standard deviation (ddof 1) over seeds of every metric, the per-seed scores, the
    seconds spent training (with each seed's evaluation in fit) and scoring all seeds, and the traversal
    picture of the seed with the best MIG (in workdir)."""
    table = {m: [s[m] for s in scores] for m in METRIC_COLUMNS}
    best = int(np.argmax(table["mig"]))
    summary = {
        "seeds": [int(t.config.seed) for t in trained],
        "mean": {m: float(np.mean(v)) for m, v in table.items()},
        "std": {m: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for m, v in table.items()},
        "per_seed": scores,
        "seconds": round(seconds["train"] + seconds["score"], 1),
        "train_seconds": round(seconds["train"], 1),
        "score_seconds": round(seconds["score"], 1),
        "best_seed": int(trained[best].config.seed),
    }
    if workdir is not None:
        path = Path(workdir) / f"traversal_{name}.png"
        save_model_traversal(path, trained[best], ground_truth, scores[best]["unit_factor_mi"], name)
        summary["traversal"] = path.name
    return summary


def save_model_traversal(path: Path, trained, ground_truth, unit_factor_mi, name: str) -> Path:
    """Each code unit swept over TRAVERSAL_VALUES from the code of one image (the middle value of every
    factor), one row per unit, rows ordered by the unit's best normalized MI with a factor and labelled
    with that factor."""
    middle = np.array([[size // 2 for size in ground_truth.factor_sizes]])
    image = ground_truth.render(middle)
    mi = np.asarray(unit_factor_mi)
    order = np.argsort(-mi.max(axis=1))
    rows = trained.traverse(image.reshape(1, *trained.input_shape), dims=order, values=TRAVERSAL_VALUES)
    labels = [f"z{k}: {ground_truth.factor_names[int(np.argmax(mi[k]))]} {mi[k].max():.2f}" for k in order]
    title = f"{name}: each code unit from -2.5 to 2.5 (label: the factor it tells most of, MI / H)"
    return plots.save_traversals(path, rows, ground_truth.observation_shape, labels, title)


def markdown_table(report: dict[str, Any]) -> str:
    """One row per model: mean ± std over seeds of every metric, and the time for all its seeds."""
    head = ["model", *METRIC_COLUMNS, "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, model in report["models"].items():
        cells = [f"{model['mean'][m]:.3f} ± {model['std'][m]:.3f}" for m in METRIC_COLUMNS]
        lines.append("| " + " | ".join([name, *cells, f"{model['seconds']:.0f}"]) + " |")
    return "\n".join(lines) + "\n"


def write_report_files(workdir: Path, report: dict[str, Any]) -> None:
    """disentangle.json, disentangle.md (the table) and metrics.png (MIG and DCI per model and seed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    write_atomic(workdir / "disentangle.json", json.dumps(report, indent=2) + "\n")
    write_atomic(workdir / "disentangle.md", markdown_table(report))
    per_seed = {
        name: {m: [s[m] for s in model["per_seed"]] for m in ("mig", "dci_disentanglement", "sap")}
        for name, model in report["models"].items()
    }
    plots.save_metric_dots(workdir / "metrics.png", per_seed, "disentanglement metrics per seed")


def summary_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, model in report["models"].items():
        mean, std = model["mean"], model["std"]
        lines.append(
            f"disentangle {name}: MIG {mean['mig']:.3f}±{std['mig']:.3f} | SAP {mean['sap']:.3f} | "
            f"DCI-D {mean['dci_disentanglement']:.3f} | FactorVAE score {mean['factor_vae_score']:.3f} | "
            f"-ELBO {mean['negative_elbo']:.1f} ({model['seconds']:.0f} s, seeds {model['seeds']})"
        )
    lines.append(f"best by MIG: {report['best_model']}; {report['wall_seconds']:.0f} s in all")
    return lines
