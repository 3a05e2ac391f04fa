"""Sequence data in NumPy: seeded synthetic sines (with labelled anomalies), image rows, padding and a baseline.

Everything here is deterministic given its seed and needs no network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANOMALY_KINDS = ("spike", "level_shift", "frequency_change")

# Sine parameters, drawn independently per component (and per feature) of every sequence.
FREQUENCY_CYCLES = (1.0, 4.0)  # whole cycles over the sequence length, uniform
AMPLITUDE = (0.5, 1.0)  # uniform
# Anomaly magnitudes and positions (sines_with_anomalies).
SPIKE_SIZE = (3.0, 5.0)  # added at one step to every feature, random sign
LEVEL_SHIFT_SIZE = (1.5, 2.5)  # added from the onset to the end, random sign
FREQUENCY_FACTOR = 3.0  # from the onset to the end every component runs this much faster (phase continuous)
ONSET_RANGE = (0.25, 0.75)  # onset step uniform in [0.25 T, 0.75 T)


def _sine_parameters(rng: np.random.Generator, n: int, features: int, num_components: tuple[int, int]):
    lo, hi = num_components
    if not 1 <= lo <= hi:
        raise ValueError(f"num_components must be (low, high) with 1 <= low <= high, got {num_components}")
    shape = (n, features, hi)
    freq = rng.uniform(*FREQUENCY_CYCLES, size=shape)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=shape)
    amp = rng.uniform(*AMPLITUDE, size=shape)
    count = rng.integers(lo, hi + 1, size=(n, features, 1))
    amp = amp * (np.arange(hi) < count)  # components beyond this sequence's count are switched off
    return freq, phase, amp


def _render(freq, phase, amp, time_NxT: np.ndarray, length: int) -> np.ndarray:
    """(n, T, features): sum over components of amp * sin(2π freq time / T + phase)."""
    arg = 2.0 * np.pi * freq[:, None] * time_NxT[:, :, None, None] / length + phase[:, None]
    return np.sum(amp[:, None] * np.sin(arg), axis=-1)


def sines(
    n: int,
    length: int,
    features: int = 1,
    *,
    num_components: tuple[int, int] = (1, 3),
    noise: float = 0.05,
    seed: int = 0,
) -> np.ndarray:
    """(n, length, features) float32 sums of sines plus N(0, noise²) noise.

    Each sequence and feature has an integer number of components in [num_components[0], num_components[1]];
    each component has frequency uniform in [1, 4) cycles per sequence, phase uniform in [0, 2π),
    amplitude uniform in [0.5, 1.0).
    """
    rng = np.random.default_rng(seed)
    freq, phase, amp = _sine_parameters(rng, n, features, num_components)
    time = np.broadcast_to(np.arange(length, dtype=np.float64), (n, length))
    x = _render(freq, phase, amp, time, length) + rng.normal(0.0, noise, size=(n, length, features))
    return x.astype(np.float32)


def sines_with_anomalies(
    n: int,
    length: int,
    *,
    features: int = 1,
    anomaly_fraction: float = 0.1,
    kinds: tuple[str, ...] = ANOMALY_KINDS,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sines as in `sines` (1 to 3 components) where round(anomaly_fraction * n) random sequences are anomalous.

    Returns (x (n, T, F) float32, sequence_labels (n,) int, timestep_labels (n, T) int), 1 = anomalous.
    Each anomalous sequence gets one kind, uniform over `kinds`, with an onset step uniform in [T/4, 3T/4):
    - "spike": ±U(3, 5) added to every feature at the onset step only (label 1 at that step);
    - "level_shift": ±U(1.5, 2.5) added from the onset to the end (labels 1 from the onset on);
    - "frequency_change": from the onset on every component runs 3x faster, phase-continuous (labels 1 from
      the onset on).
    """
    unknown = sorted(set(kinds) - set(ANOMALY_KINDS))
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {ANOMALY_KINDS}, got {kinds}")
    if not 0.0 <= anomaly_fraction <= 1.0:
        raise ValueError(f"anomaly_fraction must be in [0, 1], got {anomaly_fraction}")
    rng = np.random.default_rng(seed)
    freq, phase, amp = _sine_parameters(rng, n, features, (1, 3))
    num_anomalous = round(anomaly_fraction * n)
    anomalous = rng.permutation(n)[:num_anomalous]
    kind_index = rng.integers(0, len(kinds), size=n)
    onset = rng.integers(int(ONSET_RANGE[0] * length), max(int(ONSET_RANGE[1] * length), 1), size=n)
    sign = rng.choice([-1.0, 1.0], size=n)
    spike = rng.uniform(*SPIKE_SIZE, size=n)
    shift = rng.uniform(*LEVEL_SHIFT_SIZE, size=n)

    steps = np.arange(length, dtype=np.float64)
    time = np.broadcast_to(steps, (n, length)).copy()
    additive = np.zeros((n, length))
    sequence_labels = np.zeros(n, dtype=np.int64)
    timestep_labels = np.zeros((n, length), dtype=np.int64)
    for i in anomalous:
        kind, s = kinds[kind_index[i]], onset[i]
        sequence_labels[i] = 1
        if kind == "spike":
            additive[i, s] = sign[i] * spike[i]
            timestep_labels[i, s] = 1
        elif kind == "level_shift":
            additive[i, s:] = sign[i] * shift[i]
            timestep_labels[i, s:] = 1
        else:
            time[i, s:] = s + FREQUENCY_FACTOR * (steps[s:] - s)
            timestep_labels[i, s:] = 1
    x = _render(freq, phase, amp, time, length) + additive[:, :, None]
    x = x + rng.normal(0.0, noise, size=x.shape)
    return x.astype(np.float32), sequence_labels, timestep_labels


def image_rows(images: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 1) images -> (N, H, W) float32: H time steps of W features (MNIST: 28 of 28)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"image_rows expects (N, H, W) or (N, H, W, 1), got {images.shape}")
    return images.astype(np.float32)


@dataclass(frozen=True)
class SequenceArrays:
    """Validated padded sequences: x (N, T, F) finite floats, mask (N, T) in {0, 1}, lengths (N,) in [1, T].

    mask must equal the prefix mask of lengths (real steps first, padding after).
    """

    x: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray

    def __post_init__(self):
        x, mask, lengths = np.asarray(self.x), np.asarray(self.mask), np.asarray(self.lengths)
        if x.ndim != 3:
            raise ValueError(f"x expects (N, T, F), got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"x has {np.size(x) - np.isfinite(x).sum()} NaN or inf values")
        n, t = x.shape[:2]
        if mask.shape != (n, t):
            raise ValueError(f"mask expects shape (N, T) = {(n, t)}, got {mask.shape}")
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("mask values must be 0 or 1")
        if lengths.shape != (n,):
            raise ValueError(f"lengths expects shape (N,) = ({n},), got {lengths.shape}")
        if np.any(lengths < 1) or np.any(lengths > t):
            raise ValueError(f"lengths must be in [1, {t}], got min {lengths.min()} max {lengths.max()}")
        if not np.array_equal(mask, (np.arange(t) < lengths[:, None]).astype(mask.dtype)):
            raise ValueError("mask must be 1 on the first `lengths` steps of each row and 0 after")
        object.__setattr__(self, "x", x.astype(np.float32))
        object.__setattr__(self, "mask", mask.astype(np.float32))
        object.__setattr__(self, "lengths", lengths.astype(np.int64))


def pad_sequences(
    sequences: list[np.ndarray], max_length: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-pad (T_i, F) arrays at the end to (N, T, F); T = max_length or the longest T_i.

    Returns (x float32, mask (N, T) float32 with 1 on real steps, lengths (N,) int64). Raises ValueError for an
    empty list, arrays that are not 2-D, differing F, empty sequences, or sequences longer than max_length.
    """
    if len(sequences) == 0:
        raise ValueError("pad_sequences needs at least one sequence")
    arrays = [np.asarray(s) for s in sequences]
    for i, a in enumerate(arrays):
        if a.ndim != 2:
            raise ValueError(f"sequence {i} expects shape (T_i, F), got {a.shape}")
        if a.shape[0] < 1:
            raise ValueError(f"sequence {i} is empty")
        if a.shape[1] != arrays[0].shape[1]:
            raise ValueError(f"sequence {i} has {a.shape[1]} features, sequence 0 has {arrays[0].shape[1]}")
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    t = int(lengths.max()) if max_length is None else int(max_length)
    if lengths.max() > t:
        raise ValueError(f"max_length {t} is shorter than the longest sequence ({lengths.max()} steps)")
    x = np.zeros((len(arrays), t, arrays[0].shape[1]), np.float32)
    for i, a in enumerate(arrays):
        x[i, : a.shape[0]] = a
    mask = (np.arange(t) < lengths[:, None]).astype(np.float32)
    checked = SequenceArrays(x, mask, lengths)
    return checked.x, checked.mask, checked.lengths


def moving_average_zscore_scores(
    x: np.ndarray, mask: np.ndarray | None = None, window: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline anomaly scores: |x - centred moving average| / std of those residuals on the same sequence.

    The moving average and the std use real steps only. Returns (per_timestep (N, T): max over features, 0 at
    padding; per_sequence (N,): max over time).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"x expects (N, T, F), got shape {x.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    n, t, _ = x.shape
    m = np.ones((n, t)) if mask is None else np.asarray(mask, dtype=np.float64)
    if m.shape != (n, t):
        raise ValueError(f"mask expects shape (N, T) = {(n, t)}, got {m.shape}")
    left, right = window // 2, window - 1 - window // 2

    def window_sum(a: np.ndarray) -> np.ndarray:  # centred sum over `window` steps along axis 1
        padded = np.pad(a, [(0, 0), (left + 1, right)] + [(0, 0)] * (a.ndim - 2))
        c = np.cumsum(padded, axis=1)
        return c[:, window:] - c[:, :-window]

    m3 = m[:, :, None]
    average = window_sum(x * m3) / np.maximum(window_sum(m3), 1.0)
    residual = (x - average) * m3
    count = np.maximum(m3.sum(axis=1, keepdims=True), 1.0)
    mean = residual.sum(axis=1, keepdims=True) / count
    std = np.sqrt((np.square(residual - mean) * m3).sum(axis=1, keepdims=True) / count)
    per_timestep = np.max(np.abs(residual) / (std + 1e-8), axis=-1) * m
    return per_timestep, per_timestep.max(axis=1)
