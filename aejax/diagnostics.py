"""Measurements of a trained autoencoder: PSNR, code sparsity, encoder Jacobian norms."""

from __future__ import annotations

import numpy as np


def psnr(reference: np.ndarray, estimate: np.ndarray, max_value: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(max^2 / MSE), with the MSE over every pixel of the set."""
    reference, estimate = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    if reference.shape != estimate.shape:
        raise ValueError(f"psnr needs equal shapes, got {reference.shape} and {estimate.shape}")
    mse = float(np.mean(np.square(reference - estimate)))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(max_value**2 / mse))


def code_statistics(codes: np.ndarray, threshold: float = 0.1) -> dict[str, float]:
    """Sparsity of codes (batch, units): mean activation, mean |h|, and the mean fraction of units with
    |h| > threshold per example (with the fraction of units never active on this set)."""
    codes = np.asarray(codes, np.float64).reshape(codes.shape[0], -1)
    active = np.abs(codes) > threshold
    return {
        "code_mean_activation": float(np.mean(codes)),
        "code_mean_abs": float(np.mean(np.abs(codes))),
        "code_active_fraction": float(np.mean(active)),
        "code_dead_fraction": float(np.mean(~active.any(axis=0))),
    }
