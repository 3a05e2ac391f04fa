"""TensorBoard event files written and read without TensorFlow or tensorboardX.

An event file is a sequence of TFRecords (little-endian uint64 length, masked CRC-32C of the length, the
payload, masked CRC-32C of the payload), each payload a serialized `tensorflow.Event` protocol buffer. Only the
fields TensorBoard reads for scalars and images are encoded here:

    Event:         wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5
    Summary:       value = 1 (repeated)
    Summary.Value: tag = 1 (string), simple_value = 2 (float), image = 4
    Summary.Image: height = 1, width = 2, colorspace = 3 (int32), encoded_image_string = 4 (PNG bytes)

`TensorBoardLog` is a metric writer (aejax.training.run_log): append a record, append images, truncate after a
step, close, so the training loop writes it and `metrics.jsonl` from the same records.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from aejax.training.metrics_log import refused_write

FILE_VERSION = b"brain.Event:2"
NOT_SCALARS = ("split", "step", "epoch")


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of TFRecords."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    key = _varint((number << 3) | wire)
    if wire == 2:
        return key + _varint(len(payload)) + payload
    return key + payload


def _uint(number: int, value: int) -> bytes:
    return _field(number, 0, _varint(int(value)))


def png_bytes(image: np.ndarray) -> bytes:
    """A (H, W), (H, W, 1) or (H, W, 3) image with values in [0, 1] as 8-bit PNG bytes (grey or RGB): the
    signature, IHDR, one zlib-compressed IDAT of unfiltered scanlines and IEND (PNG specification, 2nd ed.)."""
    array = np.asarray(image, np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(f"an image is (H, W), (H, W, 1) or (H, W, 3), got shape {array.shape}")
    pixels = np.round(np.clip(np.nan_to_num(array), 0.0, 1.0) * 255).astype(np.uint8)
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    colour = 0 if pixels.ndim == 2 else 2
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(scanlines))
        + chunk(b"IEND", b"")
    )


def scalar_value(tag: str, value: float) -> bytes:
    return _field(1, 2, tag.encode()) + _field(2, 5, struct.pack("<f", float(value)))


def image_value(tag: str, image: np.ndarray) -> bytes:
    """A Summary.Value holding one image as PNG (colorspace 1: grey, 3: RGB)."""
    shape = np.asarray(image).shape
    colorspace = 3 if len(shape) == 3 and shape[-1] == 3 else 1
    encoded = _uint(1, shape[0]) + _uint(2, shape[1]) + _uint(3, colorspace) + _field(4, 2, png_bytes(image))
    return _field(1, 2, tag.encode()) + _field(4, 2, encoded)


def event_bytes(step: int, values: list[bytes], wall_time: float | None = None) -> bytes:
    """A serialized Event at `step` whose summary holds `values` (encoded Summary.Value messages)."""
    summary = b"".join(_field(1, 2, v) for v in values)
    wall = time.time() if wall_time is None else wall_time
    return _field(1, 1, struct.pack("<d", wall)) + _uint(2, step) + _field(5, 2, summary)


def record_bytes(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked_crc(length)) + payload + struct.pack("<I", masked_crc(payload))


# ------------------------------------------------------------------------------------------------ reading
@dataclasses.dataclass(frozen=True)
class Event:
    """One event as read back: its step and wall time, scalars by tag, PNG images by tag."""

    step: int
    wall_time: float
    scalars: dict[str, float]
    images: dict[str, bytes]
    payload: bytes  # the serialized Event, to copy it unchanged


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) of a serialized message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = data[pos : pos + size], pos + size
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def parse_event(payload: bytes) -> Event:
    step, wall, scalars, images = 0, 0.0, {}, {}
    for number, _, value in _fields(payload):
        if number == 1:
            wall = struct.unpack("<d", value)[0]
        elif number == 2:
            step = value
        elif number == 5:
            for _, _, raw in _fields(value):
                fields = {n: v for n, _, v in _fields(raw)}
                tag = fields.get(1, b"").decode()
                if 2 in fields:
                    scalars[tag] = struct.unpack("<f", fields[2])[0]
                if 4 in fields:
                    images[tag] = {n: v for n, _, v in _fields(fields[4])}.get(4, b"")
    return Event(step, wall, scalars, images, payload)


def read_events(path: str | Path) -> list[Event]:
    """The events of one file, checksums verified; a record cut short at the end (a kill mid-write) is
    skipped, a damaged one before it raises ValueError."""
    data = Path(path).read_bytes()
    events, pos = [], 0
    while pos + 12 <= len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        end = pos + 12 + length + 4
        if end > len(data):
            break
        if struct.unpack("<I", data[pos + 8 : pos + 12])[0] != masked_crc(header):
            raise ValueError(f"{str(path)!r}: damaged record length at byte {pos}")
        payload = data[pos + 12 : pos + 12 + length]
        if struct.unpack("<I", data[end - 4 : end])[0] != masked_crc(payload):
            raise ValueError(f"{str(path)!r}: damaged record at byte {pos}")
        events.append(parse_event(payload))
        pos = end
    return events


# ------------------------------------------------------------------------------------------------ the log
class TensorBoardLog:
    """Scalars of metric records (tag `<split>/<metric>`) and images in a directory of event files, with the
    interface of `MetricsLog`: `append(record)`, `append_images(step, images)`, `truncate_after(step)`."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._path: Path | None = None

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("events.out.tfevents.*"))

    def events(self) -> list[Event]:
        return [event for path in self.files() for event in read_events(path)]

    def _write(self, payloads: list[bytes]) -> None:
        if self._path is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.aejax"
            self._path = self.directory / name
            payloads = [_field(1, 1, struct.pack("<d", time.time())) + _field(3, 2, FILE_VERSION), *payloads]
        try:
            with open(self._path, "ab") as stream:
                stream.write(b"".join(record_bytes(p) for p in payloads))
        except OSError as err:
            raise refused_write(self._path, err) from err

    def append(self, record: dict[str, Any]) -> None:
        split = record.get("split", "train")
        values = [
            scalar_value(f"{split}/{key}", value)
            for key, value in sorted(record.items())
            if key not in NOT_SCALARS and isinstance(value, int | float) and not isinstance(value, bool)
        ]
        if values:
            self._write([event_bytes(int(record.get("step", 0)), values)])

    def append_images(self, step: int, images: dict[str, np.ndarray]) -> None:
        """Images (H, W[, C]) in [0, 1] by tag, at `step` (e.g. reconstructions at an evaluation)."""
        self._write([event_bytes(step, [image_value(tag, image) for tag, image in sorted(images.items())])])

    def close(self) -> None:
        """Nothing to release: every append opens, writes and closes the file."""

    def truncate_after(self, step: int) -> None:
        """Keep the events up to `step` in one new file and remove the others (a resumed run then appends the
        steps after its checkpoint once, as the JSONL log does)."""
        old = self.files()
        kept = [e.payload for e in self.events() if e.step <= step and (e.scalars or e.images)]
        self._path = None
        staging = TensorBoardLog(self.directory / ".truncating")
        staging._write(kept)  # then renamed into place: a kill leaves either the old files or the new one
        self._path = self.directory / staging._path.name
        os.replace(staging._path, self._path)
        staging.directory.rmdir()
        for path in old:
            os.unlink(path)
