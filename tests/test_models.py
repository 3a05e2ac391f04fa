"""The MLP autoencoder: shapes, linearity, parameter layout, dropout, shape errors and seeding."""

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from aejax.families import build_model
from aejax.models import (
    ACTIVATIONS,
    DECODERS,
    ENCODERS,
    KERNEL_INITS,
    ModelSpec,
    get_activation,
    get_kernel_init,
)
from aejax.training import create_train_state

BATCH = 4


def _init(spec, input_shape=(16,), seed=0):
    model = build_model(spec, input_shape)
    params = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, *input_shape)))["params"]
    return model, params


def _leaf_names(params):
    return [path[-1].key for path, _ in jax.tree_util.tree_leaves_with_path(params)]


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=shape), jnp.float32)


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("input_shape", "latent_dim"),
    [((16,), 4), ((16,), 64), ((8, 8, 1), 4)],
    ids=["undercomplete", "overcomplete", "image"],
)
def test_output_shapes(input_shape, latent_dim):
    model, params = _init(ModelSpec(latent_dim=latent_dim, hidden=(32,)), input_shape)
    variables = {"params": params}
    x = _x((BATCH, *input_shape))

    code = model.apply(variables, x, method="encode")
    chex.assert_shape(code, (BATCH, latent_dim))
    decoded = model.apply(variables, code, method="decode")
    chex.assert_shape(decoded, (BATCH, *input_shape))

    out = model.apply(variables, x)
    chex.assert_shape(out.code, (BATCH, latent_dim))
    chex.assert_shape(out.logits, (BATCH, *input_shape))
    chex.assert_shape(out.reconstruction, (BATCH, *input_shape))
    chex.assert_tree_all_finite(out)
    # the parts agree with the whole, and reconstruction = sigmoid(logits) in [0, 1]
    np.testing.assert_allclose(np.asarray(out.code), np.asarray(code), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out.reconstruction), np.asarray(decoded), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(out.reconstruction), np.asarray(jax.nn.sigmoid(out.logits)), rtol=1e-6
    )
    assert float(out.reconstruction.min()) >= 0.0 and float(out.reconstruction.max()) <= 1.0


def test_shapes_hold_under_jit():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,)), (8, 8, 1))
    out = jax.jit(lambda p, x: model.apply({"params": p}, x))(params, _x((2, 8, 8, 1)))
    chex.assert_shape([out.reconstruction, out.logits], (2, 8, 8, 1))
    chex.assert_shape(out.code, (2, 4))


# ----------------------------------------------------------------------------- linearity

LINEAR = {"activation": "identity", "code_activation": "identity", "output_activation": "identity"}


def test_linear_autoencoder_without_bias_is_linear():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,), use_bias=False, **LINEAR))
    x, y = _x((BATCH, 16), seed=1), _x((BATCH, 16), seed=2)

    def f(v):
        return np.asarray(model.apply({"params": params}, v).reconstruction, np.float64)

    np.testing.assert_allclose(f(2 * x + 3 * y), 2 * f(x) + 3 * f(y), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f(jnp.zeros((BATCH, 16))), 0.0, atol=1e-7)


def test_linear_autoencoder_with_bias_is_affine_not_linear():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,), bias_init=0.1, **LINEAR))
    x, y = _x((BATCH, 16), seed=1), _x((BATCH, 16), seed=2)

    def f(v):
        return np.asarray(model.apply({"params": params}, v).reconstruction, np.float64)

    # affine: f(a x + (1 - a) y) = a f(x) + (1 - a) f(y) for every a, but f(0) != 0
    for a in (0.3, 2.5, -1.0):
        np.testing.assert_allclose(f(a * x + (1 - a) * y), a * f(x) + (1 - a) * f(y), rtol=1e-4, atol=1e-5)
    assert np.abs(f(jnp.zeros((BATCH, 16)))).max() > 1e-2


def test_nonlinear_activation_breaks_linearity():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,), use_bias=False, activation="tanh"))
    x, y = _x((BATCH, 16), seed=1), _x((BATCH, 16), seed=2)
    logits = lambda v: np.asarray(model.apply({"params": params}, v).logits)
    assert np.abs(logits(2 * x + 3 * y) - (2 * logits(x) + 3 * logits(y))).max() > 1e-2


# ----------------------------------------------------------------------------- parameters


def test_use_bias_false_has_no_bias_leaves():
    _, with_bias = _init(ModelSpec(latent_dim=4, hidden=(8,), layer_norm=True))
    _, without = _init(ModelSpec(latent_dim=4, hidden=(8,), layer_norm=True, use_bias=False))
    assert "bias" in _leaf_names(with_bias)
    assert "bias" not in _leaf_names(without)
    assert _leaf_names(without).count("kernel") == 4


def test_bias_init_constant_is_respected():
    _, params = _init(ModelSpec(latent_dim=4, hidden=(8, 6), bias_init=0.25))
    biases = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(params) if path[-1].key == "bias"]
    assert len(biases) == 6  # 2 encoder hidden + code, 2 decoder hidden + output
    for bias in biases:
        np.testing.assert_array_equal(np.asarray(bias), 0.25)


def test_kernel_init_registry_maps_names():
    for name, init in KERNEL_INITS.items():
        assert get_kernel_init(name) is init
    for name in ACTIVATIONS:
        assert callable(get_activation(name))


@pytest.mark.parametrize("name", sorted(KERNEL_INITS))
def test_every_kernel_init_builds_a_finite_model(name):
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,), kernel_init=name))
    chex.assert_tree_all_finite(params)
    chex.assert_tree_all_finite(model.apply({"params": params}, _x((2, 16))))


def test_kernel_init_changes_the_kernels():
    _, small = _init(ModelSpec(latent_dim=4, hidden=(8,), kernel_init="normal_0.01"))
    _, ortho = _init(ModelSpec(latent_dim=4, hidden=(8,), kernel_init="orthogonal"))
    _, default = _init(ModelSpec(latent_dim=4, hidden=(8,)))
    assert 0.007 < np.asarray(small["encoder"]["hidden"]["dense_0"]["kernel"]).std() < 0.013
    assert np.asarray(default["encoder"]["hidden"]["dense_0"]["kernel"]).std() > 0.1  # lecun: ~1/sqrt(16)
    w = np.asarray(ortho["encoder"]["hidden"]["dense_0"]["kernel"])  # (16, 8): orthonormal columns
    np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-5)


def test_unknown_kernel_init_raises_listing_names():
    with pytest.raises(ValueError, match="unknown kernel_init 'nope'") as info:
        _init(ModelSpec(latent_dim=4, hidden=(8,), kernel_init="nope"))
    for name in KERNEL_INITS:
        assert name in str(info.value)


@pytest.mark.parametrize("field", ["activation", "code_activation", "output_activation"])
def test_unknown_activation_raises_listing_names(field):
    with pytest.raises(ValueError, match=r"unknown activation 'nope'.*relu"):
        _init(ModelSpec(latent_dim=4, hidden=(8,), **{field: "nope"}))


def test_layer_norm_adds_norm_params():
    _, plain = _init(ModelSpec(latent_dim=4, hidden=(8,)))
    _, normed = _init(ModelSpec(latent_dim=4, hidden=(8,), layer_norm=True))
    assert "scale" not in _leaf_names(plain)
    assert set(normed["encoder"]["hidden"]) == {"dense_0", "norm_0"}
    assert set(normed["decoder"]["hidden"]) == {"dense_0", "norm_0"}
    np.testing.assert_array_equal(np.asarray(normed["encoder"]["hidden"]["norm_0"]["scale"]), 1.0)
    chex.assert_shape(normed["encoder"]["hidden"]["norm_0"]["scale"], (8,))


def _decoder_widths(params):
    hidden = params["decoder"].get("hidden", {})
    return [hidden[f"dense_{i}"]["kernel"].shape[1] for i in range(len(hidden))]


def test_decoder_hidden_default_mirrors_encoder():
    _, params = _init(ModelSpec(latent_dim=4, hidden=(32, 8)))
    assert [params["encoder"]["hidden"][f"dense_{i}"]["kernel"].shape[1] for i in range(2)] == [32, 8]
    assert _decoder_widths(params) == [8, 32]
    chex.assert_shape(params["decoder"]["hidden"]["dense_0"]["kernel"], (4, 8))
    chex.assert_shape(params["decoder"]["output"]["kernel"], (32, 16))


def test_decoder_hidden_empty_means_a_single_linear_decoder():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(32,), decoder_hidden=()))
    assert _decoder_widths(params) == []
    chex.assert_shape(params["decoder"]["output"]["kernel"], (4, 16))
    chex.assert_shape(model.apply({"params": params}, _x((2, 16))).reconstruction, (2, 16))


def test_decoder_hidden_explicit_widths_are_used():
    _, params = _init(ModelSpec(latent_dim=4, hidden=(32,), decoder_hidden=(6, 10)))
    assert _decoder_widths(params) == [6, 10]
    chex.assert_shape(params["decoder"]["output"]["kernel"], (10, 16))


def test_spec_from_mapping_turns_lists_into_tuples():
    spec = ModelSpec.from_mapping({"hidden": [32, 8], "decoder_hidden": [-1], "latent_dim": 3})
    assert spec.hidden == (32, 8) and spec.decoder_widths == (8, 32)
    hash(spec)


# ----------------------------------------------------------------------------- dropout


def test_dropout_is_random_in_training_and_off_in_evaluation():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(32,), dropout=0.5))
    plain, plain_params = _init(ModelSpec(latent_dim=4, hidden=(32,), dropout=0.0))
    chex.assert_trees_all_equal(params, plain_params)  # dropout adds no parameters
    x = _x((BATCH, 16))
    variables = {"params": params}

    def train(seed):
        rngs = {"dropout": jax.random.PRNGKey(seed)}
        return np.asarray(model.apply(variables, x, train=True, rngs=rngs).reconstruction)

    np.testing.assert_array_equal(train(1), train(1))
    assert np.abs(train(1) - train(2)).max() > 1e-4

    eval_a = np.asarray(model.apply(variables, x, train=False).reconstruction)
    eval_b = np.asarray(model.apply(variables, x, train=False).reconstruction)
    no_dropout = np.asarray(plain.apply(variables, x, train=False).reconstruction)
    np.testing.assert_array_equal(eval_a, eval_b)
    np.testing.assert_allclose(eval_a, no_dropout, rtol=1e-6)
    assert np.abs(train(1) - eval_a).max() > 1e-4


def test_dropout_in_training_needs_a_dropout_rng():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,), dropout=0.5))
    with pytest.raises(flax.errors.InvalidRngError, match="dropout"):
        model.apply({"params": params}, _x((2, 16)), train=True)


# ----------------------------------------------------------------------------- shape errors


def test_encode_rejects_wrong_input_shape():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,)))
    with pytest.raises(ValueError, match=r"encoder expects \(batch, 16\), got \(4, 15\)"):
        model.apply({"params": params}, jnp.zeros((4, 15)), method="encode")
    with pytest.raises(ValueError, match=r"encoder expects \(batch, 16\), got \(16,\)"):
        model.apply({"params": params}, jnp.zeros((16,)))


def test_image_model_rejects_flattened_input():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,)), (8, 8, 1))
    with pytest.raises(ValueError, match=r"encoder expects \(batch, 8, 8, 1\), got \(2, 64\)"):
        model.apply({"params": params}, jnp.zeros((2, 64)))


def test_decode_rejects_wrong_code_shape():
    model, params = _init(ModelSpec(latent_dim=4, hidden=(8,)))
    with pytest.raises(ValueError, match=r"decoder expects \(batch, 4\), got \(3, 5\)"):
        model.apply({"params": params}, jnp.zeros((3, 5)), method="decode")
    with pytest.raises(ValueError, match=r"decoder expects \(batch, 4\), got \(3, 4, 1\)"):
        model.apply({"params": params}, jnp.zeros((3, 4, 1)), method="decode_logits")


# ----------------------------------------------------------------------------- build_model


@pytest.mark.parametrize("latent_dim", [0, -3])
def test_build_model_rejects_non_positive_latent_dim(latent_dim):
    with pytest.raises(ValueError, match=f"latent_dim must be >= 1, got {latent_dim}"):
        build_model(ModelSpec(latent_dim=latent_dim), (16,))


def test_build_model_rejects_non_positive_widths():
    with pytest.raises(ValueError, match="hidden widths must be >= 1"):
        build_model(ModelSpec(hidden=(8, 0)), (16,))
    with pytest.raises(ValueError, match="hidden widths must be >= 1"):
        build_model(ModelSpec(hidden=(8,), decoder_hidden=(-2,)), (16,))


@pytest.mark.parametrize(("field", "table"), [("encoder", ENCODERS), ("decoder", DECODERS)])
def test_build_model_rejects_unknown_parts_listing_names(field, table):
    with pytest.raises(ValueError, match=f"unknown {field} 'nope'") as info:
        build_model(ModelSpec(**{field: "nope"}), (16,))
    for name in table:
        assert name in str(info.value)


# ----------------------------------------------------------------------------- seeding


def _state(seed, spec=None):
    model = build_model(spec or ModelSpec(latent_dim=4, hidden=(8,), dropout=0.1, layer_norm=True), (16,))
    return create_train_state(model, optax.adam(1e-3), (16,), seed=seed)


def test_same_seed_gives_bitwise_identical_params():
    a, b = _state(7), _state(7)
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)
    assert jax.tree_util.tree_structure(a.params) == jax.tree_util.tree_structure(b.params)
    for left, right in zip(leaves_a, leaves_b, strict=True):
        assert left.dtype == right.dtype
        np.testing.assert_array_equal(np.asarray(left), np.asarray(right))
    np.testing.assert_array_equal(jax.random.key_data(a.rng), jax.random.key_data(b.rng))


def test_different_seeds_give_different_params():
    a, b = _state(7), _state(8)
    kernels = zip(
        [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(a.params) if path[-1].key == "kernel"],
        [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(b.params) if path[-1].key == "kernel"],
        strict=True,
    )
    for left, right in kernels:
        assert not np.array_equal(np.asarray(left), np.asarray(right))
