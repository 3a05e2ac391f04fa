"""Anomalies in sequences: a sequence autoencoder trained on clean sums of sines (data.source='sines') scores a
separately generated test set in which task.anomaly_fraction of the sequences hold a spike, a level shift or a
frequency change (aejax.data.sequences.sines_with_anomalies, labelled per sequence and per time step).

Scores: the reconstruction error of each time step (mean over features) and of each sequence (mean over its
steps), next to the moving-average z-score baseline (per step |x - moving average| / residual std, per sequence
its maximum). AUROC at both levels, per anomaly kind too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
from sklearn import metrics as sk_metrics

from aejax.data import Dataset
from aejax.data.sequences import ANOMALY_KINDS, moving_average_zscore_scores, sines_with_anomalies
from aejax.families import get_family
from aejax.fitting import fit, get_dataset
from aejax.plots import plt, save_figure
from aejax.tasks.anomaly import save_roc_curves
from aejax.tasks.registry import register_task
from aejax.training.metrics_log import write_atomic


def per_timestep_scores(trained, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per step (n, T), per sequence (n,)) squared reconstruction errors, means over features / steps."""
    reconstruction = trained.reconstruct(x)
    steps = np.mean(np.square(x - reconstruction), axis=-1)
    return steps, steps.mean(axis=1)


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    labels = np.asarray(labels).ravel()
    if labels.min() == labels.max():
        return None
    return float(sk_metrics.roc_auc_score(labels, np.asarray(scores).ravel()))


def save_examples(path, x, reconstruction, steps, step_labels, titles, count: int = 4):
    """Anomalous test sequences: data, reconstruction, per-step score, the labelled anomalous span."""
    fig, axes = plt.subplots(count, 1, figsize=(7, 1.8 * count), squeeze=False)
    for ax, i in zip(axes[:, 0], range(count), strict=False):
        t = np.arange(x.shape[1])
        ax.plot(t, x[i, :, 0], lw=1, label="data")
        ax.plot(t, reconstruction[i, :, 0], lw=1, label="reconstruction")
        twin = ax.twinx()
        twin.plot(t, steps[i], color="tab:red", lw=0.8, alpha=0.7, label="score")
        twin.set_yticks([])
        marked = np.flatnonzero(step_labels[i])
        if marked.size:
            ax.axvspan(marked.min(), marked.max() + 1, color="tab:orange", alpha=0.15)
        ax.set_title(titles[i], fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path)


def _detector_aurocs(labels, step_labels, step_scores, sequence_scores) -> dict[str, float | None]:
    """AUROC of one detector's scores per sequence and per time step."""
    return {
        "auroc_sequence": _auroc(labels, sequence_scores),
        "auroc_timestep": _auroc(step_labels, step_scores),
    }


def _aurocs_per_kind(trained, config, n_test: int, length: int, features: int) -> tuple[dict, dict]:
    """Per-sequence AUROC of the autoencoder and of the moving-average baseline on one test set per anomaly
    kind (same seed and fraction as the mixed test set), keyed `auroc_<kind>`."""
    autoencoder, baseline = {}, {}
    for kind in ANOMALY_KINDS:
        x_kind, y_kind, _ = sines_with_anomalies(
            n_test,
            length,
            features=features,
            anomaly_fraction=float(config.task.anomaly_fraction),
            kinds=(kind,),
            seed=config.data.split_seed + 1,
        )
        autoencoder[f"auroc_{kind}"] = _auroc(y_kind, per_timestep_scores(trained, x_kind)[1])
        baseline[f"auroc_{kind}"] = _auroc(
            y_kind, moving_average_zscore_scores(x_kind, window=int(config.task.window))[1]
        )
    return autoencoder, baseline


def _save_anomalous_examples(path: Path, trained, x_test, labels, step_labels, steps) -> None:
    """The first (up to 4) anomalous test sequences, if any, with reconstruction and per-step score."""
    shown = np.flatnonzero(labels)[:4]
    if shown.size:
        save_examples(
            path,
            x_test[shown],
            trained.reconstruct(x_test[shown]),
            steps[shown],
            step_labels[shown],
            [f"test sequence {i} (anomalous)" for i in shown],
            count=shown.size,
        )


def run_sequence_anomaly(
    config: ml_collections.ConfigDict, workdir: str | Path | None, data: Dataset | None = None
) -> dict[str, Any]:
    if data is None and config.data.source != "sines":
        raise ValueError("task 'sequence_anomaly' trains on clean generated sines: set data.source='sines'")
    if not get_family(config.model.family).sequential:
        raise ValueError(
            f"task 'sequence_anomaly' needs a sequence model: model.family 'sequence' or 'attention', got "
            f"{config.model.family!r}"
        )
    fraction = float(config.task.anomaly_fraction)
    if not 0 < fraction < 1:
        raise ValueError(f"task.anomaly_fraction must be in (0, 1), got {fraction}")
    dataset = get_dataset(config, data)
    length, features = dataset.input_shape
    n_test = dataset.x_test.shape[0] if dataset.x_test is not None else 1000
    x_test, labels, step_labels = sines_with_anomalies(
        n_test, length, features=features, anomaly_fraction=fraction, seed=config.data.split_seed + 1
    )
    trained = fit(config, data=data, workdir=workdir)
    steps, sequences = per_timestep_scores(trained, x_test)
    base_steps, base_sequences = moving_average_zscore_scores(x_test, window=int(config.task.window))
    autoencoder_kinds, baseline_kinds = _aurocs_per_kind(trained, config, n_test, length, features)
    report: dict[str, Any] = {
        "task": "sequence_anomaly",
        "data": dataset.summary(),
        "test_sequences": int(n_test),
        "anomalous_sequences": int(labels.sum()),
        "autoencoder": {**_detector_aurocs(labels, step_labels, steps, sequences), **autoencoder_kinds},
        "moving_average_zscore": {
            "window": int(config.task.window),
            **_detector_aurocs(labels, step_labels, base_steps, base_sequences),
            **baseline_kinds,
        },
        "test_mse_clean": float(trained.evaluate(dataset.x_test)["mse"])
        if dataset.x_test is not None
        else None,
    }
    if workdir is not None:
        workdir = Path(workdir)
        write_atomic(workdir / "sequence_anomaly.json", json.dumps(report, indent=2) + "\n")
        save_roc_curves(
            workdir / "roc.png",
            {"autoencoder": (sequences, labels), "moving-average z-score": (base_sequences, labels)},
            "per-sequence scores on generated sines",
        )
        _save_anomalous_examples(
            workdir / "sequence_anomalies.png", trained, x_test, labels, step_labels, steps
        )
    return report


def sequence_anomaly_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"sequence_anomaly: {method} AUROC per sequence {report[method]['auroc_sequence']:.4f}, per time step "
        f"{report[method]['auroc_timestep']:.4f}"
        for method in ("autoencoder", "moving_average_zscore")
    ]


register_task("sequence_anomaly", run_sequence_anomaly, sequence_anomaly_lines)
