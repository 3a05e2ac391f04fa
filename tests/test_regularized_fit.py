"""Regularized families end to end through aejax.fit: denoising, sparsity, contraction, and what results report."""

import json

import jax
import numpy as np
import pytest

import aejax
from aejax.diagnostics import code_statistics, psnr
from aejax.objectives import Corruption


@pytest.fixture
def digits_config(tiny_config):
    config = tiny_config
    config.model.hidden = (64,)
    config.model.latent_dim = 16
    config.train.epochs = 15
    config.train.learning_rate = 3e-3
    config.eval.compare_pca = False
    return config


def test_psnr_and_code_statistics_against_numpy():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(10, 7))
    y = x + rng.normal(scale=0.1, size=x.shape)
    assert psnr(x, y) == pytest.approx(10 * np.log10(1 / np.mean((x - y) ** 2)))
    assert psnr(x, x) == float("inf")
    with pytest.raises(ValueError, match="equal shapes"):
        psnr(x, y[:3])
    codes = np.array([[0.0, 0.5, -0.2], [0.05, 0.0, 0.0]])
    stats = code_statistics(codes, threshold=0.1)
    assert stats["code_mean_activation"] == pytest.approx(codes.mean())
    assert stats["code_active_fraction"] == pytest.approx(2 / 6)
    assert stats["code_dead_fraction"] == pytest.approx(1 / 3)


def test_denoising_autoencoder_beats_the_noisy_input(digits_config, tmp_path):
    digits_config.loss.corruption.kind = "gaussian"
    digits_config.loss.corruption.std = 0.3
    trained = aejax.fit(digits_config, workdir=tmp_path)
    test = json.loads((tmp_path / "results.json").read_text())["test"]
    assert test["psnr_reconstruction"] > test["psnr_noisy_input"] + 3.0, test
    # The same measurement through the handle, with an explicit corruption and another seed.
    x = aejax.get_dataset(digits_config).x_test
    other = trained.denoising(x, Corruption(kind="gaussian", std=0.3), seed=1)
    assert other["psnr_reconstruction"] > other["psnr_noisy_input"] + 3.0


def test_kl_sparsity_pulls_the_mean_activation_to_rho(digits_config):
    digits_config.model.code_activation = "sigmoid"
    plain = aejax.fit(digits_config)
    digits_config.loss.regularizers = {"sparse": {"fn": "kl_sparsity", "weight": 0.5, "rho": 0.1}}
    sparse = aejax.fit(digits_config)
    before = plain.results["test"]["code_mean_activation"]
    after = sparse.results["test"]["code_mean_activation"]
    assert abs(after - 0.1) < 0.2 * 0.1 < abs(before - 0.1), (before, after)
    assert sparse.results["test"]["code_active_fraction"] < plain.results["test"]["code_active_fraction"]


def test_kl_sparsity_needs_sigmoid_codes(digits_config):
    digits_config.loss.regularizers = {"sparse": {"fn": "kl_sparsity", "weight": 0.5}}
    with pytest.raises(ValueError, match="code_activation='sigmoid'"):
        aejax.fit(digits_config)


@pytest.mark.parametrize("fn", ["contractive", "contractive_hutchinson"])
def test_contractive_penalty_lowers_the_jacobian_norm(digits_config, fn):
    digits_config.model.code_activation = "sigmoid"
    plain = aejax.fit(digits_config)
    digits_config.loss.regularizers = {"cae": {"fn": fn, "weight": 0.05}}
    cae = aejax.fit(digits_config)
    before = plain.results["test"]["jacobian_frobenius_mean"]
    after = cae.results["test"]["jacobian_frobenius_mean"]
    assert after < 0.7 * before, (before, after)
    assert np.isfinite(cae.results["test"]["mse"])


def test_jacobian_norm_matches_autodiff_of_encode(digits_config):
    digits_config.train.epochs = 1
    trained = aejax.fit(digits_config)
    x = aejax.get_dataset(digits_config).x_test[:5]
    encode = lambda row: trained.model.apply({"params": trained.params}, row[None], method="encode")[0]
    expected = [np.linalg.norm(np.asarray(jax.jacfwd(encode)(row))) for row in x]
    np.testing.assert_allclose(trained.jacobian_norm(x), expected, rtol=1e-4)


def test_tied_and_untied_weights_train(digits_config):
    digits_config.model.tied_weights = True
    tied = aejax.fit(digits_config)
    assert "hidden" not in tied.params["decoder"]
    assert all(set(layer) == {"bias"} for layer in tied.params["decoder"].values())
    assert tied.results["test"]["mse"] < 0.05
