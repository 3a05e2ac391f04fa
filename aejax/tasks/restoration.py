"""Image restoration tasks: denoising and inpainting, next to classical methods on the same images.

denoise: the configured (denoising) autoencoder restores test images corrupted by x + N(0, sigma^2) (clipped
to [0, 1]) at each of `task.noise_levels`; PSNR and SSIM of the noisy input, the autoencoder's output, and of
scikit-image's non-local means and total-variation denoisers, each with its strength chosen per noise level on
validation images (so the baselines are tuned, not defaulted).

inpaint: for the configured mask kind (centre_square, random_boxes, random_pixels; missing pixels are -1), PSNR
inside the hole of the autoencoder's output and of `skimage.restoration.inpaint_biharmonic`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from skimage.metrics import structural_similarity
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, inpaint_biharmonic

from aejax import plots
from aejax.data import Dataset
from aejax.diagnostics import psnr
from aejax.fitting import fit, get_dataset
from aejax.objectives.corruptions import MISSING, Corruption
from aejax.tasks.registry import register_task
from aejax.training.metrics_log import write_atomic

NLM_H_FACTORS = (0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.2)  # h = factor * sigma
TV_WEIGHTS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


def mean_ssim(reference: np.ndarray, estimate: np.ndarray, shape: tuple[int, ...]) -> float:
    """Mean SSIM over images (data range 1; channel axis last for colour images)."""
    values = []
    for ref, est in zip(reference, estimate, strict=True):
        ref, est = ref.reshape(shape), est.reshape(shape)
        channel_axis = -1 if len(shape) == 3 else None
        values.append(structural_similarity(ref, est, data_range=1.0, channel_axis=channel_axis))
    return float(np.mean(values))


def _per_image(fn, images: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.stack([fn(image.reshape(shape)).reshape(image.shape) for image in images])


def nl_means(images, shape, sigma, factor):
    channel_axis = -1 if len(shape) == 3 else None
    return _per_image(
        lambda im: denoise_nl_means(
            im,
            h=factor * sigma,
            sigma=sigma,
            patch_size=5,
            patch_distance=6,
            fast_mode=True,
            channel_axis=channel_axis,
        ),
        images,
        shape,
    )


def total_variation(images, shape, weight):
    channel_axis = -1 if len(shape) == 3 else None
    return _per_image(
        lambda im: denoise_tv_chambolle(im, weight=weight, channel_axis=channel_axis), images, shape
    )


def add_noise(x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noisy = Corruption(kind="gaussian", std=sigma, clip=True)(jnp.asarray(x), jax.random.PRNGKey(seed))
    return np.asarray(noisy)


def _image_split(dataset: Dataset, name: str, limit: int) -> np.ndarray:
    x, _ = dataset.split(name)
    if x is None:
        raise ValueError(f"the restoration tasks need a {name} split")
    return x[:limit] if limit > 0 else x


def run_denoise(config: ml_collections.ConfigDict, workdir, data: Dataset | None = None) -> dict[str, Any]:
    dataset = get_dataset(config, data)
    shape = dataset.display_shape
    trained = fit(config, data=data, workdir=workdir)
    test = _image_split(dataset, "test", config.task.max_examples)
    val = _image_split(dataset, "val", min(100, config.task.max_examples or 100))
    rows = []
    for level, sigma in enumerate(config.task.noise_levels):
        sigma = float(sigma)
        noisy_val, noisy = (
            add_noise(val, sigma, config.seed + 1000 + level),
            add_noise(test, sigma, config.seed + level),
        )
        h = max(NLM_H_FACTORS, key=lambda f: psnr(val, nl_means(noisy_val, shape, sigma, f)))
        w = max(TV_WEIGHTS, key=lambda t: psnr(val, total_variation(noisy_val, shape, t)))
        outputs = {
            "noisy input": noisy,
            "autoencoder": np.clip(trained.reconstruct(noisy), 0.0, 1.0),
            f"non-local means (h={h:g} sigma)": nl_means(noisy, shape, sigma, h),
            f"total variation (weight {w:g})": total_variation(noisy, shape, w),
        }
        row = {"sigma": sigma, "nlm_h_factor": h, "tv_weight": w, "methods": {}}
        for name, out in outputs.items():
            row["methods"][name] = {"psnr": psnr(test, out), "ssim": mean_ssim(test, out, shape)}
        rows.append(row)
        if workdir is not None:
            n = min(8, test.shape[0])
            grid = np.concatenate([test[:n]] + [out[:n] for out in outputs.values()])
            plots.save_image_grid(Path(workdir) / f"denoise_sigma{sigma:g}.png", grid, shape, n)
    report = {"task": "denoise", "examples": int(test.shape[0]), "rows": rows}
    if workdir is not None:
        write_atomic(Path(workdir) / "denoise.json", json.dumps(report, indent=2) + "\n")
    return report


def psnr_in_hole(reference: np.ndarray, estimate: np.ndarray, hole: np.ndarray) -> float:
    """PSNR (dB, peak 1) over the missing pixels of all images together."""
    mse = float(np.sum(hole * np.square(reference - estimate)) / max(float(np.sum(hole)), 1.0))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def run_inpaint(config: ml_collections.ConfigDict, workdir, data: Dataset | None = None) -> dict[str, Any]:
    corruption = Corruption.from_mapping(config.loss.corruption.to_dict())
    if corruption.kind not in ("centre_square", "random_boxes", "random_pixels"):
        raise ValueError(
            "task 'inpaint' trains on holes: set loss.corruption.kind to centre_square, random_boxes or random_pixels "
            f"(got {corruption.kind!r})"
        )
    dataset = get_dataset(config, data)
    shape = dataset.display_shape
    trained = fit(config, data=data, workdir=workdir)
    test = _image_split(dataset, "test", config.task.max_examples)
    masked = np.asarray(corruption(jnp.asarray(test), jax.random.PRNGKey(config.seed)))
    hole = (masked == MISSING).astype(np.float32)
    output = np.clip(trained.reconstruct(masked), 0.0, 1.0)
    filled = hole * output + (1 - hole) * test  # known pixels are kept; only the hole is predicted
    channel_axis = -1 if len(shape) == 3 else None
    biharmonic = np.stack(
        [
            inpaint_biharmonic(
                np.where(m > 0, 0.0, t).reshape(shape),
                (m.reshape(shape)[..., 0] if len(shape) == 3 else m.reshape(shape)) > 0,
                channel_axis=channel_axis,
            ).reshape(t.shape)
            for t, m in zip(test, hole, strict=True)
        ]
    )
    report = {
        "task": "inpaint",
        "mask": corruption.kind,
        "examples": int(test.shape[0]),
        "missing_fraction": float(hole.mean()),
        "psnr_hole_autoencoder": psnr_in_hole(test, filled, hole),
        "psnr_hole_biharmonic": psnr_in_hole(test, biharmonic, hole),
        "psnr_hole_mean_fill": psnr_in_hole(test, np.full_like(test, float(np.mean(dataset.x_train))), hole),
    }
    if workdir is not None:
        n = min(8, test.shape[0])
        shown = np.where(masked[:n] == MISSING, 0.5, masked[:n])  # the hole drawn grey
        grid = np.concatenate([test[:n], shown, hole[:n], filled[:n], biharmonic[:n]])
        plots.save_image_grid(Path(workdir) / "inpaint.png", grid, shape, n)
        write_atomic(Path(workdir) / "inpaint.json", json.dumps(report, indent=2) + "\n")
    return report


def denoise_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"denoise sigma {row['sigma']:g}: PSNR/SSIM "
        + " | ".join(f"{m} {v['psnr']:.2f}/{v['ssim']:.3f}" for m, v in row["methods"].items())
        for row in report["rows"]
    ]


def inpaint_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"inpaint ({report['mask']}, {report['missing_fraction']:.1%} missing): PSNR in the hole autoencoder "
        f"{report['psnr_hole_autoencoder']:.2f} | biharmonic {report['psnr_hole_biharmonic']:.2f} | "
        f"mean fill {report['psnr_hole_mean_fill']:.2f}"
    ]


register_task("denoise", run_denoise, denoise_lines)
register_task("inpaint", run_inpaint, inpaint_lines)
