"""Scan-fused training (train.steps_per_dispatch = K): K steps per dispatch, bit-identical to the plain loop."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import aejax
from aejax.training import MetricsLog


def _config(k: int):
    config = aejax.load_default()
    config.train.epochs = 2
    config.train.batch_size = 64
    config.train.log_every_steps = 3  # events inside some chunks: the loop falls back to single steps there
    config.train.steps_per_dispatch = k
    config.train.progress = False
    config.model.hidden = (32,)
    config.model.dropout = 0.1  # the step's random draws must line up too
    config.eval.plots = False
    config.eval.jacobian_examples = 0
    return config


def test_fused_steps_are_bit_identical_to_single_steps(tmp_path):
    plain = aejax.fit(_config(1), workdir=tmp_path / "plain")
    fused = aejax.fit(_config(4), workdir=tmp_path / "fused")
    assert fused.step == plain.step
    jax.tree.map(
        lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), fused.params, plain.params
    )
    plain_log = [r for r in MetricsLog(tmp_path / "plain" / "metrics.jsonl").read() if r["split"] == "train"]
    fused_log = [r for r in MetricsLog(tmp_path / "fused" / "metrics.jsonl").read() if r["split"] == "train"]
    assert [r["step"] for r in fused_log] == [r["step"] for r in plain_log]
    assert [r["loss"] for r in fused_log] == [r["loss"] for r in plain_log]


def test_fused_steps_need_the_single_device_plain_step():
    config = _config(4)
    config.train.backend = "pmap"
    with pytest.raises(ValueError, match="steps_per_dispatch"):
        aejax.fit(config)


def test_indexed_step_is_the_plain_step_on_the_gathered_rows():
    """fit's single-device loop gathers the batch inside the step; same bits as the step on x[idx]."""
    import jax.numpy as jnp
    import optax

    from aejax.families import build_model
    from aejax.models import ModelSpec
    from aejax.objectives import Objective
    from aejax.training import create_train_state, make_train_step
    from aejax.training.steps import make_indexed_train_step

    model = build_model(ModelSpec(latent_dim=4, hidden=(16,), dropout=0.1), (12,))
    objective, schedule = Objective("mse"), optax.constant_schedule(1e-2)
    data = jnp.asarray(np.random.default_rng(0).uniform(size=(40, 12)), jnp.float32)
    idx = jnp.asarray(np.random.default_rng(1).permutation(40)[:16])
    plain = make_train_step(model, objective, schedule, donate=False)
    indexed = make_indexed_train_step(model, objective, schedule, donate=False)
    a = b = create_train_state(model, optax.adam(schedule), (12,), seed=0)
    for _ in range(3):
        a, metrics_a = plain(a, {"x": data[idx]})
        b, metrics_b = indexed(b, data, None, idx)
        assert float(metrics_a["loss"]) == float(metrics_b["loss"])
    jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)), a.params, b.params)


def test_auto_steps_per_dispatch_fuses_long_plain_runs(tmp_path, monkeypatch):
    from aejax.training import loop, specs

    long = specs.AUTO_FUSE_MIN_STEPS
    assert specs.auto_steps_per_dispatch(25, long, fusable=True) == 5  # chunks end where the loop logs
    assert specs.auto_steps_per_dispatch(100, long, fusable=True) == 10
    assert specs.auto_steps_per_dispatch(7, long, fusable=True) == 7
    # too short to repay a second compile
    assert specs.auto_steps_per_dispatch(25, long - 1, fusable=True) == 1
    assert specs.auto_steps_per_dispatch(25, long, fusable=False) == 1  # family steps, several devices
    monkeypatch.setattr(specs, "AUTO_FUSE_MIN_STEPS", 500)  # a run of 500+ steps stands for a long one
    calls = []
    original = loop.make_fused_train_steps
    monkeypatch.setattr(loop, "make_fused_train_steps", lambda *a, **k: calls.append(1) or original(*a, **k))
    config = _config(0)  # the default: auto
    config.model.dropout = 0.0
    config.train.batch_size, config.train.epochs, config.train.log_every_steps = 16, 9, 20
    auto = aejax.fit(config, workdir=tmp_path / "auto")
    assert calls and auto.step >= specs.AUTO_FUSE_MIN_STEPS
    config.train.steps_per_dispatch = 1
    plain = aejax.fit(config)
    jax.tree.map(
        lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), auto.params, plain.params
    )
