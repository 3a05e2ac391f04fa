"""The disentanglement study on generated dSprites: every model of `disentangle_dsprites` over its seeds, each
metric as mean ± std over seeds, the wall time, and the best model's latent traversal.

    python benchmarks/disentangle_dsprites.py --readme     # about 25 minutes on a 2-core CPU

Runs `aejax task --config disentangle_dsprites` in `--workdir` (a fresh one unless --resume), then writes
`benchmarks/results/disentangle_dsprites.{json,md}` and `disentangle_traversal.png` (the model with the best
mean MIG, its best seed); `--readme` also replaces the table in README.md between its markers. Needs no data:
the images are generated.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import jax
import numpy as np
import sklearn

import aejax
from aejax.tasks import run_task
from aejax.tasks.disentangle_report import markdown_table
from aejax.training.metrics_log import replace_between_markers

REPO = Path(__file__).resolve().parent.parent
MARKERS = ("<!-- disentangle-table:start -->", "<!-- disentangle-table:end -->")


def header(report: dict, config, meta: dict) -> str:
    """What the table measured: data, model, schedule, seeds, wall time and the machine."""
    return (
        f"Generated dSprites ({config.data.max_examples} distinct of the 737,280 images, data.split_seed "
        f"{config.data.split_seed}; {report['data']}); MLP {'-'.join(map(str, config.model.hidden))} ReLU, "
        f"{config.model.latent_dim} latent units, Bernoulli likelihood, Adam {config.train.learning_rate:g}, "
        f"batch {config.train.batch_size}, {config.train.epochs} epochs; seeds {report['seeds']}; metrics on "
        f"{config.task.metric_examples} fresh images (beta-VAE / FactorVAE scores: {config.task.score_examples} "
        f"training points). Mean ± std over seeds; `seconds` is training (with each run's evaluation) and scoring, all seeds of a model. "
        f"All {len(report['models'])} models x {len(report['seeds'])} seeds: {report['wall_seconds'] / 60:.1f} "
        f"minutes ({meta['cpus']} CPUs, jax {meta['jax']}, scikit-learn {meta['sklearn']}, load average "
        f"{meta['load_before']:.1f} before the run). Best mean MIG: **{report['best_model']}**.\n\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/disentangle_dsprites")
    parser.add_argument("--resume", action="store_true", help="keep the workdir's finished models")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    config = aejax.get_config("disentangle_dsprites")
    config.train.progress = not args.no_progress
    workdir = Path(args.workdir)
    if workdir.exists() and not args.resume:
        shutil.rmtree(workdir)
    meta = {
        "jax": jax.__version__,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
    }
    started = time.perf_counter()
    report = run_task(config, workdir)
    meta["seconds"] = round(time.perf_counter() - started, 1)
    table = header(report, config, meta) + markdown_table(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    slim = {name: {k: v for k, v in m.items() if k != "per_seed"} for name, m in report["models"].items()}
    per_seed = {
        name: [{k: v for k, v in s.items() if k != "unit_factor_mi"} for s in m["per_seed"]]
        for name, m in report["models"].items()
    }
    record = {"meta": meta, **{k: v for k, v in report.items() if k != "models"}, "models": slim}
    record["per_seed"] = per_seed
    (out / "disentangle_dsprites.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    (out / "disentangle_dsprites.md").write_text(table)
    best = report["models"][report["best_model"]]
    shutil.copyfile(workdir / best["traversal"], out / "disentangle_traversal.png")
    if args.readme:
        replace_between_markers(REPO / "README.md", MARKERS, table)
    print(table)
    print(
        "MIG per seed:", {name: np.round([s["mig"] for s in m], 3).tolist() for name, m in per_seed.items()}
    )


if __name__ == "__main__":
    main()
