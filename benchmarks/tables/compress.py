"""The compression table: `aejax task --config compress_mnist`, quantized-code autoencoders with arithmetic coding
(`aejax.Codec`) against JPEG, bits per pixel from actual bytes against mean PSNR."""

from __future__ import annotations

import itertools
from pathlib import Path

from . import common

NAME = "compress-mnist"
MARKERS = ("<!-- compress-mnist:begin -->", "<!-- compress-mnist:end -->")
SUMMARY = "quantized AE + arithmetic coding vs JPEG (about 12 min)"
CONFIG = "compress_mnist"
PIXELS = 28 * 28


def run(workdir: Path) -> dict:
    return common.single_task(CONFIG, "compress.json", workdir)


def psnr_at_rate(jpeg: list[dict], bpp: float) -> float | None:
    """JPEG's PSNR at `bpp` by linear interpolation along its scan-only curve (`aejax.tasks.compression`)."""
    points = sorted((r["bpp_scan"], r["psnr"]) for r in jpeg)
    if bpp < points[0][0] or bpp > points[-1][0]:
        return None
    for (r0, p0), (r1, p1) in itertools.pairwise(points):
        if r0 <= bpp <= r1:
            return p0 if r1 == r0 else p0 + (p1 - p0) * (bpp - r0) / (r1 - r0)
    return points[-1][1]


def prose(rows: list[dict], jpeg: list[dict]) -> str:
    """The comparison the table supports, with its numbers."""
    lowest, best = min(jpeg, key=lambda r: r["bpp_scan"]), max(jpeg, key=lambda r: r["psnr"])
    both = [(r, psnr_at_rate(jpeg, r["bpp"])) for r in sorted(rows, key=lambda r: r["bpp"])]
    both = [(r, at) for r, at in both if at is not None]
    below = [r for r in sorted(rows, key=lambda r: r["bpp"]) if r["bpp"] < lowest["bpp_scan"]]
    # the lowest rate from which every learned point below JPEG's lowest rate beats JPEG's lowest-rate PSNR
    first = next((r for i, r in enumerate(below) if all(b["psnr"] > lowest["psnr"] for b in below[i:])), None)
    text = []
    if both:
        pairs = ", ".join(f"{r['psnr']:.2f} against {at:.2f} dB at {r['bpp']:.2f} bpp" for r, at in both)
        wins = all(r["psnr"] > at for r, at in both)
        text.append(
            f"Where both codecs have a rate ({lowest['bpp_scan']:.2f} to {both[-1][0]['bpp']:.2f} bpp), "
            f"{'the learned codec has the higher PSNR' if wins else 'the two trade places'}: {pairs} (JPEG "
            "interpolated along its scan-only curve)."
        )
    text.append(f"Below {lowest['bpp_scan']:.2f} bpp JPEG has no setting at all")
    if first is not None:
        text[-1] += (
            f"; from {first['bpp']:.2f} bpp on the learned codec already beats JPEG's lowest-rate point "
            f"({first['psnr']:.2f} dB at {first['bpp']:.2f} bpp against {lowest['psnr']:.2f} dB at quality "
            f"{lowest['quality']} with {lowest['bpp_scan']:.2f} bpp of scan and {lowest['bpp_file']:.2f} bpp of file)"
        )
    text[-1] += "."
    top = max(rows, key=lambda r: r["psnr"])
    text.append(
        f"Above about {max(r['bpp'] for r in rows):.1f} bpp JPEG wins: this MLP codec saturates near "
        f"{top['psnr']:.0f} dB while JPEG reaches {best['psnr']:.0f} dB at quality {best['quality']}."
    )
    for r in rows:
        bits = r["bpp_ideal"] * PIXELS
        if bits < 0.01:
            text.append(
                f"The k={r['code_size']}, L={r['levels']} model collapsed to a nearly constant code ({bits:.3f} "
                "bits per image at its ideal rate: the mean image)."
            )
    return " ".join(text)


def render(record: dict) -> str:
    run_ = record["runs"][CONFIG]
    report = run_["report"]
    rows, jpeg = report["learned"], report["jpeg"]
    caption = (
        f"`{common.display(run_['command'])}` (784-512-256-k MLP, {len(rows)} models, "
        f"{run_['wall_seconds'] / 60:.0f} minutes; {common.wall(record['meta'])}; {report['test_images']:,} test "
        "images). Learned rates are each image's own arithmetic-coded payload in whole bytes (a stream of all "
        "1,000 images costs the ideal rate to within 0.0002 bpp); JPEG is Pillow with optimized Huffman tables, "
        "4:4:4. A 28x28 JPEG file cannot amortize its ~170 bytes of headers and tables, so the table also "
        "compares against JPEG's entropy-coded scan alone, a lower bound no real JPEG file reaches. "
        + common.regenerate(NAME)
    )
    return common.captioned_table(caption, report["table"], prose(rows, jpeg))
