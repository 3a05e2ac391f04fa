"""Microbatched train steps (train.microbatch_size): the gradient averaged over slices in a lax.scan equals the
whole-batch step for per-example objectives (MLP and conv autoencoders, directly and through fit); what
train.microbatch_size=0 picks (conv models on one CPU device with per-example objectives only); named errors
for sizes that do not divide the batch, batch statistics, and family steps."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import aejax
from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.objectives import Objective
from aejax.training import create_train_state, make_train_step
from aejax.training.specs import auto_microbatch_size


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
    whole = aejax.fit(_config(64), workdir=tmp_path / "whole")  # one slice of the whole batch: off
    sliced = aejax.fit(_config(16), workdir=tmp_path / "sliced")
    assert sliced.step == whole.step
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5), sliced.params, whole.params
    )


def _kl_free(forward):  # a user's regularizer, its per_example flag set by the tests below
    return jnp.mean(jnp.sum(jnp.square(forward.output.code), axis=1))


def test_auto_microbatch_size_picks_slices_for_conv_models_with_per_example_objectives(monkeypatch):
    conv = ModelSpec(encoder="conv", decoder="conv", latent_dim=8, conv_features=(4, 8))
    mse = Objective("mse")

    def auto(spec=conv, shape=(28, 28, 1), objective=mse, batch=128, eligible=True):
        state = create_train_state(build_model(spec, shape), optax.adam(1e-3), shape, seed=0)
        return auto_microbatch_size(state, objective, batch, shape, eligible)

    assert auto() == 64 and auto(batch=1024) == 64  # 64 MNIST images per slice
    assert auto(batch=64) == 32 and auto(batch=100) == 50  # the largest divisor below the target
    assert auto(shape=(32, 32, 3), batch=256) == 16  # fewer rows of bigger inputs
    assert auto(batch=8) == 0 and auto(batch=9) == 0  # nothing to slice: at least 8 rows, 2 slices
    assert auto(eligible=False) == 0  # family steps, several devices or processes
    assert auto(spec=ModelSpec(hidden=(32,), latent_dim=8), shape=(784,)) == 0  # dense: slicing is slower
    assert auto(spec=ModelSpec(encoder="conv", decoder="conv", latent_dim=8, norm="batch")) == 0
    assert auto(objective=Objective("bernoulli", regularizers=(("l1", "code_l1", 0.1),))) == 64
    assert auto(objective=Objective("mse", regularizers=(("s", "kl_sparsity", 0.1),))) == 0  # batch means
    vae = ModelSpec(family="vae", encoder="conv", decoder="conv", latent_dim=8, conv_features=(4, 8))
    kl = lambda **settings: Objective(
        "mse", regularizers=(("kl", "kl_standard_normal", 1.0, tuple(settings.items())),)
    )
    assert auto(spec=vae, objective=kl()) == 64
    assert auto(spec=vae, objective=kl(free_bits=0.1)) == 0  # free bits act on batch means
    user = Objective("mse", regularizers=(("u", f"{__name__}:_kl_free", 0.1),))
    assert auto(objective=user) == 0  # unknown: batch-level until the function says otherwise
    monkeypatch.setattr(_kl_free, "per_example", True, raising=False)
    assert auto(objective=user) == 64
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert auto() == 0  # measured on CPU only


def test_fit_auto_microbatches_a_conv_model_as_the_explicit_size_does(tmp_path):
    def config(size):
        c = _config(size)
        c.model.encoder = c.model.decoder = "conv"
        c.data.flatten = False
        return c

    auto = aejax.fit(config(0), workdir=tmp_path / "auto")
    explicit = aejax.fit(config(32), workdir=tmp_path / "explicit")
    results = [json.loads((tmp_path / name / "results.json").read_text()) for name in ("auto", "explicit")]
    assert results[0]["microbatch_size"] == results[1]["microbatch_size"] == 32
    jax.tree.map(np.testing.assert_array_equal, auto.params, explicit.params)


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
