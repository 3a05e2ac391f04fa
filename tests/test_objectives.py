"""Reconstruction losses, regularizers and the Objective that composes them, against NumPy references."""

import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from aejax.families import build_model
from aejax.models import AutoencoderOutput, ModelSpec
from aejax.objectives import (
    RECONSTRUCTION_LOSSES,
    REGULARIZERS,
    Forward,
    Objective,
    bernoulli_cross_entropy,
    code_l2,
    get_reconstruction_loss,
    mean_absolute_error,
    mean_squared_error,
    resolve_regularizer,
    weight_l2,
)
from aejax.training import create_train_state, make_optimizer, make_schedule, make_train_step

PENALTIES_SOURCE = '''
"""User-written regularizers, imported by path the way a config names them."""

import jax
import jax.numpy as jnp


def orthogonality(forward):
    """Squared Frobenius distance of the code's second-moment matrix from the identity."""
    z = forward.output.code
    gram = z.T @ z / z.shape[0]
    return jnp.sum(jnp.square(gram - jnp.eye(z.shape[1])))


def jacobian_frobenius(forward):
    """Squared Frobenius norm of d code / d input at the first example, through forward.encode."""
    jac = jax.jacfwd(forward.encode)(forward.x_input[:1])
    return jnp.sum(jnp.square(jac))


def per_example_vector(forward):
    """Wrong on purpose: a vector, not a scalar."""
    return jnp.sum(forward.output.code, axis=1)


not_callable = 3.0
'''


@pytest.fixture
def penalties(tmp_path, monkeypatch):
    """A user module `my_penalties` importable from tmp_path; unloaded afterwards."""
    (tmp_path / "my_penalties.py").write_text(textwrap.dedent(PENALTIES_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_penalties", None)
    yield "my_penalties"
    sys.modules.pop("my_penalties", None)


def _output(reconstruction=None, code=None, logits=None, batch=4):
    zeros = jnp.zeros((batch, 1), jnp.float32)
    return AutoencoderOutput(
        reconstruction=zeros if reconstruction is None else jnp.asarray(reconstruction),
        code=zeros if code is None else jnp.asarray(code),
        logits=zeros if logits is None else jnp.asarray(logits),
    )


def _forward(output, x, params=None, encode=None):
    return Forward(
        x=jnp.asarray(x),
        x_input=jnp.asarray(x),
        output=output,
        params={} if params is None else params,
        rng=jax.random.PRNGKey(0),
        encode=encode if encode is not None else (lambda inputs: inputs),
    )


def _np_sigmoid_bce(logits, target):
    p = 1.0 / (1.0 + np.exp(-logits))
    return -(target * np.log(p) + (1.0 - target) * np.log(1.0 - p))


def _np_stable_bce(logits, target):
    logits = logits.astype(np.float64)
    target = target.astype(np.float64)
    return np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))


# ----------------------------------------------------------------------------- reconstruction losses


@pytest.mark.parametrize("shape", [(5, 16), (3, 8, 8, 1)], ids=["flat", "image"])
@pytest.mark.parametrize(
    ("loss_fn", "reference", "seed", "draw"),
    [
        (mean_squared_error, lambda d: np.square(d), 0, "uniform"),
        (mean_absolute_error, lambda d: np.abs(d), 1, "normal"),
    ],
    ids=["mse", "l1"],
)
def test_mean_feature_losses_match_numpy(shape, loss_fn, reference, seed, draw):
    rng = np.random.default_rng(seed)
    recon = getattr(rng, draw)(size=shape).astype(np.float32)
    target = getattr(rng, draw)(size=shape).astype(np.float32)
    got = loss_fn(_output(reconstruction=recon), jnp.asarray(target))
    want = np.mean(reference(recon - target).reshape(shape[0], -1), axis=1)
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(5, 16), (3, 8, 8, 1)], ids=["flat", "image"])
def test_bernoulli_cross_entropy_matches_naive_formula_for_moderate_logits(shape):
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=3.0, size=shape).astype(np.float32)
    target = rng.uniform(size=shape).astype(np.float32)
    got = bernoulli_cross_entropy(_output(logits=logits), jnp.asarray(target))
    want = _np_sigmoid_bce(logits.astype(np.float64), target.astype(np.float64))
    want = want.reshape(shape[0], -1).sum(axis=1)  # a per-example sum in nats, not a mean
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)


def test_bernoulli_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[100.0, -100.0, 100.0, -100.0], [50.0, -50.0, 0.0, 30.0]], np.float32)
    target = np.array([[1.0, 0.0, 0.0, 1.0], [0.3, 0.7, 0.5, 1.0]], np.float32)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        naive = _np_sigmoid_bce(logits.astype(np.float32), target)
    assert not np.all(np.isfinite(naive)), (
        "the naive formula should overflow here, else the test proves nothing"
    )

    got = np.asarray(bernoulli_cross_entropy(_output(logits=logits), jnp.asarray(target)))
    want = _np_stable_bce(logits, target).sum(axis=1)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # a right answer with a confident logit costs ~0 nats; a wrong one costs ~|logit| nats
    np.testing.assert_allclose(got[0], 200.0, rtol=1e-6)


def test_bernoulli_gradient_is_finite_for_huge_logits():
    logits = jnp.array([[100.0, -100.0, 100.0, -100.0]])
    target = jnp.array([[1.0, 0.0, 0.0, 1.0]])
    grad = jax.grad(lambda logit: bernoulli_cross_entropy(_output(logits=logit), target).sum())(logits)
    # d/dl = sigmoid(l) - t
    np.testing.assert_allclose(np.asarray(grad), [[0.0, 0.0, 1.0, -1.0]], atol=1e-6)


def test_reconstruction_registry_names():
    assert get_reconstruction_loss("mse") is mean_squared_error
    assert get_reconstruction_loss("l1") is mean_absolute_error
    assert get_reconstruction_loss("bernoulli") is bernoulli_cross_entropy
    with pytest.raises(ValueError, match="nope") as info:
        get_reconstruction_loss("nope")
    for name in RECONSTRUCTION_LOSSES:
        assert name in str(info.value)


# ----------------------------------------------------------------------------- regularizers


def test_code_l2_matches_numpy():
    rng = np.random.default_rng(3)
    code = rng.normal(size=(6, 5)).astype(np.float32)
    got = code_l2(_forward(_output(code=code, batch=6), np.zeros((6, 1), np.float32)))
    assert got.shape == ()
    np.testing.assert_allclose(float(got), np.mean(np.sum(code.astype(np.float64) ** 2, axis=1)), rtol=1e-6)


def test_weight_l2_counts_only_kernels_of_a_real_model():
    model = build_model(ModelSpec(latent_dim=4, hidden=(8,), layer_norm=True, bias_init=0.5), (16,))
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 16)))["params"]

    kernels, others = [], []
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        (kernels if path[-1].key == "kernel" else others).append(np.asarray(leaf, np.float64))
    other_names = {path[-1].key for path, _ in jax.tree_util.tree_leaves_with_path(params)} - {"kernel"}
    assert other_names == {"bias", "scale"}  # the model does have leaves that must be left out
    assert len(kernels) == 4  # encoder hidden + code, decoder hidden + output

    got = weight_l2(_forward(_output(), np.zeros((4, 1), np.float32), params=params))
    want = sum(np.sum(k**2) for k in kernels)
    everything = want + sum(np.sum(o**2) for o in others)
    assert everything > want + 1.0  # biases (0.5) and scales (1.0) would change the answer
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_registered_regularizers_resolve_by_name():
    assert resolve_regularizer("code_l2") is code_l2
    assert resolve_regularizer("weight_l2") is weight_l2
    with pytest.raises(ValueError, match="nope") as info:
        resolve_regularizer("nope")
    for name in REGULARIZERS:
        assert name in str(info.value)


# ----------------------------------------------------------------------------- Objective


def _random_forward(batch=6, features=10, latent=3, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(batch, features)).astype(np.float32)
    recon = rng.uniform(size=(batch, features)).astype(np.float32)
    code = rng.normal(size=(batch, latent)).astype(np.float32)
    logits = rng.normal(size=(batch, features)).astype(np.float32)
    params = {"layer": {"kernel": jnp.asarray(rng.normal(size=(features, latent)), jnp.float32)}}
    output = _output(reconstruction=recon, code=code, logits=logits, batch=batch)
    return _forward(output, x, params=params), (x, recon, code, logits, params)


def test_objective_composes_reconstruction_and_weighted_regularizers():
    forward, (x, recon, code, _, params) = _random_forward()
    objective = Objective.from_mapping(
        "mse", {"code": {"fn": "code_l2", "weight": 0.5}, "weights": {"fn": "weight_l2", "weight": 0.01}}
    )
    loss, aux = objective(forward)

    mse = np.mean((recon - x) ** 2)
    code_reg = np.mean(np.sum(code**2, axis=1))
    weight_reg = float(np.sum(np.asarray(params["layer"]["kernel"]) ** 2))
    assert set(aux) == {"reconstruction", "loss", "reg/code", "reg/weights"}
    np.testing.assert_allclose(float(aux["reconstruction"]), mse, rtol=1e-5)
    np.testing.assert_allclose(float(aux["reg/code"]), code_reg, rtol=1e-5)  # unweighted
    np.testing.assert_allclose(float(aux["reg/weights"]), weight_reg, rtol=1e-5)
    np.testing.assert_allclose(float(loss), mse + 0.5 * code_reg + 0.01 * weight_reg, rtol=1e-5)
    assert float(aux["loss"]) == float(loss)


def test_objective_uses_the_named_reconstruction_loss():
    forward, (x, _, _, logits, _) = _random_forward()
    loss, aux = Objective(reconstruction="bernoulli")(forward)
    want = _np_stable_bce(logits, x).sum(axis=1).mean()
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)
    assert set(aux) == {"reconstruction", "loss"}


def test_objective_from_mapping_is_plain_and_hashable():
    objective = Objective.from_mapping("mse", {"code": {"fn": "code_l2", "weight": 0.5}})
    assert objective == Objective("mse", (("code", "code_l2", 0.5),))
    same = Objective.from_mapping("mse", {"code": {"fn": "code_l2", "weight": 0.5}})
    assert hash(objective) == hash(same)
    assert objective != Objective.from_mapping("mse", {"code": {"fn": "code_l2", "weight": 0.25}})


def test_objective_works_as_a_jit_static_argument():
    forward, _ = _random_forward()
    traces = []

    def loss_of(code, reconstruction, x, objective):
        traces.append(objective)
        output = AutoencoderOutput(reconstruction=reconstruction, code=code, logits=reconstruction)
        return objective(_forward(output, x))[0]

    jitted = jax.jit(loss_of, static_argnums=3)
    args = (forward.output.code, forward.output.reconstruction, forward.x)
    first = jitted(*args, Objective.from_mapping("mse", {"code": {"fn": "code_l2", "weight": 0.5}}))
    again = jitted(*args, Objective.from_mapping("mse", {"code": {"fn": "code_l2", "weight": 0.5}}))
    other = jitted(*args, Objective.from_mapping("mse", {"code": {"fn": "code_l2", "weight": 2.0}}))
    assert len(traces) == 2  # an equal objective hits the cache; a different weight retraces
    assert float(first) == float(again)
    np.testing.assert_allclose(float(other), float(loss_of(*args, traces[1])), rtol=1e-6)
    assert float(other) > float(first)


def test_objective_rejects_unknown_names_at_construction():
    with pytest.raises(ValueError, match=r"unknown reconstruction loss 'nope'.*mse"):
        Objective(reconstruction="nope")
    with pytest.raises(ValueError, match=r"unknown regularizer.*'nope'.*code_l2"):
        Objective.from_mapping("mse", {"x": {"fn": "nope", "weight": 1.0}})


def test_objective_rejects_a_non_scalar_regularizer(penalties):
    objective = Objective("mse", (("vec", f"{penalties}:per_example_vector", 1.0),))
    forward, _ = _random_forward()
    with pytest.raises(ValueError, match="must return a scalar"):
        objective(forward)


# ----------------------------------------------------------------------------- user regularizers


def test_user_regularizer_by_import_path(penalties):
    forward, (x, recon, code, _, _) = _random_forward()
    objective = Objective.from_mapping("mse", {"ortho": {"fn": f"{penalties}:orthogonality", "weight": 0.25}})
    loss, aux = objective(forward)

    gram = code.astype(np.float64).T @ code / code.shape[0]
    want_reg = np.sum((gram - np.eye(code.shape[1])) ** 2)
    mse = np.mean((recon - x) ** 2)
    np.testing.assert_allclose(float(aux["reg/ortho"]), want_reg, rtol=1e-5)
    np.testing.assert_allclose(float(loss), mse + 0.25 * want_reg, rtol=1e-5)


def _tiny_training(objective, spec, input_dim=16, seed=0):
    model = build_model(spec, (input_dim,))
    schedule = make_schedule("constant", 1e-2, total_steps=10)
    state = create_train_state(model, make_optimizer("adam", schedule), (input_dim,), seed=seed)
    step = make_train_step(model, objective, schedule, donate=False, max_traces=1)
    return model, state, step


def test_user_regularizer_in_a_jitted_train_step(penalties, blobs):
    objective = Objective.from_mapping("mse", {"ortho": {"fn": f"{penalties}:orthogonality", "weight": 0.1}})
    model, state, step = _tiny_training(objective, ModelSpec(latent_dim=3, hidden=(8,)))
    batch = {"x": jnp.asarray(blobs[0][:32])}

    code = model.apply({"params": state.params}, batch["x"], train=False, method="encode")
    gram = np.asarray(code, np.float64).T @ np.asarray(code, np.float64) / 32
    want_reg = np.sum((gram - np.eye(3)) ** 2)

    new_state, metrics = step(state, batch)
    assert {"reconstruction", "loss", "reg/ortho", "grad_norm"} <= set(metrics)
    np.testing.assert_allclose(float(metrics["reg/ortho"]), want_reg, rtol=1e-4)
    np.testing.assert_allclose(
        float(metrics["loss"]),
        float(metrics["reconstruction"]) + 0.1 * float(metrics["reg/ortho"]),
        rtol=1e-5,
    )
    for _ in range(3):
        new_state, metrics = step(new_state, batch)  # max_traces=1: no retrace
    assert int(new_state.step) == 4
    assert np.isfinite(float(metrics["loss"]))


def test_jacobian_regularizer_through_forward_encode_inside_jit(penalties, blobs):
    # A linear encoder without bias has d code / d x = W^T, so the penalty is sum(W^2) exactly.
    spec = ModelSpec(
        latent_dim=3, hidden=(), activation="identity", code_activation="identity", use_bias=False
    )
    objective = Objective.from_mapping(
        "mse", {"jac": {"fn": f"{penalties}:jacobian_frobenius", "weight": 1.0}}
    )
    _, state, step = _tiny_training(objective, spec)
    kernel = np.asarray(state.params["encoder"]["code"]["kernel"], np.float64)

    _, metrics = step(state, {"x": jnp.asarray(blobs[0][:16])})
    np.testing.assert_allclose(float(metrics["reg/jac"]), np.sum(kernel**2), rtol=1e-5)


def test_jacobian_regularizer_of_a_nonlinear_encoder_matches_numpy(penalties, blobs):
    spec = ModelSpec(latent_dim=3, hidden=(8,), activation="tanh")
    objective = Objective.from_mapping(
        "mse", {"jac": {"fn": f"{penalties}:jacobian_frobenius", "weight": 1.0}}
    )
    _, state, step = _tiny_training(objective, spec)
    enc = jax.tree_util.tree_map(lambda v: np.asarray(v, np.float64), state.params["encoder"])
    w1, b1 = enc["hidden"]["dense_0"]["kernel"], enc["hidden"]["dense_0"]["bias"]
    w2 = enc["code"]["kernel"]
    x0 = np.asarray(blobs[0][0], np.float64)
    # z = tanh(x W1 + b1) W2 + b2  =>  dz/dx = W2^T diag(1 - tanh^2(x W1 + b1)) W1^T
    jac = w2.T @ np.diag(1 - np.tanh(x0 @ w1 + b1) ** 2) @ w1.T

    _, metrics = step(state, {"x": jnp.asarray(blobs[0][:16])})
    np.testing.assert_allclose(float(metrics["reg/jac"]), np.sum(jac**2), rtol=1e-4)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("nonexistent_mod:f", "importing module 'nonexistent_mod' failed"),
        ("math:nonexistent", "module 'math' has no callable 'nonexistent'"),
        ("math:pi", "module 'math' has no callable 'pi'"),
    ],
)
def test_bad_import_paths_raise_clear_errors(path, message):
    with pytest.raises(ValueError, match=message):
        resolve_regularizer(path)
    with pytest.raises(ValueError, match=message):
        Objective.from_mapping("mse", {"bad": {"fn": path, "weight": 1.0}})


def test_non_callable_attribute_of_user_module_is_rejected(penalties):
    with pytest.raises(ValueError, match="has no callable 'not_callable'"):
        Objective("mse", (("bad", f"{penalties}:not_callable", 1.0),))


# ----------------------------------------------------------------------------- gradients


def test_mse_objective_gradient_matches_central_differences():
    model = build_model(ModelSpec(latent_dim=2, hidden=(4,), activation="tanh"), (5,))
    x = np.random.default_rng(5).uniform(size=(3, 5))
    objective = Objective("mse")

    params32 = model.init(jax.random.PRNGKey(1), jnp.zeros((1, 5)))["params"]

    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params32)
        x64 = jnp.asarray(x, jnp.float64)

        def loss(p):
            output = model.apply({"params": p}, x64, train=False)
            return objective(_forward(output, x64, params=p))[0]

        grads = jax.jit(jax.grad(loss))(params)
        flat, unravel = ravel_pytree(params)
        flat_grad, _ = ravel_pytree(grads)
        assert flat.dtype == jnp.float64 and flat_grad.dtype == jnp.float64

        eps = 1e-6
        steps = eps * jnp.eye(flat.shape[0], dtype=jnp.float64)
        perturbed = jax.jit(jax.vmap(lambda d: loss(unravel(flat + d)) - loss(unravel(flat - d))))
        numeric = np.asarray(perturbed(steps)) / (2 * eps)

    assert np.abs(numeric).max() > 1e-3  # a nontrivial gradient
    np.testing.assert_allclose(np.asarray(flat_grad), numeric, rtol=1e-5, atol=1e-8)
