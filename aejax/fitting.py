"""`aejax.fit`: config + data -> trained model, with workdir checkpoints, metrics, pictures and results.

Below the tasks (which train through `fit`) and above the training loop; it imports no task module.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from aejax import config as config_lib
from aejax import plots
from aejax.baselines import pca_reconstruction_mse
from aejax.data import Dataset, SourceSpec, load_dataset
from aejax.data.row_sources import RowSource
from aejax.data.streamed import StreamedDataset, is_streamable, open_streamed, resolve_pipeline
from aejax.families import get_family
from aejax.greedy import check_greedy_config, greedy_pretrain
from aejax.plots_prior import draw_prior_scatter
from aejax.trained import (
    CONFIG_FILE,
    SWEEP_RECORD,
    Trained,
    model_from_config,
    objective_from_config,
    write_run_files,
)
from aejax.training import CheckpointSpec, TrainSpec, count_params, run_training
from aejax.training.eval_pictures import make_eval_pictures
from aejax.training.metrics_log import MetricsLog, write_atomic
from aejax.training.parallel import check_processes_agree, is_primary
from aejax.training.run_files import check_workdir_writable
from aejax.workdir_lock import workdir_lock

logger = logging.getLogger("aejax")


def _open_source(config: ml_collections.ConfigDict, auto_streams: bool) -> Dataset | StreamedDataset:
    """The configured source in memory or streamed, as data.pipeline says (auto: by the training pool's size,
    where the caller reads streamed splits: `auto_streams`)."""
    settings = config.data.to_dict()
    for key in ("binarize", "pipeline", "prefetch"):
        settings.pop(key)
    spec = SourceSpec(**settings)
    pipeline = config.data.pipeline
    resolve_pipeline(pipeline, spec.source)  # a named error for an unknown pipeline or an unstreamable source
    if pipeline == "memory" or not is_streamable(spec.source) or (pipeline == "auto" and not auto_streams):
        return load_dataset(spec)
    streamed = open_streamed(spec)
    if resolve_pipeline(pipeline, spec.source, streamed.x_train.nbytes) == "memory":
        return load_dataset(spec)
    if config.data.binarize != "none":
        raise ValueError("data.binarize='dynamic' samples in-memory splits: set data.pipeline='memory'")
    return streamed


def get_dataset(
    config: ml_collections.ConfigDict,
    data: Dataset | StreamedDataset | None = None,
    *,
    auto_streams: bool = False,
) -> Dataset | StreamedDataset:
    """The dataset a config names, or `data` (flattened if the config says so); streamed splits
    (aejax.data.streamed) where data.pipeline='stream', or 'auto' for a large source when the caller reads
    streamed splits (`auto_streams`: `fit` does; the tasks read in-memory splits).

    With data.binarize='dynamic' the validation and test splits are replaced by one fixed Bernoulli sample
    (seeded by data.split_seed); the train split stays grey and is resampled in every step.
    """
    if data is None:
        dataset = _open_source(config, auto_streams)
        if isinstance(dataset, StreamedDataset):
            return dataset
    elif isinstance(data, StreamedDataset):
        return data.flattened() if config.data.flatten else data
    elif not isinstance(data, Dataset):
        raise TypeError(
            f"data must be an aejax.data.Dataset (see aejax.data.from_arrays), got {type(data).__name__}"
        )
    else:
        dataset = data.flattened() if config.data.flatten else data
    if config.data.binarize == "dynamic":
        rng = np.random.default_rng([config.data.split_seed, 0xB1])
        fixed = {}
        for split in ("val", "test"):
            x = getattr(dataset, f"x_{split}")
            if x is not None:
                fixed[f"x_{split}"] = (rng.uniform(size=x.shape) < x).astype(x.dtype)
        dataset = dataclasses.replace(dataset, **fixed)
    return dataset


def _in_memory_sample(
    config: ml_collections.ConfigDict, dataset: Dataset | StreamedDataset
) -> Dataset | None:
    """What pictures read: the dataset, or a streamed one's splits' first 2000 rows in memory (None without
    pictures: eval.plots off)."""
    if not isinstance(dataset, StreamedDataset):
        return dataset
    if config.pretrain.method != "none":
        raise ValueError("pretrain.method='greedy' trains on in-memory splits: set data.pipeline='memory'")
    return dataset.head(2000) if config.eval.plots else None


def _prepare_workdir(workdir: Path, config: ml_collections.ConfigDict) -> None:
    if (workdir / SWEEP_RECORD).exists():
        raise ValueError(
            f"{str(workdir)!r} holds a sweep ({SWEEP_RECORD}, its members in member_<i>/): resume it with "
            "aejax.sweep(config) or `aejax train` and the same config.sweep, or give this run another workdir"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    saved = workdir / CONFIG_FILE
    if saved.is_file():
        previous = config_lib.read_config_file(saved)
        changed = config_lib.changed_keys(previous, config)
        if changed:
            raise ValueError(
                f"workdir {str(workdir)!r} holds a run with a different config (changed: {', '.join(changed)}); "
                "use a new workdir, or keep those keys as they were to resume"
            )


def fit(
    config: ml_collections.ConfigDict, data: Dataset | None = None, workdir: str | Path | None = None
) -> Trained:
    """Train the configured model; resumes from `workdir` when it holds checkpoints of the same run.

    Returns a Trained handle whose `results` hold test metrics and the PCA baseline at the same code size.
    One run at a time writes to a workdir: while another process trains there, this one raises
    WorkdirInUseError (naming the holder's pid and host) before it writes anything.
    """
    called = time.perf_counter()
    config_lib.validate(config)
    workdir = Path(workdir) if workdir is not None else None
    if workdir is not None and is_primary():
        check_workdir_writable(workdir)  # a read-only or full disk: named before the lock and training
    with workdir_lock(workdir if is_primary() else None):  # several processes: process 0 holds it
        return _fit(config, data, workdir, called)


def _fit(
    config: ml_collections.ConfigDict, data: Dataset | None, workdir: Path | None, called: float
) -> Trained:
    check_processes_agree(  # several jax.distributed processes each build the same global batches
        "the processes of this run were given different configs: start every process with the same config "
        "file and --config.* overrides",
        config_lib.to_json(config),
    )
    swept = config_lib.sweep_values(config)
    if swept:
        raise ValueError(
            f"config.sweep is set ({', '.join(swept)}): train the grid with aejax.sweep(config) or `aejax train` "
            "(one workdir/member_<i> per member), or empty config.sweep for a single run"
        )
    if config.data.source == "movielens" and data is None:
        raise ValueError(
            "data.source='movielens' holds ratings, not examples: run it as a task (task.name='autorec')"
        )
    if config.pretrain.method not in ("none", "greedy"):
        raise ValueError(f"unknown pretrain.method {config.pretrain.method!r}; valid: none, greedy")
    if config.pretrain.method == "greedy":
        check_greedy_config(config)
    dataset = get_dataset(config, data, auto_streams=True)
    sample = _in_memory_sample(config, dataset)
    if data is not None and config.data.source != "arrays":
        # The workdir records where the data came from: in-memory arrays, not the configured source.
        config = config.copy_and_resolve_references()
        config.data.source = "arrays"
    model = model_from_config(config, dataset.input_shape)
    objective = objective_from_config(config)
    train_spec = TrainSpec(**config.train.to_dict())
    total_steps = config.train.epochs * train_spec.steps_per_epoch(dataset.x_train.shape[0])
    if workdir is not None:
        _prepare_workdir(workdir, config)
        if is_primary():  # one of several jax.distributed processes: process 0 writes the run's files
            write_run_files(workdir, config, dataset.input_shape, dataset.display_shape, total_steps)
    logger.info("data %s", dataset.summary())

    init_params, pretrain_summary = None, None
    if config.pretrain.method == "greedy":
        # Finished stages come back from their checkpoints at once; a resumed fine-tune ignores init_params.
        init_params, pretrain_summary = greedy_pretrain(config, dataset, workdir, fit_stage=fit)
    result = run_training(
        model=model,
        objective=objective,
        x_train=dataset.x_train,
        x_val=dataset.x_val,
        train=train_spec,
        checkpoint=CheckpointSpec(**config.checkpoint.to_dict()),
        seed=config.seed,
        workdir=workdir,
        init_params=init_params,
        y_train=dataset.y_train,
        family=get_family(config.model.family),
        pictures=_eval_pictures(config, sample, model),
        prefetch=config.data.prefetch,
    )
    trained = Trained(
        model=model,
        objective=objective,
        state=result.state,
        config=config,
        display_shape=dataset.display_shape,
        total_steps=result.total_steps,
        workdir=workdir,
        batch_size=config.train.eval_batch_size,
    )
    evaluating = time.perf_counter()
    trained.results = run_results(config, dataset, trained, result)
    if pretrain_summary is not None:
        trained.results["pretrain"] = pretrain_summary
    if workdir is not None and is_primary() and config.eval.plots:
        draw_pictures(trained, sample, MetricsLog(workdir / "metrics.jsonl").read())
    ended = time.perf_counter()
    trained.results.update(
        startup_seconds=round(
            result.started - called, 3
        ),  # fit's call to its training loop (incl. pretraining)
        eval_seconds=round(ended - evaluating, 3),  # the evaluation of the held-out splits and the pictures
        session_seconds=round(ended - called, 3),  # this call of fit, whole
    )
    if workdir is not None and is_primary():
        write_atomic(workdir / "results.json", json.dumps(trained.results, indent=2, sort_keys=True) + "\n")
    return trained


def run_results(config, dataset: Dataset, trained: Trained, result) -> dict[str, Any]:
    """A run's results.json: data, size, steps and timing of `result` (a TrainResult), and the metrics of
    each held-out split (`evaluate_split`)."""
    out: dict[str, Any] = {
        "data": dataset.summary(),
        "params": count_params(trained.params),
        "steps": result.steps_trained or int(trained.step),
        # the state evaluated below: "best" (the best validation epoch's, checkpoint.keep_best) or "last"
        "weights": result.weights,
        "weights_step": int(trained.step),
        "total_steps": result.total_steps,
        "steps_per_epoch": result.steps_per_epoch,
        "resumed_from": result.resumed_from,
        "stopped_early": result.stopped_early,
        "best_val_reconstruction": result.best_val,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.train_seconds, 3),  # summed over resumed parts
        "checkpoint_seconds": round(result.checkpoint_seconds, 3),  # of this session's, blocked in saves
        "microbatch_size": result.microbatch_size,  # what train.microbatch_size=0 / steps_per_dispatch=0 chose
        "steps_per_dispatch": result.steps_per_dispatch,
    }
    for split in ("val", "test"):
        x, _ = dataset.split(split)
        if x is not None and isinstance(dataset, StreamedDataset):
            out[split] = evaluate_streamed_split(trained, x)
        elif x is not None:
            out[split] = evaluate_split(trained, dataset, x)
    return out


def evaluate_streamed_split(trained: Trained, x) -> dict[str, Any]:
    """A streamed split's loss and MSE and its codes' sparsity, read in chunks of eval batches. (The PCA
    baseline, Jacobian norms, denoising and a family's split metrics need the split in memory.)"""
    metrics: dict[str, Any] = dict(trained.evaluate(x))
    metrics.update(trained.code_statistics(x))
    return metrics


def evaluate_split(trained: Trained, dataset: Dataset, x: np.ndarray) -> dict[str, Any]:
    """Loss and MSE, PCA at the same code size, code sparsity, encoder Jacobian norm, denoising PSNR (of a
    streamed split: `evaluate_streamed_split`)."""
    if isinstance(x, RowSource):
        return evaluate_streamed_split(trained, x)
    config = trained.config
    metrics: dict[str, Any] = dict(trained.evaluate(x))
    if config.eval.compare_pca:
        k = config.model.latent_dim
        metrics["pca_mse"] = pca_reconstruction_mse(dataset.x_train, x, k, seed=config.seed)
        metrics["pca_components"] = min(k, *dataset.x_train.reshape(dataset.x_train.shape[0], -1).shape)
    metrics.update(trained.code_statistics(x))
    if config.eval.jacobian_examples > 0:
        norms = trained.jacobian_norm(x[: config.eval.jacobian_examples])
        metrics["jacobian_frobenius_mean"] = float(np.mean(norms))
    if trained.objective.corruption.kind in ("gaussian", "masking", "salt_and_pepper"):
        metrics.update(trained.denoising(x, seed=config.seed))
    if trained.family.split_metrics is not None:  # e.g. a VAE's NLL, a VQ-VAE's codebook use, an AAE's MMD
        metrics.update(trained.family.split_metrics(trained, x, metrics))
    return metrics


def _eval_pictures(config: ml_collections.ConfigDict, dataset: Dataset, model):
    """The pictures drawn at each validation for writers that take images (none without validation data or
    with eval.plots off)."""
    if not config.eval.plots or dataset.x_val is None or dataset.x_val.shape[0] == 0:
        return None
    family = get_family(config.model.family)
    count = min(8, config.eval.num_images)
    return make_eval_pictures(model, family, dataset.x_val, dataset.display_shape, config.seed, count)


def draw_pictures(trained: Trained, dataset: Dataset, records: list[dict[str, Any]]) -> list[Path]:
    """reconstructions.png (test split, else val, else train) and loss_curves.png in the workdir."""
    if trained.workdir is None:
        return []
    split = next(name for name in ("test", "val", "train") if dataset.split(name)[0] is not None)
    x, y = dataset.split(split)
    n = min(trained.config.eval.num_images, x.shape[0])
    originals = np.asarray(x[:n])
    paths = [
        plots.save_reconstructions(
            trained.workdir / "reconstructions.png",
            originals,
            trained.reconstruct(originals),
            dataset.display_shape,
        )
    ]
    if records:
        paths.append(plots.save_loss_curves(trained.workdir / "loss_curves.png", records))
    if trained.family.pictures is not None:  # a family's own pictures
        paths.extend(trained.family.pictures(trained, x, y))
    if trained.family.generative:  # samples from the prior and interpolations
        samples = trained.sample(32, seed=trained.config.seed)
        paths.append(
            plots.save_image_grid(trained.workdir / "samples.png", samples, dataset.display_shape, 8)
        )
        pairs = min(4, x.shape[0] // 2)
        if pairs:
            line = trained.interpolate(x[:pairs], x[pairs : 2 * pairs], steps=8)
            paths.append(
                plots.save_image_grid(
                    trained.workdir / "interpolation.png",
                    line.reshape(-1, *line.shape[2:]),
                    dataset.display_shape,
                    8,
                )
            )
        if trained.model.latent_dim >= 2:  # codes (coloured by label) against as many prior draws
            path = trained.workdir / "latent_prior.png"
            paths.append(draw_prior_scatter(trained, x[:2000], None if y is None else y[:2000], path))
    return paths
