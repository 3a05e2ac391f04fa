"""Untrusted codec streams fail fast (issue 23, part 6): fuzzed streams are refused with CorruptStreamError in
under a second, or are accepted only when `compress` would write exactly them for what they decode to; no
valid stream is refused. The codec here wraps a stand-in model whose code is its input, so no training runs;
tests/test_codes.py covers a codec over a trained digits model.
"""

from __future__ import annotations

import dataclasses
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from aejax import entropy_coding
from aejax.codec import HEADER_BYTES, Codec, CorruptStreamError

# The frequency tables a Codec fit on digits (latent_dim 8, quantize_levels 5) learned: the report's model.
DIGITS_TABLES = np.array(
    [
        [31629, 26039, 7498, 318, 45],
        [45, 29357, 34719, 1363, 45],
        [45, 1908, 61122, 2408, 45],
        [45, 52124, 13269, 45, 45],
        [45, 45, 27721, 37673, 45],
        [4090, 54851, 6498, 45, 45],
        [45, 4544, 52761, 8134, 45],
        [2408, 57987, 5044, 45, 45],
    ]
)
# The report's stream: 3 test digits that codec compressed into 2 payload bytes (17 header bytes + 2).
REPORT_STREAM = bytes.fromhex("41454a430190f27e7e000000030b7bb0208fd5")
SKEWED_TABLES = entropy_coding.frequency_tables(np.zeros((1, 4), int), 2, prior=0.0)  # p(0) = 1 - 1/65535
# a hang guard, not a speed test: a decompression bomb takes minutes, a refusal microseconds; 1 s failed once
# on a 2-core machine under a parallel test load (1.96 s), so the guard leaves room for that
HANG_LIMIT = 15.0
COUNT_OFFSET = 9  # magic (4), version (1), tables crc (4), then the count


@dataclasses.dataclass(frozen=True)
class SymbolModel:
    """Stands in for a trained quantized autoencoder: its code is its input, its decoder scales the code."""

    latent_dim: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    def code_symbols(self, x) -> np.ndarray:
        return np.asarray(x, np.int32)

    def decode_symbols(self, symbols) -> np.ndarray:
        return np.asarray(symbols, np.float32) / 4


def _codec(tables: np.ndarray) -> Codec:
    return Codec(SymbolModel(tables.shape[0]), np.asarray(tables, np.int64))


def _sample(tables: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    probs = tables / tables.sum(axis=1, keepdims=True)
    columns = [rng.choice(tables.shape[1], size=n, p=p) for p in probs]
    return np.stack(columns, axis=1).astype(np.int32).reshape(n, tables.shape[0])


def _with_count(stream: bytes, count: int) -> bytes:
    return stream[:COUNT_OFFSET] + struct.pack(">I", count) + stream[COUNT_OFFSET + 4 :]


def _with_payload(stream: bytes, payload: bytes) -> bytes:
    """The stream's header, its payload replaced and the payload CRC recomputed so the checksum still holds."""
    return stream[: HEADER_BYTES - 4] + struct.pack(">I", zlib.crc32(payload)) + payload


def _outcome(codec: Codec, stream: bytes) -> str:
    """'refused' (CorruptStreamError) or 'consistent'; asserts the answer came within HANG_LIMIT and that an
    accepted stream is self-consistent: its header's count of rows, and exactly the bytes compress writes."""
    start = time.perf_counter()
    try:
        symbols = codec.decompress_symbols(stream)
    except CorruptStreamError:
        outcome = "refused"
    else:
        outcome = "consistent"
        count = struct.unpack(">I", stream[COUNT_OFFSET : COUNT_OFFSET + 4])[0]
        assert symbols.shape == (count, codec.tables.shape[0])
        assert codec.compress(symbols) == stream
    elapsed = time.perf_counter() - start
    assert elapsed < HANG_LIMIT, f"{elapsed:.2f} s to answer a {len(stream)}-byte stream"
    return outcome


@pytest.fixture(scope="module", params=["digits", "skewed"])
def streams(request):
    """A codec and valid streams of 0, 1, 3 and 40 rows under its tables (skewed: one rare symbol in each)."""
    tables = DIGITS_TABLES if request.param == "digits" else SKEWED_TABLES
    codec, rng = _codec(tables), np.random.default_rng(7)
    batches = [_sample(tables, n, rng) for n in (0, 1, 3, 40)]
    for symbols in batches[1:] if request.param == "skewed" else ():
        symbols[rng.integers(len(symbols)), rng.integers(symbols.shape[1])] = 1  # costs 16 bits
    return codec, [codec.compress(symbols) for symbols in batches]


def test_the_reported_bomb_is_refused_before_decoding():
    codec = _codec(DIGITS_TABLES)
    assert codec.decompress_symbols(REPORT_STREAM).shape == (3, 8)
    for count in (10**7, 2**32 - 1):
        start = time.perf_counter()
        with pytest.raises(CorruptStreamError, match=rf"claims {count} rows.*holds at most 4"):
            codec.decompress(_with_count(REPORT_STREAM, count))
        assert time.perf_counter() - start < 0.05
    assert issubclass(CorruptStreamError, ValueError)


def test_random_bytes_are_refused_or_self_consistent(streams):
    codec, valid = streams
    rng = np.random.default_rng(1)
    outcomes = [_outcome(codec, rng.bytes(int(rng.integers(0, 64)))) for _ in range(200)]
    header = valid[0][: HEADER_BYTES - 4]  # magic, version and tables CRC that this codec accepts
    for _ in range(300):
        count = int(rng.choice([rng.integers(0, 50), rng.integers(0, 2**32)]))
        forged = _with_payload(_with_count(header + bytes(4), count), rng.bytes(int(rng.integers(0, 24))))
        outcomes.append(_outcome(codec, forged))
    assert outcomes.count("refused") > 0.9 * len(outcomes)


def test_every_truncation_and_extension_is_refused_or_self_consistent(streams):
    codec, valid = streams
    for stream in valid:
        for length in range(len(stream)):
            assert _outcome(codec, stream[:length]) == "refused"  # the payload CRC no longer matches
        payload = stream[HEADER_BYTES:]
        for length in range(len(payload)):
            _outcome(codec, _with_payload(stream, payload[:length]))
        for tail in (b"\x00", b"\xff", bytes(9)):
            assert _outcome(codec, _with_payload(stream, payload + tail)) == "refused"


def test_each_header_field_altered_is_refused_or_self_consistent(streams):
    codec, valid = streams
    for stream in valid:
        count = struct.unpack(">I", stream[COUNT_OFFSET : COUNT_OFFSET + 4])[0]
        for position in range(HEADER_BYTES):  # magic, version, tables crc, count, payload crc: every byte
            for flip in (0x01, 0x80, 0xFF):
                damaged = bytearray(stream)
                damaged[position] ^= flip
                _outcome(codec, bytes(damaged))
        for forged in (count + 1, 2 * count + 2, 10**7, 2**31, 2**32 - 1):
            _outcome(codec, _with_count(stream, forged))
        most = entropy_coding.max_rows(len(stream) - HEADER_BYTES, codec.tables)
        _outcome(codec, _with_count(stream, most))  # the largest count the bound lets through
        for big in (most + 1, 10**7, 2**32 - 1):
            assert _outcome(codec, _with_count(stream, big)) == "refused"
        assert _outcome(codec, b"JPEG" + stream[4:]) == "refused"
        assert _outcome(codec, stream[:4] + bytes([2]) + stream[5:]) == "refused"


def test_payload_bit_flips_with_a_matching_crc_are_refused_or_self_consistent(streams):
    codec, valid = streams
    refused = 0
    for stream in valid:
        payload = np.frombuffer(stream[HEADER_BYTES:], np.uint8)
        for bit in range(8 * len(payload)):
            flipped = payload.copy()
            flipped[bit // 8] ^= 0x80 >> (bit % 8)
            refused += _outcome(codec, _with_payload(stream, flipped.tobytes())) == "refused"
    assert refused > 0


def test_decode_ends_exactly_at_the_payload_end():
    tables = np.ones((8, 2), np.int64)  # one bit a symbol: 3 rows take 24 + 2 bits, 4 bytes
    symbols = _sample(tables, 3, np.random.default_rng(3))
    payload = entropy_coding.encode(symbols, tables)
    assert len(payload) == 4
    np.testing.assert_array_equal(entropy_coding.decode(payload, 3, tables), symbols)
    with pytest.raises(CorruptStreamError, match="end after 4 bytes of a 5-byte payload"):
        entropy_coding.decode(payload + b"\x00", 3, tables)
    with pytest.raises(CorruptStreamError, match="reads past the payload's 3 bytes"):
        entropy_coding.decode(payload[:3], 3, tables)
    with pytest.raises(CorruptStreamError, match="row 3 of 4 reads past"):  # 34 bits: within the bound
        entropy_coding.decode(payload, 4, tables)
    with pytest.raises(CorruptStreamError, match="holds at most 4"):  # refused before decoding
        entropy_coding.decode(payload, 5, tables)
    stray = bytes([*payload[:3], payload[3] | 0x01])  # a set padding bit
    with pytest.raises(CorruptStreamError, match="differ from those encode writes"):
        entropy_coding.decode(stray, 3, tables)


@pytest.mark.parametrize("seed", range(60))
def test_no_valid_stream_is_refused(seed):
    rng = np.random.default_rng(seed)
    positions, alphabet, n = int(rng.integers(1, 13)), int(rng.integers(2, 10)), int(rng.integers(0, 40))
    concentration = float(rng.choice([0.05, 0.5, 5.0]))
    training = _sample(rng.dirichlet(np.full(alphabet, concentration), size=positions), 200, rng)
    tables = entropy_coding.frequency_tables(training, alphabet, prior=float(rng.choice([0.0, 0.01, 1.0])))
    symbols = _sample(tables, n, rng) if seed % 3 else rng.integers(0, alphabet, (n, positions))
    codec = _codec(tables)
    stream = codec.compress(symbols)
    assert n <= entropy_coding.max_rows(len(stream) - HEADER_BYTES, tables)
    np.testing.assert_array_equal(codec.decompress_symbols(stream), symbols)
    assert codec.decompress(stream).shape == (n, positions)


@pytest.mark.parametrize("rows", [0, 1, 7, 2000])
def test_skewed_streams_of_fewer_bits_than_symbols_round_trip(rows):
    codec = _codec(SKEWED_TABLES)
    symbols = np.zeros((rows, 4), np.int32)
    stream = codec.compress(symbols)
    assert len(stream) == HEADER_BYTES + 1  # 8000 symbols in one byte
    assert rows <= entropy_coding.max_rows(1, SKEWED_TABLES)
    np.testing.assert_array_equal(codec.decompress_symbols(stream), symbols)
    np.testing.assert_array_equal(codec.decompress(stream), symbols / 4)


def test_an_early_bit_flip_in_a_large_stream_costs_no_more_than_decoding_it():
    """A flipped bit cannot be refused early: an arithmetic decoder turns any bits into symbols whose code is
    those bits, so the damage shows only at the payload's end. The refusal costs what decoding costs."""
    codec = _codec(DIGITS_TABLES)
    stream = codec.compress(_sample(DIGITS_TABLES, 12000, np.random.default_rng(5)))
    payload = bytearray(stream[HEADER_BYTES:])
    assert len(payload) >= 10_000
    start = time.perf_counter()
    codec.decompress_symbols(stream)
    valid = time.perf_counter() - start
    for bit in (0, 1, 77):
        flipped = bytearray(payload)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        start = time.perf_counter()
        with pytest.raises(CorruptStreamError):
            codec.decompress_symbols(_with_payload(stream, bytes(flipped)))
        assert time.perf_counter() - start < 3 * valid + 0.05


def test_a_forged_count_on_skewed_tables_is_refused_once_the_rows_left_cannot_fit():
    codec, symbols = _codec(SKEWED_TABLES), np.zeros((40, 4), np.int32)
    symbols[::5, 1] = 1  # 8 rare symbols, 16 bits each
    stream = codec.compress(symbols)
    most = entropy_coding.max_rows(len(stream) - HEADER_BYTES, SKEWED_TABLES)
    assert most > 10**6
    start = time.perf_counter()
    with pytest.raises(CorruptStreamError, match=rf"after row 0 of {most}, .* rows left need at least"):
        codec.decompress_symbols(_with_count(stream, most))
    assert time.perf_counter() - start < 0.05
    for n_bytes in (1, 4):  # the cheapest rows: decoding runs until they no longer fit, well under a second
        count = entropy_coding.max_rows(n_bytes, SKEWED_TABLES)
        assert _outcome(codec, _with_payload(_with_count(stream, count), bytes(n_bytes))) == "refused"


def test_a_forged_count_allocates_nothing_up_front():
    symbols = np.zeros((500, 4), np.int32)
    symbols[:, 2] = 1  # 1 KB of rare symbols, which SKEWED_TABLES reads as ~90 million all-zero rows
    payload = entropy_coding.encode(symbols, SKEWED_TABLES)
    most = entropy_coding.max_rows(len(payload), SKEWED_TABLES)
    assert len(payload) >= 1000 and most > 9 * 10**7  # np.zeros((most, 4), np.int32) would take 1.4 GB
    tracemalloc.start()
    try:
        with pytest.raises(CorruptStreamError, match="rows left need at least"):
            entropy_coding.decode(payload, most, SKEWED_TABLES)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    np.testing.assert_array_equal(entropy_coding.decode(payload, 500, SKEWED_TABLES), symbols)


def test_the_mirror_encoder_checks_each_bit_as_it_is_emitted():
    mirror = entropy_coding._PayloadMirror(b"\x4c", 1)  # bits 0100 1100
    mirror.emit(0)
    mirror.pending = 2
    mirror.emit(1)  # 1 then the two pending bits, 0 0: payload bits 1..3
    with pytest.raises(CorruptStreamError, match=r"payload bits 4\.\.4 \(row 0 of 1\) differ"):
        mirror.emit(0)
    mirror.pending = 4
    with pytest.raises(CorruptStreamError, match="row 0 of 1 reads past the payload's 1 bytes"):
        mirror.emit(1)  # 5 bits from bit 4: one past the end
