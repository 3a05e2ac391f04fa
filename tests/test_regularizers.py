"""Regularizers, encoder Jacobians, corruptions, tied weights, weight decay and linear AE = PCA.

Every value is checked against a NumPy or closed-form reference, every regularizer's gradient against
finite differences (in float64) or its closed form.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

import aejax.config as config_lib
import aejax.objectives.jacobian as jacobian_module
from aejax.families import build_model
from aejax.models import AutoencoderOutput, ModelSpec
from aejax.objectives import (
    CORRUPTIONS,
    Corruption,
    Forward,
    Objective,
    bias_l1,
    bias_l2,
    code_l1,
    code_l2,
    contractive,
    contractive_hutchinson,
    gaussian_noise,
    kl_divergence_bernoulli,
    kl_sparsity,
    masking_noise,
    per_example_jacobian,
    salt_and_pepper,
    weight_l1,
    weight_l2,
)
from aejax.trained import objective_from_config
from aejax.training import create_train_state, make_optimizer, make_schedule, make_train_step


def _np_sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _forward(code=None, x=None, params=None, encode=None, x_input=None, rng=None, batch=4):
    """A Forward record with only the fields a test cares about filled in."""
    code = jnp.zeros((batch, 1), jnp.float32) if code is None else jnp.asarray(code)
    x = jnp.zeros((code.shape[0], 1), code.dtype) if x is None else jnp.asarray(x)
    output = AutoencoderOutput(reconstruction=x, code=code, logits=x)
    return Forward(
        x=x,
        x_input=x if x_input is None else jnp.asarray(x_input),
        output=output,
        params={} if params is None else params,
        rng=jax.random.PRNGKey(0) if rng is None else rng,
        encode=encode if encode is not None else (lambda inputs: inputs),
    )


def _signed_away_from_zero(rng, shape):
    """Random values with |v| in [0.1, 1]: L1 penalties are differentiable there."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 1.0, size=shape)


# ----------------------------------------------------------------------------- code_l1, code_l2


@pytest.mark.parametrize(
    ("fn", "reference"),
    [(code_l1, np.abs), (code_l2, np.square)],
    ids=["code_l1", "code_l2"],
)
def test_code_penalty_matches_numpy(fn, reference):
    rng = np.random.default_rng(0)
    code = rng.normal(size=(6, 5)).astype(np.float32)
    got = fn(_forward(code=code))
    want = np.mean(np.sum(reference(code.astype(np.float64)), axis=1))  # sum over units, mean over batch
    assert got.shape == ()
    np.testing.assert_allclose(float(got), want, rtol=1e-6)
    # Codes of any rank are flattened per example: (6, 5) and (6, 1, 5) give the same penalty.
    np.testing.assert_allclose(float(fn(_forward(code=code.reshape(6, 1, 5)))), want, rtol=1e-6)


@pytest.mark.parametrize(
    ("fn", "closed_form"),
    [(code_l1, lambda c: np.sign(c) / c.shape[0]), (code_l2, lambda c: 2 * c / c.shape[0])],
    ids=["code_l1", "code_l2"],
)
def test_code_penalty_gradient(fn, closed_form):
    code = _signed_away_from_zero(np.random.default_rng(1), (5, 4))
    grad = jax.grad(lambda c: fn(_forward(code=c)))(jnp.asarray(code, jnp.float32))
    np.testing.assert_allclose(np.asarray(grad), closed_form(code), rtol=1e-6, atol=1e-7)
    with jax.enable_x64(True):
        check_grads(
            lambda c: fn(_forward(code=c)), (jnp.asarray(code, jnp.float64),), order=1, modes=("rev",)
        )


# ----------------------------------------------------------------------------- kl_sparsity


def _np_kl(rho, rho_hat, eps=1e-6):
    rho_hat = np.clip(np.asarray(rho_hat, np.float64), eps, 1 - eps)
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def test_kl_divergence_bernoulli_matches_numpy():
    rho_hat = np.array([0.01, 0.05, 0.2, 0.5, 0.9, 0.999], np.float32)
    got = np.asarray(kl_divergence_bernoulli(0.05, jnp.asarray(rho_hat)))
    np.testing.assert_allclose(got, _np_kl(0.05, rho_hat), rtol=1e-5, atol=1e-7)
    assert got[1] == pytest.approx(0.0, abs=1e-7)  # KL(p || p) = 0
    assert np.all(got >= -1e-7)
    # Exactly 0 and 1 are clipped into [eps, 1 - eps]: finite, and the same as the clipped values.
    edge = np.asarray(kl_divergence_bernoulli(0.3, jnp.array([0.0, 1.0]), eps=1e-4))
    np.testing.assert_allclose(edge, _np_kl(0.3, [1e-4, 1 - 1e-4], eps=1e-4), rtol=1e-4)


def test_kl_sparsity_matches_numpy_on_sigmoid_codes():
    rng = np.random.default_rng(2)
    code = _np_sigmoid(rng.normal(scale=2.0, size=(8, 5))).astype(np.float32)
    got = kl_sparsity(_forward(code=code), rho=0.1)
    rho_hat = code.astype(np.float64).mean(axis=0)  # batch mean of each code unit
    want = np.sum(0.1 * np.log(0.1 / rho_hat) + 0.9 * np.log(0.9 / (1 - rho_hat)))
    assert got.shape == ()
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    # rho defaults to 0.05
    np.testing.assert_allclose(
        float(kl_sparsity(_forward(code=code))), np.sum(_np_kl(0.05, rho_hat)), rtol=1e-5
    )


def test_kl_sparsity_is_zero_with_zero_gradient_when_every_unit_fires_at_rho():
    # Each column has batch mean exactly 0.25.
    code = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], np.float32)
    code = jnp.asarray(0.5 * code + 0.5 * code[::-1])  # still mean 0.25 per unit, values in {0, .5}
    value, grad = jax.value_and_grad(lambda c: kl_sparsity(_forward(code=c), rho=0.25))(code)
    assert float(value) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(np.asarray(grad), 0.0, atol=1e-5)


def test_kl_sparsity_is_finite_for_codes_exactly_zero_or_one():
    code = jnp.array(
        [[0.0, 1.0, 0.0, 0.3], [0.0, 1.0, 1.0, 0.6], [0.0, 1.0, 1.0, 0.2], [0.0, 1.0, 0.0, 0.5]], jnp.float32
    )
    value, grad = jax.value_and_grad(lambda c: kl_sparsity(_forward(code=c), rho=0.05))(code)
    rho_hat = np.asarray(code, np.float64).mean(axis=0)
    assert np.isfinite(float(value))
    np.testing.assert_allclose(float(value), np.sum(_np_kl(0.05, rho_hat)), rtol=1e-3)
    assert np.all(np.isfinite(np.asarray(grad)))
    # The interior units (rho_hat = 0.5, 0.4) get the analytic gradient (1/B) (-rho/r + (1-rho)/(1-r)).
    for unit in (2, 3):
        r = rho_hat[unit]
        want = (-0.05 / r + 0.95 / (1 - r)) / 4
        np.testing.assert_allclose(np.asarray(grad)[:, unit], want, rtol=1e-5)


def test_kl_sparsity_gradient_matches_finite_differences():
    code = _np_sigmoid(np.random.default_rng(3).normal(size=(6, 4)))  # interior points
    with jax.enable_x64(True):
        f = lambda c: kl_sparsity(_forward(code=c), rho=0.2)
        check_grads(f, (jnp.asarray(code, jnp.float64),), order=1, modes=("rev",))


@pytest.mark.parametrize("rho", [0.0, 1.0, -0.1, 1.5])
def test_kl_sparsity_rejects_rho_outside_the_open_unit_interval(rho):
    with pytest.raises(ValueError, match=r"rho must be in \(0, 1\)"):
        kl_sparsity(_forward(code=np.full((2, 3), 0.5, np.float32)), rho=rho)


# ----------------------------------------------------------------------------- contractive penalties

D_IN, K_CODE, BATCH = 7, 4, 5


def _sigmoid_encoder(seed=0):
    """W (D, K), b (K,), x (B, D) of the one-layer encoder h = sigmoid(x W + b), in float64."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(D_IN, K_CODE)), rng.normal(size=K_CODE), rng.uniform(size=(BATCH, D_IN))


def _np_contractive_per_example(w, b, x):
    """||J(x_n)||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ij^2 for each example n."""
    h = _np_sigmoid(x @ w + b)
    return np.square(h * (1 - h)) @ np.sum(np.square(w), axis=0)


def _np_hutchinson_variance(w, b, x, distribution):
    """Variance of the one-projection estimate of mean_n ||J(x_n)||_F^2 (independent v per example)."""
    h = _np_sigmoid(x @ w + b)
    total = 0.0
    for s in h * (1 - h):
        a = w @ np.diag(s**2) @ w.T  # J^T J
        off_diagonal = np.sum(a**2) - np.sum(np.diag(a) ** 2)
        total += 2 * (off_diagonal if distribution == "rademacher" else np.sum(a**2))
    return total / x.shape[0] ** 2


def _contractive_forward(w, b, x, dtype=jnp.float32, rng=None, x_clean=None):
    w, b, x = (jnp.asarray(a, dtype) for a in (w, b, x))

    def encode(inputs):
        return jax.nn.sigmoid(inputs @ w + b)

    return _forward(code=encode(x), x=x if x_clean is None else x_clean, x_input=x, encode=encode, rng=rng)


def test_contractive_matches_closed_form_at_the_input_the_encoder_saw():
    w, b, x = _sigmoid_encoder()
    want = np.mean(_np_contractive_per_example(w, b, x))
    # forward.x is the clean target; the Jacobian must be taken at forward.x_input.
    forward = _contractive_forward(w, b, x, x_clean=jnp.zeros((BATCH, D_IN)))
    np.testing.assert_allclose(float(contractive(forward)), want, rtol=1e-5)
    assert abs(want - np.mean(_np_contractive_per_example(w, b, 0 * x))) > 1e-3 * want


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_contractive_hutchinson_with_many_projections_matches_exact(distribution):
    w, b, x = _sigmoid_encoder()
    exact = np.mean(_np_contractive_per_example(w, b, x))
    projections = 20000
    se = np.sqrt(_np_hutchinson_variance(w, b, x, distribution) / projections)
    forward = _contractive_forward(w, b, x, rng=jax.random.PRNGKey(7))
    got = float(contractive_hutchinson(forward, num_projections=projections, distribution=distribution))
    assert abs(got - exact) < 4 * se, (got, exact, se)
    assert 4 * se < 0.05 * exact  # the tolerance is tight enough to mean something


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_contractive_hutchinson_one_projection_is_unbiased_with_the_right_variance(distribution):
    w, b, x = _sigmoid_encoder(seed=1)
    exact = np.mean(_np_contractive_per_example(w, b, x))
    variance = _np_hutchinson_variance(w, b, x, distribution)
    forward = _contractive_forward(w, b, x)
    keys = jax.random.split(jax.random.PRNGKey(11), 20000)
    estimates = np.asarray(
        jax.jit(
            jax.vmap(lambda k: contractive_hutchinson(forward.replace(rng=k), distribution=distribution))
        )(keys),
        np.float64,
    )
    assert len(np.unique(estimates)) > 100  # the step's key drives the projections
    se = np.sqrt(variance / estimates.size)
    assert abs(estimates.mean() - exact) < 4 * se, (estimates.mean(), exact, se)
    # Rademacher (2 sum_{i!=j} A_ij^2) and Gaussian (2 ||A||_F^2) variances differ; the estimator has its own.
    np.testing.assert_allclose(estimates.var(), variance, rtol=0.15)


def test_contractive_hutchinson_rejects_bad_settings():
    forward = _contractive_forward(*_sigmoid_encoder())
    with pytest.raises(ValueError, match="num_projections must be >= 1"):
        contractive_hutchinson(forward, num_projections=0)
    with pytest.raises(ValueError, match="'rademacher' or 'gaussian'"):
        contractive_hutchinson(forward, distribution="uniform")


def test_contractive_gradient_matches_finite_differences():
    w, b, x = _sigmoid_encoder(seed=2)
    with jax.enable_x64(True):
        for fn, jit in (
            (contractive, jax.jit),
            (lambda f: contractive_hutchinson(f, num_projections=3), None),
        ):
            f = lambda w_, fn=fn: fn(_contractive_forward(w_, b, x, jnp.float64, jax.random.PRNGKey(3)))
            check_grads(jit(f) if jit else f, (jnp.asarray(w, jnp.float64),), order=1, modes=("rev",))


def _two_layer_encoder(d_in, hidden, code, seed):
    rng = np.random.default_rng(seed)
    w1, b1 = rng.normal(size=(d_in, hidden)), rng.normal(size=hidden)
    w2, b2 = rng.normal(size=(hidden, code)), rng.normal(size=code)

    def encode(inputs):
        flat = inputs.reshape(inputs.shape[0], -1)
        return jnp.tanh(flat @ w1.astype(np.float32) + b1.astype(np.float32)) @ w2.astype(np.float32) + b2

    def np_jacobian(x_one):  # d code / d x = W2^T diag(1 - t^2) W1^T
        t = np.tanh(x_one.reshape(-1) @ w1 + b1)
        return w2.T @ np.diag(1 - t**2) @ w1.T

    return encode, np_jacobian


@pytest.mark.parametrize(
    ("input_shape", "code", "mode"),
    [((3,), 5, "jacfwd"), ((2, 3), 2, "jacrev")],
    ids=["code>input:jacfwd", "code<input:jacrev"],
)
def test_per_example_jacobian_matches_jacfwd_and_closed_form(monkeypatch, input_shape, code, mode):
    d_in = int(np.prod(input_shape))
    encode, np_jacobian = _two_layer_encoder(d_in, 6, code, seed=4)
    x = np.random.default_rng(5).normal(size=(BATCH, *input_shape)).astype(np.float32)

    full = np.asarray(jax.jacfwd(encode)(jnp.asarray(x))).reshape(BATCH, code, BATCH, d_in)
    reference = np.stack([full[n, :, n, :] for n in range(BATCH)])

    calls = []
    for name in ("jacfwd", "jacrev"):
        original = getattr(jax, name)
        monkeypatch.setattr(
            jax, name, lambda f, *a, _o=original, _n=name, **k: calls.append(_n) or _o(f, *a, **k)
        )
    got = np.asarray(per_example_jacobian(encode, jnp.asarray(x)))
    monkeypatch.undo()

    assert calls == [mode]  # the cheaper mode for this shape
    assert got.shape == (BATCH, code, d_in)
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-6)
    want = np.stack([np_jacobian(x[n].astype(np.float64)) for n in range(BATCH)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(jacobian_module.jacobian_frobenius_sq(encode, jnp.asarray(x))),
        np.sum(want**2, axis=(1, 2)),
        rtol=1e-4,
    )


def _model_contractive_setup():
    model = build_model(ModelSpec(hidden=(), latent_dim=3, code_activation="sigmoid"), (6,))
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 6)))["params"]
    rng = np.random.default_rng(6)
    params["encoder"]["code"]["bias"] = jnp.asarray(rng.normal(size=3), jnp.float32)  # make the bias matter
    x = rng.uniform(size=(8, 6)).astype(np.float32)
    kernel = np.asarray(params["encoder"]["code"]["kernel"], np.float64)
    bias = np.asarray(params["encoder"]["code"]["bias"], np.float64)
    return model, params, x, np.mean(_np_contractive_per_example(kernel, bias, x.astype(np.float64)))


def test_contractive_through_a_real_model_encode_matches_closed_form():
    model, params, x, want = _model_contractive_setup()

    def encode(inputs):
        return model.apply({"params": params}, inputs, method="encode")

    output = model.apply({"params": params}, jnp.asarray(x))
    forward = Forward(
        x=jnp.asarray(x),
        x_input=jnp.asarray(x),
        output=output,
        params=params,
        rng=jax.random.PRNGKey(0),
        encode=encode,
    )
    np.testing.assert_allclose(float(jax.jit(contractive)(forward)), want, rtol=1e-5)


def test_contractive_in_a_jitted_train_step_matches_closed_form():
    model, params, x, want = _model_contractive_setup()
    schedule = make_schedule("constant", 1e-2, total_steps=1)
    state = create_train_state(model, make_optimizer("sgd", schedule), (6,), seed=0).replace(params=params)
    objective = Objective("mse", (("cae", "contractive", 0.1), ("hutch", "contractive_hutchinson", 0.0)))
    _, metrics = make_train_step(model, objective, schedule, donate=False)(state, {"x": jnp.asarray(x)})
    np.testing.assert_allclose(float(metrics["reg/cae"]), want, rtol=1e-5)
    np.testing.assert_allclose(
        float(metrics["loss"]), float(metrics["reconstruction"]) + 0.1 * want, rtol=1e-5
    )
    assert np.isfinite(float(metrics["reg/hutch"])) and float(metrics["reg/hutch"]) > 0


# ----------------------------------------------------------------------------- weight and bias penalties


def _randomized_params(spec, input_dim=6, seed=7):
    model = build_model(spec, (input_dim,))
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, input_dim)))["params"]
    rng = np.random.default_rng(seed)
    return model, jax.tree_util.tree_map(
        lambda p: jnp.asarray(_signed_away_from_zero(rng, p.shape), jnp.float32), params
    )


def _split_leaves(params):
    """{path: leaf} of dense kernels, dense (or tied) biases, and norm parameters, from the path names."""
    kernels, biases, norms = {}, {}, {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        keys = tuple(p.key for p in path)
        if keys[-2].startswith("norm_"):
            norms[keys] = leaf
        elif keys[-1] == "kernel":
            kernels[keys] = leaf
        else:
            assert keys[-1] == "bias", keys
            biases[keys] = leaf
    return kernels, biases, norms


PENALTIES = [
    (weight_l1, "kernel", np.abs, np.sign),
    (weight_l2, "kernel", np.square, lambda a: 2 * a),
    (bias_l1, "bias", np.abs, np.sign),
    (bias_l2, "bias", np.square, lambda a: 2 * a),
]
PENALTY_IDS = ["weight_l1", "weight_l2", "bias_l1", "bias_l2"]


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize(("fn", "which", "reference", "derivative"), PENALTIES, ids=PENALTY_IDS)
def test_weight_and_bias_penalties_match_numpy_and_skip_norm_params(tied, fn, which, reference, derivative):
    spec = ModelSpec(hidden=(8,), latent_dim=3, layer_norm=True, tied_weights=tied)
    _, params = _randomized_params(spec)
    kernels, biases, norms = _split_leaves(params)
    # The model has what must be left out (LayerNorm scale and bias, in encoder and decoder).
    assert {k[-1] for k in norms} == {"scale", "bias"} and {k[0] for k in norms} == {"encoder", "decoder"}
    if tied:  # kernels live in the encoder only; the decoder owns its biases and norm parameters
        assert {k[0] for k in kernels} == {"encoder"} and len(kernels) == 2
        assert ("decoder", "dense_0", "bias") in biases and ("decoder", "output", "bias") in biases
    else:
        assert len(kernels) == 4
    assert len(biases) == 4
    counted = kernels if which == "kernel" else biases

    value, grad = jax.value_and_grad(lambda p: fn(_forward(params=p)))(params)
    want = sum(np.sum(reference(np.asarray(a, np.float64))) for a in counted.values())
    everything = sum(
        np.sum(reference(np.asarray(a, np.float64))) for d in (kernels, biases, norms) for a in d.values()
    )
    assert everything > want + 1.0  # counting anything else would change the answer
    np.testing.assert_allclose(float(value), want, rtol=1e-5)

    for path, g in jax.tree_util.tree_leaves_with_path(grad):
        keys = tuple(p.key for p in path)
        expected = derivative(np.asarray(counted[keys])) if keys in counted else 0.0
        np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-6, err_msg=str(keys))


def test_weight_and_bias_penalty_gradients_match_finite_differences():
    _, params = _randomized_params(ModelSpec(hidden=(8,), latent_dim=3, layer_norm=True))
    with jax.enable_x64(True):
        params64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        for fn in (weight_l1, weight_l2, bias_l1, bias_l2):
            check_grads(
                jax.jit(lambda p, fn=fn: fn(_forward(params=p))), (params64,), order=1, modes=("rev",)
            )


# ----------------------------------------------------------------------------- regularizer settings


def test_objective_passes_settings_to_the_regularizer():
    code = _np_sigmoid(np.random.default_rng(8).normal(size=(10, 4))).astype(np.float32)
    objective = Objective(regularizers=(("s", "kl_sparsity", 0.5, (("rho", 0.1),)),))
    _, aux = objective(_forward(code=code))
    rho_hat = code.astype(np.float64).mean(axis=0)
    want = np.sum(_np_kl(0.1, rho_hat))
    np.testing.assert_allclose(float(aux["reg/s"]), want, rtol=1e-5)
    assert abs(want - np.sum(_np_kl(0.05, rho_hat))) > 0.1  # the default rho would give another value
    np.testing.assert_allclose(float(aux["loss"]), float(aux["reconstruction"]) + 0.5 * want, rtol=1e-5)
    same = Objective.from_mapping("mse", {"s": {"fn": "kl_sparsity", "weight": 0.5, "rho": 0.1}})
    assert same == objective and hash(same) == hash(objective)


def test_objective_rejects_unknown_settings_naming_the_accepted_ones():
    with pytest.raises(ValueError, match=r"kl_sparsity.*\['rhoo'\].*\['rho', 'eps'\]"):
        Objective(regularizers=(("s", "kl_sparsity", 0.5, (("rhoo", 0.1),)),))
    with pytest.raises(ValueError, match=r"code_l2.*\['rho'\].*none"):
        Objective.from_mapping("mse", {"c": {"fn": "code_l2", "weight": 1.0, "rho": 0.1}})


def test_config_validation_of_regularizer_settings():
    config = config_lib.load_default()
    config.loss.regularizers = {"s": {"fn": "kl_sparsity", "weight": 0.1, "rho": 0.05}}
    config_lib.validate(config)
    config.loss.regularizers = {"s": {"fn": "kl_sparsity", "weight": 0.1, "rhoo": 0.05}}
    with pytest.raises(ValueError, match=r"did you mean 'loss\.regularizers\.s\.rho'"):
        config_lib.validate(config)


def test_config_overrides_set_regularizer_settings():
    config = config_lib.apply_overrides(
        config_lib.load_default(),
        [
            "loss.regularizers.s.fn=kl_sparsity",
            "loss.regularizers.s.weight=0.1",
            "loss.regularizers.s.rho=0.02",
        ],
    )
    assert config.loss.regularizers.to_dict() == {"s": {"fn": "kl_sparsity", "weight": 0.1, "rho": 0.02}}
    config.model.code_activation = "sigmoid"
    assert objective_from_config(config).regularizers == (
        ("s", "kl_sparsity", 0.1, (("rho", 0.02),), ("none", 0)),
    )
    with pytest.raises(ValueError, match=r"did you mean 'loss\.regularizers\.s\.rho'"):
        config_lib.apply_overrides(
            config_lib.load_default(),
            [
                "loss.regularizers.s.fn=kl_sparsity",
                "loss.regularizers.s.weight=0.1",
                "loss.regularizers.s.rhoo=1",
            ],
        )


# ----------------------------------------------------------------------------- corruptions

CORRUPTION_CASES = {
    "gaussian": lambda x, k: gaussian_noise(x, k, std=0.3),
    "masking": lambda x, k: masking_noise(x, k, fraction=0.3),
    "salt_and_pepper": lambda x, k: salt_and_pepper(x, k, fraction=0.3),
}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("kind", sorted(CORRUPTION_CASES))
def test_corruptions_keep_shape_and_dtype_and_are_deterministic_per_key(kind, dtype):
    corrupt = CORRUPTION_CASES[kind]
    x = jnp.asarray(np.random.default_rng(9).uniform(0.2, 0.8, size=(3, 4, 5)), dtype)
    a = corrupt(x, jax.random.PRNGKey(0))
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(
        np.asarray(a, np.float32), np.asarray(corrupt(x, jax.random.PRNGKey(0)), np.float32)
    )
    assert not np.array_equal(
        np.asarray(a, np.float32), np.asarray(corrupt(x, jax.random.PRNGKey(1)), np.float32)
    )
    assert not np.array_equal(np.asarray(a, np.float32), np.asarray(x, np.float32))


def test_gaussian_noise_has_the_requested_std_and_clips_to_the_unit_interval():
    n, std = 200_000, 0.3
    x = jnp.asarray(np.random.default_rng(10).uniform(size=n), jnp.float32)
    key = jax.random.PRNGKey(3)
    noisy = np.asarray(gaussian_noise(x, key, std=std, clip=False), np.float64)
    noise = noisy - np.asarray(x, np.float64)
    assert abs(noise.mean()) < 5 * std / np.sqrt(n)
    assert noise.std() == pytest.approx(std, rel=0.01)
    assert noisy.min() < 0 and noisy.max() > 1  # unclipped
    clipped = np.asarray(gaussian_noise(x, key, std=std, clip=True), np.float64)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    np.testing.assert_allclose(clipped, np.clip(noisy, 0, 1), atol=1e-7)  # same noise, then clipped
    assert np.asarray(gaussian_noise(x, key, std=0.0)).tolist() == np.asarray(x).tolist()


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_masking_noise_zeroes_the_requested_fraction_and_keeps_the_rest(fraction):
    n = 100_000
    ones = masking_noise(jnp.ones(n), jax.random.PRNGKey(4), fraction=fraction)
    se = np.sqrt(fraction * (1 - fraction) / n)
    assert abs(float(jnp.mean(ones == 0)) - fraction) < 5 * se
    assert set(np.unique(np.asarray(ones)).tolist()) == {0.0, 1.0}
    x = np.random.default_rng(11).uniform(0.1, 1.0, size=(100, 10)).astype(np.float32)
    out = np.asarray(masking_noise(jnp.asarray(x), jax.random.PRNGKey(5), fraction=fraction))
    kept = out != 0
    np.testing.assert_array_equal(out[kept], x[kept])  # kept entries are untouched
    np.testing.assert_array_equal(
        np.asarray(masking_noise(jnp.asarray(x), jax.random.PRNGKey(5), fraction=0.0)), x
    )
    assert not np.any(np.asarray(masking_noise(jnp.asarray(x), jax.random.PRNGKey(5), fraction=1.0)))


def test_salt_and_pepper_replaces_the_requested_fraction_with_low_or_high_about_evenly():
    n, fraction, low, high = 100_000, 0.3, -1.0, 2.0
    x = np.random.default_rng(12).uniform(0.0, 1.0, size=n).astype(np.float32)
    out = np.asarray(
        salt_and_pepper(jnp.asarray(x), jax.random.PRNGKey(6), fraction=fraction, low=low, high=high)
    )
    changed = out != x
    assert abs(changed.mean() - fraction) < 5 * np.sqrt(fraction * (1 - fraction) / n)
    assert set(np.unique(out[changed]).tolist()) == {low, high}  # replaced by exactly low or high
    high_share = np.mean(out[changed] == high)
    assert abs(high_share - 0.5) < 5 * np.sqrt(0.25 / changed.sum())
    np.testing.assert_array_equal(out[~changed], x[~changed])


def test_corruption_dataclass_dispatches_and_validates():
    x = jnp.asarray(np.random.default_rng(13).uniform(size=(4, 6)), jnp.float32)
    key = jax.random.PRNGKey(8)
    none = Corruption()
    assert not none.active and none(x, key) is x
    cases = [
        (Corruption("gaussian", std=0.2, clip=False), gaussian_noise(x, key, std=0.2, clip=False)),
        (Corruption("masking", fraction=0.4), masking_noise(x, key, fraction=0.4)),
        (
            Corruption("salt_and_pepper", fraction=0.4, low=0.1, high=0.9),
            salt_and_pepper(x, key, fraction=0.4, low=0.1, high=0.9),
        ),
    ]
    for corruption, want in cases:
        assert corruption.active
        np.testing.assert_array_equal(np.asarray(corruption(x, key)), np.asarray(want))
    assert hash(Corruption("masking", fraction=0.4)) == hash(
        Corruption.from_mapping({"kind": "masking", "fraction": 0.4})
    )
    with pytest.raises(ValueError, match="bogus") as info:
        Corruption(kind="bogus")
    for name in CORRUPTIONS:
        assert name in str(info.value)
    for fraction in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
            Corruption("masking", fraction=fraction)
    with pytest.raises(ValueError, match="std must be >= 0"):
        Corruption("gaussian", std=-0.1)


# ----------------------------------------------------------------------------- denoising in the train step
# User regularizers, imported by path (this module's own name) the way a config names them.


def input_gap(forward):
    """mean |x - x_input|: zero unless the encoder saw a corrupted input."""
    return jnp.mean(jnp.abs(forward.x - forward.x_input))


def zeroed_fraction(forward):
    return jnp.mean((forward.x_input == 0) & (forward.x != 0))


def mse_to_clean(forward):
    return jnp.mean(jnp.square(forward.output.reconstruction - forward.x))


def mse_to_input(forward):
    return jnp.mean(jnp.square(forward.output.reconstruction - forward.x_input))


def code_of_input_gap(forward):
    """How far the model's code is from encode(x_input): zero when the encoder saw x_input."""
    return jnp.max(jnp.abs(forward.output.code - forward.encode(forward.x_input)))


@pytest.mark.parametrize(
    "corruption",
    [
        Corruption(),
        Corruption("masking", fraction=0.5),
        Corruption("gaussian", std=0.3),
        Corruption("salt_and_pepper", fraction=0.3),
    ],
    ids=lambda c: c.kind,
)
def test_train_step_corrupts_the_encoder_input_and_reconstructs_the_clean_batch(blobs, corruption):
    regularizers = tuple(
        (fn.__name__, f"{__name__}:{fn.__name__}", 0.0)
        for fn in (input_gap, zeroed_fraction, mse_to_clean, mse_to_input, code_of_input_gap)
    )
    objective = Objective("mse", regularizers, corruption=corruption)
    model = build_model(ModelSpec(hidden=(8,), latent_dim=3), (16,))
    schedule = make_schedule("constant", 1e-2, total_steps=3)
    state = create_train_state(model, make_optimizer("adam", schedule), (16,), seed=0)
    step = make_train_step(model, objective, schedule, donate=False)
    batch = {"x": jnp.asarray(blobs[0][:64])}
    assert np.all(blobs[0][:64] > 0)

    new_state, m1 = step(state, batch)
    m = {k: float(v) for k, v in m1.items()}
    # The reconstruction term is against the clean x, and the output is the model's output on x_input.
    assert m["reconstruction"] == pytest.approx(m["reg/mse_to_clean"], rel=1e-6)
    assert m["reg/code_of_input_gap"] < 1e-6
    if not corruption.active:
        assert m["reg/input_gap"] == 0.0
        assert m["reg/mse_to_input"] == m["reg/mse_to_clean"]
        return
    assert m["reg/input_gap"] > 0.02
    assert abs(m["reg/mse_to_input"] - m["reg/mse_to_clean"]) > 1e-3
    if corruption.kind == "masking":
        assert abs(m["reg/zeroed_fraction"] - 0.5) < 5 * np.sqrt(0.25 / (64 * 16))
    # Same step, same corruption; the next step draws a new one.
    _, again = step(state, batch)
    _, m2 = step(new_state, batch)
    assert float(again["reg/input_gap"]) == m["reg/input_gap"]
    assert float(m2["reg/input_gap"]) != m["reg/input_gap"]


def test_max_traces_counts_each_train_step_on_its_own():
    # Two independent steps (different objectives), each traced exactly once, from one call site.
    model = build_model(ModelSpec(hidden=(), latent_dim=2), (4,))
    schedule = make_schedule("constant", 1e-2, total_steps=1)
    state = create_train_state(model, make_optimizer("sgd", schedule), (4,), seed=0)
    batch = {"x": jnp.full((8, 4), 0.5)}
    for objective in (Objective("mse"), Objective("l1")):
        step = make_train_step(model, objective, schedule, donate=False, max_traces=1)
        assert np.isfinite(float(step(state, batch)[1]["loss"]))


# ----------------------------------------------------------------------------- tied weights


def test_tied_decoder_is_the_encoder_transposed_plus_its_own_biases():
    model, params = _randomized_params(ModelSpec(hidden=(8,), latent_dim=3, tied_weights=True), input_dim=5)
    assert set(params["decoder"]) == {"dense_0", "output"}
    assert all(set(layer) == {"bias"} for layer in params["decoder"].values())
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    w0, b0 = p["encoder"]["hidden"]["dense_0"]["kernel"], p["encoder"]["hidden"]["dense_0"]["bias"]
    wc, bc = p["encoder"]["code"]["kernel"], p["encoder"]["code"]["bias"]
    d0, dout = p["decoder"]["dense_0"]["bias"], p["decoder"]["output"]["bias"]

    x = np.random.default_rng(14).uniform(size=(6, 5))
    code = np.maximum(x @ w0 + b0, 0) @ wc + bc
    logits = np.maximum(code @ wc.T + d0, 0) @ w0.T + dout
    output = model.apply({"params": params}, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(np.asarray(output.code), code, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(output.reconstruction), _np_sigmoid(logits), rtol=1e-5, atol=1e-6)

    z = np.random.default_rng(15).normal(size=(4, 3))
    decoded = model.apply({"params": params}, jnp.asarray(z, jnp.float32), method="decode")
    want = _np_sigmoid(np.maximum(z @ wc.T + d0, 0) @ w0.T + dout)
    np.testing.assert_allclose(np.asarray(decoded), want, rtol=1e-5, atol=1e-6)

    # Decoding alone trains the encoder's kernels (tied) but not the encoder's biases.
    grad = jax.grad(
        lambda q: jnp.sum(model.apply({"params": q}, jnp.asarray(z, jnp.float32), method="decode"))
    )(params)
    assert np.abs(np.asarray(grad["encoder"]["code"]["kernel"])).max() > 1e-3
    assert np.abs(np.asarray(grad["encoder"]["hidden"]["dense_0"]["kernel"])).max() > 1e-3
    assert not np.any(np.asarray(grad["encoder"]["code"]["bias"]))


def test_tied_weights_need_a_mirrored_decoder():
    with pytest.raises(ValueError, match="tied_weights needs an mlp encoder and a mirrored decoder"):
        build_model(ModelSpec(hidden=(8,), latent_dim=3, tied_weights=True, decoder_hidden=(4,)), (5,))


# ----------------------------------------------------------------------------- weight decay


def _decay_params():
    rng = np.random.default_rng(16)
    return {
        "dense": {"kernel": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32), "bias": jnp.ones(2)},
        "norm_0": {"scale": jnp.ones(2), "bias": jnp.ones(2)},
    }


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_weight_decay_shrinks_kernels_only(name):
    params = _decay_params()
    tx = make_optimizer(name, optax.constant_schedule(0.1), weight_decay=0.5)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    np.testing.assert_allclose(
        np.asarray(updates["dense"]["kernel"]), -0.1 * 0.5 * np.asarray(params["dense"]["kernel"]), rtol=1e-6
    )
    for leaf in (updates["dense"]["bias"], updates["norm_0"]["scale"], updates["norm_0"]["bias"]):
        np.testing.assert_array_equal(np.asarray(leaf), 0.0)


def test_weight_decay_is_added_to_sgd_gradients():
    params = _decay_params()
    grads = jax.tree_util.tree_map(lambda a: jnp.full_like(a, 0.2), params)
    tx = make_optimizer("sgd", optax.constant_schedule(0.1), weight_decay=0.5)
    updates, _ = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(
        np.asarray(updates["dense"]["kernel"]),
        -0.1 * (0.2 + 0.5 * np.asarray(params["dense"]["kernel"])),
        rtol=1e-6,
    )
    np.testing.assert_allclose(np.asarray(updates["dense"]["bias"]), -0.1 * 0.2, rtol=1e-6)


def test_adam_with_weight_decay_points_to_adamw():
    with pytest.raises(ValueError, match="adamw"):
        make_optimizer("adam", optax.constant_schedule(0.1), weight_decay=0.5)
    make_optimizer("adam", optax.constant_schedule(0.1), weight_decay=0.0)  # no decay: fine


# ----------------------------------------------------------------------------- linear AE = PCA


def test_linear_autoencoder_learns_the_principal_subspace():
    rng = np.random.default_rng(0)
    n, d, k = 2000, 10, 3
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    variances = np.array([4.0, 2.5, 1.5] + [0.02] * (d - k))  # a clear gap after the top 3
    x = ((rng.normal(size=(n, d)) * np.sqrt(variances)) @ basis.T + rng.uniform(-1, 1, size=d)).astype(
        np.float32
    )
    pcs = PCA(k).fit(x).components_.T  # (d, k)

    spec = ModelSpec(
        hidden=(),
        latent_dim=k,
        activation="identity",
        code_activation="identity",
        output_activation="identity",
    )
    model = build_model(spec, (d,))
    steps = 500
    schedule = make_schedule("constant", 3e-2, total_steps=steps)
    state = create_train_state(model, make_optimizer("adam", schedule), (d,), seed=0)
    step = make_train_step(model, Objective("mse"), schedule, donate=False, log_norms=False)

    def angles(s):
        decoder_kernel = np.asarray(s.params["decoder"]["output"]["kernel"], np.float64)  # (k, d)
        return np.degrees(subspace_angles(decoder_kernel.T, pcs))

    initial = angles(state)
    batch = {"x": jnp.asarray(x)}
    for _ in range(steps):
        state, _ = step(state, batch)
    learned = angles(state)
    random = np.degrees(subspace_angles(rng.normal(size=(d, k)), pcs))
    print(
        f"\nprincipal angles (deg): learned {np.round(learned, 3)}, initial {np.round(initial, 1)}, "
        f"random {np.round(random, 1)}"
    )

    assert random.max() > 30 and initial.max() > 30  # the check can fail: other subspaces are far off
    assert learned.max() < 1.0
    # The reconstruction error nears the PCA optimum (the mean discarded variance per feature) and is far
    # below that of the best 2-dimensional code.
    discarded = np.sort(np.linalg.eigvalsh(np.cov(x.T, bias=True)))
    pca_mse = np.sum(discarded[: d - k]) / d
    output = model.apply({"params": state.params}, batch["x"])
    mse = float(jnp.mean(jnp.square(output.reconstruction - batch["x"])))
    assert pca_mse <= mse < 1.05 * pca_mse
    assert mse < 0.2 * np.sum(discarded[: d - k + 1]) / d
