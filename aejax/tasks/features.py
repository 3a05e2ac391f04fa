"""Codes as features for downstream models: linear-probe and k-NN accuracy of autoencoder codes, next to
raw inputs and PCA codes of the same size, on the same train/test split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aejax import plots
from aejax.data import Dataset
from aejax.fitting import fit, get_dataset
from aejax.tasks.reduction import pca_codes, squared_error_per_example
from aejax.tasks.registry import register_task
from aejax.training.metrics_log import write_atomic


def probe_accuracies(
    train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray, neighbors: int, seed: int
) -> dict[str, float]:
    """Test accuracy of a standardized logistic regression and of a k-NN classifier fitted on `train`."""
    train, test = train.reshape(train.shape[0], -1), test.reshape(test.shape[0], -1)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    knn = KNeighborsClassifier(n_neighbors=neighbors)
    return {
        "linear_probe": float(probe.fit(train, y_train).score(test, y_test)),
        "knn": float(knn.fit(train, y_train).score(test, y_test)),
    }


def run_features(
    config: ml_collections.ConfigDict, workdir: str | Path | None, data: Dataset | None = None
) -> dict[str, Any]:
    """Train the configured autoencoder, then probe its codes, PCA codes (same size) and raw inputs."""
    dataset = get_dataset(config, data)
    if dataset.y_train is None or dataset.y_test is None or dataset.x_test is None:
        raise ValueError("task 'features' needs labels for the train and test splits")
    trained = fit(config, data=data, workdir=workdir)
    n_train = dataset.x_train.shape[0]
    if config.task.max_examples > 0:
        n_train = min(n_train, 4 * config.task.max_examples)  # keeps the raw-pixel probe affordable
    x_train, y_train = dataset.x_train[:n_train], dataset.y_train[:n_train]
    x_test, y_test = dataset.x_test, dataset.y_test
    k = int(trained.model.latent_dim)
    pca_train, _ = pca_codes(dataset.x_train, x_train, k, config.seed)
    pca_test, pca_reconstruction = pca_codes(dataset.x_train, x_test, k, config.seed)
    args = (config.task.neighbors, config.seed)
    report = {
        "task": "features",
        "data": dataset.summary(),
        "code_size": k,
        "probe_train_examples": n_train,
        "test_sse_autoencoder": squared_error_per_example(x_test, trained.reconstruct(x_test)),
        "test_sse_pca": squared_error_per_example(x_test, pca_reconstruction),
        "autoencoder_codes": probe_accuracies(
            trained.encode(x_train), y_train, trained.encode(x_test), y_test, *args
        ),
        "pca_codes": probe_accuracies(pca_train, y_train, pca_test, y_test, *args),
        "raw_inputs": probe_accuracies(x_train, y_train, x_test, y_test, *args),
    }
    if workdir is not None:
        workdir = Path(workdir)
        write_atomic(workdir / "features.json", json.dumps(report, indent=2) + "\n")
        if k >= 2:
            plots.save_latent_scatter(
                workdir / "latent_scatter.png",
                trained.encode(x_test),
                y_test,
                f"test codes, k={k} (first two)",
            )
    return report


def features_lines(report: dict[str, Any]) -> list[str]:
    k = report["code_size"]
    return [
        f"features: {label} linear probe {report[key]['linear_probe']:.4f}, {key_knn} {report[key]['knn']:.4f}"
        for key, label, key_knn in (
            ("autoencoder_codes", f"AE codes ({k})", "k-NN"),
            ("pca_codes", f"PCA codes ({k})", "k-NN"),
            ("raw_inputs", "raw inputs", "k-NN"),
        )
    ] + [
        f"features: test squared error per example AE {report['test_sse_autoencoder']:.2f} | "
        f"PCA {report['test_sse_pca']:.2f}"
    ]


register_task("features", run_features, features_lines)
