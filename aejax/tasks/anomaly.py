"""Anomaly detection with a trained autoencoder: scores, thresholds, detection metrics and pictures.

Conventions: label 1 = anomaly, 0 = normal; a higher score is more anomalous; an example is flagged as an
anomaly when its score is strictly above the threshold (`score > threshold`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as sk_metrics

from aejax.data import Dataset
from aejax.fitting import fit, get_dataset
from aejax.tasks.registry import register_task
from aejax.trained import Trained
from aejax.training.metrics_log import write_atomic


def reconstruction_scores(trained: Trained, x) -> np.ndarray:
    """Per-example anomaly score: the model's configured reconstruction loss (`Trained.score`), float64."""
    return trained.score(x).astype(np.float64)


def squared_error_map(trained: Trained, x) -> np.ndarray:
    """Per-feature squared error `(x - reconstruct(x))**2`, the same shape as `x` (where the anomaly is)."""
    x = np.asarray(x)
    reconstruction = trained.reconstruct(x)  # checks dtype, finiteness and shape
    return np.square(x.astype(np.float32) - reconstruction.reshape(x.shape))


def _check_scores(name: str, scores) -> np.ndarray:
    array = np.asarray(scores)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of per-example scores, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite values (NaN or Inf), first at index "
            f"{int(np.flatnonzero(bad)[0])}"
        )
    return array


def _check_labels(name: str, labels, n: int, scores_name: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of 0/1 labels, got shape {array.shape}")
    if array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} entries but {scores_name} has {n}; they must match")
    if array.dtype == bool:
        array = array.astype(np.int64)
    values = np.unique(array)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must hold 0 (normal) and 1 (anomaly), got values {values.tolist()[:10]}")
    if values.size < 2:
        only = "normal (0)" if values[0] == 0 else "anomalous (1)"
        raise ValueError(f"{name} holds a single class (all {only}); detection metrics need both 0 and 1")
    return array.astype(np.int64)


def contamination_threshold(train_scores, contamination: float) -> float:
    """The (1 - contamination) quantile of the training scores (linear interpolation).

    About a `contamination` fraction of the training examples lie strictly above it.
    """
    scores = _check_scores("train_scores", train_scores)
    if not 0.0 < float(contamination) < 1.0:
        raise ValueError(f"contamination must be in (0, 1), got {contamination!r}")
    return float(np.quantile(scores, 1.0 - float(contamination)))


def validation_threshold(val_scores, val_labels) -> float:
    """The threshold with the highest F1 on a labelled validation set (exact search).

    Every distinct flagged set {score > t} is tried once: t runs over the unique scores (each flags the
    examples strictly above it) plus one value just below the smallest score (flags everything). Among equal
    F1s the highest threshold (fewest alarms) wins.
    """
    scores = _check_scores("val_scores", val_scores)
    labels = _check_labels("val_labels", val_labels, scores.shape[0], "val_scores")
    unique = np.unique(scores)
    candidates = np.concatenate([[np.nextafter(unique[0], -np.inf)], unique])
    anomalous = np.sort(scores[labels == 1])
    normal = np.sort(scores[labels == 0])
    true_pos = anomalous.size - np.searchsorted(anomalous, candidates, side="right")
    false_pos = normal.size - np.searchsorted(normal, candidates, side="right")
    false_neg = anomalous.size - true_pos
    f1 = 2 * true_pos / np.maximum(2 * true_pos + false_pos + false_neg, 1)
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(candidates[best])


def predict_anomalies(scores, threshold: float) -> np.ndarray:
    """1 where `score > threshold` (anomaly), else 0; int64."""
    return (_check_scores("scores", scores) > float(threshold)).astype(np.int64)


def detection_metrics(scores, labels, threshold: float | None) -> dict[str, Any]:
    """AUROC, AUPRC (average precision) and, at `threshold` (None: skipped), precision, recall and F1.

    Label 1 = anomaly; higher scores are more anomalous; an example is flagged when `score > threshold`.
    """
    scores = _check_scores("scores", scores)
    labels = _check_labels("labels", labels, scores.shape[0], "scores")
    out: dict[str, Any] = {
        "auroc": float(sk_metrics.roc_auc_score(labels, scores)),
        "auprc": float(sk_metrics.average_precision_score(labels, scores)),
        "n": int(scores.shape[0]),
        "n_anomalies": int(labels.sum()),
    }
    if threshold is not None:
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        flagged = (scores > float(threshold)).astype(np.int64)
        precision, recall, f1, _ = sk_metrics.precision_recall_fscore_support(
            labels, flagged, average="binary", pos_label=1, zero_division=0
        )
        out.update(
            threshold=float(threshold),
            flagged=int(flagged.sum()),
            precision=float(precision),
            recall=float(recall),
            f1=float(f1),
        )
    return out


def _save_figure(fig, path: str | Path) -> Path:
    """Write a PNG so readers see the old or the new picture, never a half-written one."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def save_roc_curves(path: str | Path, curves: Mapping[str, tuple[Any, Any]], title: str = "") -> Path:
    """ROC curves, one per `name -> (scores, labels)`, each labelled with its AUROC; PNG at `path`."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    if not curves:
        raise ValueError("save_roc_curves needs at least one curve")
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for name, (scores, labels) in curves.items():
        scores = _check_scores(f"{name} scores", scores)
        labels = _check_labels(f"{name} labels", labels, scores.shape[0], f"{name} scores")
        fpr, tpr, _ = sk_metrics.roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {sk_metrics.auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save_figure(fig, path)


def save_score_histogram(
    path: str | Path, scores, labels, threshold: float | None = None, title: str = ""
) -> Path:
    """Histograms of normal and anomalous scores (fraction of each group per bin) on shared bins, log-spaced
    for positive scores spanning over two decades, with the threshold as a vertical line; PNG at `path`."""
    from matplotlib.figure import Figure

    scores = _check_scores("scores", scores)
    labels = _check_labels("labels", labels, scores.shape[0], "scores")
    low, high = float(scores.min()), float(scores.max())
    log_scale = low > 0 and high / low > 100
    bins = np.geomspace(low, high, 51) if log_scale else np.histogram_bin_edges(scores, bins=50)
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for value, name, color in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        group = scores[labels == value]
        # Fractions of each group per bin (not densities, which log-spaced bins would distort).
        weights = np.full(group.size, 1.0 / max(group.size, 1))
        ax.hist(group, bins=bins, weights=weights, alpha=0.5, color=color, label=f"{name} (n={group.size})")
    if threshold is not None:
        ax.axvline(float(threshold), color="black", linestyle="--", linewidth=1, label="threshold")
    if log_scale:
        ax.set_xscale("log")
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("fraction of group")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return _save_figure(fig, path)


def _one_class_data(dataset, c: int, normal) -> Dataset:
    """The training examples `normal` of class `c`, and the validation examples of that class if any."""
    val_normal = None if dataset.x_val is None else dataset.x_val[dataset.y_val == c]
    return Dataset(
        x_train=normal,
        x_val=val_normal if val_normal is not None and len(val_normal) else None,
        value_range=dataset.value_range,
        name=f"{dataset.name} class {c}",
    )


def _baseline_score_fns(normal, config) -> dict[str, Any]:
    """Scores of IsolationForest (negated: higher is more anomalous) and of PCA reconstruction error, both
    fitted on the normal training examples."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    flat = lambda a: a.reshape(a.shape[0], -1)
    forest = IsolationForest(n_estimators=100, random_state=config.seed).fit(flat(normal))
    pca = PCA(n_components=min(config.model.latent_dim, *flat(normal).shape), random_state=config.seed)
    pca.fit(flat(normal))
    return {
        "isolation_forest": lambda x: -forest.score_samples(flat(x)),
        "pca": lambda x: np.mean(np.square(pca.inverse_transform(pca.transform(flat(x))) - flat(x)), axis=1),
    }


def _method_metrics(score, dataset, c: int, normal, labels, contamination: float):
    """(detection metrics on the test split at the contamination threshold of the normal training scores, plus
    the F1 at the best-F1 validation threshold when the validation split holds both classes; test scores)."""
    test_scores = score(dataset.x_test)
    threshold = contamination_threshold(score(normal), contamination)
    metrics = detection_metrics(test_scores, labels, threshold)
    if dataset.x_val is not None and len(np.unique(dataset.y_val != c)) == 2:
        val_threshold = validation_threshold(score(dataset.x_val), (dataset.y_val != c).astype(np.int64))
        metrics["f1_at_validation_threshold"] = detection_metrics(test_scores, labels, val_threshold)["f1"]
    return metrics, test_scores


def run_anomaly(config, workdir: str | Path | None, data=None) -> dict[str, Any]:
    """One-class protocol on a labelled dataset: train on the examples of class `task.normal_class`, score
    every test example (the other classes are the anomalies), next to IsolationForest and PCA reconstruction
    error fitted on the same normal examples. Thresholds: the `task.contamination` quantile of the training
    scores, and the best-F1 threshold on the (labelled) validation split."""
    import json

    dataset = get_dataset(config, data)
    c = int(config.task.normal_class)
    if dataset.y_train is None or dataset.y_test is None:
        raise ValueError("task 'anomaly' needs labels for the train and test splits (one class is 'normal')")
    if c not in set(np.unique(dataset.y_train).tolist()):
        raise ValueError(f"task.normal_class={c} is not a label of the training split")
    normal = dataset.x_train[dataset.y_train == c]
    trained = fit(config, data=_one_class_data(dataset, c, normal), workdir=workdir)
    score_fns = {
        "autoencoder": lambda x: reconstruction_scores(trained, x),
        **_baseline_score_fns(normal, config),
    }
    labels = (dataset.y_test != c).astype(np.int64)
    report: dict[str, Any] = {"task": "anomaly", "normal_class": c, "n_train_normal": int(normal.shape[0])}
    curves = {}
    for name, score in score_fns.items():
        report[name], test_scores = _method_metrics(
            score, dataset, c, normal, labels, config.task.contamination
        )
        curves[name] = (test_scores, labels)
    if workdir is not None:
        workdir = Path(workdir)
        write_atomic(workdir / "anomaly.json", json.dumps(report, indent=2) + "\n")
        save_roc_curves(workdir / "roc.png", curves, f"class {c} normal, the other classes anomalous")
        save_score_histogram(
            workdir / "score_histogram.png",
            curves["autoencoder"][0],
            labels,
            report["autoencoder"]["threshold"],
            "autoencoder reconstruction error on the test split",
        )
    return report


def anomaly_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"anomaly (class {report['normal_class']} normal): test AUROC "
        + " | ".join(f"{m} {report[m]['auroc']:.4f}" for m in ("autoencoder", "isolation_forest", "pca"))
        + f"; autoencoder F1 {report['autoencoder']['f1']:.3f} at the {report['autoencoder']['threshold']:.4g} threshold"
    ]


register_task("anomaly", run_anomaly, anomaly_lines)
