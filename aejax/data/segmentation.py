"""Seeded multi-digit segmentation canvases built from real digit images (MNIST or scikit-learn's 8x8 digits).

Each canvas holds `min_digits..max_digits` digits pasted at uniformly random integer positions; digits may
overlap. Pasting order defines occlusion: where a digit's intensity is > 0.5 (its foreground) it overwrites
both the canvas and the label map; elsewhere its faint pixels are merged into the canvas by `max`, leaving the
label map unchanged. Labels: 0 = background, digit class + 1 for digits (11 classes). Invariant, for inputs
in [0, 1]: `mask > 0` exactly where `image > 0.5`, and the label there is that of the last digit whose
foreground covers the pixel.

Train, validation and test canvases are drawn from the corresponding (disjoint) splits of the digit source,
so no digit image appears in two splits; within a split a digit may be reused (sampling with replacement).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aejax.data.sources import SourceSpec, load_digits, load_mnist

NUM_CLASSES = 11  # background + 10 digit classes
FOREGROUND_THRESHOLD = 0.5
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class SegmentationData:
    """Images (N, S, S, 1) float32 in [0, 1] and label maps (N, S, S) int32 in 0..10, per split."""

    x_train: np.ndarray
    m_train: np.ndarray
    x_val: np.ndarray
    m_val: np.ndarray
    x_test: np.ndarray
    m_test: np.ndarray
    source: str

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; valid: {', '.join(SPLITS)}")
        return getattr(self, f"x_{name}"), getattr(self, f"m_{name}")


def paste_digit(
    canvas_HxW: np.ndarray, mask_HxW: np.ndarray, digit_hxw: np.ndarray, label: int, row: int, col: int
) -> None:
    """Paste one digit in place at (row, col): foreground (> 0.5) overwrites image and mask, the rest merges by max."""
    h, w = digit_hxw.shape
    window = canvas_HxW[row : row + h, col : col + w]
    if window.shape != (h, w):
        raise ValueError(
            f"digit {h}x{w} at ({row}, {col}) does not fit in a {canvas_HxW.shape[0]}x{canvas_HxW.shape[1]} canvas"
        )
    foreground = digit_hxw > FOREGROUND_THRESHOLD
    window[...] = np.where(foreground, digit_hxw, np.maximum(window, digit_hxw))
    mask_HxW[row : row + h, col : col + w][foreground] = label + 1


def make_canvases(
    digits_Nxhxw: np.ndarray,
    labels_N: np.ndarray,
    num_canvases: int,
    canvas_size: int,
    min_digits: int = 2,
    max_digits: int = 4,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(images (num_canvases, S, S, 1) float32, masks (num_canvases, S, S) int32); the same seed gives the same bits."""
    digits = np.asarray(digits_Nxhxw, np.float32)
    if digits.ndim == 4 and digits.shape[-1] == 1:
        digits = digits[..., 0]
    if digits.ndim != 3:
        raise ValueError(f"digits must be (N, h, w) or (N, h, w, 1), got shape {np.shape(digits_Nxhxw)}")
    labels = np.asarray(labels_N)
    if labels.shape != (digits.shape[0],):
        raise ValueError(f"labels must be ({digits.shape[0]},) to match the digits, got {labels.shape}")
    if labels.size == 0:
        raise ValueError("no digits to place")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"digit labels must be in 0..9, got range {labels.min()}..{labels.max()}")
    _, h, w = digits.shape
    if canvas_size < max(h, w):
        raise ValueError(f"canvas_size={canvas_size} is smaller than a digit ({h}x{w})")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    rng = np.random.default_rng(seed)
    images = np.zeros((num_canvases, canvas_size, canvas_size), np.float32)
    masks = np.zeros((num_canvases, canvas_size, canvas_size), np.int32)
    for i in range(num_canvases):
        count = int(rng.integers(min_digits, max_digits + 1))
        chosen = rng.integers(0, digits.shape[0], size=count)
        rows = rng.integers(0, canvas_size - h + 1, size=count)
        cols = rng.integers(0, canvas_size - w + 1, size=count)
        for j, r, c in zip(chosen, rows, cols, strict=True):
            paste_digit(images[i], masks[i], digits[j], int(labels[j]), int(r), int(c))
    return images[..., None], masks


def _digit_splits(source: str, path: str, split_seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Disjoint train/val/test digit images (N, h, w) in [0, 1] and labels, using the project's 80/10/10 split."""
    if source == "mnist":
        dataset = load_mnist(SourceSpec(source="mnist", path=path, split_seed=split_seed, flatten=False))
    elif source == "digits":
        dataset = load_digits(SourceSpec(source="digits", split_seed=split_seed, flatten=False))
    else:
        raise ValueError(f"unknown digit source {source!r}; valid: digits, mnist")
    return {name: (getattr(dataset, f"x_{name}"), getattr(dataset, f"y_{name}")) for name in SPLITS}


def build_segmentation_data(
    source: str = "mnist",
    path: str = "",
    canvas_size: int = 48,
    sizes: tuple[int, int, int] = (4000, 500, 1000),
    min_digits: int = 2,
    max_digits: int = 4,
    seed: int = 0,
) -> SegmentationData:
    """Canvases for each split from that split's digits; `sizes` = (train, val, test) canvas counts.

    `seed` fixes both the digit split and the canvases; each split draws from its own child seed.
    """
    digit_splits = _digit_splits(source, path, seed)
    child_seeds = np.random.SeedSequence(seed).spawn(len(SPLITS))
    arrays = {}
    for name, count, child in zip(SPLITS, sizes, child_seeds, strict=True):
        digits, labels = digit_splits[name]
        x, m = make_canvases(
            digits, labels, count, canvas_size, min_digits, max_digits, seed=int(child.generate_state(1)[0])
        )
        arrays[f"x_{name}"], arrays[f"m_{name}"] = x, m
    return SegmentationData(**arrays, source=source)
