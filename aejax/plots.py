"""Pictures written to the workdir (PNG, written atomically): reconstructions, loss curves, latent scatter,
error against code size."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG through a temporary file, then close it."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _as_image(example: np.ndarray, display_shape: Sequence[int]) -> np.ndarray:
    shape = tuple(display_shape)
    if len(shape) == 1:
        return example.reshape(1, -1)
    image = example.reshape(shape)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image


def save_reconstructions(
    path: str | Path, originals: np.ndarray, reconstructions: np.ndarray, display_shape: Sequence[int]
) -> Path:
    """Two rows per block: inputs above, reconstructions below."""
    n = originals.shape[0]
    cols = min(n, 8)
    blocks = -(-n // cols)
    fig, axes = plt.subplots(2 * blocks, cols, figsize=(1.3 * cols, 2.6 * blocks), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        block, col = divmod(i, cols)
        for row, source in enumerate((originals, reconstructions)):
            image = np.clip(_as_image(source[i], display_shape), 0.0, 1.0)
            ax = axes[2 * block + row, col]
            ax.imshow(
                image,
                cmap="gray" if image.ndim == 2 else None,
                vmin=0.0,
                vmax=1.0,
                aspect="auto" if image.shape[0] == 1 else "equal",
            )
            if col == 0:
                ax.set_title("input" if row == 0 else "reconstruction", fontsize=7, loc="left")
    return save_figure(fig, path)


def save_loss_curves(path: str | Path, records: Sequence[dict[str, Any]]) -> Path:
    """Training loss and its terms per logged step; validation reconstruction per epoch."""
    train = [r for r in records if r.get("split") == "train"]
    val = [r for r in records if r.get("split") == "val"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if train:
        steps = [r["step"] for r in train]
        ax.plot(steps, [float(r["loss"]) for r in train], label="train loss")
        for key in sorted(k for k in train[0] if k.startswith("reg/")):
            ax.plot(steps, [float(r[key]) for r in train], label=f"train {key}", alpha=0.7)
    if val:
        ax.plot(
            [r["step"] for r in val],
            [float(r["reconstruction"]) for r in val],
            "o-",
            ms=3,
            label="val reconstruction",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    positive = all(float(r["loss"]) > 0 for r in train) and all(float(r["reconstruction"]) > 0 for r in val)
    if (train or val) and positive:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def save_latent_scatter(
    path: str | Path, codes: np.ndarray, labels: np.ndarray | None, title: str = ""
) -> Path:
    """2-D codes (the first two dimensions of wider ones), coloured by label when labels are given."""
    codes = np.asarray(codes).reshape(codes.shape[0], -1)
    if codes.shape[1] < 2:
        raise ValueError(f"a latent scatter needs codes with at least 2 dimensions, got {codes.shape[1]}")
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if labels is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=3, alpha=0.6)
    else:
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, s=3, alpha=0.7, cmap="tab10")
        fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel("z[0]")
    ax.set_ylabel("z[1]")
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def save_error_vs_code_size(
    path: str | Path, rows: Sequence[dict[str, Any]], key: str, baseline_key: str
) -> Path:
    """Test error against code size k, autoencoder next to the baseline (log scale on both axes)."""
    ks = [r["code_size"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(ks, [r[key] for r in rows], "o-", label="autoencoder")
    ax.plot(ks, [r[baseline_key] for r in rows], "s--", label="PCA")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("code size k")
    ax.set_ylabel("test squared error per example (sum over features)")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def save_image_grid(
    path: str | Path, images: np.ndarray, display_shape: Sequence[int], columns: int = 8
) -> Path:
    """Images in a grid, `columns` per row (samples, interpolations, traversals)."""
    n = images.shape[0]
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        image = np.clip(_as_image(images[i], display_shape), 0.0, 1.0)
        axes.flat[i].imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
    return save_figure(fig, path)


def save_traversals(
    path: str | Path,
    rows: np.ndarray,
    display_shape: Sequence[int],
    row_labels: Sequence[str],
    title: str = "",
) -> Path:
    """Latent traversals: `rows` (units, steps, *example) drawn one unit per row, labelled on the left."""
    units, steps = rows.shape[:2]
    fig, axes = plt.subplots(units, steps, figsize=(0.9 * steps + 2.2, 0.9 * units + 0.4), squeeze=False)
    for r in range(units):
        for c in range(steps):
            ax = axes[r, c]
            image = np.clip(_as_image(rows[r, c], display_shape), 0.0, 1.0)
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def save_metric_dots(path: str | Path, per_model: dict[str, dict[str, list[float]]], title: str = "") -> Path:
    """One panel per metric: each model's per-seed values as dots and their mean as a bar."""
    metrics = list(next(iter(per_model.values())))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.2), squeeze=False)
    names = list(per_model)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, name in enumerate(names):
            values = per_model[name][metric]
            ax.bar(i, float(np.mean(values)), color="C0", alpha=0.35)
            ax.plot([i] * len(values), values, "o", color="C0", markersize=4)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
