"""Adversarial autoencoder: each of the three updates moves only its own parameters, the discriminator learns,
the generator fools it, MMD against NumPy, prior statistics, an end-to-end run without recompiles, and exact
resume with the discriminator in the checkpoint."""

import dataclasses
import functools
import shutil

import jax
import numpy as np
import optax
import pytest
from conftest import REPO

import aejax
from aejax.families import build_model, get_family
from aejax.models import ModelSpec
from aejax.models.aae import AdversarialSpec, mixture_means, sample_prior
from aejax.objectives import Objective
from aejax.training import Checkpointer, CheckpointSpec, TrainSpec, create_train_state, run_training
from aejax.training.adversarial import (
    adversarial_evaluation,
    discriminate,
    gaussian_mmd2,
    generator_update,
    make_adversarial_train_step,
    median_bandwidth,
    prior_mmd,
)

D = 16


def _model(prior="gaussian", latent_dim=2, **settings):
    spec = AdversarialSpec(prior=prior, discriminator_hidden=(32, 32), **settings)
    return build_model(ModelSpec(latent_dim=latent_dim, hidden=(32,), family="aae"), (D,), adversarial=spec)


def _state(model, ae_learning_rate=1e-3, seed=0):
    return create_train_state(model, optax.adam(ae_learning_rate), (D,), seed, get_family("aae").init_extras)


def _step(model, **kwargs):
    return make_adversarial_train_step(model, Objective("mse"), optax.constant_schedule(1e-3), **kwargs)


def _batches(x, n, batch_size=32):
    return [{"x": x[(i * batch_size) % len(x) :][:batch_size]} for i in range(n)]


def _leaves(tree):
    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(jax.device_get(tree))]


def _moved(before, after) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(_leaves(before), _leaves(after), strict=True))


@pytest.mark.parametrize(
    "phase, moved",
    [
        ("reconstruction", {"encoder", "decoder"}),
        ("discriminator", {"discriminator"}),
        ("generator", {"encoder"}),
    ],
)
def test_each_update_moves_only_its_own_parameters(blobs, phase, moved):
    """One phase has a learning rate, the other two 0: only that phase's parameters may change."""
    model = _model(
        discriminator_learning_rate=1e-3 if phase == "discriminator" else 0.0,
        generator_learning_rate=1e-3 if phase == "generator" else 0.0,
    )
    state = _state(model, ae_learning_rate=1e-3 if phase == "reconstruction" else 0.0)
    step = _step(model, donate=False)
    new = state
    for batch in _batches(blobs[0], 3):
        new, metrics = step(new, batch)
    groups = {
        "encoder": (state.params["encoder"], new.params["encoder"]),
        "decoder": (state.params["decoder"], new.params["decoder"]),
        "discriminator": (state.extras["discriminator_params"], new.extras["discriminator_params"]),
    }
    assert {name for name, (a, b) in groups.items() if _moved(a, b)} == moved
    assert int(new.step) == 3
    for name in ("reconstruction", "loss", "disc_loss", "disc_accuracy", "generator_loss"):
        assert np.isfinite(metrics[name]), name


def test_discriminator_trained_alone_beats_chance(blobs):
    x_train, _, x_test = blobs
    model = _model(discriminator_learning_rate=3e-3, generator_learning_rate=0.0)
    state = _state(model, ae_learning_rate=0.0)
    codes = np.asarray(model.apply({"params": state.params}, x_test, method="encode"))
    before = adversarial_evaluation(model, state, codes, seed=1)["disc_accuracy"]
    step = _step(model, donate=False)
    for batch in _batches(x_train, 150):
        state, metrics = step(state, batch)
    after = adversarial_evaluation(model, state, codes, seed=1)  # held-out codes and fresh prior draws
    assert after["disc_accuracy"] > 0.85 and after["disc_accuracy"] > before + 0.2
    assert metrics["disc_accuracy"] > 0.85 and metrics["disc_loss"] < 0.5


def test_generator_update_fools_a_fixed_discriminator(blobs):
    """Encoder steps against a frozen discriminator lower the generator loss (the gradient points the right way)."""
    model = _model()
    state = _state(model)
    tx = optax.adam(1e-2)
    opt_state = tx.init(state.params["encoder"])
    x = blobs[0][:64]
    d_params = state.extras["discriminator_params"]
    update = jax.jit(
        lambda p, o: generator_update(model, tx, p, {}, d_params, o, x, jax.random.PRNGKey(0), 1.0)[:3]
    )
    params, losses = state.params, []
    for _ in range(30):
        params, opt_state, metrics = update(params, opt_state)
        losses.append(float(metrics["generator_loss"]))
    assert losses[-1] < 0.5 * losses[0]
    z = model.apply({"params": params}, x, method="encode")
    assert float(np.mean(np.asarray(discriminate(model, d_params, z)) > 0)) > 0.9


def _mmd2_reference(x, y, bandwidth):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * bandwidth**2))
    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_mmd_matches_numpy_reference_and_median_heuristic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = (rng.normal(size=(15, 3)) + 0.5).astype(np.float32)
    for bandwidth in (0.5, 1.3):
        np.testing.assert_allclose(
            gaussian_mmd2(x, y, bandwidth), _mmd2_reference(x, y, bandwidth), rtol=1e-5
        )
    distances = [np.sum((y[i] - y[j]) ** 2) for i in range(15) for j in range(i + 1, 15)]
    np.testing.assert_allclose(median_bandwidth(y), np.sqrt(0.5 * np.median(distances)), rtol=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_mmd2(x[:1], y, 1.0)


def test_mmd_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2, 500, 4)).astype(np.float32)
    assert abs(float(gaussian_mmd2(x, y, 2.0))) < 5e-3
    assert float(gaussian_mmd2(x + 1.0, y, 2.0)) > 0.1
    # Unbiased: the mean over many small same-distribution replicates is 0 (the V-statistic's would be > 0).
    pairs = rng.normal(size=(400, 2, 6, 2)).astype(np.float32)
    estimates = jax.vmap(lambda p: gaussian_mmd2(p[0], p[1], 1.0))(pairs)
    standard_error = float(np.std(estimates)) / np.sqrt(len(estimates))
    assert abs(float(np.mean(estimates))) < 3 * standard_error


def test_mixture_prior_has_the_stated_component_means_and_stds():
    spec = AdversarialSpec(prior="mixture", mixture_components=6, mixture_radius=3.0, mixture_std=0.3)
    means = mixture_means(spec, 4)
    angles = 2 * np.pi * np.arange(6) / 6
    np.testing.assert_allclose(means[:, :2], 3.0 * np.stack([np.cos(angles), np.sin(angles)], 1), atol=1e-6)
    np.testing.assert_array_equal(means[:, 2:], 0.0)
    z = np.asarray(sample_prior(spec, jax.random.PRNGKey(0), 60_000, 4))
    component = np.argmin(((z[:, None, :2] - means[None, :, :2]) ** 2).sum(-1), axis=1)  # 8.6 std apart
    np.testing.assert_allclose(np.bincount(component, minlength=6) / len(z), 1 / 6, atol=0.01)
    for k in range(6):
        members = z[component == k]
        np.testing.assert_allclose(members.mean(0), means[k], atol=0.05)
        np.testing.assert_allclose(members.std(0), [0.3, 0.3, 1.0, 1.0], rtol=0.04)
    gaussian = np.asarray(sample_prior(AdversarialSpec(), jax.random.PRNGKey(1), 60_000, 3))
    np.testing.assert_allclose(gaussian.mean(0), 0.0, atol=0.02)
    np.testing.assert_allclose(gaussian.std(0), 1.0, rtol=0.02)


def test_model_parameters_prior_sample_and_settings_are_checked():
    model = _model(prior="mixture", latent_dim=3)
    state = _state(model)
    assert set(state.params) == {"encoder", "decoder"}  # the discriminator lives in TrainState.extras
    assert set(state.extras) == {"discriminator_params", "discriminator_opt_state", "generator_opt_state"}
    samples = model.apply({"params": state.params}, jax.random.PRNGKey(0), 5, method="prior_sample")
    assert samples.shape == (5, 3)
    spec = ModelSpec(latent_dim=1, hidden=(8,), family="aae")
    assert build_model(spec, (D,)).adversarial == AdversarialSpec()  # no settings: the family's defaults
    with pytest.raises(ValueError, match="latent_dim must be >= 2"):
        build_model(spec, (D,), adversarial={"prior": "mixture"})
    with pytest.raises(ValueError, match="code_activation"):
        build_model(ModelSpec(family="aae", code_activation="sigmoid"), (D,), adversarial={})
    with pytest.raises(ValueError, match=r"unknown adversarial\.prior"):
        AdversarialSpec(prior="laplace")
    with pytest.raises(ValueError, match="codes of shape"):
        prior_mmd(model, np.zeros((10, 2), np.float32))
    config = aejax.load_default()
    config.model.family = "aae"  # a Trained asks its config's family what it can do
    handle = aejax.Trained(model, Objective("mse"), state, config, (D,), total_steps=0)
    assert handle.sample(4, seed=0).shape == (4, D)  # Trained.sample draws from the AAE's prior


def test_config_section_matches_the_spec():
    """Every `adversarial` config key is an AdversarialSpec field with the same default, and back."""
    section = aejax.load_default().adversarial.to_dict()
    fields = {f.name: f.default for f in dataclasses.fields(AdversarialSpec)}
    assert set(section) == set(fields)
    assert AdversarialSpec.from_mapping(section) == AdversarialSpec()
    config = aejax.get_config(str(REPO / "experiments" / "aae_mnist.py"))
    assert config.model.family == "aae" and AdversarialSpec.from_mapping(config.adversarial.to_dict())


def test_step_level_save_restore_then_continue_equals_uninterrupted(blobs, tmp_path):
    model = _model(prior="mixture")
    step = _step(model, donate=False)
    batches = _batches(blobs[0], 7)
    straight = _state(model)
    for batch in batches:
        straight, _ = step(straight, batch)

    first = _state(model)
    for batch in batches[:4]:
        first, _ = step(first, batch)
    with Checkpointer(tmp_path) as ckpt:
        ckpt.save(first, {})
        ckpt.wait()
        resumed, _ = ckpt.restore(_state(model, seed=5))  # another seed: every value must come from disk
    assert _leaves(resumed.extras) and not _moved(first.extras, resumed.extras)
    for batch in batches[4:]:
        resumed, _ = step(resumed, batch)
    assert not _moved(
        (straight.params, straight.opt_state, straight.extras, straight.rng),
        (resumed.params, resumed.opt_state, resumed.extras, resumed.rng),
    )


def _train(model, x_train, x_val, workdir, epochs=3, family=None):
    return run_training(
        model=model,
        objective=Objective("mse"),
        x_train=x_train,
        x_val=x_val,
        train=TrainSpec(epochs=epochs, batch_size=32, progress=False, log_every_steps=4),
        checkpoint=CheckpointSpec(every_steps=3, max_to_keep=20),
        seed=0,
        workdir=workdir,
        family=family or get_family("aae"),
    )


def test_run_training_end_to_end_without_recompiles_and_resumes_exactly(blobs, tmp_path):
    """3 epochs through the fit loop with a once-traced step; then drop the later checkpoints (as a kill would
    leave them) and resume: the result is bit-identical, discriminator and its optimizer included."""
    x_train, x_val, x_test = blobs
    model = _model()
    traced = functools.partial(make_adversarial_train_step, max_traces=1)
    family = dataclasses.replace(get_family("aae"), train_step=traced)  # the family's step, traced once
    result = _train(model, x_train, x_val, tmp_path / "run", family=family)
    assert result.total_steps == 24 and int(result.state.step) == 24
    train = [r for r in result.history if r["split"] == "train"]
    assert {"disc_loss", "disc_accuracy", "generator_loss", "reconstruction"} <= set(train[-1])
    assert train[-1]["reconstruction"] < train[0]["reconstruction"]
    codes = np.asarray(model.apply({"params": result.state.params}, x_test, method="encode"))
    report = adversarial_evaluation(model, result.state, codes)
    assert 0.0 <= report["disc_accuracy"] <= 1.0 and np.isfinite(report["prior_mmd2"])

    checkpoints = tmp_path / "run" / "checkpoints"
    for directory in checkpoints.iterdir():
        if directory.name.isdigit() and int(directory.name) > 10:
            shutil.rmtree(directory)
    resumed = _train(model, x_train, x_val, tmp_path / "run", family=family)
    assert resumed.resumed_from == 9
    final, again = result.state, resumed.state
    assert not _moved(
        (final.params, final.opt_state, final.extras), (again.params, again.opt_state, again.extras)
    )


def test_fit_load_and_pictures_through_the_public_api(tiny_config, blobs, tmp_path):
    import aejax

    tiny_config.model.family = "aae"
    tiny_config.model.latent_dim = 2
    tiny_config.train.epochs = 3
    tiny_config.eval.plots = True
    tiny_config.eval.compare_pca = False
    trained = aejax.fit(tiny_config, data=aejax.data.from_arrays(*blobs), workdir=tmp_path)
    test = trained.results["test"]
    assert {"prior_mmd2", "disc_accuracy", "disc_accuracy_real", "disc_accuracy_fake"} <= set(test), test
    assert test["prior_mmd2"] >= -0.05 and 0 <= test["disc_accuracy"] <= 1
    for name in ("samples.png", "interpolation.png", "latent_prior.png"):
        assert (tmp_path / name).is_file(), name
    loaded = aejax.load(tmp_path)
    np.testing.assert_array_equal(loaded.sample(5, seed=3), trained.sample(5, seed=3))
    leaves = lambda t: jax.tree_util.tree_leaves(jax.device_get(t.state.extras))
    for a, b in zip(leaves(trained), leaves(loaded), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
