"""End-to-end fit: it learns, writes its workdir, reloads, resumes, stops early, and guards against NaN."""

import json

import jax
import numpy as np
import pytest

import aejax
from aejax.data.batching import pad_rows, padded_batches
from aejax.training import CheckpointSpec, MetricsLog, NonFiniteLossError


@pytest.fixture
def blob_data(blobs):
    x_train, x_val, x_test = blobs
    return aejax.data.from_arrays(x_train, x_val, x_test)


def _leaves(tree):
    return jax.tree_util.tree_leaves(jax.device_get(tree))


def test_fit_learns_and_writes_workdir(tiny_config, blob_data, tmp_path):
    tiny_config.train.epochs = 30
    tiny_config.train.learning_rate = 3e-3
    tiny_config.eval.plots = True
    trained = aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    records = aejax.training.MetricsLog(tmp_path / "metrics.jsonl").read()
    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    assert len(val) == 30 and [r["epoch"] for r in val] == list(range(30))
    assert train[-1]["loss"] < 0.5 * train[0]["loss"]  # it learns
    assert [r["step"] for r in train] == sorted(r["step"] for r in train)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["steps"] == 30 * (256 // 32) and results["weights"] == "best"
    assert trained.step == results["weights_step"] == (256 // 32) * (results["best_epoch"] + 1)
    assert results["test"]["mse"] < results["test"]["pca_mse"] * 3  # sane scale next to the baseline
    for name in ("reconstructions.png", "loss_curves.png", "config.json", "run.json"):
        assert (tmp_path / name).stat().st_size > 0
    # Anomaly scores: not constant, and higher off the training distribution.
    scores = trained.score(blob_data.x_test)
    noise = np.random.default_rng(1).uniform(size=blob_data.x_test.shape).astype(np.float32)
    assert np.std(scores) > 0
    assert np.median(trained.score(noise)) > np.median(scores)


def test_trained_handle_shapes_batching_and_reload(tiny_config, blob_data, tmp_path):
    trained = aejax.fit(tiny_config, data=blob_data, workdir=tmp_path / "run")
    x = blob_data.x_test
    trained.batch_size = 7  # exercise chunking with a padded last chunk
    z = trained.encode(x)
    assert z.shape == (64, 4)
    np.testing.assert_allclose(trained.decode(z), trained.reconstruct(x), rtol=1e-5, atol=1e-6)
    assert trained.score(x).shape == (64,)
    with pytest.raises(ValueError, match=r"expects \(batch, 16\), got \(3, 15\)"):
        trained.encode(np.zeros((3, 15), np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        trained.score(np.full((2, 16), np.nan, np.float32))

    loaded = aejax.load(tmp_path / "run")
    loaded.batch_size = 7
    assert loaded.step == trained.step
    for a, b in zip(_leaves(loaded.params), _leaves(trained.params), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.reconstruct(x), trained.reconstruct(x))

    trained.save(tmp_path / "exported")
    exported = aejax.load(tmp_path / "exported")
    exported.batch_size = 7
    np.testing.assert_array_equal(exported.encode(x), trained.encode(x))
    with pytest.raises(FileNotFoundError, match="not an aejax workdir"):
        aejax.load(tmp_path / "nowhere")


def test_fit_resumes_a_finished_run_without_training(tiny_config, blob_data, tmp_path):
    first = aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    again = aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    assert again.results["resumed_from"] == first.step == again.step
    assert (tmp_path / "metrics.jsonl").read_text().splitlines() == lines
    for a, b in zip(_leaves(first.params), _leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)
    # More epochs continue from the checkpoint.
    tiny_config.train.epochs = 3
    more = aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    assert more.step == 3 * (256 // 32) and more.results["resumed_from"] == first.step


def test_fit_refuses_a_workdir_of_another_model(tiny_config, blob_data, tmp_path):
    aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    tiny_config.model.latent_dim = 5
    with pytest.raises(ValueError, match=r"model\.latent_dim"):
        aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)


def test_early_stopping(tiny_config, blob_data):
    tiny_config.train.epochs = 50
    tiny_config.train.early_stopping_patience = 2
    tiny_config.train.early_stopping_min_delta = 10.0  # nothing counts as an improvement after epoch 0
    trained = aejax.fit(tiny_config, data=blob_data)
    assert trained.results["stopped_early"]
    assert trained.results["steps"] == 3 * (256 // 32)
    assert trained.results["best_epoch"] == 0 and trained.results["weights"] == "best"
    assert trained.step == 256 // 32  # the result is epoch 0's state


def test_early_stopping_needs_validation(tiny_config, blobs):
    tiny_config.train.early_stopping_patience = 2
    with pytest.raises(ValueError, match="validation split"):
        aejax.fit(tiny_config, data=aejax.data.from_arrays(blobs[0]))


def test_nan_guard_names_the_step_and_keeps_a_finite_checkpoint(tiny_config, blob_data, tmp_path):
    for key in ("activation", "output_activation", "code_activation"):
        tiny_config.model[key] = "identity"
    tiny_config.train.optimizer = "sgd"
    tiny_config.train.learning_rate = 30.0  # a linear AE with this step size diverges to inf, then NaN
    tiny_config.train.epochs = 50
    tiny_config.checkpoint.every_steps = 1
    with pytest.raises(
        NonFiniteLossError, match=r"at step \d+ \(epoch \d+\).*last good checkpoint is step \d+"
    ):
        aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    restored = aejax.load(tmp_path)
    assert restored.step > 0
    assert all(np.isfinite(leaf).all() for leaf in _leaves(restored.params))


def test_bernoulli_loss_needs_sigmoid_output(tiny_config, blob_data):
    tiny_config.loss.reconstruction = "bernoulli"
    trained = aejax.fit(tiny_config, data=blob_data)
    assert trained.results["test"]["reconstruction"] > 0
    tiny_config.model.output_activation = "identity"
    with pytest.raises(ValueError, match="output_activation='sigmoid'"):
        aejax.fit(tiny_config, data=blob_data)


def test_regularizers_are_reported_per_term(tiny_config, blob_data, tmp_path):
    tiny_config.loss.regularizers = {
        "code": {"fn": "code_l2", "weight": 1e-3},
        "weights": {"fn": "weight_l2", "weight": 1e-4},
    }
    aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    record = next(
        r for r in aejax.training.MetricsLog(tmp_path / "metrics.jsonl").read() if r["split"] == "train"
    )
    assert record["reg/code"] > 0 and record["reg/weights"] > 0
    expected = record["reconstruction"] + 1e-3 * record["reg/code"] + 1e-4 * record["reg/weights"]
    np.testing.assert_allclose(record["loss"], expected, rtol=1e-5)


def test_fit_on_default_digits_beats_pca(tiny_config):
    tiny_config.model.latent_dim = 12
    tiny_config.model.hidden = (128,)
    tiny_config.train.epochs = 40
    tiny_config.train.learning_rate = 3e-3
    trained = aejax.fit(tiny_config)
    assert trained.results["test"]["mse"] < trained.results["test"]["pca_mse"]


def test_workdir_records_in_memory_data_and_eval_explains(tiny_config, blob_data, tmp_path, capsys):
    from aejax import cli

    aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    assert aejax.load(tmp_path).config.data.source == "arrays"
    assert tiny_config.data.source == "digits"  # the caller's config is not mutated
    aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)  # resuming with the same call is accepted
    assert cli.main(["eval", "--workdir", str(tmp_path)]) == 2
    assert "in-memory arrays" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("train.log_every_steps", 0, "log_every_steps must be >= 1"),
        ("train.epochs", 0, "epochs must be >= 1"),
        ("train.grad_clip_norm", -1.0, "grad_clip_norm must be >= 0"),
        ("checkpoint.every_steps", -2, "every_steps must be >= 0"),
        ("model.dropout", 1.0, r"dropout must be in \[0, 1\)"),
    ],
)
def test_bad_settings_fail_before_training(tiny_config, blob_data, key, value, message):
    section, name = key.split(".")
    tiny_config[section][name] = value
    with pytest.raises(ValueError, match=message):
        aejax.fit(tiny_config, data=blob_data)


@pytest.mark.parametrize(
    ("cadence", "expected"),
    [
        ({"every_epochs": 1, "every_seconds": 0.0}, lambda spe, end, log: list(range(spe, end + 1, spe))),
        ({"every_epochs": 2, "every_seconds": 0.0}, lambda spe, end, log: [2 * spe, end]),
        ({"every_steps": 3, "every_seconds": 0.0}, lambda spe, end, log: [*range(3, end + 1, 3), end]),
        # a time bound shorter than any step: a save at every logging point (log_every_steps, epoch ends)
        (
            {"every_seconds": 1e-9},
            lambda spe, end, log: sorted({*range(log, end + 1, log), *range(spe, end + 1, spe)}),
        ),
        ({}, lambda spe, end, log: [end]),  # the default bound (30 s) is longer than the run: only the end
    ],
)
def test_checkpoint_cadences_save_where_they_fall_due(tiny_config, blob_data, tmp_path, cadence, expected):
    tiny_config.train.epochs = 3
    tiny_config.checkpoint.max_to_keep = 100
    for key, value in cadence.items():
        tiny_config.checkpoint[key] = value
    trained = aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    spe, end = trained.results["steps_per_epoch"], trained.results["total_steps"]
    steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == sorted(set(expected(spe, end, tiny_config.train.log_every_steps)))
    timing = {key: trained.results[key] for key in ("startup_seconds", "train_seconds", "eval_seconds")}
    assert all(value >= 0 for value in timing.values()) and trained.results["checkpoint_seconds"] >= 0
    assert trained.results["checkpoint_seconds"] <= timing["train_seconds"]
    assert sum(timing.values()) <= trained.results["session_seconds"] + 1e-3


def test_checkpoint_spec_refuses_negative_cadences_and_reads_epoch_ends():
    spec = CheckpointSpec(every_steps=0, every_epochs=2)
    assert [s for s in range(1, 41) if spec.due_at(s, 10)] == [20, 40]
    assert [s for s in range(1, 13) if CheckpointSpec(every_steps=4).due_at(s, 10)] == [4, 8, 12]
    for key in ("every_steps", "every_epochs", "every_seconds"):
        with pytest.raises(ValueError, match=f"checkpoint.{key} must be >= 0"):
            CheckpointSpec(**{key: -1})


def test_a_run_killed_before_its_first_checkpoint_restarts_with_a_clean_log(
    tiny_config, blob_data, tmp_path, monkeypatch
):
    """The default policy saves at the end (the run is shorter than checkpoint.every_seconds): a run killed
    after logging some records starts again from step 0, and its log holds each record once."""
    original = MetricsLog.append

    def crash(self, record):
        if record["split"] == "val":
            raise KeyboardInterrupt("killed")
        original(self, record)

    monkeypatch.setattr(MetricsLog, "append", crash)
    with pytest.raises(KeyboardInterrupt):
        aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    monkeypatch.setattr(MetricsLog, "append", original)
    assert MetricsLog(tmp_path / "metrics.jsonl").read() and not (tmp_path / "checkpoints" / "0").exists()
    trained = aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    assert trained.results["resumed_from"] is None
    records = [(r["split"], r["step"]) for r in MetricsLog(tmp_path / "metrics.jsonl").read()]
    fresh = aejax.fit(tiny_config, data=blob_data, workdir=tmp_path / "fresh")
    assert records == [
        (r["split"], r["step"]) for r in MetricsLog(tmp_path / "fresh" / "metrics.jsonl").read()
    ]
    assert fresh.results["checkpoint_seconds"] >= 0 and sorted(
        int(p.name) for p in (tmp_path / "fresh" / "checkpoints").iterdir() if p.name.isdigit()
    ) == [fresh.results["steps"]]


@pytest.mark.parametrize("log_norms", [True, False])
def test_nan_guard_catches_non_finite_parameters_behind_a_finite_loss(
    tiny_config, blob_data, tmp_path, monkeypatch, log_norms
):
    """An inf gradient at a save step leaves the loss finite but the params not; nothing bad is saved. With
    train.log_norms the guard reads the step's param_norm (the norm of its new parameters, which the poisoned
    step reports as such), without it the guard checks the parameters on the device."""
    import optax

    import aejax.training.loop as loop

    def poisoned(factory):
        def make(*args, **kwargs):
            step = factory(*args, **kwargs)

            def run(*step_args):
                new_state, metrics = step(*step_args)
                if int(new_state.step) == 7:
                    new_state = new_state.replace(params=jax.tree.map(lambda p: p * np.inf, new_state.params))
                    if "param_norm" in metrics:
                        metrics = {**metrics, "param_norm": optax.tree.norm(new_state.params)}
                return new_state, metrics

            return run

        return make

    for name in ("make_train_step", "make_indexed_train_step"):  # batch-taking and single-device steps
        monkeypatch.setattr(loop, name, poisoned(getattr(loop, name)))
    tiny_config.checkpoint.every_steps = 1
    tiny_config.train.log_norms = log_norms
    with pytest.raises(NonFiniteLossError, match=r"parameters became non-finite at or before step 6"):
        aejax.fit(tiny_config, data=blob_data, workdir=tmp_path)
    restored = aejax.load(tmp_path)
    assert restored.step == 6
    assert all(np.isfinite(leaf).all() for leaf in _leaves(restored.params))


def test_padded_batches_cover_every_row_once_in_fixed_size_batches():
    x = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    batches = list(padded_batches(x, 3))
    assert [(b.start, b.count) for b in batches] == [(0, 3), (3, 3), (6, 1)]
    assert all(b.rows.shape == (3, 3) and b.weight.dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(np.concatenate([b.rows[: b.count] for b in batches]), x)
    np.testing.assert_array_equal(batches[-1].weight, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(batches[-1].rows[1:], 0.0)
    rows, weight = pad_rows(x, 8)
    assert rows.shape == (8, 3) and weight.sum() == 7
    with pytest.raises(ValueError, match="pads up to 6 rows, got 7"):
        pad_rows(x, 6)
