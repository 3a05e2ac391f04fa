"""A learned lossy codec: a quantized-code autoencoder plus arithmetic coding of its symbols.

`Codec.fit(trained, x_train)` learns one frequency table per code unit from the training split's symbols;
`compress(x) -> bytes` and `decompress(bytes) -> reconstructions` round-trip exactly (decompress gives what
the decoder makes of the quantized code). A stream is a 17-byte header (magic, version, CRC-32 of the tables,
example count, CRC-32 of the payload) and the arithmetic-coded payload, so a stream read with another model's
codec, or damaged, fails with an error instead of decoding to garbage.

Streams are untrusted input: every refusal is a `CorruptStreamError` (a ValueError), and it comes fast. A count
the payload cannot hold under the tables is refused before any decoding (`entropy_coding.max_rows`), and a
payload is accepted only if it is exactly what `compress` writes for the symbols it decodes to.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib
from pathlib import Path

import numpy as np

from aejax import entropy_coding
from aejax.entropy_coding import CorruptStreamError
from aejax.training.metrics_log import write_atomic_bytes

MAGIC = b"AEJC"
VERSION = 1
_HEADER = struct.Struct(">4sBIII")  # magic, version, tables crc32, count, payload crc32
HEADER_BYTES = _HEADER.size

__all__ = ["HEADER_BYTES", "MAGIC", "VERSION", "Codec", "CorruptStreamError"]


@dataclasses.dataclass(frozen=True, eq=False)
class Codec:
    """Compress images with a trained autoencoder whose model.bottleneck is 'quantize' (or 'binary')."""

    trained: object  # aejax.Trained
    tables: np.ndarray  # (latent_dim, alphabet) integer frequencies

    @staticmethod
    def alphabet_of(trained) -> int:
        model = trained.model
        kind = getattr(model, "bottleneck", "none")
        if kind == "quantize":
            return int(model.quantize_levels)
        if kind == "binary":
            return 2
        raise ValueError(
            f"a codec needs a discrete code: model.bottleneck 'quantize' or 'binary' (got {kind!r})"
        )

    @classmethod
    def fit(cls, trained, x_train, prior: float = 1.0) -> Codec:
        """Frequency tables from the symbols of `x_train` (counts + `prior` per symbol)."""
        alphabet = cls.alphabet_of(trained)
        symbols = trained.code_symbols(x_train)
        return cls(trained, entropy_coding.frequency_tables(symbols, alphabet, prior))

    @property
    def tables_checksum(self) -> int:
        return zlib.crc32(np.ascontiguousarray(self.tables, np.int64).tobytes())

    def symbols(self, x) -> np.ndarray:
        if np.shape(x)[:1] == (0,):  # an empty batch is a valid (empty) stream
            return np.zeros((0, self.tables.shape[0]), np.int32)
        return self.trained.code_symbols(x)

    def compress(self, x) -> bytes:
        """One stream holding every example of `x` (batch first)."""
        symbols = self.symbols(x)
        payload = entropy_coding.encode(symbols, self.tables)
        header = _HEADER.pack(MAGIC, VERSION, self.tables_checksum, symbols.shape[0], zlib.crc32(payload))
        return header + payload

    def decompress_symbols(self, data: bytes) -> np.ndarray:
        """The (count, latent_dim) symbols of a stream; CorruptStreamError for anything `compress` did not write."""
        data = bytes(data)
        if len(data) < HEADER_BYTES or data[:4] != MAGIC:
            raise CorruptStreamError(
                f"not an aejax codec stream: expected the {MAGIC!r} header of {HEADER_BYTES} bytes, got "
                f"{data[:4]!r} ({len(data)} bytes)"
            )
        _, version, tables_crc, count, payload_crc = _HEADER.unpack(data[:HEADER_BYTES])
        if version != VERSION:
            raise CorruptStreamError(f"codec stream version {version}; this aejax reads version {VERSION}")
        if tables_crc != self.tables_checksum:
            raise CorruptStreamError(
                "the stream was written with different frequency tables (another model or codec fit); "
                "decompress it with the codec that compressed it"
            )
        payload = data[HEADER_BYTES:]
        if zlib.crc32(payload) != payload_crc:
            raise CorruptStreamError(
                "codec stream is corrupt or truncated: the payload checksum does not match the header's"
            )
        return entropy_coding.decode(payload, count, self.tables)

    def decompress(self, data: bytes) -> np.ndarray:
        """Reconstructions (count, *input_shape) of the examples in a stream written by `compress`."""
        symbols = self.decompress_symbols(data)
        if symbols.shape[0] == 0:
            return np.zeros((0, *self.trained.input_shape), np.float32)
        return self.trained.decode_symbols(symbols)

    def payload_bytes(self, x) -> np.ndarray:
        """Bytes of each example coded on its own, without the stream header (n,)."""
        return entropy_coding.encoded_sizes(self.symbols(x), self.tables)

    def ideal_bits(self, x) -> np.ndarray:
        """-log2 p(symbols) per example under the tables: the rate an ideal entropy coder would reach."""
        return entropy_coding.ideal_bits(self.symbols(x), self.tables)

    def save(self, path: str | Path) -> Path:
        """Write the tables (npz, atomically); `Codec.load(trained, path)` reads them back."""
        buffer = io.BytesIO()
        np.savez(buffer, tables=self.tables)
        path = Path(path)
        write_atomic_bytes(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, trained, path: str | Path) -> Codec:
        alphabet = cls.alphabet_of(trained)
        with np.load(Path(path)) as archive:
            tables = archive["tables"]
        if tables.shape != (trained.model.latent_dim, alphabet):
            raise ValueError(
                f"codec tables in {str(path)!r} have shape {tables.shape}; this model needs "
                f"({trained.model.latent_dim}, {alphabet})"
            )
        return cls(trained, tables)
