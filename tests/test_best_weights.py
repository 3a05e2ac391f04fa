"""Best weights (checkpoint.keep_best, on by default): with a validation split the run's result is the state
of its best validation epoch (what fit returns, aejax.load reads and results.json evaluates), while a resume
continues from the newest state."""

import json

import jax
import numpy as np
import pytest

import aejax
from aejax.training import MetricsLog

STEPS_PER_EPOCH = 256 // 32


@pytest.fixture
def stopping_config(tiny_config):
    """Early stopping after a best epoch in the middle of the run (a high constant learning rate: the
    validation loss stops improving by min_delta after a few epochs)."""
    tiny_config.train.epochs = 40
    tiny_config.train.learning_rate = 2e-2
    tiny_config.train.early_stopping_patience = 3
    tiny_config.train.early_stopping_min_delta = 2e-3
    tiny_config.eval.compare_pca = False
    return tiny_config


def _params(trained):
    return jax.tree.leaves(jax.device_get(trained.state.params))


def _run(config, blobs, workdir=None):
    data = aejax.data.from_arrays(*blobs)
    return aejax.fit(config, data=data, workdir=workdir)


def test_load_evaluates_to_the_best_validation_value_and_last_gives_the_newest_state(
    stopping_config, blobs, tmp_path
):
    trained = _run(stopping_config, blobs, tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    best_epoch = results["best_epoch"]
    assert results["stopped_early"] and results["weights"] == "best"
    assert 0 < best_epoch < results["steps"] // STEPS_PER_EPOCH - 1  # a best epoch before the last one
    assert trained.step == results["weights_step"] == STEPS_PER_EPOCH * (best_epoch + 1)
    x_val = blobs[1]
    loaded = aejax.load(tmp_path)
    assert loaded.step == trained.step
    value = loaded.evaluate(x_val)["reconstruction"]
    assert value == results["best_val_reconstruction"] == results["val"]["reconstruction"]
    val = [r for r in MetricsLog(tmp_path / "metrics.jsonl").read() if r["split"] == "val"]
    # the best epoch's logged value (an improvement counts when it beats the best by min_delta, as in Keras)
    assert value == val[best_epoch]["reconstruction"]
    last = aejax.load(tmp_path, last=True)
    assert (
        last.step == results["steps"] and last.evaluate(x_val)["reconstruction"] == val[-1]["reconstruction"]
    )
    assert last.evaluate(x_val)["reconstruction"] != value


def test_best_weights_equal_a_run_that_ends_at_the_best_epoch(stopping_config, blobs):
    """A constant schedule: the run cut at the best epoch passes through the same states bit for bit."""
    longer = _run(stopping_config, blobs)
    stopping_config.train.epochs = longer.results["best_epoch"] + 1
    stopping_config.train.early_stopping_patience = 0
    shorter = _run(stopping_config, blobs)
    assert shorter.step == longer.step
    for a, b in zip(_params(longer), _params(shorter), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keep_best_off_keeps_the_last_state(stopping_config, blobs, tmp_path):
    stopping_config.checkpoint.keep_best = False
    trained = _run(stopping_config, blobs, tmp_path)
    assert trained.results["weights"] == "last" and trained.step == trained.results["steps"]
    assert not list((tmp_path / "checkpoints").glob("*/best"))  # nothing extra saved
    assert aejax.load(tmp_path).step == trained.step


def test_no_validation_split_keeps_the_last_state(tiny_config, blobs):
    trained = aejax.fit(tiny_config, data=aejax.data.from_arrays(blobs[0]))
    assert trained.results["weights"] == "last" and trained.step == trained.results["steps"]


def test_an_interrupted_run_resumes_from_the_newest_state_and_keeps_its_best(
    stopping_config, blobs, tmp_path, monkeypatch
):
    stopping_config.checkpoint.every_epochs = 1  # a checkpoint to resume from after the best epoch
    whole = _run(stopping_config, blobs, tmp_path / "whole")
    kill_at = whole.step + 2 * STEPS_PER_EPOCH  # after the best epoch, before the stop
    original = MetricsLog.append

    def crash(self, record):
        if record["step"] == kill_at and record["split"] == "val":
            raise KeyboardInterrupt("killed")
        original(self, record)

    monkeypatch.setattr(MetricsLog, "append", crash)
    with pytest.raises(KeyboardInterrupt):
        _run(stopping_config, blobs, tmp_path / "resumed")
    monkeypatch.setattr(MetricsLog, "append", original)
    resumed = _run(stopping_config, blobs, tmp_path / "resumed")
    assert 0 < resumed.results["resumed_from"] < whole.results["steps"]
    assert resumed.results["resumed_from"] > whole.step  # the newest state, past the best epoch
    assert resumed.step == whole.step and resumed.results["steps"] == whole.results["steps"]
    for a, b in zip(_params(resumed), _params(whole), strict=True):
        np.testing.assert_array_equal(a, b)
    newest = aejax.load(tmp_path / "resumed", last=True)
    for a, b in zip(_params(newest), _params(aejax.load(tmp_path / "whole", last=True)), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keep_best_turned_off_on_a_finished_run_makes_load_give_the_last_state(
    stopping_config, blobs, tmp_path
):
    first = _run(stopping_config, blobs, tmp_path)
    assert first.results["weights"] == "best" and first.step < first.results["steps"]
    stopping_config.checkpoint.keep_best = False  # a resumable change: the finished run is only re-evaluated
    again = _run(stopping_config, blobs, tmp_path)
    assert (
        again.results["weights"] == "last" and again.step == again.results["steps"] == first.results["steps"]
    )
    assert aejax.load(tmp_path).step == again.step


def test_fewer_epochs_on_resume_end_the_run_without_training(stopping_config, blobs, tmp_path):
    stopping_config.train.early_stopping_patience = 0
    stopping_config.train.epochs = 4
    first = _run(stopping_config, blobs, tmp_path)
    stopping_config.train.epochs = 2  # a resumable change; the run is already past it
    again = _run(stopping_config, blobs, tmp_path)
    assert again.results["steps"] == first.results["steps"] == 4 * STEPS_PER_EPOCH


def test_sweep_members_keep_their_own_best_weights_and_a_rerun_reads_them(stopping_config, blobs, tmp_path):
    members = aejax.sweep(
        stopping_config,
        {"train.learning_rate": [2e-2, 3e-3]},
        data=aejax.data.from_arrays(*blobs),
        workdir=tmp_path,
    )
    for i, member in enumerate(members):
        assert member.results["weights"] == "best"
        assert member.step == STEPS_PER_EPOCH * (member.results["best_epoch"] + 1)
        value = aejax.load(tmp_path / f"member_{i}").evaluate(blobs[1])["reconstruction"]
        assert value == member.results["best_val_reconstruction"]
    again = aejax.sweep(
        stopping_config,
        {"train.learning_rate": [2e-2, 3e-3]},
        data=aejax.data.from_arrays(*blobs),
        workdir=tmp_path,
    )
    assert [m.step for m in again] == [m.step for m in members]
