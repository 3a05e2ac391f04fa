"""Variational autoencoders: KL closed form, likelihood units, IWAE bounds, free bits, warm-up, binarization,
log-likelihood estimation, sampling; stated in nats per example and checked against references."""

import math

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest
from scipy import stats

import aejax
from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.models.vae import (
    bernoulli_log_likelihood,
    diagonal_gaussian_log_density,
    gaussian_log_likelihood,
    kl_to_standard_normal,
)
from aejax.objectives import Forward, Objective
from aejax.objectives.objective import warmup_factor
from aejax.objectives.regularizers import kl_standard_normal


@pytest.fixture
def vae_config(tiny_config):
    config = tiny_config
    config.model.family = "vae"
    config.model.latent_dim = 4
    config.model.hidden = (64,)
    config.loss.reconstruction = "bernoulli"
    config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    config.train.epochs = 10
    config.train.learning_rate = 3e-3
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config


def test_kl_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=3), rng.normal(scale=0.5, size=3)
    closed = float(jnp.sum(kl_to_standard_normal(jnp.asarray(mean), jnp.asarray(log_var))))
    z = mean + np.exp(0.5 * log_var) * rng.normal(size=(400_000, 3))
    log_q = stats.norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(axis=1)
    log_p = stats.norm.logpdf(z).sum(axis=1)
    samples = log_q - log_p
    assert closed == pytest.approx(samples.mean(), abs=4 * samples.std() / math.sqrt(len(samples)))
    assert closed > 0


def test_densities_and_likelihoods_against_scipy():
    rng = np.random.default_rng(1)
    z, mean, log_var = rng.normal(size=(3, 5, 4))
    expected = stats.norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(axis=1)
    np.testing.assert_allclose(diagonal_gaussian_log_density(z, mean, log_var), expected, rtol=1e-5)
    x = rng.uniform(size=(5, 7)).round()
    logits = rng.normal(size=(5, 7))
    p = 1 / (1 + np.exp(-logits))
    expected = (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=1)
    np.testing.assert_allclose(
        bernoulli_log_likelihood(jnp.asarray(logits), jnp.asarray(x)), expected, rtol=1e-5
    )
    mu, log_scale = rng.normal(size=(5, 7)), rng.normal(scale=0.3, size=(7,))
    expected = stats.norm.logpdf(x, mu, np.exp(log_scale)).sum(axis=1)
    np.testing.assert_allclose(
        gaussian_log_likelihood(jnp.asarray(mu), jnp.asarray(log_scale), x), expected, rtol=1e-5
    )


def _forward(mean, log_variance):
    output = type("Output", (), {"mean": jnp.asarray(mean), "log_variance": jnp.asarray(log_variance)})()
    return Forward(x=None, x_input=None, output=output, params={}, rng=None, encode=None)


def test_kl_regularizer_units_and_free_bits():
    mean = np.array([[0.1, 2.0], [-0.1, 2.0]])
    log_var = np.zeros((2, 2))
    per_unit = 0.5 * mean**2  # log_var = 0
    assert float(kl_standard_normal(_forward(mean, log_var))) == pytest.approx(per_unit.sum(axis=1).mean())
    # Free bits: unit 0 (KL 0.005 nats) counts as 0.5, unit 1 (KL 2.0) as itself; the clamped unit gets no gradient.
    assert float(kl_standard_normal(_forward(mean, log_var), free_bits=0.5)) == pytest.approx(0.5 + 2.0)
    grad = jax.grad(lambda m: kl_standard_normal(_forward(m, log_var), free_bits=0.5))(jnp.asarray(mean))
    assert np.all(np.asarray(grad)[:, 0] == 0) and np.all(np.asarray(grad)[:, 1] != 0)
    jax.test_util.check_grads(
        lambda m: kl_standard_normal(_forward(m, log_var)), (jnp.asarray(mean),), 1, modes=("rev",)
    )


def test_warmup_factors():
    assert float(warmup_factor("none", 0, jnp.asarray(7))) == 1.0
    np.testing.assert_allclose(
        [float(warmup_factor("linear", 100, jnp.asarray(s))) for s in (0, 50, 100, 400)], [0, 0.5, 1, 1]
    )
    cyc = [float(warmup_factor("cyclical", 100, jnp.asarray(s))) for s in (0, 25, 50, 75, 100, 125)]
    np.testing.assert_allclose(cyc, [0, 0.5, 1, 1, 0, 0.5])
    with pytest.raises(ValueError, match="warmup_steps >= 1"):
        Objective(regularizers=(("kl", "kl_standard_normal", 1.0, (), ("linear", 0)),))


def _trained_vae(vae_config, **overrides):
    for key, value in overrides.items():
        section, name = key.split("__")
        setattr(getattr(vae_config, section), name, value)
    return aejax.fit(vae_config)


def test_vae_learns_with_kl_above_zero_and_active_units(vae_config):
    trained = _trained_vae(vae_config)
    test = trained.results["test"]
    assert test["kl"] > 0.5 and test["active_units"] >= 2, test
    assert test["elbo"] == pytest.approx(-(test["reconstruction"] + test["kl"]), rel=1e-5)
    x = aejax.get_dataset(vae_config).x_test
    samples = trained.sample(6, seed=1)
    assert samples.shape == (6, 64) and np.all((samples >= 0) & (samples <= 1))
    assert np.std(samples) > 0.01 and not np.allclose(samples, trained.sample(6, seed=2))
    line = trained.interpolate(x[:2], x[2:4], steps=5)
    assert line.shape == (2, 5, 64)
    np.testing.assert_allclose(line[:, 0], trained.decode(trained.encode(x[:2])), rtol=1e-5, atol=1e-6)
    assert trained.traverse(x[:1], dims=[0, 1], values=[-1.0, 0.0, 1.0]).shape == (2, 3, 64)


def test_elbo_below_iwae_bounds_which_increase_with_k(vae_config):
    trained = _trained_vae(vae_config)
    x = jnp.asarray(aejax.get_dataset(vae_config).x_test[:64].round())
    variables = {"params": trained.params}
    bounds = []
    for k in (1, 5, 50, 500):
        draws = []
        for seed in range(8):
            log_w = trained.model.apply(
                variables, x, k, method="log_weights", rngs={"latent": jax.random.PRNGKey(seed)}
            )
            draws.append(float(jnp.mean(jax.nn.logsumexp(log_w, axis=1) - math.log(k))))
        bounds.append(np.mean(draws))
    assert bounds == sorted(bounds) and bounds[-1] > bounds[0] + 0.1, bounds
    # The k=1 bound is the ELBO: its mean over many draws matches reconstruction + closed-form KL.
    elbo = -trained.evaluate(np.asarray(x))["negative_elbo"]
    assert bounds[0] == pytest.approx(elbo, abs=1.0)
    log_px = trained.log_likelihood(np.asarray(x), num_samples=1000, chunk=250)
    assert np.mean(log_px) >= bounds[-1] - 0.5


def test_log_likelihood_is_exact_when_the_decoder_ignores_z():
    """Zero decoder kernels make p(x|z) = p(x) for every z, and a zero encoder makes q(z|x) = N(0, I) = p(z),
    so every importance weight p(x|z) p(z) / q(z|x) equals the factorized p(x) exactly."""
    model = build_model(ModelSpec(family="vae", latent_dim=3, hidden=()), (6,), "bernoulli")
    params = model.init(
        {"params": jax.random.PRNGKey(0), "latent": jax.random.PRNGKey(1)}, jnp.zeros((1, 6))
    )["params"]
    params["decoder"]["output"]["kernel"] = jnp.zeros_like(params["decoder"]["output"]["kernel"])
    params["encoder"]["code"] = jax.tree_util.tree_map(jnp.zeros_like, params["encoder"]["code"])
    bias = jnp.asarray(np.linspace(-2, 2, 6), jnp.float32)
    params["decoder"]["output"]["bias"] = bias
    x = np.random.default_rng(0).uniform(size=(5, 6)).round().astype(np.float32)
    p = 1 / (1 + np.exp(-np.asarray(bias)))
    exact = (x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=1)
    config = aejax.load_default()
    config.model.family, config.model.latent_dim, config.model.hidden = "vae", 3, ()
    config.loss.reconstruction = "bernoulli"
    state = aejax.training.create_train_state(
        model, aejax.training.make_optimizer("sgd", lambda s: 0.1), (6,), 0
    )
    trained = aejax.Trained(
        model=model,
        objective=Objective("bernoulli"),
        state=state.replace(params=params),
        config=config,
        display_shape=(6,),
        total_steps=0,
    )
    np.testing.assert_allclose(trained.log_likelihood(x, num_samples=200, chunk=50), exact, rtol=1e-5)


def test_iwae_training_and_its_guards(vae_config):
    vae_config.loss.regularizers = {}
    vae_config.loss.iwae_samples = 5
    vae_config.train.epochs = 3
    trained = aejax.fit(vae_config)
    assert np.isfinite(trained.results["test"]["negative_elbo"])
    vae_config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    with pytest.raises(ValueError, match="already holds the KL term"):
        aejax.fit(vae_config)
    vae_config.loss.regularizers = {}
    vae_config.model.family = "autoencoder"
    with pytest.raises(ValueError, match="needs a variational model"):
        aejax.fit(vae_config)


def test_warmup_and_dynamic_binarization_in_training(vae_config, tmp_path):
    vae_config.loss.regularizers = {
        "kl": {
            "fn": "kl_standard_normal",
            "weight": 1.0,
            "warmup": "linear",
            "warmup_steps": 40,
            "free_bits": 0.1,
        }
    }
    vae_config.data.binarize = "dynamic"
    vae_config.train.epochs = 2
    vae_config.train.log_every_steps = 1
    aejax.fit(vae_config, workdir=tmp_path)
    records = [
        r for r in aejax.training.MetricsLog(tmp_path / "metrics.jsonl").read() if r["split"] == "train"
    ]
    weights = [r["weight/kl"] for r in records]
    assert (
        weights[0] == pytest.approx(0.0) and weights == sorted(weights) and weights[-1] == pytest.approx(1.0)
    )
    dataset = aejax.get_dataset(vae_config)
    assert set(np.unique(dataset.x_test).tolist()) <= {0.0, 1.0}  # a fixed sample for evaluation
    assert len(np.unique(dataset.x_train)) > 2  # grey: resampled every step
    np.testing.assert_array_equal(dataset.x_test, aejax.get_dataset(vae_config).x_test)


def test_gaussian_likelihoods_train(vae_config):
    vae_config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    vae_config.train.epochs = 3
    for likelihood in ("gaussian", "gaussian_learned"):
        vae_config.loss.reconstruction = likelihood
        vae_config.loss.gaussian_scale = 0.1
        trained = aejax.fit(vae_config)
        assert np.isfinite(trained.results["test"]["elbo"])
        if likelihood == "gaussian_learned":
            assert trained.params["log_scale"].shape == (64,)
    vae_config.loss.reconstruction = "mse"
    with pytest.raises(ValueError, match="likelihood"):
        aejax.fit(vae_config)


def test_plain_autoencoder_cannot_sample(tiny_config):
    tiny_config.train.epochs = 1
    trained = aejax.fit(tiny_config)
    with pytest.raises(ValueError, match="generative model"):
        trained.sample(4)


def test_vae_anomaly_score_is_the_negative_elbo(vae_config):
    vae_config.train.epochs = 2
    trained = aejax.fit(vae_config)
    x = aejax.get_dataset(vae_config).x_test[:37]
    scores = trained.score(x)
    assert scores.shape == (37,) and np.std(scores) > 0
    np.testing.assert_allclose(scores.mean(), trained.evaluate(x)["negative_elbo"], rtol=1e-5)


def test_imq_mmd_against_numpy_and_the_wae_penalty():
    from aejax.objectives.regularizers import imq_mmd, mmd_to_prior

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(loc=0.5, size=(5, 3))

    def k(a, b):
        return 2.0 / (2.0 + ((a[:, None] - b[None]) ** 2).sum(-1))

    kxx, kyy = k(x, x), k(y, y)
    expected = (kxx.sum() - np.trace(kxx)) / 30 + (kyy.sum() - np.trace(kyy)) / 20 - 2 * k(x, y).mean()
    assert float(imq_mmd(jnp.asarray(x), jnp.asarray(y), 2.0)) == pytest.approx(expected, rel=1e-5)

    # Codes drawn from the prior score ~0; codes far from it score clearly higher.
    def forward(code, seed):
        out = type("Output", (), {"code": jnp.asarray(code, jnp.float32)})()
        return Forward(x=None, x_input=None, output=out, params={}, rng=jax.random.PRNGKey(seed), encode=None)

    near = [float(mmd_to_prior(forward(rng.normal(size=(256, 4)), s))) for s in range(5)]
    far = float(mmd_to_prior(forward(rng.normal(loc=2.0, size=(256, 4)), 0)))
    assert abs(np.mean(near)) < 0.01 and far > 10 * max(abs(v) for v in near)


def test_wae_mmd_pulls_codes_to_the_prior(tiny_config):
    from aejax.objectives.regularizers import imq_mmd

    tiny_config.train.epochs = 10
    tiny_config.eval.compare_pca = False
    plain = aejax.fit(tiny_config)
    tiny_config.loss.regularizers = {"mmd": {"fn": "mmd_to_prior", "weight": 1.0}}
    wae = aejax.fit(tiny_config)
    x = aejax.get_dataset(tiny_config).x_test
    prior = np.random.default_rng(0).normal(size=(x.shape[0], 4)).astype(np.float32)
    mmd = {
        name: float(imq_mmd(jnp.asarray(t.encode(x)), jnp.asarray(prior), 8.0))
        for name, t in (("plain", plain), ("wae", wae))
    }
    assert mmd["wae"] < 0.5 * mmd["plain"], mmd
