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

# jax, numpy, scikit-learn and aejax are imported where they are used: `table` renders the committed JSON
# without them (benchmarks/reproduce.py, tests/test_readme_tables.py).

REPO = Path(__file__).resolve().parent.parent
MARKERS = ("<!-- disentangle-table:start -->", "<!-- disentangle-table:end -->")


def settings(config) -> dict:
    """The config values the table's header quotes (kept in the JSON, so the table renders from it alone)."""
    return {
        "max_examples": config.data.max_examples,
        "split_seed": config.data.split_seed,
        "hidden": list(config.model.hidden),
        "latent_dim": config.model.latent_dim,
        "learning_rate": config.train.learning_rate,
        "batch_size": config.train.batch_size,
        "epochs": config.train.epochs,
        "metric_examples": config.task.metric_examples,
        "score_examples": config.task.score_examples,
    }


def header(record: dict) -> str:
    """What the table measured: data, model, schedule, seeds, wall time and the machine."""
    c, meta = record["settings"], record["meta"]
    return (
        f"Generated dSprites ({c['max_examples']} distinct of the 737,280 images, data.split_seed "
        f"{c['split_seed']}; {record['data']}); MLP {'-'.join(map(str, c['hidden']))} ReLU, "
        f"{c['latent_dim']} latent units, Bernoulli likelihood, Adam {c['learning_rate']:g}, "
        f"batch {c['batch_size']}, {c['epochs']} epochs; seeds {record['seeds']}; metrics on "
        f"{c['metric_examples']} fresh images (beta-VAE / FactorVAE scores: {c['score_examples']} "
        f"training points). Mean ± std over seeds; `seconds` is training (with each run's evaluation) and scoring, all seeds of a model. "
        f"All {len(record['models'])} models x {len(record['seeds'])} seeds: {record['wall_seconds'] / 60:.1f} "
        f"minutes ({meta['cpus']} CPUs, jax {meta['jax']}, scikit-learn {meta['sklearn']}, load average "
        f"{meta['load_before']:.1f} before the run). Best mean MIG: **{record['best_model']}**.\n\n"
    )


def markdown_table(record: dict) -> str:
    """One row per model: mean ± std over seeds of every metric, and the time for all its seeds (the same as
    `aejax.tasks.disentangle_report.markdown_table`, from the JSON record)."""
    head = ["model", *record["metrics"], "seconds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, model in record["models"].items():
        cells = [f"{model['mean'][m]:.3f} ± {model['std'][m]:.3f}" for m in record["metrics"]]
        lines.append("| " + " | ".join([name, *cells, f"{model['seconds']:.0f}"]) + " |")
    return "\n".join(lines) + "\n"


def table(record: dict) -> str:
    """The README text between the markers, from `benchmarks/results/disentangle_dsprites.json` alone."""
    return header(record) + markdown_table(record)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/disentangle_dsprites")
    parser.add_argument("--resume", action="store_true", help="keep the workdir's finished models")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    import jax
    import numpy as np
    import sklearn

    import aejax
    from aejax.tasks import run_task

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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    slim = {name: {k: v for k, v in m.items() if k != "per_seed"} for name, m in report["models"].items()}
    per_seed = {
        name: [{k: v for k, v in s.items() if k != "unit_factor_mi"} for s in m["per_seed"]]
        for name, m in report["models"].items()
    }
    record = {"meta": meta, **{k: v for k, v in report.items() if k != "models"}, "models": slim}
    record["per_seed"] = per_seed
    record["settings"] = settings(config)
    text = table(record)
    (out / "disentangle_dsprites.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    (out / "disentangle_dsprites.md").write_text(text)
    best = report["models"][report["best_model"]]
    shutil.copyfile(workdir / best["traversal"], out / "disentangle_traversal.png")
    if args.readme:
        from aejax.training.metrics_log import replace_between_markers

        replace_between_markers(REPO / "README.md", MARKERS, text)
    print(text)
    print(
        "MIG per seed:", {name: np.round([s["mig"] for s in m], 3).tolist() for name, m in per_seed.items()}
    )


if __name__ == "__main__":
    main()
