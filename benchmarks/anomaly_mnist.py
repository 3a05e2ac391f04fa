"""Anomaly detection on MNIST with an MLP autoencoder, next to IsolationForest and PCA reconstruction error.

    python benchmarks/anomaly_mnist.py            # about 30 s on 2 CPU cores

Protocols, on the 8k/1k/1k split of `../shared/data/mnist` that `aejax.get_dataset(aejax.get_config("ae_mnist"))`
gives (`--data-path` for another directory):

(a) one-class MNIST: for each digit c, train on the training images of c only and score the whole test split
    (digit c normal, the other nine anomalous); AUROC and AUPRC per class and their means.
(b) out of distribution: train on the whole training split; the anomalies are scikit-learn's bundled 8x8
    digits (other writers, scanner and resolution) brought to 28x28 three ways: bilinear or nearest-neighbour
    to 20x20 padded to 28x28 (where MNIST puts its digits), and bilinear to the full 28x28 frame. Per variant,
    500 of them with the 1,000 MNIST validation images choose an F1-best threshold; 1,000 others with the 1,000
    MNIST test images are the test set. Also reported: F1 at the threshold that flags 5% of the training
    images (contamination 0.05).

Expected (2 CPU cores, jax 0.10.2, about 30 s): one-class mean AUROC 0.955 (autoencoder) vs 0.855
(IsolationForest) and 0.951 (PCA); out of distribution, AUROC 0.48 / 0.76 / 1.00 for the autoencoder on the
three variants (bilinear box, nearest box, full frame): reconstruction error does not flag smooth digits.

Every method sees the same normal images: the autoencoder (784-128-16-128-784, ReLU, sigmoid output, MSE,
20 epochs of Adam), IsolationForest (100 trees) and PCA with the autoencoder's code size (score = mean squared
reconstruction error). Writes `benchmarks/results/anomaly_mnist.{json,md}` and, in the workdir (default
runs/anomaly_mnist), ROC curves (one-class; each OOD variant) and score histograms (each OOD variant).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

import aejax
from aejax.tasks import anomaly

REPO = Path(__file__).resolve().parent.parent
METHODS = ("autoencoder", "isolation_forest", "pca")
TITLES = {"autoencoder": "autoencoder", "isolation_forest": "IsolationForest", "pca": "PCA"}


def load_mnist(data_path: str) -> aejax.data.Dataset:
    config = aejax.get_config("ae_mnist")
    config.data.path = data_path
    try:
        return aejax.get_dataset(config)
    except FileNotFoundError as err:
        raise SystemExit(
            f"MNIST not found: {err}\nPut the IDX files (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
            f"in {data_path!r} or pass --data-path"
        ) from None


def autoencoder_config(epochs: int, batch_size: int, seed: int, progress: bool) -> ml_collections.ConfigDict:
    """A small MLP on flattened images; a fixed number of epochs (the normal class has no labelled val set)."""
    config = aejax.get_config("ae_mnist")
    config.seed = seed
    config.model.hidden = (128,)
    config.model.latent_dim = 16
    config.train.epochs = epochs
    config.train.batch_size = batch_size
    config.train.learning_rate = 1e-3
    config.train.schedule = "constant"
    config.train.warmup_steps = 0
    config.train.grad_clip_norm = 0.0
    config.train.early_stopping_patience = 0
    config.train.log_norms = False
    config.train.progress = progress
    config.eval.plots = False
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config


def score_all(config, x_normal: np.ndarray, evaluate: dict[str, np.ndarray], seed: int) -> dict:
    """Fit every method on `x_normal`; anomaly scores (higher = more anomalous) for each array in `evaluate`."""
    started = time.perf_counter()
    trained = aejax.fit(config, data=aejax.data.from_arrays(x_normal))
    seconds = {"autoencoder": time.perf_counter() - started}
    scores = {"autoencoder": {k: anomaly.reconstruction_scores(trained, x) for k, x in evaluate.items()}}

    started = time.perf_counter()
    forest = IsolationForest(n_estimators=100, random_state=seed).fit(x_normal)
    scores["isolation_forest"] = {k: -forest.score_samples(x) for k, x in evaluate.items()}
    seconds["isolation_forest"] = time.perf_counter() - started

    started = time.perf_counter()
    pca = PCA(n_components=config.model.latent_dim, random_state=seed).fit(x_normal)
    scores["pca"] = {
        k: np.mean(np.square(pca.inverse_transform(pca.transform(x)) - x), axis=1)
        for k, x in evaluate.items()
    }
    seconds["pca"] = time.perf_counter() - started
    return {"scores": scores, "seconds": seconds, "trained": trained}


def one_class(dataset, config, seed: int, workdir: Path) -> dict:
    x_test, y_test = dataset.x_test, dataset.y_test
    rows, roc = [], {}
    for digit in range(10):
        x_normal = dataset.x_train[dataset.y_train == digit]
        labels = (y_test != digit).astype(int)
        fitted = score_all(config, x_normal, {"train": x_normal, "test": x_test}, seed)
        row = {"digit": digit, "n_train": int(x_normal.shape[0]), "n_test_normal": int((labels == 0).sum())}
        for method in METHODS:
            metrics = anomaly.detection_metrics(fitted["scores"][method]["test"], labels, None)
            row[method] = {
                "auroc": metrics["auroc"],
                "auprc": metrics["auprc"],
                "fit_seconds": round(fitted["seconds"][method], 2),
            }
        roc[f"digit {digit}"] = (fitted["scores"]["autoencoder"]["test"], labels)
        rows.append(row)
        print(
            f"one-class {digit}: "
            + ", ".join(f"{m} {row[m]['auroc']:.3f}" for m in METHODS)
            + f" (autoencoder fit {row['autoencoder']['fit_seconds']:.1f} s)",
            flush=True,
        )
    anomaly.save_roc_curves(
        workdir / "roc_one_class.png", roc, "one-class MNIST: autoencoder, one model per normal digit"
    )
    mean = {m: {k: float(np.mean([r[m][k] for r in rows])) for k in ("auroc", "auprc")} for m in METHODS}
    return {"per_class": rows, "mean": mean}


# The out-of-distribution sets: scikit-learn's 8x8 digits brought to 28x28 three ways.
OOD_VARIANTS = {
    "box_bilinear": ("bilinear to 20x20, padded to 28x28 (MNIST's 20x20 box)", "linear", 20),
    "box_nearest": ("nearest-neighbour (blocky) to 20x20, padded to 28x28", "nearest", 20),
    "full_bilinear": ("bilinear to the full 28x28 frame", "linear", 28),
}


def ood_digits(variant: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits as 28x28 images in [0, 1], shuffled: (500 val, 1,000 test)."""
    _, method, size = OOD_VARIANTS[variant]
    images = (load_digits().images / 16.0).astype(np.float32)
    resized = np.asarray(jax.image.resize(images, (images.shape[0], size, size), method=method))
    pad = (28 - size) // 2
    padded = np.pad(np.clip(resized, 0.0, 1.0), ((0, 0), (pad, pad), (pad, pad)))
    flat = padded.reshape(padded.shape[0], -1)
    order = np.random.default_rng(seed).permutation(flat.shape[0])
    return flat[order[:500]], flat[order[500:1500]]


def out_of_distribution(dataset, config, seed: int, workdir: Path) -> dict:
    evaluate = {"train": dataset.x_train, "mnist_val": dataset.x_val, "mnist_test": dataset.x_test}
    for variant in OOD_VARIANTS:
        evaluate[f"{variant}_val"], evaluate[f"{variant}_test"] = ood_digits(variant, seed)
    fitted = score_all(config, dataset.x_train, evaluate, seed)
    n_val, n_test = len(dataset.x_val), len(dataset.x_test)
    y_val = np.r_[np.zeros(n_val), np.ones(500)].astype(int)
    y_test = np.r_[np.zeros(n_test), np.ones(1000)].astype(int)
    out = {"n_train": int(dataset.x_train.shape[0]), "n_val": [n_val, 500], "n_test": [n_test, 1000]}
    keys = ("threshold", "precision", "recall", "f1")
    for variant, (description, _, _) in OOD_VARIANTS.items():
        result = {"description": description}
        test_scores = {}
        for method in METHODS:
            scores = fitted["scores"][method]
            val_scores = np.concatenate([scores["mnist_val"], scores[f"{variant}_val"]])
            test_scores[method] = np.concatenate([scores["mnist_test"], scores[f"{variant}_test"]])
            at_val = anomaly.detection_metrics(
                test_scores[method], y_test, anomaly.validation_threshold(val_scores, y_val)
            )
            at_contamination = anomaly.detection_metrics(
                test_scores[method], y_test, anomaly.contamination_threshold(scores["train"], 0.05)
            )
            result[method] = {
                "auroc": at_val["auroc"],
                "auprc": at_val["auprc"],
                "validation_threshold": {k: at_val[k] for k in keys},
                "contamination_0.05": {k: at_contamination[k] for k in keys},
            }
            print(f"OOD {variant} {method}: AUROC {at_val['auroc']:.3f}", flush=True)
        anomaly.save_roc_curves(
            workdir / f"roc_ood_{variant}.png",
            {TITLES[m]: (test_scores[m], y_test) for m in METHODS},
            f"MNIST test (normal) vs 8x8 digits, {description}",
        )
        anomaly.save_score_histogram(
            workdir / f"scores_ood_{variant}.png",
            test_scores["autoencoder"],
            y_test,
            threshold=result["autoencoder"]["validation_threshold"]["threshold"],
            title=f"autoencoder: MNIST test vs 8x8 digits ({description})\nline: F1-best validation threshold",
        )
        out[variant] = result
    out["fit_seconds"] = {m: round(fitted["seconds"][m], 2) for m in METHODS}
    return out


def markdown(results: dict) -> str:
    one, ood = results["one_class"], results["ood"]
    lines = [
        "Autoencoder 784-128-16 (MLP, MSE, 20 epochs) vs IsolationForest (100 trees) and PCA (16 components, "
        "reconstruction error), each fitted on the same normal images. Test split: 1,000 MNIST images.",
        "",
        "One-class MNIST (train on one digit, ~800 images; that digit normal, the rest anomalous): test AUROC.",
        "",
        "| normal digit | autoencoder | IsolationForest | PCA |",
        "|---|---|---|---|",
    ]
    for row in one["per_class"]:
        lines.append(f"| {row['digit']} | " + " | ".join(f"{row[m]['auroc']:.3f}" for m in METHODS) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{one['mean'][m]['auroc']:.3f}**" for m in METHODS) + " |")
    lines += [
        "",
        f"Out of distribution: train on {ood['n_train']:,} MNIST training images (all digits); test "
        f"{ood['n_test'][0]:,} MNIST test images vs {ood['n_test'][1]:,} of scikit-learn's 8x8 digits brought to "
        f"28x28 as below. F1-best threshold chosen on {ood['n_val'][0]:,} MNIST validation images + "
        f"{ood['n_val'][1]} other 8x8 digits; contamination 0.05: the threshold that flags 5% of the training "
        "images. Half the test set is anomalous, so flagging everything scores F1 0.667.",
        "",
        "| 8x8 digits as | method | AUROC | AUPRC | F1 (val threshold) | precision / recall (val threshold) "
        "| F1 (contamination 0.05) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in OOD_VARIANTS:
        r = ood[variant]
        for m in METHODS:
            v = r[m]["validation_threshold"]
            lines.append(
                f"| {r['description']} | {TITLES[m]} | {r[m]['auroc']:.3f} | {r[m]['auprc']:.3f} | "
                f"{v['f1']:.3f} | {v['precision']:.3f} / {v['recall']:.3f} | {r[m]['contamination_0.05']['f1']:.3f} |"
            )
    lines += [
        "",
        "Reconstruction error ranks the smooth, bilinearly upsampled digits in MNIST's box as no more anomalous "
        "than MNIST's own test digits (AUROC at or below 0.5; PCA reconstructs them better than MNIST): they are "
        "digits, blurrier than MNIST strokes and easy to reconstruct. Blocky upsampling adds edges the "
        "autoencoder does not reproduce; digits filling the whole frame leave MNIST's box and are easy to flag.",
        "",
        f"Total {results['seconds']:.0f} s on {results['meta']['machine']} ({results['meta']['platform']}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-path", default=str(REPO.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--workdir", default="runs/anomaly_mnist", help="where the pictures go")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    dataset = load_mnist(args.data_path)
    if dataset.y_train is None or dataset.y_test is None or dataset.x_val is None:
        raise SystemExit(f"{args.data_path!r} gave no labelled train/val/test splits: {dataset.summary()}")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"data {dataset.summary()}", flush=True)
    one = one_class(
        dataset, autoencoder_config(args.epochs, 64, args.seed, args.progress), args.seed, workdir
    )
    ood = out_of_distribution(
        dataset, autoencoder_config(args.epochs, 128, args.seed, args.progress), args.seed, workdir
    )
    results = {
        "meta": {
            "platform": jax.default_backend(),
            "machine": platform.machine(),
            "jax": jax.__version__,
            "python": sys.version.split()[0],
            "data": dataset.summary(),
            "epochs": args.epochs,
            "seed": args.seed,
        },
        "one_class": one,
        "ood": ood,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "anomaly_mnist.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out / "anomaly_mnist.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
