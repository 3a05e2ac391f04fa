"""Convolutional encoder/decoder: shapes for grey and colour images, stride checks, normalization state in
train vs eval, and end-to-end fits (plain and variational) on 8x8 digits kept as images."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aejax
from aejax.families import build_model
from aejax.models import ModelSpec


@pytest.mark.parametrize("norm", ["none", "batch", "group", "layer"])
@pytest.mark.parametrize("upsample", ["transpose", "resize"])
@pytest.mark.parametrize("shape", [(28, 28), (32, 32, 3)])
def test_shapes(norm, upsample, shape):
    spec = ModelSpec(
        encoder="conv", decoder="conv", latent_dim=12, conv_features=(8, 16), norm=norm, upsample=upsample
    )
    model = build_model(spec, shape)
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(3, *shape)), jnp.float32)
    variables = model.init(jax.random.PRNGKey(0), x)
    out = model.apply(variables, x)
    chex.assert_shape(out.code, (3, 12))
    chex.assert_shape(out.reconstruction, (3, *shape))
    chex.assert_tree_all_finite(out)
    assert ("batch_stats" in variables) == (norm == "batch")
    decoded = model.apply(variables, out.code, method="decode")
    np.testing.assert_allclose(decoded, out.reconstruction, rtol=1e-5, atol=1e-6)


def test_shape_errors_name_the_problem():
    spec = ModelSpec(encoder="conv", decoder="conv", conv_features=(8, 8, 8))
    with pytest.raises(ValueError, match=r"28x28 cannot be downsampled 3 times by stride 2 .*divisible by 8"):
        build_model(spec, (28, 28))
    with pytest.raises(ValueError, match=r"data.flatten=False"):
        build_model(ModelSpec(encoder="conv", decoder="conv"), (784,))
    with pytest.raises(ValueError, match=r"unknown model\.norm"):
        build_model(ModelSpec(encoder="conv", decoder="conv", norm="instance"), (28, 28))


def test_batch_norm_updates_statistics_in_training_and_uses_them_in_eval():
    model = build_model(ModelSpec(encoder="conv", decoder="conv", conv_features=(4,), norm="batch"), (8, 8))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(16, 8, 8)), jnp.float32)
    variables = model.init(jax.random.PRNGKey(0), x)
    _, updated = model.apply(variables, x, train=True, mutable=["batch_stats"])
    before = jax.tree_util.tree_leaves(variables["batch_stats"])
    after = jax.tree_util.tree_leaves(updated["batch_stats"])
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    # Eval output depends on the running statistics, not on the batch: one example alone gives the same code.
    new = {"params": variables["params"], **updated}
    codes = model.apply(new, x, method="encode")
    np.testing.assert_allclose(model.apply(new, x[:1], method="encode"), codes[:1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", ["autoencoder", "vae"])
def test_conv_fit_on_digit_images(tiny_config, family, tmp_path):
    config = tiny_config
    config.data.flatten = False
    config.model.encoder = config.model.decoder = "conv"
    config.model.conv_features = (16, 32)
    config.model.norm = "batch"
    config.model.latent_dim = 8
    config.train.epochs = 8
    config.train.learning_rate = 3e-3
    config.train.log_every_steps = 1
    config.eval.compare_pca = False
    if family == "vae":
        config.model.family = "vae"
        config.loss.reconstruction = "bernoulli"
        config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    trained = aejax.fit(config, workdir=tmp_path)
    records = [
        r for r in aejax.training.MetricsLog(tmp_path / "metrics.jsonl").read() if r["split"] == "train"
    ]
    assert records[-1]["loss"] < 0.7 * records[0]["loss"], (records[0]["loss"], records[-1]["loss"])
    assert "batch_stats" in trained.state.model_state
    x = aejax.get_dataset(config).x_test
    assert x.shape[1:] == (8, 8) and trained.reconstruct(x[:3]).shape == (3, 8, 8)
    if family == "vae":
        assert trained.results["test"]["kl"] > 0 and trained.sample(4).shape == (4, 8, 8)
    loaded = aejax.load(tmp_path)
    np.testing.assert_allclose(loaded.reconstruct(x[:3]), trained.reconstruct(x[:3]), rtol=1e-5, atol=1e-6)
