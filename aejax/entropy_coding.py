"""Arithmetic coding of integer symbols under fixed per-position frequency tables.

A 32-bit integer arithmetic coder with underflow (E3) handling (Witten, Neal & Cleary 1987). Each position d of
a (n, D) symbol array has its own table of frequencies over its alphabet; the message costs within 2 bits of
-sum log2 p(symbol) in total (plus rounding to whole bytes). Pure Python: tens of thousands of symbols a second.
"""

from __future__ import annotations

import bisect

import numpy as np

PRECISION = 32
FULL = (1 << PRECISION) - 1
HALF = 1 << (PRECISION - 1)
QUARTER = 1 << (PRECISION - 2)
MAX_TOTAL = 1 << 16  # frequency totals stay far below QUARTER so no symbol's interval can vanish


def frequency_tables(symbols: np.ndarray, alphabet: int, prior: float = 1.0) -> np.ndarray:
    """(D, alphabet) integer frequencies from training symbols (n, D): counts + `prior` (Laplace), scaled
    so each row sums to at most 2^16 with every symbol at least 1."""
    symbols = np.asarray(symbols)
    if symbols.ndim != 2:
        raise ValueError(f"symbols must be (examples, positions), got shape {symbols.shape}")
    if symbols.size and (symbols.min() < 0 or symbols.max() >= alphabet):
        raise ValueError(f"symbols must lie in 0..{alphabet - 1}, got [{symbols.min()}, {symbols.max()}]")
    counts = np.stack([np.bincount(col, minlength=alphabet) for col in symbols.T]).astype(np.float64)
    probs = (counts + prior) / (counts + prior).sum(axis=1, keepdims=True)
    return np.maximum(1, np.floor(probs * (MAX_TOTAL - alphabet))).astype(np.int64)


def ideal_bits(symbols: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """-sum_d log2 p_d(symbol) per example under the tables (the entropy-coding bound), shape (n,)."""
    symbols = np.asarray(symbols)
    probs = tables / tables.sum(axis=1, keepdims=True)
    return -np.log2(probs[np.arange(tables.shape[0]), symbols]).sum(axis=1)


def _cumulative(tables: np.ndarray) -> list[list[int]]:
    tables = np.asarray(tables, np.int64)
    if tables.ndim != 2 or tables.shape[1] < 2:
        raise ValueError(f"frequency tables must be (positions, alphabet >= 2), got shape {tables.shape}")
    if tables.min() < 1 or tables.sum(axis=1).max() > MAX_TOTAL:
        raise ValueError(f"frequencies must be >= 1 with totals <= {MAX_TOTAL}")
    return [[0, *np.cumsum(row).tolist()] for row in tables]


class _BitWriter:
    def __init__(self):
        self.bits: list[int] = []
        self.pending = 0

    def emit(self, bit: int) -> None:
        self.bits.append(bit)
        self.bits.extend([1 - bit] * self.pending)
        self.pending = 0

    def to_bytes(self) -> bytes:
        return np.packbits(np.asarray(self.bits, np.uint8)).tobytes()


def encode(symbols: np.ndarray, tables: np.ndarray) -> bytes:
    """Arithmetic-code symbols (n, D), row after row, position d under tables[d]."""
    symbols = np.asarray(symbols)
    cumulative = _cumulative(tables)
    positions = len(cumulative)
    if symbols.ndim != 2 or symbols.shape[1] != positions:
        raise ValueError(f"symbols must have shape (n, {positions}) to match the tables, got {symbols.shape}")
    alphabet = tables.shape[1]
    if symbols.size and (symbols.min() < 0 or symbols.max() >= alphabet):
        raise ValueError(f"symbols must lie in 0..{alphabet - 1}, got [{symbols.min()}, {symbols.max()}]")
    out = _BitWriter()
    low, high = 0, FULL
    for row in symbols.tolist():
        for d, s in enumerate(row):
            cum = cumulative[d]
            total, width = cum[-1], high - low + 1
            high = low + width * cum[s + 1] // total - 1
            low = low + width * cum[s] // total
            while True:
                if high < HALF:
                    out.emit(0)
                elif low >= HALF:
                    out.emit(1)
                    low, high = low - HALF, high - HALF
                elif low >= QUARTER and high < HALF + QUARTER:
                    out.pending += 1
                    low, high = low - QUARTER, high - QUARTER
                else:
                    break
                low, high = 2 * low, 2 * high + 1
    out.pending += 1  # two more bits pick a point inside the final interval
    out.emit(0 if low < QUARTER else 1)
    return out.to_bytes()


def decode(data: bytes, count: int, tables: np.ndarray) -> np.ndarray:
    """The (count, D) symbols that `encode` wrote into `data` under the same tables."""
    cumulative = _cumulative(tables)
    bits = np.unpackbits(np.frombuffer(data, np.uint8)).tolist()
    n_bits = len(bits)
    value = 0
    for i in range(PRECISION):
        value = (value << 1) | (bits[i] if i < n_bits else 0)
    cursor = PRECISION
    low, high = 0, FULL
    out = np.zeros((count, len(cumulative)), np.int32)
    for n in range(count):
        for d, cum in enumerate(cumulative):
            total, width = cum[-1], high - low + 1
            target = ((value - low + 1) * total - 1) // width
            s = bisect.bisect_right(cum, target) - 1
            out[n, d] = s
            high = low + width * cum[s + 1] // total - 1
            low = low + width * cum[s] // total
            while True:
                if high < HALF:
                    pass
                elif low >= HALF:
                    value, low, high = value - HALF, low - HALF, high - HALF
                elif low >= QUARTER and high < HALF + QUARTER:
                    value, low, high = value - QUARTER, low - QUARTER, high - QUARTER
                else:
                    break
                bit = bits[cursor] if cursor < n_bits else 0
                cursor += 1
                low, high, value = 2 * low, 2 * high + 1, 2 * value + bit
    return out


def encoded_sizes(symbols: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """Bytes each example takes when coded on its own, shape (n,)."""
    return np.array([len(encode(row[None], tables)) for row in np.asarray(symbols)], np.int64)
