"""Disentangling VAEs: beta-TCVAE's three terms against a NumPy reference, DIP-VAE's covariance penalty, the
annealed capacity, and FactorVAE's step (permutation, TC term, discriminator, equivalence to a VAE at gamma 0)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

import aejax
from aejax.objectives import Forward
from aejax.objectives.disentangling import (
    capacity_at,
    code_covariance,
    dimensionwise_kl,
    dip_covariance,
    kl_capacity,
    tc_mutual_information,
    total_correlation,
)
from aejax.training.factor_vae import permute_dims


def _forward(z, mean, log_variance, step=None):
    output = type(
        "Output",
        (),
        {"code": jnp.asarray(z), "mean": jnp.asarray(mean), "log_variance": jnp.asarray(log_variance)},
    )()
    return Forward(x=None, x_input=None, output=output, params={}, rng=None, encode=None, step=step)


def _posterior_batch(seed=0, m=16, k=3, correlated=False, log_var_mean=-2.0):
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=(m, k))
    if correlated:
        mean[:, 1] = mean[:, 0]
    log_var = rng.normal(scale=0.3, size=(m, k)) + log_var_mean
    z = mean + np.exp(0.5 * log_var) * rng.normal(size=(m, k))
    return z, mean, log_var


def _reference_terms(z, mean, log_var, n):
    """The MWS estimates with explicit loops (float64): (mutual information, TC, dimension-wise KL)."""
    m = z.shape[0]
    sd = np.exp(0.5 * log_var)
    log_qzx = np.array([stats.norm.logpdf(z[i], mean[i], sd[i]).sum() for i in range(m)])
    per_unit = np.array([[stats.norm.logpdf(z[i], mean[j], sd[j]) for j in range(m)] for i in range(m)])
    log_qz = special.logsumexp(per_unit.sum(axis=2), axis=1) - np.log(n * m)
    log_prod = (special.logsumexp(per_unit, axis=1) - np.log(n * m)).sum(axis=1)
    log_pz = stats.norm.logpdf(z).sum(axis=1)
    return np.mean(log_qzx - log_qz), np.mean(log_qz - log_prod), np.mean(log_prod - log_pz)


@pytest.mark.parametrize("dataset_size", [0, 1000])
def test_tc_terms_match_numpy_and_sum_to_the_kl_estimate(dataset_size):
    z, mean, log_var = _posterior_batch()
    forward = _forward(z, mean, log_var)
    n = dataset_size or z.shape[0]
    expected = _reference_terms(z, mean, log_var, n)
    got = [
        float(fn(forward, dataset_size=dataset_size))
        for fn in (tc_mutual_information, total_correlation, dimensionwise_kl)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    log_q = stats.norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(axis=1)
    assert sum(got) == pytest.approx(np.mean(log_q - stats.norm.logpdf(z).sum(axis=1)), abs=1e-3)


def test_dataset_size_shifts_tc_by_a_constant_and_leaves_gradients():
    z, mean, log_var = _posterior_batch(m=8, k=4)

    def tc(mean, n):
        return total_correlation(_forward(mean + 0.1 * jnp.asarray(z), mean, log_var), dataset_size=n)

    small, large = tc(jnp.asarray(mean), 100), tc(jnp.asarray(mean), 10_000)
    assert float(large - small) == pytest.approx(3 * np.log(100), rel=1e-4)  # (K - 1) log(N2 / N1)
    np.testing.assert_allclose(
        jax.grad(tc)(jnp.asarray(mean), 100), jax.grad(tc)(jnp.asarray(mean), 10_000), rtol=1e-4, atol=1e-5
    )


def test_total_correlation_sees_dependence_between_units():
    # unit 1's posterior means copy unit 0's: the aggregate posterior lies along a line
    for seed in (0, 1):
        batches = [_posterior_batch(seed, 256, correlated=c, log_var_mean=-1.0) for c in (False, True)]
        independent, dependent = (float(total_correlation(_forward(*b))) for b in batches)
        assert dependent > independent + 0.2


def test_dip_covariance_against_numpy():
    z, mean, log_var = _posterior_batch(m=32, k=3)
    forward = _forward(z, mean, log_var)
    cov_i = np.cov(mean, rowvar=False, bias=True)
    cov_ii = cov_i + np.diag(np.exp(log_var).mean(axis=0))
    np.testing.assert_allclose(code_covariance(forward, "i"), cov_i, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(code_covariance(forward, "ii"), cov_ii, rtol=1e-4, atol=1e-6)
    for kind, cov, ratio in (("i", cov_i, 10.0), ("ii", cov_ii, 1.0)):
        off = np.sum(cov**2) - np.sum(np.diag(cov) ** 2)
        expected = off + ratio * np.sum((np.diag(cov) - 1) ** 2)
        assert float(dip_covariance(forward, kind=kind)) == pytest.approx(expected, rel=1e-4)
    off_i = np.sum(cov_i**2) - np.sum(np.diag(cov_i) ** 2)
    assert float(dip_covariance(forward, kind="i", diagonal_weight=0.0)) == pytest.approx(off_i, rel=1e-4)
    assert float(dip_covariance(forward, kind="i", diagonal_weight=2.0)) == pytest.approx(
        np.sum(cov_i**2) - np.sum(np.diag(cov_i) ** 2) + 2.0 * np.sum((np.diag(cov_i) - 1) ** 2), rel=1e-4
    )


def test_dip_covariance_is_zero_for_whitened_means():
    rng = np.random.default_rng(3)
    mean = rng.normal(size=(50, 3))
    mean -= mean.mean(axis=0)
    mean = mean @ np.linalg.inv(np.linalg.cholesky(np.cov(mean, rowvar=False, bias=True))).T
    forward = _forward(mean, mean, np.full_like(mean, -30.0))
    assert float(dip_covariance(forward, kind="i")) == pytest.approx(0.0, abs=1e-6)
    assert float(dip_covariance(forward, kind="ii")) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="kind must be"):
        dip_covariance(forward, kind="iii")


def test_kl_capacity_follows_its_schedule():
    z, mean, log_var = _posterior_batch()
    kl = np.mean(np.sum(0.5 * (mean**2 + np.exp(log_var) - 1 - log_var), axis=1))
    assert float(capacity_at(50, 10.0, 100)) == pytest.approx(5.0)
    assert float(capacity_at(500, 10.0, 100)) == pytest.approx(10.0)
    for step, target in ((0, 0.0), (50, 5.0), (1000, 10.0), (None, 10.0)):
        value = kl_capacity(_forward(z, mean, log_var, step), max_capacity=10.0, capacity_steps=100)
        assert float(value) == pytest.approx(abs(kl - target), rel=1e-4)
    with pytest.raises(ValueError, match="capacity_steps"):
        kl_capacity(_forward(z, mean, log_var, 0), capacity_steps=0)


def test_disentangling_terms_refuse_deterministic_codes():
    output = type("Output", (), {"code": jnp.zeros((4, 2))})()
    forward = Forward(x=None, x_input=None, output=output, params={}, rng=None, encode=None)
    with pytest.raises(ValueError, match="variational model"):
        total_correlation(forward)


def test_permute_dims_keeps_marginals_and_breaks_the_joint():
    z = jnp.tile(jnp.arange(64.0)[:, None], (1, 3))  # three identical columns
    shuffled = np.asarray(permute_dims(z, jax.random.PRNGKey(0)))
    for j in range(3):
        np.testing.assert_array_equal(np.sort(shuffled[:, j]), np.arange(64.0))
    assert not np.array_equal(shuffled[:, 0], shuffled[:, 1])


@pytest.fixture
def factor_config(tiny_config):
    config = tiny_config
    config.model.family = "factorvae"
    config.model.latent_dim = 3
    config.model.hidden = (32,)
    config.model.output_activation = "sigmoid"
    config.model.factorvae.discriminator_hidden = (16, 16)
    config.loss.reconstruction = "bernoulli"
    config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config


def test_factor_vae_at_gamma_zero_trains_the_vae(factor_config):
    factor_config.model.factorvae.gamma = 0.0
    factor = aejax.fit(factor_config)
    vae_config = factor_config.copy_and_resolve_references()
    vae_config.model.family = "vae"
    vae = aejax.fit(vae_config)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), factor.params, vae.params
    )
    assert factor.results["test"]["negative_elbo"] == pytest.approx(
        vae.results["test"]["negative_elbo"], rel=1e-5
    )


def test_factor_vae_step_trains_the_discriminator_and_reloads_it(factor_config, tmp_path):
    factor_config.model.factorvae.gamma = 5.0
    factor_config.model.factorvae.discriminator_learning_rate = 1e-3
    factor_config.train.epochs = 3
    factor_config.checkpoint.every_epochs = 1
    trained = aejax.fit(factor_config, workdir=tmp_path / "run")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert any('"total_correlation"' in line and '"disc_accuracy"' in line for line in lines)
    extras = trained.state.extras
    assert set(extras) == {"discriminator_params", "discriminator_opt_state"}
    loaded = aejax.load(tmp_path / "run")
    jax.tree.map(
        np.testing.assert_array_equal,
        loaded.state.extras["discriminator_params"],
        extras["discriminator_params"],
    )
    assert loaded.sample(4).shape[0] == 4  # a FactorVAE is generative like the VAE


def test_factor_vae_settings_are_checked(factor_config):
    factor_config.model.factorvae.beta2 = 1.5
    with pytest.raises(ValueError, match="beta1, beta2"):
        aejax.fit(factor_config)


@pytest.mark.parametrize("family", ["aae", "factorvae"])
def test_discriminator_families_train_conv_models_with_batch_norm(tiny_config, family):
    config = tiny_config
    config.data.flatten = False
    config.model.family = family
    config.model.encoder = config.model.decoder = "conv"
    config.model.conv_features = (8,)
    config.model.norm = "batch"
    config.model.factorvae.discriminator_hidden = (16,)
    config.adversarial.discriminator_hidden = (16,)
    if family == "factorvae":
        config.loss.reconstruction = "bernoulli"
        config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    config.train.epochs = 1
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    trained = aejax.fit(config)
    assert "batch_stats" in trained.state.model_state
    assert np.isfinite(trained.results["test"]["mse"])
