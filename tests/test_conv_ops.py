"""The matmul convolutions (`aejax.models.conv_ops`) against XLA's `lax` convolutions: values and gradients over
kernel sizes, strides, paddings and channel ratios; the conv autoencoder with `model.conv_impl='matmul'` against
'xla' on the same parameters (outputs, gradients, and three Adam steps); inside `lax.scan`; named errors."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.models import conv_ops as co
from aejax.objectives import Objective
from aejax.training import create_train_state, make_train_step

PAIRS = [(co.conv2d, co.conv2d_reference), (co.conv_transpose2d, co.conv_transpose2d_reference)]
PADDINGS = ["SAME", "VALID", ((1, 2), (0, 1))]


def _cases(sizes, kernels, strides, channels, seed=0):
    rng = np.random.default_rng(seed)
    for (h, w), k, s, pad, (c_in, c_out) in itertools.product(sizes, kernels, strides, PADDINGS, channels):
        x = jnp.asarray(rng.normal(size=(2, h, w, c_in)), jnp.float32)
        kernel = jnp.asarray(rng.normal(size=(k, k, c_in, c_out)), jnp.float32)
        yield x, kernel, (s, s), pad


@pytest.mark.parametrize("fn, reference", PAIRS, ids=["conv", "transpose"])
def test_values_equal_lax(fn, reference):
    checked = 0
    # compiled per case: one program each instead of dozens of op-by-op compilations
    fn, reference = (jax.jit(f, static_argnums=(2, 3)) for f in (fn, reference))
    for x, kernel, strides, pad in _cases([(7, 6)], [1, 3, 4], [1, 2, 3], [(3, 4), (5, 2)]):
        expected = reference(x, kernel, strides, pad)
        if expected.size == 0:
            continue
        got = fn(x, kernel, strides, pad)
        assert got.shape == expected.shape, (x.shape, kernel.shape, strides, pad)
        np.testing.assert_allclose(
            got, expected, rtol=1e-4, atol=1e-4, err_msg=f"{kernel.shape} {strides} {pad}"
        )
        checked += 1
    assert checked > 40


@pytest.mark.parametrize("fn, reference", PAIRS, ids=["conv", "transpose"])
def test_gradients_equal_lax(fn, reference):
    rng = np.random.default_rng(1)
    for x, kernel, strides, pad in _cases([(7, 6)], [3], [1, 2], [(3, 4), (5, 2)]):
        out = reference(x, kernel, strides, pad)
        cotangent = jnp.asarray(rng.normal(size=out.shape), jnp.float32)
        grads = []
        for f in (fn, reference):

            def total(x, k, f=f, strides=strides, pad=pad, cotangent=cotangent):
                return jnp.sum(f(x, k, strides, pad) * cotangent)

            grads.append(jax.jit(jax.grad(total, argnums=(0, 1)))(x, kernel))
        for got, expected in zip(*grads, strict=True):
            np.testing.assert_allclose(
                got, expected, rtol=1e-4, atol=1e-4, err_msg=f"{kernel.shape} {strides} {pad}"
            )


def test_the_autoencoder_is_the_same_function_with_either_implementation():
    spec = {"encoder": "conv", "decoder": "conv", "latent_dim": 8, "conv_features": (4, 8)}
    fast, reference = (build_model(ModelSpec(**spec, conv_impl=impl), (12, 12)) for impl in ("matmul", "xla"))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(4, 12, 12)), jnp.float32)
    variables = reference.init(jax.random.PRNGKey(0), x)
    assert jax.tree.structure(fast.init(jax.random.PRNGKey(0), x)) == jax.tree.structure(variables)
    np.testing.assert_allclose(
        jax.jit(fast.apply)(variables, x).reconstruction,
        jax.jit(reference.apply)(variables, x).reconstruction,
        rtol=1e-4,
        atol=1e-5,
    )

    def loss(model):
        return lambda params: jnp.mean((model.apply({"params": params}, x).reconstruction - x) ** 2)

    for got, expected in zip(
        jax.tree.leaves(jax.jit(jax.grad(loss(fast)))(variables["params"])),
        jax.tree.leaves(jax.jit(jax.grad(loss(reference)))(variables["params"])),
        strict=True,
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)

    losses = {}
    for impl, model in (("matmul", fast), ("xla", reference)):
        state = create_train_state(model, optax.adam(1e-3), (12, 12), seed=0)
        step = jax.jit(make_train_step(model, Objective("mse"), optax.constant_schedule(1e-3)))
        for _ in range(3):
            state, metrics = step(state, {"x": x})
        losses[impl] = float(metrics["loss"])
    np.testing.assert_allclose(losses["matmul"], losses["xla"], rtol=1e-4)


def test_inside_scan_equals_a_loop():
    x, kernel, strides, pad = next(_cases([(8, 8)], [3], [2], [(4, 6)]))

    def body(h, _):
        return jnp.tanh(
            co.conv_transpose2d(
                co.conv2d(h, kernel, strides, pad), kernel.transpose(0, 1, 3, 2), strides, pad
            )[:, :8, :8]
        ), None

    scanned, _ = jax.lax.scan(body, x, None, length=3)
    looped = x
    for _ in range(3):
        looped, _ = body(looped, None)
    np.testing.assert_allclose(scanned, looped, rtol=1e-5, atol=1e-6)


def test_errors_name_the_problem():
    x = jnp.zeros((1, 8, 8, 3))
    with pytest.raises(ValueError, match=r"kernel \(kh, kw, C, O\) with the same C"):
        co.conv2d(x, jnp.zeros((3, 3, 4, 2)))
    with pytest.raises(ValueError, match=r"padding must be 'SAME', 'VALID'"):
        co.conv2d(x, jnp.zeros((3, 3, 3, 2)), padding="FULL")
    with pytest.raises(ValueError, match=r"does not fit images"):
        co.conv2d(x, jnp.zeros((9, 9, 3, 2)), padding="VALID")
    with pytest.raises(ValueError, match=r"unknown model\.conv_impl 'cudnn'; valid: auto, matmul, xla"):
        build_model(ModelSpec(encoder="conv", decoder="conv", conv_impl="cudnn"), (28, 28))
