"""Dimensionality reduction: autoencoders at several code sizes against PCA on the same split.

Errors are in the units of Hinton & Salakhutdinov (2006): squared error summed over the features of an
example, averaged over test examples. Trustworthiness (sklearn.manifold.trustworthiness) says how well the
code keeps each example's nearest neighbours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness

from aejax import plots
from aejax.data import Dataset
from aejax.fitting import fit, get_dataset
from aejax.tasks.registry import register_task
from aejax.training.metrics_log import write_atomic


def squared_error_per_example(x: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean over examples of the squared error summed over features (Hinton & Salakhutdinov's units)."""
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    return float(np.mean(np.sum(np.square(x - reconstruction.reshape(x.shape)), axis=1)))


def pca_codes(
    x_train: np.ndarray, x_eval: np.ndarray, k: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, reconstructions) of x_eval by rank-k PCA fitted on x_train."""
    train = x_train.reshape(x_train.shape[0], -1)
    pca = PCA(n_components=min(k, *train.shape), random_state=seed).fit(train)
    codes = pca.transform(x_eval.reshape(x_eval.shape[0], -1))
    return codes, pca.inverse_transform(codes)


def reduction_row(trained, dataset: Dataset, neighbors: int, max_examples: int, seed: int) -> dict[str, Any]:
    """One code size: test error and trustworthiness of the autoencoder and of PCA."""
    x = dataset.x_test if dataset.x_test is not None else dataset.x_val
    if x is None:
        raise ValueError("task 'reduce' needs a test (or validation) split")
    k = int(trained.model.latent_dim)
    codes = trained.encode(x)
    pca_z, pca_x = pca_codes(dataset.x_train, x, k, seed)
    m = min(max_examples, x.shape[0]) if max_examples > 0 else x.shape[0]
    flat = x[:m].reshape(m, -1)
    return {
        "code_size": k,
        "ae_sse": squared_error_per_example(x, trained.reconstruct(x)),
        "pca_sse": squared_error_per_example(x, pca_x),
        "ae_trustworthiness": float(trustworthiness(flat, codes[:m].reshape(m, -1), n_neighbors=neighbors)),
        "pca_trustworthiness": float(trustworthiness(flat, pca_z[:m], n_neighbors=neighbors)),
        "trustworthiness_examples": m,
    }


def run_reduce(config: ml_collections.ConfigDict, workdir: str | Path | None, data: Dataset | None = None):
    """Train one autoencoder per `task.code_sizes` (in workdir/k<size>) and compare each with PCA."""
    sizes = [int(k) for k in config.task.code_sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"task.code_sizes must be a non-empty tuple of sizes >= 1, got {tuple(sizes)}")
    dataset = get_dataset(config, data)
    workdir = Path(workdir) if workdir is not None else None
    rows, scatter = [], None
    for k in sizes:
        cfg = config.copy_and_resolve_references()
        cfg.model.latent_dim = k
        trained = fit(
            cfg, data=dataset if data is not None else None, workdir=workdir / f"k{k}" if workdir else None
        )
        rows.append(
            reduction_row(trained, dataset, config.task.neighbors, config.task.max_examples, config.seed)
        )
        if k == 2 or (scatter is None and k == min(sizes)):
            scatter = trained
    report = {"task": "reduce", "data": dataset.summary(), "rows": rows}
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        write_atomic(workdir / "reduce.json", json.dumps(report, indent=2) + "\n")
        plots.save_error_vs_code_size(workdir / "error_vs_code_size.png", rows, "ae_sse", "pca_sse")
        x = dataset.x_test if dataset.x_test is not None else dataset.x_val
        y = dataset.y_test if dataset.x_test is not None else dataset.y_val
        if scatter.model.latent_dim >= 2:
            plots.save_latent_scatter(
                workdir / "latent_scatter.png",
                scatter.encode(x),
                y,
                title=f"test codes, k={scatter.model.latent_dim} (first two dimensions)",
            )
    return report


def reduce_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"reduce k={r['code_size']}: test squared error per example AE {r['ae_sse']:.2f} | PCA {r['pca_sse']:.2f}; "
        f"trustworthiness AE {r['ae_trustworthiness']:.3f} | PCA {r['pca_trustworthiness']:.3f}"
        for r in report["rows"]
    ]


register_task("reduce", run_reduce, reduce_lines)
