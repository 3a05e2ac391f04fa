"""Regularized autoencoder families on MNIST, one row each: test MSE next to PCA at the same code size, PSNR
on Gaussian-noised input, code sparsity and the mean encoder Jacobian norm.

    python benchmarks/regularized_mnist.py --readme     # trains what is missing, writes the table

Trains each experiment config into `<runs-dir>/<name>` (a finished run is only re-evaluated, an interrupted one
resumes), then writes `benchmarks/results/regularized_mnist.{json,md}`; `--readme` also replaces the table in
README.md between its markers. Needs the MNIST IDX files (`--data-path`, default ../shared/data/mnist).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

# aejax, jax and numpy are imported where they are used: `markdown` renders the committed JSON without them
# (benchmarks/reproduce.py, tests/test_readme_tables.py).

REPO = Path(__file__).resolve().parent.parent
RUNS = (  # (experiment config, what it shows)
    ("ae_mnist", "plain"),
    ("dae_mnist", "denoising, Gaussian sigma 0.3"),
    ("dae_masking_mnist", "denoising, masking 50%, 1024-d code"),
    ("sparse_l1_mnist", "sparse, L1 on ReLU code"),
    ("sparse_kl_mnist", "sparse, KL to rho 0.05"),
    ("ae_sigmoid_mnist", "plain, sigmoid code (baseline of the next two)"),
    ("cae_mnist", "contractive, exact Jacobian"),
    ("cae_hutchinson_mnist", "contractive, Hutchinson (1 jvp)"),
    ("stacked_mnist", "stacked: greedy layer-wise + fine-tune"),
)
MARKERS = ("<!-- regularized-table:start -->", "<!-- regularized-table:end -->")


def measure(
    name: str, runs_dir: Path, data_path: str, fresh: bool, progress: bool, previous: dict | None
) -> dict:
    import numpy as np

    import aejax
    from aejax.objectives import Corruption

    config = aejax.get_config(name)
    config.data.path = data_path
    config.train.progress = progress
    workdir = runs_dir / name
    if fresh and workdir.exists():
        shutil.rmtree(workdir)
    started = time.perf_counter()
    trained = aejax.fit(config, workdir=workdir)
    wall = time.perf_counter() - started
    x_test = aejax.get_dataset(config).x_test
    test = trained.results["test"]
    stats = trained.code_statistics(x_test)
    noisy = trained.denoising(x_test, Corruption(kind="gaussian", std=0.3, clip=True), seed=0)
    own = trained.denoising(x_test, seed=0) if trained.objective.corruption.active else None
    jacobian = trained.jacobian_norm(x_test[:1000])
    pretrain = trained.results.get("pretrain") or []
    return {
        "name": name,
        "code_size": int(config.model.latent_dim),
        "code_activation": config.model.code_activation,
        "hidden": list(config.model.hidden),
        "regularizers": config.loss.regularizers.to_dict(),
        "corruption": config.loss.corruption.kind,
        "pretrain": config.pretrain.method,
        "test_mse": test["mse"],
        "pca_mse": test["pca_mse"],
        "pca_components": test["pca_components"],
        "psnr_noisy_input": noisy["psnr_noisy_input"],
        "psnr_reconstruction_of_noisy": noisy["psnr_reconstruction"],
        "psnr_reconstruction_of_clean": noisy["psnr_clean_reconstruction"],
        "own_corruption_psnr_noisy_input": own and own["psnr_noisy_input"],
        "own_corruption_psnr_reconstruction": own and own["psnr_reconstruction"],
        **stats,
        "jacobian_frobenius_mean": float(np.mean(jacobian)),
        "steps": trained.step + sum(s["steps"] for s in pretrain),
        # A finished run is only re-evaluated: keep the training time measured when it trained.
        "train_seconds": trained.results["train_seconds"]
        if trained.results["resumed_from"] != trained.step or previous is None
        else previous["train_seconds"],
        "resumed_from": trained.results["resumed_from"],
        "wall_seconds_this_call": round(wall, 1),
    }


def markdown(rows: list[dict], descriptions: dict[str, str]) -> str:
    noisy = rows[0]["psnr_noisy_input"]
    lines = [
        f"Test split (1,000 images); PSNR columns feed the model x + N(0, 0.3^2) clipped to [0, 1], whose own "
        f"PSNR is {noisy:.2f} dB; own corruption: the same for the corruption a denoising run trained with. Active: mean fraction of code units with |h| > 0.1 per image. "
        "||J||_F: mean Frobenius norm of d code / d input over 1,000 test images (exact).",
        "",
        "| experiment | what | code | test MSE | PCA MSE (k) | PSNR noisy -> output (dB) | own corruption "
        "(dB) | mean h | active | ||J||_F | steps | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        own = (
            f"{r['own_corruption_psnr_noisy_input']:.2f} -> {r['own_corruption_psnr_reconstruction']:.2f}"
            if r["own_corruption_psnr_noisy_input"] is not None
            else ""
        )
        lines.append(
            f"| `{r['name']}` | {descriptions[r['name']]} | {r['code_size']} {r['code_activation']} | "
            f"{r['test_mse']:.5f} | {r['pca_mse']:.5f} ({r['pca_components']}) | {r['psnr_noisy_input']:.2f} -> "
            f"{r['psnr_reconstruction_of_noisy']:.2f} | {own} | {r['code_mean_activation']:.3f} | "
            f"{r['code_active_fraction']:.3f} | {r['jacobian_frobenius_mean']:.3f} | {r['steps']} | "
            f"{r['train_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def update_readme(table: str, readme: Path) -> None:
    from aejax.training.metrics_log import replace_between_markers

    replace_between_markers(readme, MARKERS, table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default="runs/regularized")
    parser.add_argument("--data-path", default=str(REPO.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--only", nargs="*", help="experiment names (default: all)")
    parser.add_argument("--fresh", action="store_true", help="delete existing workdirs and train again")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    import jax

    if not Path(args.data_path).is_dir():
        raise SystemExit(f"MNIST IDX directory {args.data_path!r} not found; pass --data-path")
    descriptions = dict(RUNS)
    names = args.only or [name for name, _ in RUNS]
    unknown = sorted(set(names) - set(descriptions))
    if unknown:
        raise SystemExit(f"unknown experiment(s) {unknown}; valid: {sorted(descriptions)}")
    out = Path(args.out)
    previous_file = out / "regularized_mnist.json"
    previous = {}
    if previous_file.is_file():
        previous = {r["name"]: r for r in json.loads(previous_file.read_text())["rows"]}
    rows = []
    for name in names:
        rows.append(
            measure(
                name,
                Path(args.runs_dir),
                args.data_path,
                args.fresh,
                not args.no_progress,
                previous.get(name),
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    table = markdown(rows, descriptions)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"platform": jax.default_backend(), "machine": platform.machine(), "jax": jax.__version__}
    (out / "regularized_mnist.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out / "regularized_mnist.md").write_text(table)
    if args.readme:
        update_readme(table, REPO / "README.md")
    print(table)


if __name__ == "__main__":
    main()
