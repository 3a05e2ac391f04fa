"""Semantic hashing: binary codes from an autoencoder (model.bottleneck='binary'), retrieval by Hamming
distance, scored with labels as relevance (a database item is relevant to a query when their labels agree).

The database is the training split, the queries the test split. Rankings sort the database by Hamming
distance to the query, ties in database order. Baselines at the same bit count: the signs of the top PCA
projections of the centred data, and the signs of Gaussian random projections (LSH).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from aejax import plots_codes
from aejax.data import Dataset
from aejax.fitting import fit, get_dataset
from aejax.tasks.registry import register_task
from aejax.training.metrics_log import write_atomic

CURVE_KS = (1, 10, 50, 100, 250, 500, 1000)


def hamming_distances(query_bits: np.ndarray, database_bits: np.ndarray) -> np.ndarray:
    """(queries, database) Hamming distances between rows of 0/1 arrays with the same number of bits."""
    q = np.asarray(query_bits, np.float32) * 2 - 1
    d = np.asarray(database_bits, np.float32) * 2 - 1
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ValueError(f"bit arrays must be (n, bits) with equal bits, got {q.shape} and {d.shape}")
    return np.rint((q.shape[1] - q @ d.T) / 2).astype(np.int32)


def ranked_relevance(
    query_bits: np.ndarray, database_bits: np.ndarray, query_labels: np.ndarray, database_labels: np.ndarray
) -> np.ndarray:
    """(queries, database) bool: is the r-th ranked item relevant (same label), Hamming ranking, stable ties."""
    order = np.argsort(hamming_distances(query_bits, database_bits), axis=1, kind="stable")
    return np.asarray(database_labels)[order] == np.asarray(query_labels)[:, None]


def precision_at(relevance: np.ndarray, k: int) -> float:
    """Mean over queries of the fraction of relevant items among the top k."""
    return float(np.mean(relevance[:, :k]))


def mean_average_precision(relevance: np.ndarray) -> float:
    """Mean over queries of AP = mean of precision@r over the ranks r of the relevant items (whole ranking);
    a query with no relevant item scores 0."""
    hits = np.cumsum(relevance, axis=1)
    ranks = np.arange(1, relevance.shape[1] + 1)
    precision_sum = np.sum(np.where(relevance, hits / ranks, 0.0), axis=1)
    total = relevance.sum(axis=1)
    return float(np.mean(np.where(total > 0, precision_sum / np.maximum(total, 1), 0.0)))


def pca_sign_bits(x_train: np.ndarray, x_eval: np.ndarray, bits: int) -> np.ndarray:
    """Signs of the top `bits` principal projections of the data centred on the training mean (0/1)."""
    train = x_train.reshape(x_train.shape[0], -1).astype(np.float64)
    mean = train.mean(axis=0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    components = vt[:bits]
    return ((x_eval.reshape(x_eval.shape[0], -1) - mean) @ components.T > 0).astype(np.int32)


def random_projection_bits(x_train: np.ndarray, x_eval: np.ndarray, bits: int, seed: int) -> np.ndarray:
    """Signs of Gaussian random projections of the data centred on the training mean (LSH), 0/1."""
    train = x_train.reshape(x_train.shape[0], -1).astype(np.float64)
    mean = train.mean(axis=0)
    planes = np.random.default_rng(seed).standard_normal((train.shape[1], bits))
    return ((x_eval.reshape(x_eval.shape[0], -1) - mean) @ planes > 0).astype(np.int32)


def retrieval_scores(query_bits, database_bits, query_labels, database_labels, k: int) -> dict[str, Any]:
    relevance = ranked_relevance(query_bits, database_bits, query_labels, database_labels)
    ks = [c for c in CURVE_KS if c <= relevance.shape[1]]
    return {
        f"precision_at_{k}": precision_at(relevance, k),
        "map": mean_average_precision(relevance),
        "precision_curve": {str(c): precision_at(relevance, c) for c in ks},
    }


def bit_usage(bits: np.ndarray) -> dict[str, float]:
    """How the code uses its bits on the database: mean fraction of ones, bits that never change."""
    ones = np.asarray(bits).mean(axis=0)
    return {"mean_ones": float(ones.mean()), "constant_bits": int(np.sum((ones == 0) | (ones == 1)))}


def markdown_table(rows: list[dict[str, Any]], k: int) -> str:
    lines = [
        f"| bits | method | precision@{k} | mAP |",
        "|---|---|---|---|",
    ]
    for row in rows:
        for method in ("autoencoder", "pca_sign", "random_projection"):
            scores = row[method]
            lines.append(
                f"| {row['bits']} | {method.replace('_', ' ')} | {scores[f'precision_at_{k}']:.3f} | "
                f"{scores['map']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def _hashing_row(trained, bits: int, database, queries, k: int, seed: int) -> dict[str, Any]:
    """Retrieval scores at `bits` bits: the autoencoder's codes (with their bit usage on the database and the
    test MSE), PCA signs and random projections (`seed`); `database` and `queries` are (x, labels)."""
    (x_db, y_db), (x_q, y_q) = database, queries
    db_bits, q_bits = trained.code_symbols(x_db), trained.code_symbols(x_q)
    return {
        "bits": bits,
        "autoencoder": {
            **retrieval_scores(q_bits, db_bits, y_q, y_db, k),
            **bit_usage(db_bits),
            "test_mse": float(trained.evaluate(x_q)["mse"]),
        },
        "pca_sign": retrieval_scores(
            pca_sign_bits(x_db, x_q, bits), pca_sign_bits(x_db, x_db, bits), y_q, y_db, k
        ),
        "random_projection": retrieval_scores(
            random_projection_bits(x_db, x_q, bits, seed),
            random_projection_bits(x_db, x_db, bits, seed),
            y_q,
            y_db,
            k,
        ),
    }


def run_hashing(
    config: ml_collections.ConfigDict, workdir: str | Path | None, data: Dataset | None = None
) -> dict[str, Any]:
    """Train one binary-code autoencoder per task.code_sizes (bits, in workdir/b<bits>); retrieval scores of
    its codes and of the two baselines."""
    sizes = [int(b) for b in config.task.code_sizes]
    k = int(config.task.retrieval_k)
    if not sizes or min(sizes) < 1 or k < 1:
        raise ValueError(
            f"task 'hashing' needs task.code_sizes >= 1 and task.retrieval_k >= 1, got {sizes}, {k}"
        )
    dataset = get_dataset(config, data)
    x_db, y_db = dataset.x_train, dataset.y_train
    x_q = dataset.x_test if dataset.x_test is not None else dataset.x_val
    y_q = dataset.y_test if dataset.x_test is not None else dataset.y_val
    if y_db is None or y_q is None:
        raise ValueError("task 'hashing' scores retrieval with labels: the train and test splits need labels")
    if k > x_db.shape[0]:
        raise ValueError(f"task.retrieval_k ({k}) exceeds the database size ({x_db.shape[0]})")
    workdir = Path(workdir) if workdir is not None else None
    rows = []
    for bits in sizes:
        cfg = config.copy_and_resolve_references()
        cfg.model.latent_dim, cfg.model.bottleneck = bits, "binary"
        trained = fit(
            cfg, data=dataset if data is not None else None, workdir=workdir / f"b{bits}" if workdir else None
        )
        rows.append(_hashing_row(trained, bits, (x_db, y_db), (x_q, y_q), k, config.seed))
    report = {
        "task": "hashing",
        "data": dataset.summary(),
        "database": int(x_db.shape[0]),
        "queries": int(x_q.shape[0]),
        "retrieval_k": k,
        "rows": rows,
        "table": markdown_table(rows, k),
    }
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        write_atomic(workdir / "hashing.json", json.dumps(report, indent=2) + "\n")
        write_atomic(workdir / "hashing.md", report["table"])
        plots_codes.save_precision_curves(workdir / "precision_at_k.png", rows)
    return report


def hashing_lines(report: dict[str, Any]) -> list[str]:
    """The report carries its own markdown table."""
    return [f"hashing ({report['data']}):", report["table"].rstrip()]


register_task("hashing", run_hashing, hashing_lines)
