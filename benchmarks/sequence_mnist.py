"""Sequence, attention and capsule autoencoders on MNIST next to the MLP autoencoder of the same code size.

    .venv/bin/python benchmarks/sequence_mnist.py [--mnist ../shared/data/mnist] [--runs runs] [--readme]

Trains (or resumes from runs/sequence_mnist/<experiment>) experiments/{ae_mnist, lstm_rows_mnist, gru_rows_mnist,
attention_rows_mnist, capsule_mnist}.py on the 8k/1k/1k split and reports test MSE per pixel (free-running
decoding for the RNNs), parameters and training time. For the capsule model it also reports how well the
longest capsule names the digit (each capsule mapped to the majority label of the training images it wins;
no labels were used in training) and a linear probe on the 10 capsule lengths. Writes
benchmarks/results/sequence_mnist.{json,md}; with --readme, also the table in README.md between its markers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# numpy and aejax are imported where they are used: `markdown` renders the committed JSON without them
# (benchmarks/reproduce.py, tests/test_readme_tables.py).

EXPERIMENTS = (
    "ae_mnist",
    "lstm_rows_mnist",
    "gru_rows_mnist",
    "attention_rows_mnist",
    "capsule_mnist",
    "capsule_margin_mnist",
)
MARKERS = ("<!-- sequence-mnist:begin -->", "<!-- sequence-mnist:end -->")


def capsule_label_accuracy(trained, dataset) -> dict[str, float]:
    """Longest capsule as the class: directly (capsule j = digit j, meaningful after margin-loss training) and
    through the majority label of the training images each capsule wins; a linear probe on the lengths."""
    import numpy as np

    from aejax.tasks.features import probe_accuracies

    train_lengths = trained.output_field(dataset.x_train, "lengths")
    test_lengths = trained.output_field(dataset.x_test, "lengths")
    direct = float(np.mean(test_lengths.argmax(axis=1) == dataset.y_test))
    winners = train_lengths.argmax(axis=1)
    mapping = np.array(
        [
            np.bincount(dataset.y_train[winners == j], minlength=10).argmax() if np.any(winners == j) else -1
            for j in range(train_lengths.shape[1])
        ]
    )
    majority = float(np.mean(mapping[test_lengths.argmax(axis=1)] == dataset.y_test))
    probe = probe_accuracies(train_lengths, dataset.y_train, test_lengths, dataset.y_test, 5, 0)
    return {
        "longest_capsule_accuracy": direct,
        "longest_capsule_majority_accuracy": majority,
        "capsule_length_linear_probe": probe["linear_probe"],
        "capsules_that_win": int(np.sum(np.bincount(winners, minlength=train_lengths.shape[1]) > 0)),
    }


def run(mnist: str, runs: Path) -> list[dict]:
    import aejax

    rows = []
    for name in EXPERIMENTS:
        config = aejax.get_config(str(ROOT / "experiments" / f"{name}.py"))
        config.data.path = mnist
        config.train.progress = False
        trained = aejax.fit(config, workdir=runs / "sequence_mnist" / name)
        dataset = aejax.get_dataset(config)
        results = trained.results
        row = {
            "experiment": name,
            "family": config.model.family,
            "code_size": int(config.model.latent_dim),
            "test_mse": float(results["test"]["mse"]),
            "params": int(results["params"]),
            "epochs": int(config.train.epochs),
            "train_seconds": float(results["train_seconds"]),
        }
        if config.model.family == "capsule":
            row.update(capsule_label_accuracy(trained, dataset))
            row["labels_in_training"] = bool(config.loss.regularizers.to_dict())
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model (experiment) | code | test MSE per pixel | params | epochs | train time (2 CPU cores, shared) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} (`{r['experiment']}`) | {r['code_size']} | {r['test_mse']:.5f} | {r['params']:,} | "
            f"{r['epochs']} | {r['train_seconds']:.0f} s |"
        )
    for r in rows:
        if "longest_capsule_accuracy" not in r:
            continue
        lines.append("")
        if r["labels_in_training"]:
            lines.append(
                f"`{r['experiment']}` (margin loss, labels in training): the longest capsule is the test digit "
                f"{r['longest_capsule_accuracy']:.1%} of the time (evaluation decodes the longest capsule, no labels)."
            )
        else:
            lines.append(
                f"`{r['experiment']}` (no labels in training): with each capsule mapped to the majority label of the "
                f"training images it wins, the longest capsule names the test digit "
                f"{r['longest_capsule_majority_accuracy']:.1%} of the time ({r['capsules_that_win']} of 10 capsules "
                f"ever win); a linear probe on the 10 capsule lengths reaches {r['capsule_length_linear_probe']:.1%}."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--runs", default=str(ROOT / "runs"))
    parser.add_argument("--readme", action="store_true")
    args = parser.parse_args()
    rows = run(args.mnist, Path(args.runs))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sequence_mnist.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = markdown(rows)
    (out / "sequence_mnist.md").write_text(table)
    print(table)
    if args.readme:
        from aejax.training.metrics_log import replace_between_markers

        replace_between_markers(ROOT / "README.md", MARKERS, table)


if __name__ == "__main__":
    main()
