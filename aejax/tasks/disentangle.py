"""Disentanglement study on generated ground-truth data: several VAE variants, each over several seeds, scored
by every metric of `aejax.disentanglement`, with latent traversals of each model.

    aejax task --config disentangle_dsprites --workdir runs/disentangle

The data comes from `data.source` (dsprites | color_shapes, `aejax.data.factors`); the models are named in
`task.models` (see MODELS). Variants that train with the plain step (vae, beta_vae, beta_tcvae, dip_vae_*,
annealed_capacity) train their seeds together as one vmapped sweep (`aejax.sweep`); FactorVAE has its own
step and trains one `fit` per seed. Every model is scored on the same fresh sample of the generator, so the
metrics compare models, not samples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_collections

from aejax.data import Dataset
from aejax.data.factors import ColorShapes, DSprites, GroundTruthData
from aejax.fitting import fit, get_dataset
from aejax.sweep import sweep
from aejax.tasks.disentangle_report import (
    METRIC_COLUMNS,
    model_summary,
    score_model,
    summary_lines,
    write_report_files,
)
from aejax.tasks.registry import register_task
from aejax.training import TrainSpec

GROUND_TRUTH: dict[str, Callable[[], GroundTruthData]] = {"dsprites": DSprites, "color_shapes": ColorShapes}
KL = {"fn": "kl_standard_normal", "weight": 1.0}


def _vae(config, task, n_train: int) -> None:
    config.loss.regularizers = {"kl": dict(KL)}


def _beta_vae(config, task, n_train: int) -> None:
    """beta-VAE (Higgins et al. 2017): the KL weighted by task.beta."""
    config.loss.regularizers = {"kl": {**KL, "weight": float(task.beta)}}


def _beta_tcvae(config, task, n_train: int) -> None:
    """beta-TCVAE (Chen et al. 2018): MI and dimension-wise KL at weight 1, the TC at task.tc_beta."""
    term = lambda fn, weight: {"fn": fn, "weight": float(weight), "dataset_size": int(n_train)}
    config.loss.regularizers = {
        "mi": term("tc_mutual_information", 1.0),
        "tc": term("total_correlation", task.tc_beta),
        "dwkl": term("dimensionwise_kl", 1.0),
    }


def _factorvae(config, task, n_train: int) -> None:
    """FactorVAE (Kim & Mnih 2018): the VAE loss + task.factor_gamma * the discriminator's TC estimate."""
    config.model.family = "factorvae"
    config.model.factorvae.gamma = float(task.factor_gamma)
    config.loss.regularizers = {"kl": dict(KL)}


def _dip(kind: str):
    def apply(config, task, n_train: int) -> None:
        """DIP-VAE (Kumar et al. 2018): the KL + lambda_od = task.dip_weight times the covariance penalty."""
        dip = {"fn": "dip_covariance", "weight": float(task.dip_weight), "kind": kind}
        config.loss.regularizers = {"kl": dict(KL), "dip": dip}

    return apply


def _annealed_capacity(config, task, n_train: int) -> None:
    """Burgess et al. (2018): 1000 |KL - C|, C rising to task.capacity nats over the whole run."""
    steps = config.train.epochs * TrainSpec(**config.train.to_dict()).steps_per_epoch(n_train)
    capacity = {"max_capacity": float(task.capacity), "capacity_steps": int(max(1, steps))}
    config.loss.regularizers = {"capacity": {"fn": "kl_capacity", "weight": 1000.0, **capacity}}


MODELS: dict[str, Callable[[ml_collections.ConfigDict, Any, int], None]] = {
    "vae": _vae,
    "beta_vae": _beta_vae,
    "beta_tcvae": _beta_tcvae,
    "factorvae": _factorvae,
    "dip_vae_i": _dip("i"),
    "dip_vae_ii": _dip("ii"),
    "annealed_capacity": _annealed_capacity,
}


def model_config(config: ml_collections.ConfigDict, name: str, n_train: int) -> ml_collections.ConfigDict:
    """The config of model `name`: `config` (a VAE of the shared architecture) with that variant's loss."""
    if name not in MODELS:
        raise ValueError(f"unknown task.models entry {name!r}; valid: {', '.join(MODELS)}")
    variant = config.copy_and_resolve_references()
    variant.task.name = "none"
    variant.sweep = ml_collections.ConfigDict()
    variant.model.family = "vae"
    MODELS[name](variant, config.task, n_train)
    return variant


def ground_truth_of(config: ml_collections.ConfigDict) -> GroundTruthData:
    source = config.data.source
    if source not in GROUND_TRUTH:
        raise ValueError(
            f"task 'disentangle' needs data with known factors: data.source must be one of "
            f"{', '.join(GROUND_TRUTH)}, got {source!r}"
        )
    return GROUND_TRUTH[source]()


def train_model(config, name: str, dataset: Dataset, workdir: Path | None) -> tuple[list, float]:
    """One Trained per seed of task.seeds, and the seconds the model took to train and evaluate."""
    seeds = [int(s) for s in config.task.seeds]
    variant = model_config(config, name, dataset.x_train.shape[0])
    started = time.perf_counter()
    if variant.model.family == "factorvae":  # its own step: one fit per seed
        trained = []
        for seed in seeds:
            variant.seed = seed
            trained.append(fit(variant, data=dataset, workdir=workdir / f"seed_{seed}" if workdir else None))
    else:
        trained = sweep(variant, {"seed": seeds}, data=dataset, workdir=workdir)
    return trained, time.perf_counter() - started


def run_disentangle(
    config: ml_collections.ConfigDict, workdir: str | Path | None, data: Dataset | None = None
):
    """Train every model of task.models over task.seeds and score each on the same fresh generated sample."""
    if not config.task.models or not config.task.seeds:
        raise ValueError("task 'disentangle' needs non-empty task.models and task.seeds")
    for name in config.task.models:
        model_config(config, name, 1)  # unknown names fail before anything trains
    ground_truth = ground_truth_of(config)
    dataset = get_dataset(config, data)
    workdir = Path(workdir) if workdir is not None else None
    started = time.perf_counter()
    models = {}
    for name in config.task.models:
        trained, seconds = train_model(config, name, dataset, workdir / name if workdir else None)
        scoring = time.perf_counter()
        scores = [score_model(t, ground_truth, config) for t in trained]
        seconds = {"train": seconds, "score": time.perf_counter() - scoring}
        models[name] = model_summary(trained, scores, seconds, workdir, name, ground_truth, config)
    report = {
        "task": "disentangle",
        "data": dataset.summary(),
        "factors": dict(zip(ground_truth.factor_names, ground_truth.factor_sizes, strict=True)),
        "seeds": [int(s) for s in config.task.seeds],
        "metrics": list(METRIC_COLUMNS),
        "models": models,
        "best_model": max(models, key=lambda m: models[m]["mean"]["mig"]),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if workdir is not None:
        write_report_files(workdir, report)
    return report


register_task("disentangle", run_disentangle, summary_lines)
