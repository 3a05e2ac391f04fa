"""Train/eval steps: jit once, determinism, agreement with a hand-written step, schedules and clipping."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.objectives import Objective
from aejax.training import (
    TrainSpec,
    create_train_state,
    evaluate,
    make_eval_step,
    make_optimizer,
    make_schedule,
    make_train_step,
)

SPEC = ModelSpec(latent_dim=3, hidden=(8,))


def _setup(seed=0, learning_rate=1e-2):
    model = build_model(SPEC, (16,))
    schedule = optax.constant_schedule(learning_rate)
    state = create_train_state(model, optax.adam(schedule), (16,), seed)
    return model, Objective("mse"), schedule, state


def _batch(seed, n=8, d=16):
    return {"x": jnp.asarray(np.random.default_rng(seed).uniform(size=(n, d)), jnp.float32)}


def test_train_step_traces_once_and_check_bites():
    model, objective, schedule, state = _setup()
    chex.clear_trace_counter()
    step = make_train_step(model, objective, schedule, max_traces=1)
    for i in range(4):
        state, _ = step(state, _batch(i))
    assert int(state.step) == 4
    with pytest.raises(AssertionError, match="trace"):
        step(state, _batch(9, n=5))  # a new batch shape would recompile


def test_same_seed_same_bits_different_seed_differs():
    def run(seed):
        model, objective, schedule, state = _setup(seed)
        step = make_train_step(model, objective, schedule)
        for i in range(5):
            state, _ = step(state, _batch(i))
        return jax.device_get(state.params)

    a, b, c = run(0), run(0), run(1)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not all(
        np.array_equal(x, y)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(c), strict=True)
    )


def test_train_step_matches_hand_written_adam_step():
    model, objective, schedule, state = _setup()
    params0 = jax.device_get(state.params)
    batch = _batch(3)

    def loss_fn(params):
        reconstruction = model.apply({"params": params}, batch["x"]).reconstruction
        return jnp.mean(jnp.square(reconstruction - batch["x"]))

    loss, grads = jax.value_and_grad(loss_fn)(params0)
    tx = optax.adam(1e-2)
    updates, _ = tx.update(grads, tx.init(params0), params0)
    expected = optax.apply_updates(params0, updates)

    new_state, metrics = make_train_step(model, objective, schedule, donate=False)(state, batch)
    np.testing.assert_allclose(metrics["loss"], loss, rtol=1e-6)
    np.testing.assert_allclose(metrics["grad_norm"], optax.tree.norm(grads), rtol=1e-5)
    np.testing.assert_allclose(metrics["learning_rate"], 1e-2, rtol=1e-6)
    for got, want in zip(
        jax.tree_util.tree_leaves(new_state.params), jax.tree_util.tree_leaves(expected), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_evaluate_counts_every_example_including_the_partial_batch():
    model, objective, _, state = _setup()
    x = np.random.default_rng(0).uniform(size=(37, 16)).astype(np.float32)
    metrics = evaluate(make_eval_step(model, objective), state, x, batch_size=16)
    reconstruction = np.asarray(model.apply({"params": state.params}, x).reconstruction)
    np.testing.assert_allclose(metrics["mse"], np.mean(np.square(reconstruction - x)), rtol=1e-5)
    np.testing.assert_allclose(metrics["reconstruction"], metrics["mse"], rtol=1e-6)


def test_warmup_cosine_schedule_endpoints():
    schedule = make_schedule("warmup_cosine", 1e-3, total_steps=100, warmup_steps=10, min_ratio=0.1)
    np.testing.assert_allclose(schedule(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(schedule(10), 1e-3, rtol=1e-6)
    np.testing.assert_allclose(schedule(100), 1e-4, rtol=1e-5)
    assert schedule(50) < 1e-3
    with pytest.raises(ValueError, match="warmup_cosine"):
        make_schedule("linear_decay", 1e-3, 10)


def test_gradient_clipping_bounds_the_update():
    params = {"w": jnp.ones((10,))}
    grads = {"w": jnp.full((10,), 100.0)}
    tx = make_optimizer("sgd", optax.constant_schedule(1.0), grad_clip_norm=0.5)
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(optax.tree.norm(updates), 0.5, rtol=1e-5)


def test_optimizer_settings_are_checked():
    with pytest.raises(ValueError, match="adamw"):
        make_optimizer("adam", optax.constant_schedule(1e-3), weight_decay=1e-4)
    with pytest.raises(ValueError, match="valid names"):
        make_optimizer("adagrad2", optax.constant_schedule(1e-3))
    with pytest.raises(ValueError, match="larger than the training split"):
        TrainSpec(batch_size=64).steps_per_epoch(10)


def test_log_norms_off_drops_only_the_norm_metrics():
    model, objective, schedule, state = _setup()
    on = make_train_step(model, objective, schedule, donate=False)
    off = make_train_step(model, objective, schedule, donate=False, log_norms=False)
    state_on, metrics_on = on(state, _batch(0))
    state_off, metrics_off = off(state, _batch(0))
    assert set(metrics_on) - set(metrics_off) == {"grad_norm", "param_norm"}
    for a, b in zip(
        jax.tree_util.tree_leaves(state_on.params), jax.tree_util.tree_leaves(state_off.params), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def _weight_copies(monkeypatch, enabled: bool):
    """(f32 matrix copies in the compiled step, params after 3 steps) with region analysis on or off."""
    from aejax.training.compiler import ENV

    monkeypatch.setenv(ENV, "1" if enabled else "0")
    model = build_model(ModelSpec(latent_dim=4, hidden=(32, 16)), (16,))
    schedule = optax.constant_schedule(1e-2)
    state = create_train_state(model, optax.adam(schedule), (16,), 0)
    step = make_train_step(model, Objective("mse"), schedule, log_norms=False)
    batch = {"x": jnp.asarray(np.random.default_rng(0).uniform(size=(8, 16)), jnp.float32)}
    hlo = step.lower(state, batch).compile().as_text()
    entry = hlo[hlo.index("ENTRY") :]
    copies = [
        line
        for line in entry.splitlines()
        if " copy(" in line and "= f32[" in line and "," in line.split("=")[1].split("{")[0]
    ]
    for _ in range(3):
        state, _ = step(state, batch)
    return copies, jax.device_get(state.params)


def test_cpu_region_analysis_drops_the_weight_copies_and_keeps_the_bits(monkeypatch):
    """With `xla_cpu_copy_insertion_use_region_analysis` (aejax's default on CPU) the compiled step copies no
    weight matrix before updating it in place; XLA's default copy insertion copies those the backward pass
    reads. The parameters after three steps are bit-identical either way."""
    default_copies, default_params = _weight_copies(monkeypatch, enabled=False)
    copies, params = _weight_copies(monkeypatch, enabled=True)
    assert default_copies, (
        "XLA's default copy insertion no longer copies the weights: revisit aejax.training.compiler"
    )
    assert copies == []
    chex.assert_trees_all_equal(params, default_params)


def test_train_step_runs_inside_a_users_own_jit():
    """JAX refuses compiler options on nested jits: inside another trace the step runs as a plain nested jit
    (traced arguments, or concrete ones closed over), with the same result as at the top level."""
    model, objective, schedule, state = _setup()
    step = make_train_step(model, objective, schedule, donate=False)
    batch = {"x": jnp.asarray(np.random.default_rng(0).uniform(size=(4, 16)), jnp.float32)}
    top, _ = step(state, batch)
    nested, _ = jax.jit(step)(state, batch)
    closed, _ = jax.jit(lambda: step(state, batch))()
    chex.assert_trees_all_close(nested.params, top.params, rtol=1e-6)
    chex.assert_trees_all_close(closed.params, top.params, rtol=1e-6)
