"""Arithmetic coding of integer symbols under fixed per-position frequency tables.

A 32-bit integer arithmetic coder with underflow (E3) handling (Witten, Neal & Cleary 1987). Each position d of
a (n, D) symbol array has its own table of frequencies over its alphabet; the message costs within 2 bits of
-sum log2 p(symbol) in total (plus rounding to whole bytes). Pure Python: tens of thousands of symbols a second.

`decode` trusts nothing it is handed: a row count that the payload cannot hold is refused before decoding
(`max_rows`), and while decoding as soon as the rows left cannot fit in the bits left; a mirror encoder checks
each bit `encode` would write against the payload as it is emitted, and a payload is accepted only if it is
exactly what `encode` writes for the decoded symbols (no trailing bytes, no stray bits). The output grows with
the rows decoded, so a forged count allocates nothing up front.

What no check can do is refuse a damaged payload early: an arithmetic decoder turns any bits into symbols
whose code is those bits, so a flipped bit only changes the symbols, and shows at the payload's end (the
rows end too early or too late, or the final bits are not encode's). Refusing such a stream costs about as
much as decoding a valid one of its size. Likewise a payload of the cheapest rows holds up to `max_rows` of
them, which with very skewed tables is millions of rows a kilobyte: decoding them is the data's nature, and a
caller that expects fewer rows should cap the count before decoding.
"""

from __future__ import annotations

import array
import bisect
import math

import numpy as np

PRECISION = 32
FULL = (1 << PRECISION) - 1
HALF = 1 << (PRECISION - 1)
QUARTER = 1 << (PRECISION - 2)
MAX_TOTAL = 1 << 16  # frequency totals stay far below QUARTER so no symbol's interval can vanish
# Before each symbol the interval is wider than QUARTER (renormalisation ends there), so integer rounding
# leaves a symbol of probability p a new width W' < p W + 1 < (p + 2^-30) W: it always costs some bits.
_ROUNDING_SLACK = 1.0 / QUARTER
_FLOAT_MARGIN = 1e-9  # relative; keeps the float bound below the exact one
_ROOM_TOLERANCE = 1e-3  # bits; far above float error, so a valid stream is never refused mid-decode
_SPAN = FULL + 1


class CorruptStreamError(ValueError):
    """A coded stream that `encode` cannot have written: damaged, truncated, forged, or from other tables."""


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
    if tables.ndim != 2 or tables.shape[0] < 1 or tables.shape[1] < 2:
        raise ValueError(
            f"frequency tables must be (positions >= 1, alphabet >= 2), got shape {tables.shape}"
        )
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

    def finish(self, low: int) -> bytes:
        """Two more bits pick a point inside the final interval; pad with zeros to whole bytes."""
        self.pending += 1
        self.emit(0 if low < QUARTER else 1)
        return np.packbits(np.asarray(self.bits, np.uint8)).tobytes()


def min_row_bits(tables: np.ndarray) -> float:
    """A lower bound on the bits `encode` spends on one row, whatever its symbols.

    Let W be the interval's width and S the bits shifted out so far; S + log2(2^32 / W) starts at 0, a shift
    leaves it unchanged (W doubles) and coding symbol s at position d raises it by log2(W / W') where
    W' <= W p + 1 < W (p + 2^-30), p = f_s / total_d (W > 2^30 before every symbol). `encode` ends with W > 2^30
    and writes S + 2 bits, so a payload of B bytes holding n rows has n * sum_d -log2(max_s p + 2^-30) < 8 B.
    """
    tables = np.asarray(tables, np.float64)
    top = tables.max(axis=1) / tables.sum(axis=1)
    return float(-np.log2(top + _ROUNDING_SLACK).sum()) * (1.0 - _FLOAT_MARGIN)


def max_rows(n_bytes: int, tables: np.ndarray) -> int:
    """The most rows a payload of `n_bytes` can hold under `tables` (see `min_row_bits`); never too few."""
    _cumulative(tables)  # validates the tables, so every row costs more than zero bits
    return max(0, math.ceil(8 * n_bytes / min_row_bits(tables)) - 1)


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
    return out.finish(low)


def decode(data: bytes, count: int, tables: np.ndarray) -> np.ndarray:
    """The (count, D) symbols that `encode` wrote into `data` under the same tables.

    Raises CorruptStreamError, before decoding, if `data` cannot hold `count` rows; while decoding, as soon as
    the rows left cannot fit in the bits left (`min_row_bits` each) or a bit `encode` would write for the rows
    decoded so far differs from the payload's; and at the end unless `data` is exactly `encode`'s bytes.
    """
    data = bytes(data)
    limit = max_rows(len(data), tables)
    if not 0 <= count <= limit:
        raise CorruptStreamError(
            f"corrupt stream: it claims {count} rows of {len(tables)} symbols, but a {len(data)}-byte payload "
            f"holds at most {limit} under these tables (each row costs at least "
            f"{min_row_bits(tables):.3g} bits)"
        )
    return _decode_rows(data, count, _cumulative(tables), min_row_bits(tables))


class _PayloadMirror:
    """Checks the bits `encode` would write against the payload as they are emitted (a mirror encoder).

    The decoder keeps low <= value <= high, so the bits it emits mid-stream are the payload's own and `emit`
    refuses only past the payload's end (a safety net otherwise); damage shows in `finish`, at the end."""

    def __init__(self, data: bytes, count: int):
        self.data, self.count, self.row = data, count, 0
        self.bits = np.unpackbits(np.frombuffer(data, np.uint8)).tolist()
        self.n = 0  # bits emitted and checked so far
        self.pending = 0

    def emit(self, bit: int) -> None:
        start, end = self.n, self.n + 1 + self.pending
        if end > len(self.bits):
            self.past_end()
        if self.bits[start] != bit or (
            self.pending and (1 - bit) * self.pending != sum(self.bits[start + 1 : end])
        ):
            raise CorruptStreamError(
                f"corrupt stream: payload bits {start}..{end - 1} (row {self.row} of {self.count}) differ from "
                "those encode writes for the symbols decoded from the bits before them; expected exactly "
                "encode's bits"
            )
        self.n, self.pending = end, 0

    def past_end(self) -> None:
        raise CorruptStreamError(
            f"corrupt stream: row {self.row} of {self.count} reads past the payload's {len(self.data)} bytes; "
            "expected every row's bits inside the payload"
        )

    def finish(self, low: int) -> None:
        """`encode`'s last bits (one point inside the final interval, zero padding) must end the payload."""
        bit = 0 if low < QUARTER else 1
        tail = [bit] + [1 - bit] * (self.pending + 1)
        written = -(-(self.n + len(tail)) // 8)
        if written != len(self.data):
            raise CorruptStreamError(
                f"corrupt stream: its {self.count} rows end after {written} bytes of a {len(self.data)}-byte "
                "payload; expected the last row's bits to end the payload"
            )
        if self.bits[self.n :] != tail + [0] * (8 * written - self.n - len(tail)):
            raise CorruptStreamError(
                f"corrupt stream: the payload's bits differ from those encode writes for the {self.count} rows "
                "it decodes to; expected exactly encode's bits"
            )


def _check_room(mirror: _PayloadMirror, spent: float, row_bits: float) -> None:
    """Refuse once row `mirror.row` has spent `spent` bits (S + log2(2^32 / W), see `min_row_bits`) and the
    rows left, at least `row_bits` each, cannot fit in the bits left: `encode` writes more than S + 2 bits."""
    n_bits, left = len(mirror.bits), mirror.count - mirror.row - 1
    if spent + left * row_bits > n_bits + _ROOM_TOLERANCE:
        raise CorruptStreamError(
            f"corrupt stream: after row {mirror.row} of {mirror.count}, {spent:.1f} of the payload's {n_bits} "
            f"bits are spent and the {left} rows left need at least {left * row_bits:.1f} more; expected a "
            "count of rows that the payload can hold"
        )


def _decode_rows(data: bytes, count: int, cumulative: list[list[int]], row_bits: float) -> np.ndarray:
    """Decode `count` rows while a mirror encoder checks, bit by bit, that `encode` would write the payload."""
    mirror = _PayloadMirror(data, count)
    bits, n_bits = mirror.bits, len(mirror.bits)
    value = 0
    for i in range(PRECISION):
        value = (value << 1) | (bits[i] if i < n_bits else 0)
    cursor = PRECISION
    low, high = 0, FULL
    out = array.array("i")  # grows with the rows decoded: a forged count allocates nothing up front
    for n in range(count):
        mirror.row = n
        for cum in cumulative:
            total, width = cum[-1], high - low + 1
            target = ((value - low + 1) * total - 1) // width
            s = bisect.bisect_right(cum, target) - 1
            out.append(s)
            high = low + width * cum[s + 1] // total - 1
            low = low + width * cum[s] // total
            while True:
                if high < HALF:
                    mirror.emit(0)
                elif low >= HALF:
                    mirror.emit(1)
                    value, low, high = value - HALF, low - HALF, high - HALF
                elif low >= QUARTER and high < HALF + QUARTER:
                    mirror.pending += 1
                    value, low, high = value - QUARTER, low - QUARTER, high - QUARTER
                else:
                    break
                bit = bits[cursor] if cursor < n_bits else 0
                cursor += 1
                low, high, value = 2 * low, 2 * high + 1, 2 * value + bit
        if cursor - PRECISION + 2 > n_bits:  # encode would have written more bits than there are
            mirror.past_end()
        _check_room(mirror, cursor - PRECISION + math.log2(_SPAN / (high - low + 1)), row_bits)
    mirror.finish(low)
    return np.frombuffer(out, np.intc).astype(np.int32).reshape(count, len(cumulative))


def encoded_sizes(symbols: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """Bytes each example takes when coded on its own, shape (n,)."""
    return np.array([len(encode(row[None], tables)) for row in np.asarray(symbols)], np.int64)
