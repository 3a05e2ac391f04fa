"""Unsupervised anomaly detection on contaminated data: aejax's default detector against the classics.

    python benchmarks/anomaly_odds.py [--readme]      # about 10 min on 2 CPU cores

Protocol (that of ../shared/data/odds-dev/README.md): permute the rows with np.random.default_rng(seed); the
first 60% train each detector with their labels unused (anomalies included), the other 40% are scored;
features are standardized with the training rows' mean and standard deviation. Seeds 0, 1, 2; seed 0 is the
README's protocol. Two groups of sets:

- the five ODDS development sets of `--odds` (cardio, optdigits, pendigits, satellite, annthyroid);
- one-class MNIST from `--mnist` (the 10,000-image test split): for each digit N, its images are normal and
  anomalies drawn at random from the other digits make up 12.5% of the set; then the same 60/40 protocol.

Methods, every one with its defaults as a user would call it: `AutoencoderAnomalyDetector()`,
IsolationForest (200 trees), PCA reconstruction error (components for 90% of the variance), LOF (20
neighbours, novelty mode) and PyOD's AutoEncoder when `pyod` is importable. Reports AUROC and AUPRC (average
precision) per set (mean over the seeds), group means, and fit time per set. Writes
`benchmarks/results/anomaly_odds.{json,md}`; `--readme` also replaces the README table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
ODDS_SETS = ("cardio", "optdigits", "pendigits", "satellite", "annthyroid")
MARKERS = ("<!-- anomaly-odds:start -->", "<!-- anomaly-odds:end -->")
TITLES = {
    "aejax": "aejax detector",
    "isolation_forest": "IsolationForest",
    "pca": "PCA recon.",
    "lof": "LOF",
    "pyod_ae": "PyOD AutoEncoder",
}


def split(x: np.ndarray, y: np.ndarray, seed: int):
    """The protocol's 60/40 split, standardized with the training rows' statistics."""
    order = np.random.default_rng(seed).permutation(len(x))
    n = int(0.6 * len(x))
    train, test = x[order[:n]], x[order[n:]]
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return (train - mean) / std, (test - mean) / std, y[order[n:]]


def load_mnist(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    from aejax.data.idx import read_idx

    images = sorted(directory.glob("t10k-images-idx3-ubyte*"))
    labels = sorted(directory.glob("t10k-labels-idx1-ubyte*"))
    if not images or not labels:
        raise SystemExit(f"MNIST test split (t10k-*-idx*-ubyte[.gz]) not found in {directory}; pass --mnist")
    return read_idx(images[0]).reshape(-1, 784).astype(np.float64) / 255.0, read_idx(labels[0]).astype(
        np.int64
    )


def one_class(x: np.ndarray, labels: np.ndarray, digit: int, seed: int, share: float = 0.125):
    """Digit `digit` normal (label 0), other digits drawn at random as a `share` of the set (label 1)."""
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(labels == digit)
    n_anomalies = round(len(normal) * share / (1 - share))
    anomalies = rng.choice(np.flatnonzero(labels != digit), n_anomalies, replace=False)
    rows = np.concatenate([normal, anomalies])
    return x[rows], np.r_[np.zeros(len(normal)), np.ones(n_anomalies)].astype(np.int64)


def detectors(seed: int) -> dict:
    """name -> (fit(train) -> score(test) with higher = more anomalous)."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor

    from aejax.sklearn import AutoencoderAnomalyDetector

    def aejax_fit(train):
        return AutoencoderAnomalyDetector(random_state=seed).fit(train).anomaly_score

    def forest(train):
        model = IsolationForest(n_estimators=200, random_state=seed).fit(train)
        return lambda test: -model.score_samples(test)

    def pca(train):
        model = PCA(n_components=0.9, random_state=seed).fit(train)
        return lambda test: np.sum((test - model.inverse_transform(model.transform(test))) ** 2, axis=1)

    def lof(train):
        model = LocalOutlierFactor(n_neighbors=20, novelty=True).fit(train)
        return lambda test: -model.score_samples(test)

    methods = {"aejax": aejax_fit, "isolation_forest": forest, "pca": pca, "lof": lof}
    try:
        from pyod.models.auto_encoder import AutoEncoder

        def pyod_ae(train):
            model = AutoEncoder(random_state=seed, verbose=0).fit(train)
            return model.decision_function

        methods["pyod_ae"] = pyod_ae
    except ImportError:
        pass
    return methods


def evaluate(x: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """AUROC, AUPRC and fit seconds of every method on one set and seed."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    train, test, y_test = split(x, y, seed)
    out = {}
    for name, fit in detectors(seed).items():
        started = time.perf_counter()
        score = fit(train)
        seconds = time.perf_counter() - started
        s = score(test)
        out[name] = {
            "auroc": float(roc_auc_score(y_test, s)),
            "auprc": float(average_precision_score(y_test, s)),
            "fit_seconds": seconds,
        }
    return out


def run_sets(sets: dict, seeds: tuple[int, ...]) -> dict:
    """{set: {method: {metric: mean over seeds, 'per_seed': [...]}}}; prints a line per set."""
    results = {}
    for name, make in sets.items():
        per_seed = [evaluate(*make(seed), seed) for seed in seeds]
        results[name] = {
            method: {
                **{m: float(np.mean([r[method][m] for r in per_seed])) for m in per_seed[0][method]},
                "auroc_per_seed": [r[method]["auroc"] for r in per_seed],
            }
            for method in per_seed[0]
        }
        line = "  ".join(f"{m} {v['auroc']:.3f} ({v['fit_seconds']:.1f}s)" for m, v in results[name].items())
        print(f"{name:12s} {line}", flush=True)
    return results


def group_means(results: dict) -> dict:
    methods = next(iter(results.values())).keys()
    return {
        m: {k: float(np.mean([r[m][k] for r in results.values()])) for k in ("auroc", "auprc", "fit_seconds")}
        for m in methods
    }


def _row(label: str, values: dict, methods: list[str], key: str, bold: bool) -> str:
    best = max(values[m][key] for m in methods)
    cells = [
        f"**{values[m][key]:.3f}**" if bold and values[m][key] == best else f"{values[m][key]:.3f}"
        for m in methods
    ]
    return f"| {label} | " + " | ".join(cells) + " |"


def markdown(record: dict, key: str = "auroc") -> str:
    """The table: per ODDS set and group means of `key` (mean over the seeds), and mean fit seconds."""
    odds, mnist = record["odds"], record["mnist"]
    methods = list(record["group_means"]["odds"])
    seeds = ", ".join(str(s) for s in record["seeds"])
    lines = [
        f"{key.upper()} on the held-out 40%, mean over seeds {seeds}; every method with its defaults.",
        "",
        "| set | " + " | ".join(TITLES[m] for m in methods) + " |",
        "|---" * (len(methods) + 1) + "|",
    ]
    lines += [_row(name, odds[name], methods, key, True) for name in odds]
    lines.append(_row("**mean, 5 ODDS sets**", record["group_means"]["odds"], methods, key, True))
    lines.append(
        _row("**mean, one-class MNIST (10 digits)**", record["group_means"]["mnist"], methods, key, True)
    )
    worst = {m: {key: min(mnist[d][m][key] for d in mnist)} for m in methods}
    lines.append(_row("lowest MNIST digit", worst, methods, key, False))
    fits = [
        f"{record['group_means']['odds'][m]['fit_seconds']:.1f} / {record['group_means']['mnist'][m]['fit_seconds']:.1f}"
        for m in methods
    ]
    lines.append("| fit seconds per set (ODDS / MNIST) | " + " | ".join(fits) + " |")
    return "\n".join(lines) + "\n"


def readme_block(record: dict) -> str:
    import textwrap

    meta = record["meta"]
    pyod = f"PyOD {meta['pyod']}" if meta.get("pyod") else "PyOD not installed"
    caption = (
        f"`python benchmarks/anomaly_odds.py --readme` regenerates this table ({meta['cpu_count']} CPU cores, "
        f"Python {meta['python']}, jax {meta['jax']}, scikit-learn {meta['sklearn']}, {pyod}, "
        f"{record['wall_seconds']:.0f} s)."
    )
    return (
        textwrap.fill(caption, 115, break_long_words=False, break_on_hyphens=False)
        + "\n\n"
        + markdown(record)
    )


def _meta() -> dict:
    import os

    import jax
    import sklearn

    try:
        import pyod

        pyod_version = pyod.__version__
    except ImportError:
        pyod_version = None
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "sklearn": sklearn.__version__,
        "pyod": pyod_version,
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--odds", default=str(REPO.parent / "shared" / "data" / "odds-dev"))
    parser.add_argument("--mnist", default=str(REPO.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    odds_dir = Path(args.odds)
    missing = [s for s in ODDS_SETS if not (odds_dir / f"{s}.npz").exists()]
    if missing:
        raise SystemExit(
            f"ODDS sets {missing} not found in {odds_dir} (expected <name>.npz with x, y); pass --odds"
        )

    def odds_set(name):
        data = np.load(odds_dir / f"{name}.npz")
        return lambda seed: (data["x"].astype(np.float64), data["y"].astype(np.int64))

    images, labels = load_mnist(Path(args.mnist))
    seeds = tuple(args.seeds)
    odds = run_sets({name: odds_set(name) for name in ODDS_SETS}, seeds)
    mnist = run_sets(
        {f"digit {d}": (lambda seed, d=d: one_class(images, labels, d, seed)) for d in range(10)}, seeds
    )
    record = {
        "meta": _meta(),
        "seeds": list(seeds),
        "odds": odds,
        "mnist": mnist,
        "group_means": {"odds": group_means(odds), "mnist": group_means(mnist)},
        "wall_seconds": time.perf_counter() - started,
    }
    results = REPO / "benchmarks" / "results"
    (results / "anomaly_odds.json").write_text(json.dumps(record, indent=1) + "\n")
    per_digit = "\n".join(
        _row(d, mnist[d], list(record["group_means"]["mnist"]), "auroc", True) for d in mnist
    )
    (results / "anomaly_odds.md").write_text(
        readme_block(record)
        + "\n"
        + markdown(record, "auprc")
        + "\nOne-class MNIST AUROC per digit:\n\n"
        + "\n".join(markdown(record).split("\n")[2:4])
        + "\n"
        + per_digit
        + "\n"
    )
    print(readme_block(record))
    if args.readme:
        sys.path.insert(0, str(REPO))
        from benchmarks.tables import common

        common.replace_between(REPO / "README.md", MARKERS, readme_block(record))


if __name__ == "__main__":
    main()
