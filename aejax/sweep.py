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

import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from aejax import config as config_lib
from aejax.data import Dataset
from aejax.families import Family, get_family
from aejax.fitting import get_dataset, run_results
from aejax.trained import SWEEP_RECORD, Trained, model_from_config, objective_from_config, write_run_files
from aejax.training import (
    Checkpointer,
    CheckpointSpec,
    TrainResult,
    TrainSpec,
    create_train_state,
    make_eval_step,
)
from aejax.training.loop import EpochLoop
from aejax.training.members import Members, check_early_stopping
from aejax.training.metrics_log import MetricsLog, write_atomic
from aejax.training.parallel import Placement, single_process_only
from aejax.training.run_log import RunLog
from aejax.training.stepper import StepPlan, make_stepper
from aejax.workdir_lock import workdir_lock


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
        changed = config_lib.changed_keys(config_lib.read_config_file(record), grid)
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

    `values` (config path -> list) defaults to `config.sweep`. The members train through the fit loop
    together: each is validated every epoch, checked for NaNs at every logging point and early-stopped on its
    own (a stopped member keeps its state while the others go on), and logs to `workdir/member_<i>`. With a
    workdir the stacked state of all members is checkpointed (`workdir/sweep_checkpoints`), and running the
    same sweep again resumes from the last one (the same bits as an uninterrupted sweep, tested)."""
    config_lib.validate(config)
    single_process_only("aejax.sweep")
    values = config_lib.sweep_values(config) if values is None else dict(values)
    members = sweep_members(config, values)
    if config.pretrain.method != "none":
        raise ValueError("a sweep trains the plain train step: no greedy pretraining")
    workdir = Path(workdir) if workdir is not None else None
    with workdir_lock(workdir):  # one writer per workdir (a second sweep there gets WorkdirInUseError)
        return _run_sweep(config, values, members, data, workdir)


def _run_sweep(config, values: dict, members: list, data: Dataset | None, workdir: Path | None) -> list:
    """The members trained together, then each one's results and files, in grid order."""
    dataset = get_dataset(config, data)
    model, results = _train_members(members, dataset, workdir, _grid_config(config, values))
    trained = []
    for i, (member, result) in enumerate(zip(members, results, strict=True)):
        seconds = result.train_seconds  # the sweep's time: its members train together
        handle = _member_handle(member, model, dataset, result, workdir, i)
        result = dataclasses.replace(result, train_seconds=seconds / len(members))
        handle.results = run_results(member, dataset, handle, result)
        handle.results["sweep"] = {
            "member": i,
            "members": len(members),
            "values": {key: member_value(member, key) for key in values},
            "seconds_all_members": round(seconds, 3),
        }
        _write_member(handle, i)
        trained.append(handle)
    return trained


def _train_members(
    members: list, dataset: Dataset, workdir: Path | None, grid: ml_collections.ConfigDict
) -> tuple[Any, list[TrainResult]]:
    """The members' model and each one's TrainResult, trained (or resumed) together through the fit loop."""
    base = members[0]
    model = model_from_config(base, dataset.input_shape)
    objective = objective_from_config(base)
    family = get_family(base.model.family)
    _check_sweepable(family, objective)
    spec = TrainSpec(**base.train.to_dict())
    n_train = dataset.x_train.shape[0]
    total_steps = spec.epochs * spec.steps_per_epoch(n_train)
    tx, schedule = spec.build_optimizer(total_steps)
    states = [create_train_state(model, tx, dataset.input_shape, m.seed, family.init_extras) for m in members]
    plan = StepPlan(  # train.microbatch_size as set (0 is not resolved: whole batches)
        model,
        objective,
        schedule,
        spec.batch_size,
        log_norms=spec.log_norms,
        microbatch_size=spec.microbatch_size,
        family=family,
        hyper=_hyper(members, spec.learning_rate),
    )
    placement = Placement.create("single", spec.batch_size)
    check_early_stopping(spec, dataset.x_val)
    checkpointer, logs = _sweep_files(workdir, grid, members, dataset, total_steps)
    loop = EpochLoop(
        train=spec,
        checkpoint=CheckpointSpec(**base.checkpoint.to_dict()),
        n_train=n_train,
        x_val=dataset.x_val,
        eval_fn=make_eval_step(model, objective, family),
        monitor=family.monitor,
        placement=placement,
        members=Members(tuple(m.seed for m in members), stacked=True),
        checkpointer=checkpointer,
        logs=logs,
        desc=f"sweep x{len(members)}",
    )
    try:
        state = loop.resume(jax.tree.map(lambda *leaves: jnp.stack(leaves), *states))
        return model, loop.run(state, make_stepper(plan, placement, dataset.x_train))
    finally:
        if checkpointer is not None:
            checkpointer.close()
        for log in logs:
            if log is not None:
                log.close()


def _check_sweepable(family: Family, objective) -> None:
    if family.train_step is not None:
        raise ValueError(
            f"a sweep trains the plain train step; the {family.name!r} family's own step trains in aejax.fit"
        )
    if objective.needs_labels:
        raise ValueError("a sweep does not feed labels to the train step (capsule_margin and the like)")


def _sweep_files(
    workdir: Path | None, grid: ml_collections.ConfigDict, members: list, dataset: Dataset, total_steps: int
) -> tuple[Checkpointer | None, list[MetricsLog | None]]:
    """The sweep's checkpointer and each member's metrics log, its run files written (none without a
    workdir)."""
    if workdir is None:
        return None, [None] * len(members)
    _prepare_sweep_workdir(workdir, grid)
    logs = []
    for i, member in enumerate(members):
        member_dir = workdir / f"member_{i}"
        member_dir.mkdir(parents=True, exist_ok=True)
        write_run_files(member_dir, member, dataset.input_shape, dataset.display_shape, total_steps)
        logs.append(RunLog(member_dir, member.train.writers))
    return Checkpointer(workdir / "sweep_checkpoints", max_to_keep=2), logs


def _member_handle(member, model, dataset: Dataset, result, workdir: Path | None, index: int) -> Trained:
    return Trained(
        model=model,
        objective=objective_from_config(member),
        state=result.state,
        config=member,
        display_shape=dataset.display_shape,
        total_steps=result.total_steps,
        workdir=None if workdir is None else workdir / f"member_{index}",
        batch_size=member.train.eval_batch_size,
    )


def _write_member(handle: Trained, index: int) -> None:
    """A member's checkpoint and results.json in its own workdir, which `aejax.load` reads like a fit's."""
    if handle.workdir is None:
        return
    with Checkpointer(handle.workdir / "checkpoints", handle.config.checkpoint.max_to_keep) as checkpointer:
        if (
            handle.step not in checkpointer.all_steps()
        ):  # a rerun of a finished sweep: the same state is there
            checkpointer.save(handle.state, {"finished": True, "sweep_member": index})
    write_atomic(handle.workdir / "results.json", json.dumps(handle.results, indent=2, sort_keys=True) + "\n")


def member_value(member: ml_collections.ConfigDict, key: str) -> Any:
    """The value a member config holds at a swept path."""
    node: Any = member
    for part in key.split("."):
        node = node[part]
    return node
