"""Fit time of `AutoencoderAnomalyDetector()` (defaults) on 10,000-row tables of several widths.

    taskset -c 0 python benchmarks/anomaly_fit_time.py      # one core, as the issue's limit is stated

The rows are standard normal (the time does not depend on the values); each width is fitted twice in a fresh
detector and both times are kept: the first includes XLA compilation, as a user's first fit does. Writes
`benchmarks/results/anomaly_fit_time.{json,md}`.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def time_fits(rows: int, widths: list[int]) -> list[dict]:
    """[{rows, features, first_fit_seconds, second_fit_seconds, epochs}] for each width."""
    from aejax.sklearn import AutoencoderAnomalyDetector

    out = []
    for width in widths:
        x = np.random.default_rng(0).normal(size=(rows, width))
        seconds = []
        for _ in range(2):
            started = time.perf_counter()
            detector = AutoencoderAnomalyDetector().fit(x)
            seconds.append(time.perf_counter() - started)
        out.append(
            {
                "rows": rows,
                "features": width,
                "latent_dim": detector.latent_dim_,
                "epochs": detector.epochs_,
                "first_fit_seconds": seconds[0],
                "second_fit_seconds": seconds[1],
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


def main(argv=None) -> None:
    import os

    import jax

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--widths", type=int, nargs="+", default=[6, 36, 128, 784])
    args = parser.parse_args(argv)
    record = {
        "meta": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "cpus_usable": len(os.sched_getaffinity(0)),
            "date": time.strftime("%Y-%m-%d"),
        },
        "fits": time_fits(args.rows, args.widths),
    }
    results = REPO / "benchmarks" / "results"
    (results / "anomaly_fit_time.json").write_text(json.dumps(record, indent=1) + "\n")
    lines = [
        f"`AutoencoderAnomalyDetector()` fit seconds, {record['meta']['cpus_usable']} usable CPU core(s), "
        f"Python {record['meta']['python']}, jax {record['meta']['jax']}.",
        "",
        "| rows x features | code size | epochs | first fit (with compilation) | second fit |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {f['rows']:,} x {f['features']} | {f['latent_dim']} | {f['epochs']} | "
        f"{f['first_fit_seconds']:.1f} | {f['second_fit_seconds']:.1f} |"
        for f in record["fits"]
    ]
    (results / "anomaly_fit_time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
