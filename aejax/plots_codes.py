"""Pictures of discrete and sparse codes: rate-distortion against JPEG, codec examples, precision@k curves
of hashing, and what each unit of a k-sparse code draws."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aejax.plots import plt, save_figure


def save_rate_distortion(path: str | Path, learned: Sequence[dict[str, Any]], jpeg: Sequence[dict[str, Any]]):
    """PSNR against bits per pixel: one line per quantization level count, JPEG (file and scan only)."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for level in sorted({r["levels"] for r in learned}):
        rows = sorted((r for r in learned if r["levels"] == level), key=lambda r: r["bpp"])
        ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], "o-", label=f"aejax, {level} levels")
    jpeg = sorted(jpeg, key=lambda r: r["quality"])
    ax.plot([r["bpp_scan"] for r in jpeg], [r["psnr"] for r in jpeg], "s--", label="JPEG, scan bytes only")
    ax.plot([r["bpp_file"] for r in jpeg], [r["psnr"] for r in jpeg], "^:", label="JPEG, whole file")
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (actual bytes)")
    ax.set_ylabel("mean PSNR (dB)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def save_codec_examples(
    path: str | Path,
    originals: np.ndarray,
    learned: np.ndarray,
    jpeg: np.ndarray,
    learned_label: str,
    jpeg_label: str,
):
    """Three rows: originals, learned codec, JPEG."""
    n = originals.shape[0]
    fig, axes = plt.subplots(3, n, figsize=(1.1 * n, 3.6), squeeze=False)
    for row, (images, label) in enumerate(
        ((originals, "original"), (learned, learned_label), (jpeg, jpeg_label))
    ):
        for i in range(n):
            ax = axes[row, i]
            ax.imshow(np.clip(np.squeeze(images[i]), 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(label, fontsize=7)
    return save_figure(fig, path)


def save_precision_curves(path: str | Path, rows: Sequence[dict[str, Any]]):
    """precision@k against k for each bit count and method."""
    fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 3.5), squeeze=False)
    for ax, row in zip(axes[0], rows, strict=True):
        for method, style in (("autoencoder", "o-"), ("pca_sign", "s--"), ("random_projection", "^:")):
            curve = row[method]["precision_curve"]
            ax.plot([int(k) for k in curve], list(curve.values()), style, label=method.replace("_", " "))
        ax.set_xscale("log")
        ax.set_title(f"{row['bits']} bits", fontsize=9)
        ax.set_xlabel("k (retrieved)")
        ax.set_ylabel("precision@k")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    return save_figure(fig, path)


def save_unit_pictures(path: str | Path, pictures: np.ndarray, display_shape: Sequence[int], title: str):
    """One tile per code unit, each scaled symmetrically around 0."""
    n = pictures.shape[0]
    columns = min(8, n)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.0 * columns, 1.0 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        image = np.asarray(pictures[i]).reshape(tuple(display_shape))
        if image.ndim == 3:
            image = image.mean(axis=-1)
        bound = float(np.abs(image).max()) or 1.0
        axes.flat[i].imshow(image, cmap="RdBu_r", vmin=-bound, vmax=bound)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
