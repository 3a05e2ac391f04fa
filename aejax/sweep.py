"""Vmapped sweeps: several models of one architecture trained in one compiled program.

    trained = aejax.sweep(config, {"seed": [0, 1, 2], "loss.regularizers.sparse.weight": [0.01, 0.1]})

The members are the grid of the given values (here 6). What may vary: `seed` (initialisation, data order,
dropout and noise draws), `train.learning_rate` and the `weight` of any configured regularizer
(`loss.regularizers.<label>.weight`). Everything else is shared, so each step is one `jax.vmap` of the plain
train step over the stacked member states. Each member ends as it would in its own `aejax.fit` run (same
batches, same draws; equal up to float rounding, tested) and is written to `workdir/member_<i>` like a fit
workdir (config, checkpoint, results), so `aejax.load` reads it.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from aejax import config as config_lib
from aejax.data import Dataset
from aejax.training import Checkpointer, TrainSpec, create_train_state, epoch_permutation
from aejax.training.compiler import TrainStepJit
from aejax.training.metrics_log import MetricsLog, write_atomic
from aejax.training.parallel import single_process_only
from aejax.training.steps import train_step

# a sweep's config (grid included) in its workdir: checked when the sweep resumes; a single run refuses the workdir
SWEEP_RECORD = "sweep.json"


def sweep_members(config: ml_collections.ConfigDict, sweep: Mapping[str, Sequence[Any]]) -> list:
    """The member configs: the grid of `sweep`'s values over `config` (first key varies slowest); each is a
    single run (its own `sweep` key empty)."""
    if not sweep:
        raise ValueError(
            "a sweep needs at least one key with a list of values: set config.sweep (e.g. "
            "--config.sweep.seed=[0,1,2]) or pass them to aejax.sweep"
        )
    for key, values in sweep.items():
        config_lib.check_sweep_key(config, key, values)
    members = []
    for combination in itertools.product(*sweep.values()):
        member = config.copy_and_resolve_references()
        member.sweep = ml_collections.ConfigDict()
        for key, value in zip(sweep, combination, strict=True):
            match = config_lib.SWEEP_WEIGHT.match(key)
            if match:
                member.loss.regularizers[match.group(1)]["weight"] = float(value)
            elif key == "seed":
                member.seed = int(value)
            else:
                member.train.learning_rate = float(value)
        config_lib.validate(member)
        members.append(member)
    return members


def _hyper(members: list, base_lr: float) -> dict[str, Any]:
    labels = list(members[0].loss.regularizers.keys())
    return {
        "lr_scale": jnp.asarray([m.train.learning_rate / base_lr for m in members], jnp.float32),
        "weights": {
            label: jnp.asarray([float(m.loss.regularizers[label]["weight"]) for m in members], jnp.float32)
            for label in labels
        },
    }


def _grid_config(config: ml_collections.ConfigDict, values: Mapping[str, Sequence[Any]]):
    """`config` with `values` as its `sweep` key: what sweep.json records for a resume to check."""
    grid = config.copy_and_resolve_references()
    grid.sweep = ml_collections.ConfigDict()
    for key, value in values.items():
        config_lib.set_path(grid, config_lib.SWEEP_PREFIX + key, tuple(value))
    return grid


def _prepare_sweep_workdir(workdir: Path, grid: ml_collections.ConfigDict) -> None:
    """Record the sweep in a new workdir; refuse a workdir that holds a different sweep (or a single run)."""
    record = workdir / SWEEP_RECORD
    if record.is_file():
        changed = config_lib.changed_keys(config_lib.from_json(record.read_text()), grid)
        if changed:
            raise ValueError(
                f"{str(workdir)!r} holds a different sweep (changed keys: {changed}); use a new workdir or the "
                "same config"
            )
    elif (workdir / "checkpoints").exists():
        raise ValueError(f"{str(workdir)!r} holds a single run's checkpoints; a sweep needs its own workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    write_atomic(record, config_lib.to_json(grid) + "\n")


def sweep(
    config: ml_collections.ConfigDict,
    values: Mapping[str, Sequence[Any]] | None = None,
    data: Dataset | None = None,
    workdir: str | Path | None = None,
) -> list:
    """Train every member of the grid in one vmapped program; returns one Trained per member, in grid order.

    `values` (config path -> list) defaults to `config.sweep`. With a workdir, the stacked state of all
    members is checkpointed at every epoch end (`workdir/sweep_checkpoints`), and running the same sweep again
    resumes from the last one (the same bits as an uninterrupted sweep, tested)."""
    from aejax.api import _results, get_dataset
    from aejax.trained import Trained, model_from_config, objective_from_config, write_run_files

    config_lib.validate(config)
    single_process_only("aejax.sweep")
    values = config_lib.sweep_values(config) if values is None else dict(values)
    members = sweep_members(config, values)
    base = members[0]
    if config.pretrain.method != "none" or config.model.family == "aae":
        raise ValueError("a sweep trains the plain train step: no greedy pretraining or adversarial family")
    if config.train.early_stopping_patience > 0:
        raise ValueError("a sweep trains every member for train.epochs: set train.early_stopping_patience=0")
    dataset = get_dataset(config, data)
    model = model_from_config(base, dataset.input_shape)
    objective = objective_from_config(base)
    if objective.needs_labels:
        raise ValueError("a sweep does not feed labels to the train step (capsule_margin and the like)")
    spec = TrainSpec(**base.train.to_dict())
    n_train = dataset.x_train.shape[0]
    steps_per_epoch = spec.steps_per_epoch(n_train)
    total_steps = spec.epochs * steps_per_epoch
    tx, schedule = spec.build_optimizer(total_steps)
    states = [create_train_state(model, tx, dataset.input_shape, m.seed) for m in members]
    state = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
    hyper = _hyper(members, spec.learning_rate)
    bound = functools.partial(  # train.microbatch_size as set (0 is not resolved: whole batches)
        train_step,
        model=model,
        objective=objective,
        schedule=schedule,
        log_norms=False,
        microbatch_size=spec.microbatch_size,
    )

    def member_step(member_state, x, idx, member_hyper):
        return bound(member_state, {"x": x[idx]}, hyper=member_hyper)

    step_fn = TrainStepJit(jax.vmap(member_step, in_axes=(0, None, 0, 0)), donate_argnums=(0,))
    x_device = jax.device_put(dataset.x_train)
    workdir = Path(workdir) if workdir is not None else None
    logs, checkpointer, start, seconds_before = [], None, 0, 0.0
    if workdir is not None:
        _prepare_sweep_workdir(workdir, _grid_config(config, values))
        for i, member in enumerate(members):
            member_dir = workdir / f"member_{i}"
            member_dir.mkdir(parents=True, exist_ok=True)
            write_run_files(member_dir, member, dataset.input_shape, dataset.display_shape, total_steps)
            logs.append(MetricsLog(member_dir / "metrics.jsonl"))
        checkpointer = Checkpointer(workdir / "sweep_checkpoints", max_to_keep=2)
        if checkpointer.latest_step() is not None:
            state, meta = checkpointer.restore(state)
            start, seconds_before = int(meta["step"]), float(meta.get("train_seconds", 0.0))
            for log in logs:
                log.truncate_after(start)
    started = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=min(start, total_steps),
        disable=not config.train.progress,
        desc=f"sweep x{len(members)}",
        leave=False,
    )
    pending, orders = [], None
    try:
        for step in range(start, total_steps):
            epoch, position = divmod(step, steps_per_epoch)
            if position == 0 or orders is None:
                orders = [epoch_permutation(m.seed, epoch, n_train) for m in members]
            rows = slice(position * spec.batch_size, (position + 1) * spec.batch_size)
            idx = jnp.asarray(np.stack([order[rows] for order in orders]))
            state, metrics = step_fn(state, x_device, idx, hyper)
            pending.append(metrics["loss"])
            bar.update(1)
            if (step + 1) % steps_per_epoch == 0:
                losses = np.asarray(jax.device_get(jnp.stack(pending))).mean(axis=0)
                pending.clear()
                if not np.all(np.isfinite(losses)):
                    bad = [i for i, v in enumerate(losses) if not np.isfinite(v)]
                    raise FloatingPointError(
                        f"sweep members {bad} reached a non-finite loss in epoch {epoch}"
                    )
                for log, loss in zip(logs, losses, strict=False):
                    log.append({"split": "train", "step": step + 1, "epoch": epoch, "loss": float(loss)})
                if checkpointer is not None:
                    seconds = seconds_before + time.perf_counter() - started
                    checkpointer.save(state, {"step": step + 1, "train_seconds": seconds}, step=step + 1)
    finally:
        bar.close()
        if checkpointer is not None:
            checkpointer.close()
    seconds = seconds_before + time.perf_counter() - started
    trained = []
    for i, member in enumerate(members):
        member_state = jax.tree.map(lambda leaf, i=i: leaf[i], state)
        handle = Trained(
            model=model,
            objective=objective_from_config(member),
            state=member_state,
            config=member,
            display_shape=dataset.display_shape,
            total_steps=total_steps,
            workdir=None if workdir is None else workdir / f"member_{i}",
            batch_size=member.train.eval_batch_size,
        )
        handle.results = _results(
            member,
            dataset,
            handle,
            _SweepResult(
                total_steps, steps_per_epoch, seconds / len(members), start or None, spec.microbatch_size
            ),
            seconds,
        )
        handle.results["sweep"] = {
            "member": i,
            "members": len(members),
            "values": {key: member_value(member, key) for key in values},
            "seconds_all_members": round(seconds, 3),
        }
        if handle.workdir is not None:
            checkpointer = Checkpointer(handle.workdir / "checkpoints", member.checkpoint.max_to_keep)
            checkpointer.save(member_state, {"finished": True, "sweep_member": i})
            checkpointer.close()
            write_atomic(
                handle.workdir / "results.json", json.dumps(handle.results, indent=2, sort_keys=True) + "\n"
            )
        trained.append(handle)
    return trained


def member_value(member: ml_collections.ConfigDict, key: str) -> Any:
    """The value a member config holds at a swept path."""
    node: Any = member
    for part in key.split("."):
        node = node[part]
    return node


class _SweepResult:
    """The parts of a TrainResult that results.json reports, for a sweep member."""

    def __init__(
        self,
        total_steps: int,
        steps_per_epoch: int,
        train_seconds: float,
        resumed_from: int | None,
        microbatch_size: int,
    ):
        self.microbatch_size = microbatch_size
        self.steps_per_dispatch = 1
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.resumed_from = resumed_from
        self.stopped_early = False
        self.best_val = None
        self.best_epoch = -1
        self.train_seconds = train_seconds  # the sweep's time over its members (they train together)
