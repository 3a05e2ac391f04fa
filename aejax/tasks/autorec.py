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
from aejax.plots import save_figure
from aejax.training.metrics_log import write_atomic


def run_autorec(config: ml_collections.ConfigDict, workdir: str | Path | None) -> dict[str, Any]:
    from aejax.api import fit

    if config.data.source != "movielens":
        raise ValueError(
            f"task 'autorec' reads ratings: set data.source='movielens' (got {config.data.source!r})"
        )
    if config.loss.reconstruction != "observed_sse":
        raise ValueError(
            "task 'autorec' trains on observed ratings only: set loss.reconstruction='observed_sse' "
            f"(got {config.loss.reconstruction!r})"
        )
    orientation = config.task.orientation
    ratings = load_movielens(config.data.path)
    train, test = split_ratings(ratings, config.task.test_ratio, config.data.split_seed)
    matrix = rating_matrix(train, orientation)
    data = Dataset(x_train=matrix, value_range=None, name=f"movielens {orientation} rows")
    trained = fit(config, data=data, workdir=workdir)

    rows, cols = (test.items, test.users) if orientation == "item" else (test.users, test.items)
    low, high = float(ratings.ratings.min()), float(ratings.ratings.max())
    mu = float(np.mean(train.ratings))
    predicted = np.clip(trained.reconstruct(matrix)[rows, cols], low, high)
    cold = (matrix != 0).sum(axis=1)[rows] == 0
    predicted[cold] = mu
    mu_b, b_user, b_item = fit_biases(train)
    baseline = np.clip(mu_b + b_user[test.users] + b_item[test.items], low, high)
    report = {
        "task": "autorec",
        "orientation": orientation,
        "ratings": len(ratings),
        "users": ratings.num_users,
        "items": ratings.num_items,
        "train_ratings": len(train),
        "test_ratings": len(test),
        "test_ratings_in_cold_rows": int(cold.sum()),
        "split_seed": config.data.split_seed,
        "rmse_autorec": rmse(predicted, test.ratings),
        "rmse_biased_baseline": rmse(baseline, test.ratings),
        "rmse_global_mean": rmse(np.full(len(test), mu), test.ratings),
        "train_seconds": trained.results.get("train_seconds"),
        "steps": trained.step,
    }
    if workdir is not None:
        workdir = Path(workdir)
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
