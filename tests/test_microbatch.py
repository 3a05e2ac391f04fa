"""Microbatched train steps (train.microbatch_size): the gradient averaged over slices in a lax.scan equals the
whole-batch step for per-example objectives (MLP and conv autoencoders, directly and through fit); named errors
for sizes that do not divide the batch, batch statistics, and family steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import aejax
from aejax.models import ModelSpec, build_model
from aejax.objectives import Objective
from aejax.training import create_train_state, make_train_step


@pytest.mark.parametrize(
    "spec, shape",
    [
        (ModelSpec(hidden=(32,), latent_dim=8), (64,)),
        (ModelSpec(encoder="conv", decoder="conv", latent_dim=8, conv_features=(4, 8)), (8, 8)),
    ],
    ids=["mlp", "conv"],
)
def test_microbatched_steps_equal_whole_batch_steps(spec, shape):
    model = build_model(spec, shape)
    objective = Objective("mse", regularizers=(("l1", "code_l1", 0.01),))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(32, *shape)), jnp.float32)
    results = {}
    for size in (0, 8):
        state = create_train_state(model, optax.adam(1e-2), shape, seed=0)
        step = make_train_step(model, objective, optax.constant_schedule(1e-2), microbatch_size=size)
        losses = []
        for _ in range(3):
            state, metrics = step(state, {"x": x})
            losses.append(float(metrics["loss"]))
        results[size] = (state.params, losses, float(metrics["reg/l1"]))
    np.testing.assert_allclose(results[8][1], results[0][1], rtol=1e-5)
    np.testing.assert_allclose(results[8][2], results[0][2], rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), results[8][0], results[0][0]
    )


def _config(microbatch_size: int):
    config = aejax.load_default()
    config.train.epochs = 1
    config.train.batch_size = 64
    config.train.microbatch_size = microbatch_size
    config.train.progress = False
    config.model.hidden = (32,)
    config.eval.plots = False
    config.eval.jacobian_examples = 0
    return config


def test_fit_with_microbatches_matches_fit_without(tmp_path):
    whole = aejax.fit(_config(0), workdir=tmp_path / "whole")
    sliced = aejax.fit(_config(16), workdir=tmp_path / "sliced")
    assert sliced.step == whole.step
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5), sliced.params, whole.params
    )


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"train.microbatch_size=24 must divide train.batch_size=64"):
        aejax.fit(_config(24))
    config = _config(16)
    config.model.encoder = config.model.decoder = "conv"
    config.data.flatten = False
    config.model.norm = "batch"
    with pytest.raises(ValueError, match=r"without batch statistics .*batch_stats"):
        aejax.fit(config)
    model = build_model(ModelSpec(hidden=(8,), latent_dim=4), (16,))
    state = create_train_state(model, optax.adam(1e-3), (16,), seed=0)
    step = make_train_step(model, Objective("mse"), optax.constant_schedule(1e-3), microbatch_size=3)
    with pytest.raises(ValueError, match=r"microbatch_size=3 must divide the batch \(8 rows"):
        step(state, {"x": jnp.zeros((8, 16))})
