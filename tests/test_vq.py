"""VQ-VAE: nearest-codebook quantization, straight-through gradients, codebook/commitment terms, usage stats."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aejax
from aejax.models.vq import VectorQuantizer, codebook_statistics
from aejax.objectives import Forward
from aejax.objectives.regularizers import vq_codebook, vq_commitment


def test_quantizer_picks_the_nearest_codebook_entry():
    quantizer = VectorQuantizer(num_embeddings=7, embedding_dim=3)
    z_e = jax.random.normal(jax.random.PRNGKey(1), (4, 5, 3))
    variables = quantizer.init(jax.random.PRNGKey(0), z_e)
    codebook = np.asarray(variables["params"]["codebook"])
    z_q, indices = quantizer.apply(variables, z_e)
    distances = ((np.asarray(z_e)[:, :, None, :] - codebook[None, None]) ** 2).sum(-1)
    np.testing.assert_array_equal(indices, distances.argmin(-1))
    np.testing.assert_allclose(z_q, codebook[distances.argmin(-1)])


def _vq_config(tiny_config):
    config = tiny_config
    config.model.family = "vqvae"
    config.model.latent_dim = 8
    config.model.vqvae.num_embeddings = 32
    config.model.vqvae.embedding_dim = 4
    config.loss.regularizers = {
        "codebook": {"fn": "vq_codebook", "weight": 1.0},
        "commitment": {"fn": "vq_commitment", "weight": 0.25},
    }
    config.train.epochs = 10
    config.train.learning_rate = 3e-3
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config


def test_straight_through_gradients_and_term_gradients(tiny_config):
    config = _vq_config(tiny_config)
    model = aejax.trained.model_from_config(config, (64,))
    x = jnp.asarray(aejax.get_dataset(config).x_train[:16])
    params = model.init(jax.random.PRNGKey(0), x)["params"]

    def terms(p):
        out = model.apply({"params": p}, x)
        forward = Forward(x=x, x_input=x, output=out, params=p, rng=None, encode=None)
        return jnp.mean(jnp.square(out.reconstruction - x)), vq_codebook(forward), vq_commitment(forward)

    recon_grad = jax.grad(lambda p: terms(p)[0])(params)
    book_grad = jax.grad(lambda p: terms(p)[1])(params)
    commit_grad = jax.grad(lambda p: terms(p)[2])(params)
    norm = lambda tree: float(sum(jnp.sum(jnp.abs(leaf)) for leaf in jax.tree_util.tree_leaves(tree)))
    # Reconstruction reaches the encoder through the straight-through estimator, but not the codebook.
    assert norm(recon_grad["encoder"]) > 0 and norm(recon_grad["quantizer"]) == 0
    # The codebook term moves only the codebook, the commitment term only the encoder.
    assert norm(book_grad["quantizer"]) > 0 and norm(book_grad["encoder"]) == 0
    assert norm(commit_grad["encoder"]) > 0 and norm(commit_grad["quantizer"]) == 0
    out = model.apply({"params": params}, x)
    expected = np.mean(np.sum((np.asarray(out.encoding) - np.asarray(out.quantized)) ** 2, axis=(1, 2)))
    assert float(terms(params)[1]) == pytest.approx(expected, rel=1e-5)
    assert float(terms(params)[2]) == pytest.approx(expected, rel=1e-5)


def test_codebook_statistics():
    stats = codebook_statistics(jnp.asarray([[0, 1], [1, 1]]), num_embeddings=4)
    p = np.array([0.25, 0.75])
    assert stats["codebook_usage"] == 0.5
    assert stats["codebook_perplexity"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_vqvae_trains_and_reports_codebook_use(tiny_config):
    config = _vq_config(tiny_config)
    trained = aejax.fit(config)
    test = trained.results["test"]
    assert 0 < test["codebook_usage"] <= 1 and test["codebook_perplexity"] > 2, test
    assert test["mse"] < 0.06
    codes = trained.encode(aejax.get_dataset(config).x_test[:5])
    codebook = np.asarray(trained.params["quantizer"]["codebook"])
    pieces = codes.reshape(5, -1, 4)
    assert all(np.min(np.abs(codebook - v).sum(axis=1)) < 1e-5 for v in pieces.reshape(-1, 4))
    config.model.vqvae.embedding_dim = 3
    with pytest.raises(ValueError, match=r"multiple of model\.vqvae\.embedding_dim"):
        aejax.fit(config)
