"""Data-parallel backends (single, sharded jit, pmap) give the single-device update for the same global batch;
checkpoints move between device counts."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from parallel_case import run_case

import aejax
from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.objectives import Objective
from aejax.training import create_train_state, make_train_step
from aejax.training.parallel import Placement, resolve_backend

pytestmark = pytest.mark.skipif(jax.device_count() < 2, reason="needs several (fake) devices")


@pytest.mark.parametrize("backend", ["sharded", "pmap"])
def test_backends_match_single_device(backend):
    reference, reference_losses = run_case("single")
    params, losses = run_case(backend)
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), params, reference)


def test_sharded_step_returns_state_and_metrics_replicated_on_its_mesh():
    model = build_model(ModelSpec(latent_dim=4, hidden=(16,)), (12,))
    placement = Placement.create("sharded", 32)
    state = placement.place_state(create_train_state(model, optax.adam(1e-2), (12,), 0))
    step = make_train_step(model, Objective(), optax.constant_schedule(1e-2), placement=placement)
    batch = placement.place_batch({"x": np.ones((32, 12), np.float32)})
    compiled = step.lower(state, batch).compile()
    replicated = NamedSharding(placement.mesh, P())
    for sharding in jax.tree.leaves(compiled.output_shardings):
        assert sharding.is_equivalent_to(replicated, 0)
    state, metrics = step(state, batch)
    for leaf in jax.tree.leaves((state, metrics)):
        assert leaf.sharding == replicated


def test_resolve_backend_rules():
    cpus = jax.devices()
    assert resolve_backend("auto", 32, cpus) == "single"  # CPU devices: no data parallelism by default
    assert resolve_backend("sharded", 32, cpus) == "sharded"
    with pytest.raises(ValueError, match="multiple of"):
        resolve_backend("pmap", 30, cpus)
    with pytest.raises(ValueError, match=r"unknown train\.backend"):
        resolve_backend("tpu", 32, cpus)


def _config(backend: str):
    config = aejax.load_default()
    config.train.epochs = 2
    config.train.batch_size = 64
    config.train.progress = False
    config.train.backend = backend
    config.model.hidden = (32,)
    config.eval.plots = False
    config.eval.jacobian_examples = 0
    return config


@pytest.mark.parametrize("backend", ["sharded", "pmap"])
def test_fit_on_several_devices_matches_and_restores_on_one(backend, tmp_path):
    single = aejax.fit(_config("single"))
    parallel = aejax.fit(_config(backend), workdir=tmp_path / backend)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6), parallel.params, single.params
    )
    restored = aejax.load(tmp_path / backend)  # saved from N devices, read into a single-device template
    assert restored.step == parallel.step
    x = aejax.get_dataset(single.config).x_test
    np.testing.assert_allclose(restored.reconstruct(x), parallel.reconstruct(x), rtol=1e-6, atol=1e-7)


def test_single_device_checkpoint_resumes_sharded(tmp_path):
    config = _config("single")
    config.train.epochs = 1
    aejax.fit(config, workdir=tmp_path)
    config = _config("sharded")  # the backend may change between runs of one workdir
    resumed = aejax.fit(config, workdir=tmp_path)
    assert resumed.results["resumed_from"] is not None and resumed.step == resumed.total_steps


def test_one_of_several_processes_trains_sharded_and_names_what_runs_alone(monkeypatch, tmp_path):
    """As one of several processes (tests/test_multiprocess.py runs two): fit takes 'auto' or 'sharded', and
    says which entry points and backends run in a single process."""
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    # the config comparison across processes is a collective (tests/test_multiprocess.py runs it for real)
    monkeypatch.setattr(multihost_utils, "assert_equal", lambda *args, **kwargs: None)
    assert resolve_backend("auto", 32, jax.devices()[:2]) == "sharded"
    for backend in ("single", "pmap"):
        with pytest.raises(
            ValueError, match=f"train.backend='{backend}' runs on this process's devices only"
        ):
            aejax.fit(_config(backend))
    config = _config("auto")
    config.sweep = {"seed": [0, 1]}
    with pytest.raises(ValueError, match=r"aejax\.sweep runs in a single process"):
        aejax.sweep(config)
    config = _config("auto")
    config.task.name = "reduce"
    with pytest.raises(ValueError, match=r"aejax\.run_task runs in a single process"):
        aejax.run_task(config, tmp_path)
