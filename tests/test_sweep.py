"""Vmapped sweeps: members trained in one program end as their separate runs do."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import aejax
from aejax.sweep import sweep_members
from aejax.training import MetricsLog, NonFiniteLossError


def _config():
    config = aejax.load_default()
    config.train.epochs = 2
    config.train.batch_size = 64
    config.train.progress = False
    config.model.hidden = (32,)
    config.model.dropout = 0.1
    config.model.code_activation = "sigmoid"
    config.loss.regularizers = {"sparse": {"fn": "kl_sparsity", "weight": 0.1, "rho": 0.05}}
    config.eval.plots = False
    config.eval.jacobian_examples = 0
    return config


def test_sweep_members_equal_separate_runs(tmp_path):
    values = {
        "seed": [0, 1],
        "train.learning_rate": [1e-3, 3e-3],
        "loss.regularizers.sparse.weight": [0.1, 0.5],
    }
    members = aejax.sweep(_config(), values, workdir=tmp_path)
    assert len(members) == 8
    for index in (0, 3, 6):  # a few members against their own fit
        config = members[index].config
        separate = aejax.fit(config)
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6),
            members[index].params,
            separate.params,
        )
        assert members[index].results["test"]["mse"] == pytest.approx(
            separate.results["test"]["mse"], rel=1e-3
        )
    loaded = aejax.load(tmp_path / "member_3")
    assert loaded.config.seed == members[3].config.seed
    np.testing.assert_array_equal(
        jax.tree.leaves(loaded.params)[0], np.asarray(jax.tree.leaves(members[3].params)[0])
    )


def test_sweep_members_microbatch_as_their_separate_runs_do():
    config = _config()
    config.train.epochs = 1
    config.train.microbatch_size = 16
    config.loss.regularizers = {"l1": {"fn": "code_l1", "weight": 0.1}}
    members = aejax.sweep(config, {"seed": [0, 1]})
    separate = aejax.fit(members[1].config)
    whole = config.copy_and_resolve_references()
    whole.train.microbatch_size = 64
    whole.seed = members[1].config.seed
    assert members[1].results["microbatch_size"] == separate.results["microbatch_size"] == 16
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6),
        members[1].params,
        separate.params,
    )
    differs = jax.tree.map(  # slicing changes the dropout draws: the sweep did microbatch
        lambda a, b: not np.allclose(a, b, rtol=2e-4, atol=1e-6), members[1].params, aejax.fit(whole).params
    )
    assert any(jax.tree.leaves(differs))


def test_sweep_rejects_keys_that_change_the_program():
    with pytest.raises(ValueError, match="cannot vary inside one compiled program"):
        sweep_members(_config(), {"model.latent_dim": [4, 8]})
    with pytest.raises(ValueError, match="no regularizer labelled"):
        sweep_members(_config(), {"loss.regularizers.l1.weight": [0.1]})
    with pytest.raises(ValueError, match="non-empty list"):
        sweep_members(_config(), {"seed": []})
    assert [m.seed for m in sweep_members(_config(), {"seed": [3, 4]})] == [3, 4]


def _leaves_equal(a, b):
    jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)), a, b)


def test_config_sweep_key_trains_the_grid_from_the_command_line(tmp_path, capsys):
    from aejax import cli

    argv = ["train", "--config", "default", "--workdir", str(tmp_path / "cli")]
    argv += ["--config.train.epochs=1", "--config.train.batch_size=64", "--config.train.progress=False"]
    argv += ["--config.model.hidden=(16,)", "--config.eval.plots=False", "--config.eval.jacobian_examples=0"]
    argv += ["--config.sweep.seed=[0,1]", "--config.sweep.train.learning_rate=[0.001,0.003]"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "sweep of 4 members" in out and "member_3: seed=1, train.learning_rate=0.003" in out
    config = aejax.load_default()
    config.train.epochs, config.train.batch_size, config.train.progress = 1, 64, False
    config.model.hidden, config.eval.plots, config.eval.jacobian_examples = (16,), False, 0
    direct = aejax.sweep(config, {"seed": [0, 1], "train.learning_rate": [0.001, 0.003]})
    loaded = aejax.load(tmp_path / "cli" / "member_3")
    assert loaded.config.seed == 1 and loaded.config.train.learning_rate == 0.003
    assert not aejax.config.sweep_values(loaded.config)  # a member is a single run
    _leaves_equal(loaded.params, direct[3].params)
    with pytest.raises(ValueError, match="holds a sweep"):  # a single run does not mix into a sweep's workdir
        aejax.fit(config, workdir=tmp_path / "cli")
    config.sweep.seed = [0, 1]
    with pytest.raises(ValueError, match=r"config\.sweep is set"):
        aejax.fit(config)


def test_interrupted_sweep_resumes_to_the_same_bits(tmp_path, monkeypatch):
    values = {"seed": [0, 1], "loss.regularizers.sparse.weight": [0.1, 0.5]}
    config = _config()
    config.train.epochs = 3
    config.checkpoint.every_epochs = 1  # the epoch-two checkpoint to resume from
    whole = aejax.sweep(config, values, workdir=tmp_path / "whole")
    steps_per_epoch = whole[0].results["steps"] // 3
    original = MetricsLog.append

    def crash_in_epoch_three(self, record):
        if record["step"] == 3 * steps_per_epoch:
            raise KeyboardInterrupt("killed")
        original(self, record)

    monkeypatch.setattr(MetricsLog, "append", crash_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        aejax.sweep(config, values, workdir=tmp_path / "resumed")
    monkeypatch.setattr(MetricsLog, "append", original)
    resumed = aejax.sweep(config, values, workdir=tmp_path / "resumed")
    assert resumed[0].results["resumed_from"] == 2 * steps_per_epoch
    for a, b in zip(whole, resumed, strict=True):
        _leaves_equal(a.params, b.params)
        _leaves_equal(a.state.opt_state, b.state.opt_state)
    records = MetricsLog(tmp_path / "resumed" / "member_2" / "metrics.jsonl").read()
    assert records == MetricsLog(tmp_path / "whole" / "member_2" / "metrics.jsonl").read()
    assert [r["step"] for r in records if r["split"] == "val"] == [steps_per_epoch * e for e in (1, 2, 3)]
    with pytest.raises(ValueError, match="holds a different sweep"):
        aejax.sweep(config, {"seed": [0, 2]}, workdir=tmp_path / "resumed")


def _early_stopping_config():
    config = _config()
    config.train.epochs = 10
    config.train.early_stopping_patience = 1
    config.train.early_stopping_min_delta = 0.002
    return config


def test_sweep_members_stop_early_as_their_separate_runs_do(tmp_path):
    """Members stop at different epochs (the stopped ones keep their state while the others train on) and
    end, validation records included, as their own fits with early stopping do."""
    members = aejax.sweep(
        _early_stopping_config(), {"train.learning_rate": [3e-3, 1e-2, 3e-2]}, workdir=tmp_path
    )
    steps = [member.results["steps"] for member in members]
    assert len(set(steps)) == 3 and max(steps) < members[0].results["total_steps"], steps
    for i, member in enumerate(members):
        separate = aejax.fit(member.config, workdir=tmp_path / f"fit_{i}")
        for key in ("steps", "stopped_early", "best_epoch"):
            assert member.results[key] == separate.results[key], key
        assert member.results["stopped_early"]
        assert member.results["best_val_reconstruction"] == pytest.approx(
            separate.results["best_val_reconstruction"], rel=1e-4
        )
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6),
            member.params,
            separate.params,
        )
        swept = MetricsLog(tmp_path / f"member_{i}" / "metrics.jsonl").read()
        alone = MetricsLog(tmp_path / f"fit_{i}" / "metrics.jsonl").read()
        assert [(r["split"], r["step"], sorted(r)) for r in swept] == [
            (r["split"], r["step"], sorted(r)) for r in alone
        ]
        for a, b in zip(swept, alone, strict=True):
            assert a["reconstruction"] == pytest.approx(b["reconstruction"], rel=1e-4)
        assert [r["step"] for r in swept if r["split"] == "val"][-1] == member.results["steps"]


def test_sweep_with_stopped_members_resumes_to_the_same_bits(tmp_path, monkeypatch):
    """Killed after two members stopped: the resumed sweep keeps them stopped and ends as an uninterrupted one."""
    config, values = _early_stopping_config(), {"train.learning_rate": [3e-3, 1e-2, 3e-2]}
    whole = aejax.sweep(config, values, workdir=tmp_path / "whole")
    steps_per_epoch = whole[0].results["steps_per_epoch"]
    kill_at = sorted(member.results["steps"] for member in whole)[1] + steps_per_epoch
    original = MetricsLog.append

    def crash(self, record):
        if record["step"] == kill_at:
            raise KeyboardInterrupt("killed")
        original(self, record)

    monkeypatch.setattr(MetricsLog, "append", crash)
    with pytest.raises(KeyboardInterrupt):
        aejax.sweep(config, values, workdir=tmp_path / "resumed")
    monkeypatch.setattr(MetricsLog, "append", original)
    resumed = aejax.sweep(config, values, workdir=tmp_path / "resumed")
    assert resumed[0].results["resumed_from"] == kill_at - steps_per_epoch
    for a, b in zip(whole, resumed, strict=True):
        assert a.results["steps"] == b.results["steps"] and b.results["stopped_early"]
        _leaves_equal(jax.tree.leaves(a.state), jax.tree.leaves(b.state))  # step, params, opt_state, rng
        assert (
            MetricsLog(b.workdir / "metrics.jsonl").read() == MetricsLog(a.workdir / "metrics.jsonl").read()
        )


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_sweep_names_the_member_whose_loss_is_not_finite():
    config = _config()
    config.train.epochs = 1
    with pytest.raises(NonFiniteLossError, match=r"step \d+ \(epoch 0\) for sweep members \[1\]"):
        aejax.sweep(config, {"train.learning_rate": [1e-3, 1e38]})  # member 1's updates overflow
