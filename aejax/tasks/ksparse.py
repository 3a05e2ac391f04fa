"""k-sparse autoencoders (Makhzani & Frey 2013): one model per k in task.sparse_ks, each keeping the k largest
code units per example in training (round(model.topk_alpha * k) when encoding for evaluation).

For every k: test MSE (decoded from the k-sparse code, and from the round(alpha * k)-sparse one), dead units (code units never among the
k kept for any training example; also counted at alpha * k), the mean number of non-zero units per test code,
and the accuracy of a linear probe (standardized logistic regression) and a k-NN classifier on the
round(alpha * k)-sparse codes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from aejax import plots_codes
from aejax.data import Dataset
from aejax.fitting import fit, get_dataset
from aejax.models.bottleneck import eval_k
from aejax.tasks.features import probe_accuracies
from aejax.tasks.registry import register_task
from aejax.training.metrics_log import write_atomic


def dead_units(codes: np.ndarray) -> int:
    """Code units that are zero for every example of `codes` (batch, units)."""
    return int(np.sum(~np.any(np.asarray(codes) != 0, axis=0)))


def unit_pictures(trained, scale: float = 3.0) -> np.ndarray:
    """What each code unit adds to the output: decode(scale * e_j) - decode(0), one row per unit."""
    units = trained.model.latent_dim
    basis = np.eye(units, dtype=np.float32) * scale
    zero = trained.decode(np.zeros((1, units), np.float32))
    return trained.decode(basis) - zero


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| k (train) | k (eval) | test MSE at k (at eval k) | dead units at k (at eval k) | linear probe acc. | k-NN acc. |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['k']} | {r['eval_k']} | {r['test_mse']:.5f} ({r['test_mse_eval_k']:.5f}) | {r['dead_units']} ({r['dead_units_eval_k']}) / "
            f"{r['code_size']} | "
            f"{r['linear_probe']:.4f} | {r['knn']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def _ksparse_row(trained, config: ml_collections.ConfigDict, dataset: Dataset, k: int, n_train: int) -> dict:
    """The model trained at k: test MSE and dead units at k and at the evaluation k, the mean number of
    non-zero test code units, and probe accuracies on the evaluation codes of `n_train` training examples."""
    units = int(config.model.latent_dim)
    train_codes = trained.encode(dataset.x_train)
    test_codes = trained.encode(dataset.x_test)
    # Dead units are counted at the training k (alpha = 1): units the training objective never used.
    at_k = dataclasses.replace(trained, model=trained.model.clone(topk_alpha=1.0))
    dead_at_k = dead_units(at_k.encode(dataset.x_train))
    probes = probe_accuracies(
        train_codes[:n_train],
        dataset.y_train[:n_train],
        test_codes,
        dataset.y_test,
        config.task.neighbors,
        config.seed,
    )
    return {
        "k": k,
        "eval_k": eval_k(k, float(config.model.topk_alpha), units),
        "code_size": units,
        "test_mse": float(at_k.evaluate(dataset.x_test)["mse"]),
        "test_mse_eval_k": float(trained.evaluate(dataset.x_test)["mse"]),
        "dead_units": dead_at_k,
        "dead_units_eval_k": dead_units(train_codes),
        "mean_nonzero_test": float(np.mean(np.sum(test_codes != 0, axis=1))),
        **probes,
    }


def _save_unit_pictures(run_dir: Path, trained, display_shape, k: int) -> None:
    """What each of the first 64 code units adds to the output."""
    pictures = unit_pictures(trained)[:64]
    plots_codes.save_unit_pictures(
        run_dir / "unit_pictures.png",
        pictures,
        display_shape,
        f"k={k}: decode(3 e_j) - decode(0)",
    )


def run_ksparse(
    config: ml_collections.ConfigDict, workdir: str | Path | None, data: Dataset | None = None
) -> dict[str, Any]:
    ks = [int(k) for k in config.task.sparse_ks]
    units = int(config.model.latent_dim)
    if not ks or min(ks) < 1 or max(ks) > units:
        raise ValueError(f"task.sparse_ks must lie in 1..model.latent_dim ({units}), got {tuple(ks)}")
    dataset = get_dataset(config, data)
    if dataset.y_train is None or dataset.y_test is None or dataset.x_test is None:
        raise ValueError("task 'ksparse' probes the codes with labels: train and test splits need labels")
    n_train = dataset.x_train.shape[0]
    if config.task.max_examples > 0:
        n_train = min(n_train, 4 * config.task.max_examples)
    workdir = Path(workdir) if workdir is not None else None
    rows = []
    for k in ks:
        cfg = config.copy_and_resolve_references()
        cfg.model.bottleneck, cfg.model.topk = "topk", k
        run_dir = workdir / f"k{k}" if workdir else None
        trained = fit(cfg, data=dataset if data is not None else None, workdir=run_dir)
        rows.append(_ksparse_row(trained, config, dataset, k, n_train))
        if run_dir is not None and config.eval.plots:
            _save_unit_pictures(run_dir, trained, dataset.display_shape, k)
    report = {
        "task": "ksparse",
        "data": dataset.summary(),
        "probe_train_examples": n_train,
        "rows": rows,
        "table": markdown_table(rows),
    }
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        write_atomic(workdir / "ksparse.json", json.dumps(report, indent=2) + "\n")
        write_atomic(workdir / "ksparse.md", report["table"])
    return report


def ksparse_lines(report: dict[str, Any]) -> list[str]:
    """The report carries its own markdown table."""
    return [f"ksparse ({report['data']}):", report["table"].rstrip()]


register_task("ksparse", run_ksparse, ksparse_lines)
