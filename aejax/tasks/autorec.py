"""AutoRec (Sedhain et al. 2015): an autoencoder over the rows of a rating matrix, trained on the observed
entries only, predicting the unobserved ones.

I-AutoRec reconstructs each item's vector of user ratings, U-AutoRec each user's vector of item ratings. The
loss is `observed_sse` (squared error summed over observed entries) plus a `weight_l2` penalty; a test rating
(u, i) is predicted by the reconstruction of the training row, clipped to the rating scale. Rows without any
training rating get the training mean. The biased baseline mu + b_u + b_i is fitted on the same split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from aejax.data import Dataset
from aejax.data.ratings import fit_biases, load_movielens, rating_matrix, rmse, split_ratings
from aejax.fitting import fit
from aejax.plots import save_figure
from aejax.tasks.registry import register_task
from aejax.training.metrics_log import write_atomic


def _fit_and_predict(cfg, fit_ratings, eval_ratings, run_dir, scale: tuple[float, float]):
    """Train on `fit_ratings`; (trained, predictions for `eval_ratings` from the reconstructed training rows
    clipped to the rating `scale`, mask of the ratings in rows without any training rating)."""
    orientation = cfg.task.orientation
    matrix = rating_matrix(fit_ratings, orientation)
    data = Dataset(x_train=matrix, value_range=None, name=f"movielens {orientation} rows")
    trained = fit(cfg, data=data, workdir=run_dir)
    rows, cols = (
        (eval_ratings.items, eval_ratings.users)
        if orientation == "item"
        else (eval_ratings.users, eval_ratings.items)
    )
    predicted = np.clip(trained.reconstruct(matrix)[rows, cols], *scale)
    cold = (matrix != 0).sum(axis=1)[rows] == 0
    predicted[cold] = float(np.mean(fit_ratings.ratings))  # rows with no training rating
    return trained, predicted, cold


def _with_l2_weight(
    config: ml_collections.ConfigDict, label: str, weight: float
) -> ml_collections.ConfigDict:
    cfg = config.copy_and_resolve_references()
    cfg.loss.regularizers[label].weight = weight
    return cfg


def _select_l2_weight(
    config: ml_collections.ConfigDict, train, workdir: Path | None, scale: tuple[float, float]
) -> tuple[ml_collections.ConfigDict, list[dict[str, float]]]:
    """The config with the weight of its first weight_l2 term set to the task.l2_weights candidate of least
    validation RMSE (unchanged without candidates), and each candidate's score.

    Model selection never sees the test ratings: each candidate is trained on the training ratings minus a
    validation part and judged on that part."""
    weights = [float(w) for w in config.task.l2_weights]
    if not weights:
        return config, []
    labels = [k for k, v in config.loss.regularizers.to_dict().items() if v["fn"] == "weight_l2"]
    if not labels:
        raise ValueError("task.l2_weights selects the weight of a weight_l2 regularizer; the config has none")
    fit_part, val_part = split_ratings(train, config.task.val_ratio, config.data.split_seed + 1)
    selection = []
    for weight in weights:
        run_dir = workdir / "selection" / f"l2_{weight:g}" if workdir is not None else None
        _, predicted, _ = _fit_and_predict(
            _with_l2_weight(config, labels[0], weight), fit_part, val_part, run_dir, scale
        )
        selection.append({"l2_weight": weight, "rmse_validation": rmse(predicted, val_part.ratings)})
    best = min(selection, key=lambda row: row["rmse_validation"])["l2_weight"]
    return _with_l2_weight(config, labels[0], best), selection


def _biased_baseline(train, test, scale: tuple[float, float]) -> np.ndarray:
    """mu + b_user + b_item fitted on the training ratings, for the test ratings, clipped to the scale."""
    mu_b, b_user, b_item = fit_biases(train)
    return np.clip(mu_b + b_user[test.users] + b_item[test.items], *scale)


def run_autorec(
    config: ml_collections.ConfigDict, workdir: str | Path | None, data: Dataset | None = None
) -> dict[str, Any]:
    if data is not None:
        raise ValueError("task 'autorec' reads its ratings from data.path (data.source='movielens')")
    if config.data.source != "movielens":
        raise ValueError(
            f"task 'autorec' reads ratings: set data.source='movielens' (got {config.data.source!r})"
        )
    if config.loss.reconstruction != "observed_sse":
        raise ValueError(
            "task 'autorec' trains on observed ratings only: set loss.reconstruction='observed_sse' "
            f"(got {config.loss.reconstruction!r})"
        )
    ratings = load_movielens(config.data.path)
    train, test = split_ratings(ratings, config.task.test_ratio, config.data.split_seed)
    scale = (float(ratings.ratings.min()), float(ratings.ratings.max()))
    workdir = Path(workdir) if workdir is not None else None
    config, selection = _select_l2_weight(config, train, workdir, scale)
    trained, predicted, cold = _fit_and_predict(config, train, test, workdir, scale)
    baseline = _biased_baseline(train, test, scale)
    report = {
        "task": "autorec",
        "orientation": config.task.orientation,
        "ratings": len(ratings),
        "users": ratings.num_users,
        "items": ratings.num_items,
        "train_ratings": len(train),
        "test_ratings": len(test),
        "test_ratings_in_cold_rows": int(cold.sum()),
        "split_seed": config.data.split_seed,
        "rmse_autorec": rmse(predicted, test.ratings),
        "rmse_biased_baseline": rmse(baseline, test.ratings),
        "rmse_global_mean": rmse(np.full(len(test), float(np.mean(train.ratings))), test.ratings),
        "l2_weight": next(
            (v["weight"] for v in config.loss.regularizers.to_dict().values() if v["fn"] == "weight_l2"), None
        ),
        "selection": selection,
        "train_seconds": trained.results.get("train_seconds"),
        "steps": trained.step,
    }
    if workdir is not None:
        write_atomic(workdir / "autorec.json", json.dumps(report, indent=2) + "\n")
        _plot(
            workdir / "autorec_predictions.png",
            test.ratings,
            {"AutoRec": predicted, "biased baseline": baseline},
        )
    return report


def _plot(path: Path, actual: np.ndarray, predictions: dict[str, np.ndarray]) -> Path:
    """Box plots of the predicted rating for each true rating, one panel per predictor."""
    import matplotlib.pyplot as plt

    levels = np.unique(actual)
    fig, axes = plt.subplots(1, len(predictions), figsize=(4.5 * len(predictions), 3.6), sharey=True)
    for ax, (name, predicted) in zip(np.atleast_1d(axes), predictions.items(), strict=True):
        ax.boxplot([predicted[actual == level] for level in levels], showfliers=False)
        ax.set_xticks(range(1, len(levels) + 1), [f"{level:g}" for level in levels])
        ax.set_title(f"{name}: RMSE {rmse(predicted, actual):.3f}")
        ax.set_xlabel("true rating")
    np.atleast_1d(axes)[0].set_ylabel("predicted rating")
    fig.tight_layout()
    return save_figure(fig, path)


def autorec_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"autorec ({report['orientation']} rows): test RMSE {report['rmse_autorec']:.4f} | biased baseline "
        f"{report['rmse_biased_baseline']:.4f} | global mean {report['rmse_global_mean']:.4f} "
        f"({report['test_ratings']} held-out ratings)"
    ] + [
        f"autorec: weight_l2 {row['l2_weight']:g} -> validation RMSE {row['rmse_validation']:.4f}"
        + (" (chosen)" if row["l2_weight"] == report.get("l2_weight") else "")
        for row in report.get("selection", [])
    ]


register_task("autorec", run_autorec, autorec_lines)
