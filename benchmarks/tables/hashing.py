"""The hashing table: `aejax task --config hashing_mnist` (binary-code MLP autoencoders) against PCA + sign and
random projections, precision@k and mAP of Hamming ranking."""

from __future__ import annotations

from pathlib import Path

from . import common

NAME = "hashing-mnist"
MARKERS = ("<!-- hashing-mnist:begin -->", "<!-- hashing-mnist:end -->")
SUMMARY = "binary-code AE vs PCA sign / LSH retrieval (about 2 min)"
CONFIG = "hashing_mnist"
METHODS = ("autoencoder", "pca_sign", "random_projection")


def run(workdir: Path) -> dict:
    return common.single_task(CONFIG, "hashing.json", workdir)


def prose(rows: list[dict], k: int) -> str:
    def each(method: str) -> str:
        return " / ".join(f"{row[method][f'precision_at_{k}']:.3f}" for row in rows)

    beats = all(
        row["autoencoder"][f"precision_at_{k}"] > max(row[m][f"precision_at_{k}"] for m in METHODS[1:])
        for row in rows
    )
    bits = " / ".join(str(row["bits"]) for row in rows)
    counts = [str(row["autoencoder"]["constant_bits"]) for row in rows]
    constant = ", ".join(counts[:-1]) + f" and {counts[-1]}"
    pca = [row["pca_sign"][f"precision_at_{k}"] for row in rows]
    worse = "PCA + sign gets worse with more bits, since its later components carry little variance; the AE"
    return (
        f"The autoencoder's bits {'beat both baselines at every length' if beats else 'do not beat both baselines at every length'} "
        f"(precision@{k} {each('autoencoder')} against PCA + sign's {each('pca_sign')} at {bits} bits). "
        f"{worse if pca[-1] < pca[0] else 'The AE'} leaves {constant} of its {bits} bits constant on the database."
    )


def render(record: dict) -> str:
    run_ = record["runs"][CONFIG]
    report = run_["report"]
    rows, k = report["rows"], report["retrieval_k"]
    caption = (
        f"`{common.display(run_['command'])}` (binary-code MLP AEs, {run_['wall_seconds']:.0f} s; "
        f"{common.wall(record['meta'])}): the {report['database']:,} training images are the database, the "
        f"{report['queries']:,} test images the queries, an item is relevant when its label matches. "
        + common.regenerate(NAME)
    )
    return common.captioned_table(caption, report["table"], prose(rows, k))
