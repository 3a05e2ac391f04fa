"""Capsule autoencoder: squash, routing-by-agreement, masking, margin loss, and a tiny training run."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn

from aejax.models.capsule import (
    CapsuleAutoencoder,
    CapsuleOutput,
    SpaceToDepthConv,
    margin_loss,
    route,
    squash,
)

SHAPE = (12, 12, 1)
SMALL = dict(
    conv_features=8,
    conv_kernel=3,
    primary_channels=4,
    primary_dim=4,
    primary_kernel=3,
    primary_stride=2,
    num_capsules=3,
    capsule_dim=4,
    decoder_hidden=(32,),
)
NUM_PRIMARY = 4 * 4 * 4  # 12 -> 10 (conv 3) -> 4 (primary 3, stride 2); 4 capsule types


def small_model(**overrides) -> CapsuleAutoencoder:
    settings = {**SMALL, **overrides}
    return CapsuleAutoencoder(
        input_shape=SHAPE, latent_dim=settings["num_capsules"] * settings["capsule_dim"], **settings
    )


def images(n=4, seed=0) -> jax.Array:
    return jax.random.uniform(jax.random.PRNGKey(seed), (n, *SHAPE))


@pytest.fixture(scope="module")
def model_and_params():
    model = small_model()
    params = jax.jit(model.init)(jax.random.PRNGKey(0), images())["params"]
    return model, params


def test_squash_matches_closed_form_and_stays_below_one():
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.normal(size=(5, 6)) * scale for scale in (0.01, 1.0, 30.0)]).astype(np.float32)
    norm = np.linalg.norm(s, axis=-1, keepdims=True)
    expected = (norm**2 / (1 + norm**2)) * s / norm
    got = np.asarray(squash(jnp.asarray(s)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
    assert np.all(np.linalg.norm(got, axis=-1) < 1.0)
    # squash along another axis is the same map on the transposed array
    np.testing.assert_allclose(np.asarray(squash(jnp.asarray(s.T), axis=0)), expected.T, rtol=1e-4, atol=1e-7)


def test_squash_is_finite_at_zero_with_finite_gradients():
    zero = jnp.zeros((2, 5))
    np.testing.assert_array_equal(np.asarray(squash(zero)), 0.0)
    grad = jax.grad(lambda s: jnp.sum(squash(s)))(zero)
    assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.parametrize("iterations", [1, 2, 3, 5])
def test_coupling_sums_to_one_over_parents(iterations):
    u_hat = jax.random.normal(jax.random.PRNGKey(iterations), (2, 7, 3, 4))
    v, c = route(u_hat, iterations)
    assert v.shape == (2, 3, 4) and c.shape == (2, 7, 3)
    np.testing.assert_allclose(np.asarray(c).sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.linalg.norm(np.asarray(v), axis=-1) < 1.0)


def numpy_route(u_hat: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    b = np.zeros(u_hat.shape[:-1])
    for r in range(iterations):
        c = np.exp(b - b.max(-1, keepdims=True))
        c /= c.sum(-1, keepdims=True)
        s = np.einsum("bij,bijd->bjd", c, u_hat)
        n = np.linalg.norm(s, axis=-1, keepdims=True)
        v = (n**2 / (1 + n**2)) * s / n
        if r < iterations - 1:
            b = b + np.einsum("bijd,bjd->bij", u_hat, v)
    return v, c


def test_one_iteration_is_uniform_coupling_and_routing_matches_numpy():
    u_hat = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (2, 7, 3, 4)), dtype=np.float64)
    v, c = route(jnp.asarray(u_hat, jnp.float32), 1)
    np.testing.assert_allclose(np.asarray(c), 1.0 / 3.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(v), numpy_route(u_hat, 1)[0], rtol=1e-4, atol=1e-6)
    v3, c3 = route(jnp.asarray(u_hat, jnp.float32), 3)
    v3_ref, c3_ref = numpy_route(u_hat, 3)
    np.testing.assert_allclose(np.asarray(c3), c3_ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(v3), v3_ref, rtol=1e-4, atol=1e-6)
    assert not np.allclose(np.asarray(c3), 1.0 / 3.0)  # agreement moved the coupling


def test_route_rejects_zero_iterations():
    with pytest.raises(ValueError, match="iterations"):
        route(jnp.zeros((1, 2, 3, 4)), 0)


@pytest.mark.parametrize(("size", "kernel", "stride"), [((11, 9), 4, 2), ((10, 13), 3, 3), ((7, 7), 3, 1)])
def test_space_to_depth_conv_equals_strided_conv(size, kernel, stride):
    h = jax.random.normal(jax.random.PRNGKey(0), (2, *size, 3))
    fast = SpaceToDepthConv(features=5, kernel_size=kernel, stride=stride)
    reference = nn.Conv(5, (kernel, kernel), strides=(stride, stride), padding="VALID")

    @jax.jit
    def both(key, h):
        params = jax.tree.map(lambda p: p + 0.1, fast.init(key, h))  # nonzero bias too
        return fast.apply(params, h), reference.apply(params, h)

    got, expected = both(jax.random.PRNGKey(1), h)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-5)


def test_output_shapes_and_methods(model_and_params):
    model, params = model_and_params
    x = images()

    @jax.jit
    def forward_and_methods(params, x):
        variables = {"params": params}
        out = model.apply(variables, x)
        encoded = model.apply(variables, x, method=model.encode)
        decoded = model.apply(variables, out.code, method=model.decode)
        return out, encoded, decoded, model.apply(variables, out.code, method=model.decode_logits)

    out, encoded, decoded, logits = forward_and_methods(params, x)
    assert isinstance(out, CapsuleOutput)
    assert out.reconstruction.shape == out.logits.shape == (4, *SHAPE)
    assert out.code.shape == (4, 12)
    assert out.poses.shape == (4, 3, 4)
    assert out.lengths.shape == (4, 3)
    assert out.coupling.shape == (4, NUM_PRIMARY, 3)
    assert params["pose_weights"].shape == (NUM_PRIMARY, 3, 4, 4)
    np.testing.assert_allclose(np.asarray(out.coupling).sum(-1), 1.0, rtol=1e-5)
    assert np.all((np.asarray(out.lengths) >= 0) & (np.asarray(out.lengths) < 1))
    assert np.all((np.asarray(out.reconstruction) > 0) & (np.asarray(out.reconstruction) < 1))
    np.testing.assert_allclose(encoded, out.code, rtol=1e-6)
    np.testing.assert_allclose(decoded, out.reconstruction, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, out.logits, rtol=1e-5, atol=1e-6)


def test_code_is_poses_masked_by_longest_capsule_or_by_label(model_and_params):
    model, params = model_and_params
    x = images()
    out = model.apply({"params": params}, x)
    poses = np.asarray(out.poses)
    lengths = np.linalg.norm(poses, axis=-1)
    np.testing.assert_allclose(np.asarray(out.lengths), lengths, rtol=1e-5)
    longest = np.zeros_like(poses)
    idx = lengths.argmax(-1)
    longest[np.arange(4), idx] = poses[np.arange(4), idx]
    np.testing.assert_allclose(np.asarray(out.code), longest.reshape(4, -1), rtol=1e-6)

    labels = np.array([2, 0, 1, 2])
    out_l = model.apply({"params": params}, x, labels=jnp.asarray(labels))
    by_label = np.zeros_like(poses)
    by_label[np.arange(4), labels] = poses[np.arange(4), labels]
    np.testing.assert_allclose(np.asarray(out_l.code), by_label.reshape(4, -1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out_l.poses), poses, rtol=1e-6)


def test_margin_loss_matches_numpy():
    rng = np.random.default_rng(1)
    lengths = rng.uniform(size=(5, 4)).astype(np.float32)
    labels = rng.integers(0, 4, size=5)
    t = np.eye(4)[labels]
    expected = (
        t * np.maximum(0, 0.9 - lengths) ** 2 + 0.5 * (1 - t) * np.maximum(0, lengths - 0.1) ** 2
    ).sum(-1)
    got = margin_loss(jnp.asarray(lengths), jnp.asarray(labels))
    assert got.shape == (5,)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5)
    custom = margin_loss(jnp.asarray(lengths), jnp.asarray(labels), m_plus=0.8, m_minus=0.2, lam=1.0)
    expected_custom = (
        t * np.maximum(0, 0.8 - lengths) ** 2 + (1 - t) * np.maximum(0, lengths - 0.2) ** 2
    ).sum(-1)
    np.testing.assert_allclose(np.asarray(custom), expected_custom, rtol=1e-5)


def test_validation_errors():
    x = images()
    with pytest.raises(ValueError, match="latent_dim"):
        CapsuleAutoencoder(input_shape=SHAPE, latent_dim=11, **SMALL).init(jax.random.PRNGKey(0), x)
    with pytest.raises(ValueError, match="too small"):
        small_model(conv_kernel=9, primary_kernel=9).init(jax.random.PRNGKey(0), x)
    with pytest.raises(ValueError, match=r"expects \(batch, 12, 12, 1\), got \(4, 12, 12, 3\)"):
        small_model().init(jax.random.PRNGKey(0), jnp.zeros((4, 12, 12, 3)))
    with pytest.raises(ValueError, match="labels"):
        small_model().init(jax.random.PRNGKey(0), x, labels=jnp.zeros((3,), jnp.int32))


def test_gradients_are_finite_on_zero_images(model_and_params):
    model, params = model_and_params
    x = jnp.zeros((2, *SHAPE))

    def loss(p):
        out = model.apply({"params": p}, x)
        return jnp.mean(out.reconstruction) + jnp.mean(margin_loss(out.lengths, jnp.array([0, 1])))

    grads = jax.jit(jax.grad(loss))(params)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))


def test_jitted_step_traces_once_and_training_reduces_reconstruction_error(model_and_params):
    model, params = model_and_params
    x = images(4, seed=5)
    labels = jnp.array([0, 1, 2, 0])
    tx = optax.adam(3e-3)
    opt_state = tx.init(params)
    traces = []

    def loss_fn(p):
        out = model.apply({"params": p}, x, labels=labels)
        mse = jnp.mean(jnp.square(out.reconstruction - x))
        return mse + 0.1 * jnp.mean(margin_loss(out.lengths, labels)), mse

    @jax.jit
    def step(p, state):
        traces.append(1)
        (_, mse), grads = jax.value_and_grad(loss_fn, has_aux=True)(p)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, mse

    history = []
    for _ in range(30):
        params, opt_state, mse = step(params, opt_state)
        history.append(float(mse))
    assert len(traces) == 1
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.8 * history[0], history  # uniform noise: 0.083 is the mean-only floor
