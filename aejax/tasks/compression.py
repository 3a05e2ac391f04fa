"""Learned image compression against JPEG: rate (bits per pixel, in actual bytes) against distortion (PSNR).

One quantized-code autoencoder (model.bottleneck='quantize') is trained per (code size, levels) pair; its
symbols are arithmetic-coded under per-unit frequency tables learned on the training split (aejax.codec).
JPEG (Pillow, optimized Huffman tables, 4:4:4) codes the same 8-bit test images at each quality. Rates are
reported two ways for JPEG: the whole file, and only its entropy-coded scan (the file minus headers and
tables, which a 28x28 image cannot amortize). The learned rate is each image's own arithmetic-coded payload;
a stream of many images adds one 17-byte header. PSNR is the mean over images of each image's PSNR in dB.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from aejax import plots_codes
from aejax.codec import HEADER_BYTES, Codec
from aejax.data import Dataset
from aejax.fitting import fit, get_dataset
from aejax.tasks.registry import register_task
from aejax.training.metrics_log import write_atomic


def per_image_psnr(reference: np.ndarray, estimate: np.ndarray, max_value: float = 1.0) -> np.ndarray:
    """PSNR in dB of each image (n,); an exact copy gets 100 dB rather than infinity."""
    reference = np.asarray(reference, np.float64).reshape(reference.shape[0], -1)
    estimate = np.asarray(estimate, np.float64).reshape(reference.shape)
    mse = np.mean(np.square(reference - estimate), axis=1)
    return np.where(mse > 0, 10.0 * np.log10(max_value**2 / np.maximum(mse, 1e-30)), 100.0)


def to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(images) * 255.0), 0, 255).astype(np.uint8)


def jpeg_scan_bytes(data: bytes) -> int:
    """Bytes of a baseline JPEG's entropy-coded scan: everything after the SOS segment up to EOI."""
    sos = data.find(b"\xff\xda")
    if sos < 0 or not data.endswith(b"\xff\xd9"):
        raise ValueError("not a baseline JPEG stream (no SOS marker or no EOI at the end)")
    header_length = int.from_bytes(data[sos + 2 : sos + 4], "big")
    return len(data) - (sos + 2 + header_length) - 2


def jpeg_roundtrip(image_u8: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    """(file bytes, decoded image) of one grey (H, W) or colour (H, W, 3) 8-bit image through Pillow."""
    from PIL import Image

    image = Image.fromarray(
        image_u8.squeeze(-1) if image_u8.ndim == 3 and image_u8.shape[-1] == 1 else image_u8
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality), optimize=True, subsampling=0)
    data = buffer.getvalue()
    decoded = np.asarray(Image.open(io.BytesIO(data))).reshape(image_u8.shape)
    return data, decoded


def jpeg_rate_distortion(images: np.ndarray, qualities, display_shape) -> list[dict[str, Any]]:
    """JPEG at each quality on images in [0, 1] (n, *display_shape): bpp (file and scan) and PSNR."""
    shape = tuple(display_shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"JPEG needs images (H, W) or (H, W, C); the data's display shape is {shape}")
    images = np.asarray(images).reshape(images.shape[0], *shape)
    pixels = shape[0] * shape[1]
    originals = to_uint8(images)
    rows = []
    for quality in qualities:
        files, scans, decoded = [], [], []
        for image in originals:
            data, out = jpeg_roundtrip(image, quality)
            files.append(len(data))
            scans.append(jpeg_scan_bytes(data))
            decoded.append(out)
        decoded = np.stack(decoded).astype(np.float64) / 255.0
        psnr = per_image_psnr(images, decoded)
        rows.append(
            {
                "quality": int(quality),
                "bpp_file": float(np.mean(files) * 8 / pixels),
                "bpp_scan": float(np.mean(scans) * 8 / pixels),
                "psnr": float(np.mean(psnr)),
                "mse": float(np.mean(np.square(images - decoded))),
            }
        )
    return rows


def psnr_at_rate(curve: list[dict[str, Any]], rate_key: str, bpp: float) -> float | None:
    """JPEG's PSNR at `bpp` by linear interpolation along its curve; None outside the curve's rates."""
    points = sorted((r[rate_key], r["psnr"]) for r in curve)
    rates = [p[0] for p in points]
    if bpp < rates[0] or bpp > rates[-1]:
        return None
    return float(np.interp(bpp, rates, [p[1] for p in points]))


def beats_jpeg(row: dict[str, Any], curve: list[dict[str, Any]], rate_key: str) -> bool:
    """True when JPEG needs more bits for the same PSNR: below JPEG's lowest rate any PSNR above JPEG's
    lowest-rate PSNR wins; inside the curve the learned PSNR must beat the interpolated JPEG PSNR."""
    at = psnr_at_rate(curve, rate_key, row["bpp"])
    if at is None:
        lowest = min(curve, key=lambda r: r[rate_key])
        if row["bpp"] < lowest[rate_key]:
            return row["psnr"] > lowest["psnr"]
        return False
    return row["psnr"] > at


def codec_row(trained, codec: Codec, x_test: np.ndarray, pixels: int) -> dict[str, Any]:
    """Rate and distortion of one learned codec on the test images, from the actual coded bytes."""
    stream = codec.compress(x_test)
    decoded = codec.decompress(stream)
    if not np.array_equal(decoded, trained.decode_symbols(codec.symbols(x_test))):
        raise AssertionError("codec round trip changed the reconstruction")
    payload = codec.payload_bytes(x_test)
    psnr = per_image_psnr(x_test, decoded)
    return {
        "code_size": int(trained.model.latent_dim),
        "levels": int(trained.model.quantize_levels),
        "bpp": float(np.mean(payload) * 8 / pixels),
        "bpp_ideal": float(np.mean(codec.ideal_bits(x_test)) / pixels),
        "bpp_stream": float(len(stream) * 8 / (pixels * x_test.shape[0])),
        "bits_uncoded": float(trained.model.latent_dim * np.log2(trained.model.quantize_levels)),
        "psnr": float(np.mean(psnr)),
        "mse": float(np.mean(np.square(x_test.reshape(decoded.shape) - decoded))),
    }


def markdown_table(rows: list[dict[str, Any]], jpeg: list[dict[str, Any]]) -> str:
    lowest = min(jpeg, key=lambda r: r["bpp_scan"])
    lines = [
        "| codec | setting | bpp | PSNR (dB) | JPEG (scan bytes only) PSNR at this bpp |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["bpp"]):
        at = psnr_at_rate(jpeg, "bpp_scan", r["bpp"])
        if at is not None:
            cell = f"{at:.2f}"
        elif r["bpp"] < lowest["bpp_scan"]:
            cell = f"below JPEG's lowest rate ({lowest['bpp_scan']:.3f} bpp at {lowest['psnr']:.2f} dB)"
        else:
            cell = "above the JPEG qualities tried"
        lines.append(
            f"| aejax (quantized AE + arithmetic coding) | k={r['code_size']}, L={r['levels']} | "
            f"{r['bpp']:.3f} | {r['psnr']:.2f} | {cell} |"
        )
    for r in jpeg:
        lines.append(
            f"| JPEG (Pillow) | quality {r['quality']} | {r['bpp_file']:.3f} file / {r['bpp_scan']:.3f} scan | "
            f"{r['psnr']:.2f} | |"
        )
    return "\n".join(lines) + "\n"


def _codec_point(trained, x_train, x_test, pixels: int, jpeg: list[dict[str, Any]], run_dir: Path | None):
    """The codec of one trained model, fitted on `x_train` (saved in `run_dir`), and its row: rate and
    distortion on `x_test`, and whether it beats JPEG at its rate (scan bytes, whole files)."""
    codec = Codec.fit(trained, x_train)
    if run_dir is not None:
        codec.save(run_dir / "codec.npz")
    row = codec_row(trained, codec, x_test, pixels)
    row["beats_jpeg_scan"] = beats_jpeg(row, jpeg, "bpp_scan")
    row["beats_jpeg_file"] = beats_jpeg(row, jpeg, "bpp_file")
    return row, codec


def _save_codec_examples(
    path: Path, codecs: list[tuple[dict[str, Any], Codec]], jpeg: list[dict[str, Any]], x_test, display_shape
) -> None:
    """Side by side at about the same rate: the learned point nearest JPEG's lowest scan rate, and JPEG at the
    quality whose scan rate is nearest to that point's, on the first 8 test images."""
    jpeg_lowest = min(jpeg, key=lambda r: r["bpp_scan"])
    point, codec = min(codecs, key=lambda c: abs(np.log(c[0]["bpp"] / jpeg_lowest["bpp_scan"])))
    shown = x_test[:8]
    quality = min(jpeg, key=lambda r: abs(r["bpp_scan"] - point["bpp"]))["quality"]
    jpeg_images = np.stack(
        [jpeg_roundtrip(im, quality)[1] for im in to_uint8(shown.reshape(-1, *display_shape))]
    )
    plots_codes.save_codec_examples(
        path,
        shown.reshape(-1, *display_shape),
        codec.decompress(codec.compress(shown)).reshape(-1, *display_shape),
        jpeg_images.astype(np.float32) / 255.0,
        f"aejax {point['bpp']:.3f} bpp",
        f"JPEG q{quality} ({next(r for r in jpeg if r['quality'] == quality)['bpp_scan']:.3f} bpp scan)",
    )


def run_compress(
    config: ml_collections.ConfigDict, workdir: str | Path | None, data: Dataset | None = None
) -> dict[str, Any]:
    """Train one quantized autoencoder per task.code_sizes x task.quantize_levels (in workdir/k<size>_L<levels>),
    fit its codec on the training split and compare rate and PSNR with JPEG on the test split."""
    sizes = [int(k) for k in config.task.code_sizes]
    levels = [int(v) for v in config.task.quantize_levels]
    if not sizes or min(sizes) < 1 or not levels or min(levels) < 2:
        raise ValueError(
            f"task 'compress' needs task.code_sizes >= 1 and task.quantize_levels >= 2, got {sizes} and {levels}"
        )
    dataset = get_dataset(config, data)
    x_test = dataset.x_test if dataset.x_test is not None else dataset.x_val
    if x_test is None:
        raise ValueError("task 'compress' needs a test (or validation) split")
    pixels = int(np.prod(dataset.display_shape[:2]))
    jpeg = jpeg_rate_distortion(x_test, config.task.jpeg_qualities, dataset.display_shape)
    workdir = Path(workdir) if workdir is not None else None
    rows, codecs = [], []
    for k in sizes:
        for level in levels:
            cfg = config.copy_and_resolve_references()
            cfg.model.latent_dim, cfg.model.quantize_levels, cfg.model.bottleneck = k, level, "quantize"
            run_dir = workdir / f"k{k}_L{level}" if workdir else None
            trained = fit(cfg, data=dataset if data is not None else None, workdir=run_dir)
            row, codec = _codec_point(trained, dataset.x_train, x_test, pixels, jpeg, run_dir)
            rows.append(row)
            codecs.append((row, codec))
    wins = [r["bpp"] for r in rows if r["beats_jpeg_scan"]]
    report = {
        "task": "compress",
        "data": dataset.summary(),
        "test_images": int(x_test.shape[0]),
        "stream_header_bytes": HEADER_BYTES,
        "learned": rows,
        "jpeg": jpeg,
        "beats_jpeg_scan_up_to_bpp": max(wins) if wins else None,
        "table": markdown_table(rows, jpeg),
    }
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        write_atomic(workdir / "compress.json", json.dumps(report, indent=2) + "\n")
        write_atomic(workdir / "compress.md", report["table"])
        plots_codes.save_rate_distortion(workdir / "rate_distortion.png", rows, jpeg)
        _save_codec_examples(
            workdir / "compression_examples.png", codecs, jpeg, x_test, dataset.display_shape
        )
    return report


def compress_lines(report: dict[str, Any]) -> list[str]:
    """The report carries its own markdown table."""
    return [f"compress ({report['data']}):", report["table"].rstrip()]


register_task("compress", run_compress, compress_lines)
