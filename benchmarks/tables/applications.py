"""The applications table: dimensionality reduction, the deep (Hinton & Salakhutdinov) autoencoder's features,
one-class anomaly detection (benchmarks/anomaly_mnist.py) and I-AutoRec on MovieLens 100k."""

from __future__ import annotations

import sys
from pathlib import Path

from . import common

NAME = "applications"
MARKERS = ("<!-- applications:start -->", "<!-- applications:end -->")
SUMMARY = "reduce, deep AE features, one-class anomaly, AutoRec (about 5 min)"


def run(workdir: Path) -> dict:
    started = common.load()
    anomaly = [sys.executable, "benchmarks/anomaly_mnist.py", "--workdir", str(workdir / "anomaly_mnist")]
    runs = {
        # the reduce task trains one run per code size in k<size>/: their configs differ in the size alone
        "reduce_mnist": common.attach(
            common.task("reduce_mnist", workdir, "reduce.json"), workdir / "reduce_mnist/k2"
        ),
        "deep_ae_mnist": common.task("deep_ae_mnist", workdir, "features.json"),
        "anomaly_mnist": common.run(anomaly, common.RESULTS / "anomaly_mnist.json"),
        "autorec_ml100k": common.task("autorec_ml100k", workdir, "autorec.json"),
    }
    return {"meta": common.runs_meta(list(runs.values()), started), "runs": runs}


def _widths(config: dict, code: str) -> str:
    """The MLP's widths, and the training-batch augmentation when the run used one (loss.augment)."""
    widths = "-".join(str(w) for w in [784, *config["model"]["hidden"], code])
    augment = config["loss"].get("augment", {})
    if augment.get("kind", "none") == "none":
        return widths
    return (
        f"{widths}, {config['train']['epochs']} epochs on training images shifted by up to "
        f"{augment['shift']} px and rotated by up to {augment['rotation']:g} degrees"
    )


def _reduce(run: dict) -> str:
    rows = run["report"]["rows"]
    errors = [f"k={r['code_size']} {r['ae_sse']:.2f} vs {r['pca_sse']:.2f}" for r in rows]
    errors[-1] = f"k={rows[-1]['code_size']} **{rows[-1]['ae_sse']:.2f} vs {rows[-1]['pca_sse']:.2f}**"
    trust = ", ".join(f"{r['ae_trustworthiness']:.3f} vs {r['pca_trustworthiness']:.3f}" for r in rows)
    neighbors = run["config"]["task"]["neighbors"]
    return (
        f"| `{common.display(run['command'])}` ({_widths(run['config'], 'k')}, {len(rows)} runs, "
        f"{run['wall_seconds']:.0f} s) | test squared error per image, AE vs PCA: {', '.join(errors)}; "
        f"trustworthiness ({neighbors}-NN, {rows[0]['trustworthiness_examples']:,} images) {trust} |"
    )


def _features(run: dict) -> str:
    r, k = run["report"], run["report"]["code_size"]
    ae, pca, raw = r["autoencoder_codes"], r["pca_codes"], r["raw_inputs"]
    early = ", stopped early" if run["results"]["stopped_early"] else ""
    return (
        f"| `{common.display(run['command'])}` ({_widths(run['config'], str(k))}, {run['wall_seconds']:.0f} s"
        f"{early}) | {r['test_sse_autoencoder']:.2f} vs PCA-{k} {r['test_sse_pca']:.2f} (Hinton & Salakhutdinov "
        f"with 60k images and RBM pretraining: 3.00 vs 13.87); linear probe on {k}-d AE codes "
        f"{ae['linear_probe']:.3f}, PCA-{k} codes {pca['linear_probe']:.3f}, raw pixels {raw['linear_probe']:.3f}; "
        f"{run['config']['task']['neighbors']}-NN {ae['knn']:.3f} / {pca['knn']:.3f} / {raw['knn']:.3f} |"
    )


def _anomaly(run: dict) -> str:
    mean = run["report"]["one_class"]["mean"]
    return (
        f"| `{common.display(run['command'])}` ({run['wall_seconds']:.0f} s) | one-class MNIST, mean test AUROC over "
        f"the 10 digits: autoencoder **{mean['autoencoder']['auroc']:.3f}**, IsolationForest "
        f"{mean['isolation_forest']['auroc']:.3f}, PCA {mean['pca']['auroc']:.3f} (per digit and an "
        "out-of-distribution check in `benchmarks/results/anomaly_mnist.md`) |"
    )


def _autorec(run: dict) -> str:
    r = run["report"]
    chosen = r["l2_weight"]
    val = " / ".join(
        f"**{s['rmse_validation']:.3f}**" if s["l2_weight"] == chosen else f"{s['rmse_validation']:.3f}"
        for s in r["selection"]
    )
    weights = " / ".join(f"{s['l2_weight']:g}" for s in r["selection"])
    test_share = r["test_ratings"] / r["ratings"]
    return (
        f"| `{common.display(run['command'])}` (ml-100k, seeded {1 - test_share:.0%}/{test_share:.0%}, "
        f"{run['wall_seconds']:.0f} s) | weight_l2 chosen on {run['config']['task']['val_ratio']:.0%} of the "
        "training ratings "
        f"(validation RMSE {val} for {weights}), then retrained on all of them: I-AutoRec test RMSE "
        f"**{r['rmse_autorec']:.4f}**, biased baseline {r['rmse_biased_baseline']:.4f}, global mean "
        f"{r['rmse_global_mean']:.4f} |"
    )


def render(record: dict) -> str:
    runs = record["runs"]
    lines = [
        common.paragraph(
            f"MNIST as the 8k/1k/1k split of `../shared/data/mnist`; {common.wall(record['meta'])}. "
            + common.regenerate(NAME)
        ),
        "",
        "| command | result |",
        "|---|---|",
        _reduce(runs["reduce_mnist"]),
        _features(runs["deep_ae_mnist"]),
        _anomaly(runs["anomaly_mnist"]),
        _autorec(runs["autorec_ml100k"]),
    ]
    return "\n".join(lines) + "\n"
