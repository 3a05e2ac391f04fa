"""Discrete and sparse codes: bottlenecks, arithmetic coding, the codec, retrieval metrics, and the
compress / hashing / ksparse tasks end to end on the bundled digits."""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import aejax
from aejax import entropy_coding
from aejax.codec import HEADER_BYTES, Codec
from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.models import bottleneck as bn
from aejax.tasks import compression, hashing, ksparse


def _init(spec, shape=(20,)):
    model = build_model(spec, shape)
    variables = model.init(
        {"params": jax.random.PRNGKey(0), "latent": jax.random.PRNGKey(1)}, jnp.ones((2, *shape))
    )
    return model, variables


# ---------------------------------------------------------------- bottlenecks


def test_top_k_keeps_exactly_k_largest():
    a = jax.random.normal(jax.random.PRNGKey(0), (16, 50))
    for k in (1, 7, 50):
        out = np.asarray(bn.top_k(a, k))
        assert np.all((out != 0).sum(axis=1) == k)
        kth = np.sort(np.asarray(a), axis=1)[:, -k][:, None]
        np.testing.assert_array_equal(out, np.where(np.asarray(a) >= kth, np.asarray(a), 0.0))


def test_top_k_gradient_reaches_kept_units_only():
    a = jax.random.normal(jax.random.PRNGKey(1), (4, 10))
    grad = np.asarray(jax.grad(lambda v: jnp.sum(bn.top_k(v, 3) * 2.0))(a))
    kept = np.asarray(bn.top_k(a, 3)) != 0
    np.testing.assert_array_equal(grad, np.where(kept, 2.0, 0.0))


def test_topk_model_keeps_k_in_training_and_alpha_k_in_evaluation():
    model, variables = _init(ModelSpec(latent_dim=30, bottleneck="topk", topk=4, topk_alpha=2.5))
    x = jax.random.uniform(jax.random.PRNGKey(2), (8, 20))
    train_code = model.apply(variables, x, train=True, method="encode")
    eval_code = model.apply(variables, x, method="encode")
    assert np.all((np.asarray(train_code) != 0).sum(axis=1) == 4)
    assert np.all((np.asarray(eval_code) != 0).sum(axis=1) == 10)  # round(2.5 * 4)


@pytest.mark.parametrize("levels", [2, 3, 7])
def test_quantize_symbols_and_straight_through_gradient(levels):
    a = jnp.linspace(-4.0, 4.0, 101)[None]
    symbols = np.asarray(bn.quantize_symbols(a, levels))
    assert symbols.min() == 0 and symbols.max() == levels - 1
    assert np.all(np.diff(symbols) >= 0)  # monotone in the activation
    code = np.asarray(bn.quantize(a, levels))
    np.testing.assert_allclose(code, symbols - (levels - 1) / 2, atol=1e-6)
    np.testing.assert_allclose(np.asarray(bn.symbols_to_quantized(symbols, levels)), code, atol=1e-6)
    grad = np.asarray(jax.grad(lambda v: jnp.sum(bn.quantize(v, levels)))(a))
    np.testing.assert_allclose(grad, 0.5 * levels * (1 - np.tanh(np.asarray(a)) ** 2), rtol=1e-4, atol=1e-6)


def test_binarize_bits_and_sigmoid_gradient():
    a = jnp.array([[-2.0, -0.1, 0.3, 5.0]])
    np.testing.assert_array_equal(np.asarray(bn.binarize(a)), [[0, 0, 1, 1]])
    grad = np.asarray(jax.grad(lambda v: jnp.sum(bn.binarize(v)))(a))
    s = 1 / (1 + np.exp(-np.asarray(a)))
    np.testing.assert_allclose(grad, s * (1 - s), rtol=1e-5)


def test_binary_noise_needs_latent_rng_only_in_training():
    model, variables = _init(ModelSpec(latent_dim=8, bottleneck="binary", binary_noise=1.0))
    x = jnp.ones((3, 20))
    clean = model.apply(variables, x, method="encode")  # no rng needed in evaluation
    noisy = [
        model.apply(variables, x, train=True, method="encode", rngs={"latent": jax.random.PRNGKey(i)})
        for i in range(5)
    ]
    assert any(not np.array_equal(clean, n) for n in noisy)


def test_symbols_roundtrip_through_the_decoder():
    for kind in ("quantize", "binary"):
        model, variables = _init(ModelSpec(latent_dim=6, bottleneck=kind, quantize_levels=5))
        x = jax.random.uniform(jax.random.PRNGKey(3), (5, 20))
        symbols = model.apply(variables, x, method="code_symbols")
        assert symbols.dtype == jnp.int32
        np.testing.assert_allclose(
            model.apply(variables, symbols, method="decode_symbols"),
            model.apply(variables, x).reconstruction,
            atol=1e-6,
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bottleneck": "hash"}, "unknown model.bottleneck"),
        ({"bottleneck": "topk", "topk": 0}, "model.topk"),
        ({"bottleneck": "topk", "topk": 3, "topk_alpha": 0.5}, "topk_alpha"),
        ({"bottleneck": "quantize", "quantize_levels": 1}, "quantize_levels"),
        ({"bottleneck": "binary", "code_activation": "sigmoid"}, "code_activation='identity'"),
        ({"bottleneck": "binary", "family": "vae"}, "family='autoencoder'"),
    ],
)
def test_bad_bottleneck_settings_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        build_model(ModelSpec(latent_dim=8, **changes), (20,))


def test_code_symbols_of_a_continuous_code_is_an_error():
    model, variables = _init(ModelSpec(latent_dim=4))
    with pytest.raises(ValueError, match="discrete code"):
        model.apply(variables, jnp.ones((1, 20)), method="code_symbols")


# ---------------------------------------------------------------- arithmetic coding


@pytest.mark.parametrize(("alphabet", "n", "positions"), [(2, 200, 16), (5, 300, 12), (9, 40, 3)])
def test_arithmetic_coding_roundtrip_near_the_entropy_bound(alphabet, n, positions):
    rng = np.random.default_rng(alphabet)
    probs = rng.dirichlet(np.full(alphabet, 0.4), size=positions)
    symbols = np.stack([[rng.choice(alphabet, p=probs[d]) for d in range(positions)] for _ in range(n)])
    tables = entropy_coding.frequency_tables(symbols, alphabet)
    data = entropy_coding.encode(symbols, tables)
    np.testing.assert_array_equal(entropy_coding.decode(data, n, tables), symbols)
    bound = entropy_coding.ideal_bits(symbols, tables).sum()
    assert bound <= 8 * len(data) <= bound + 2 + 8  # 2 termination bits, then padding to whole bytes


def test_frequency_tables_follow_the_counts():
    symbols = np.array([[0, 1]] * 90 + [[1, 1]] * 10)
    tables = entropy_coding.frequency_tables(symbols, 2, prior=0.0)
    np.testing.assert_allclose(tables[0] / tables[0].sum(), [0.9, 0.1], atol=1e-3)
    assert tables[1, 0] >= 1  # an unseen symbol keeps a non-zero frequency


def test_entropy_coder_rejects_symbols_outside_the_alphabet():
    tables = entropy_coding.frequency_tables(np.zeros((4, 2), int), 3)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        entropy_coding.encode(np.array([[0, 3]]), tables)


# ---------------------------------------------------------------- codec, retrieval, tasks (trained on digits)


def _digits_config(**model):
    config = aejax.load_default()
    config.train.epochs = 2
    config.train.progress = False
    config.model.hidden = (32,)
    config.eval.plots = False
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    for key, value in model.items():
        config.model[key] = value
    return config


@pytest.fixture(scope="module")
def quantized():
    return aejax.fit(_digits_config(latent_dim=8, bottleneck="quantize", quantize_levels=5))


def test_codec_roundtrip_and_sizes(quantized, tmp_path):
    x = aejax.get_dataset(quantized.config).x_test
    codec = Codec.fit(quantized, aejax.get_dataset(quantized.config).x_train)
    stream = codec.compress(x)
    np.testing.assert_array_equal(codec.decompress_symbols(stream), quantized.code_symbols(x))
    np.testing.assert_array_equal(
        codec.decompress(stream), quantized.decode_symbols(quantized.code_symbols(x))
    )
    payload = codec.payload_bytes(x)
    assert np.all(8 * payload >= np.floor(codec.ideal_bits(x)))
    assert len(stream) - HEADER_BYTES <= payload.sum()  # one stream never costs more than separate payloads
    assert codec.decompress(codec.compress(x[:0])).shape == (0, *quantized.input_shape)
    saved = Codec.load(quantized, codec.save(tmp_path / "codec.npz"))
    np.testing.assert_array_equal(saved.decompress(stream), codec.decompress(stream))


def test_codec_refuses_corrupt_or_foreign_streams(quantized):
    x = aejax.get_dataset(quantized.config).x_test[:10]
    codec = Codec.fit(quantized, x)
    stream = codec.compress(x)
    with pytest.raises(ValueError, match="not an aejax codec stream"):
        codec.decompress(b"JPEG" + stream[4:])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        codec.decompress(stream[:-1])
    damaged = bytearray(stream)
    damaged[-1] ^= 0xFF
    with pytest.raises(ValueError, match="corrupt or truncated"):
        codec.decompress(bytes(damaged))
    other = Codec(quantized, codec.tables + 1)
    with pytest.raises(ValueError, match="different frequency tables"):
        other.decompress(stream)


def test_codec_needs_a_discrete_code():
    trained = aejax.fit(_digits_config(latent_dim=4))
    with pytest.raises(ValueError, match="discrete code"):
        Codec.fit(trained, np.zeros((2, 64), np.float32))


def test_retrieval_metrics_match_a_brute_force_reference():
    rng = np.random.default_rng(0)
    q_bits, d_bits = rng.integers(0, 2, (7, 12)), rng.integers(0, 2, (40, 12))
    q_labels, d_labels = rng.integers(0, 3, 7), rng.integers(0, 3, 40)
    distances = hashing.hamming_distances(q_bits, d_bits)
    np.testing.assert_array_equal(distances, (q_bits[:, None, :] != d_bits[None]).sum(-1))
    relevance = hashing.ranked_relevance(q_bits, d_bits, q_labels, d_labels)
    aps, p5 = [], []
    for i in range(7):
        order = sorted(range(40), key=lambda j: (distances[i, j], j))
        rel = [d_labels[j] == q_labels[i] for j in order]
        hits = [r / (n + 1) for n, r in enumerate(np.cumsum(rel)) if rel[n]]
        aps.append(np.mean(hits) if hits else 0.0)
        p5.append(np.mean(rel[:5]))
    assert hashing.mean_average_precision(relevance) == pytest.approx(np.mean(aps))
    assert hashing.precision_at(relevance, 5) == pytest.approx(np.mean(p5))


def test_average_precision_of_perfect_and_worst_rankings():
    perfect = np.array([[True, True, False, False]])
    worst = np.array([[False, False, True, True]])
    assert hashing.mean_average_precision(perfect) == 1.0
    assert hashing.mean_average_precision(worst) == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_hashing_baselines_have_the_requested_bits():
    x = np.random.default_rng(0).random((50, 20)).astype(np.float32)
    for bits in (hashing.pca_sign_bits(x, x, 8), hashing.random_projection_bits(x, x, 8, 0)):
        assert bits.shape == (50, 8) and set(np.unique(bits)) <= {0, 1}
        assert 0.2 < bits.mean() < 0.8  # centred projections split the data


def test_jpeg_scan_bytes_and_roundtrip():
    image = (np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)
    data, decoded = compression.jpeg_roundtrip(image, 50)
    assert decoded.shape == (28, 28) and 0 < compression.jpeg_scan_bytes(data) < len(data) - 100
    from PIL import Image

    assert Image.open(io.BytesIO(data)).format == "JPEG"
    with pytest.raises(ValueError, match="baseline JPEG"):
        compression.jpeg_scan_bytes(b"not a jpeg")


def test_beats_jpeg_rules():
    curve = [{"bpp_scan": 0.5, "psnr": 15.0}, {"bpp_scan": 1.0, "psnr": 20.0}]
    assert compression.beats_jpeg({"bpp": 0.75, "psnr": 18.0}, curve, "bpp_scan")
    assert not compression.beats_jpeg({"bpp": 0.75, "psnr": 17.0}, curve, "bpp_scan")
    assert compression.beats_jpeg({"bpp": 0.1, "psnr": 16.0}, curve, "bpp_scan")  # fewer bits, better PSNR
    assert not compression.beats_jpeg({"bpp": 2.0, "psnr": 30.0}, curve, "bpp_scan")  # beyond the curve


def test_compress_task_on_digits(tmp_path):
    config = _digits_config()
    config.eval.plots = True
    config.task.name = "compress"
    config.task.code_sizes = (4,)
    config.task.quantize_levels = (3,)
    config.task.jpeg_qualities = (10, 50)
    report = aejax.run_task(config, tmp_path)
    (row,) = report["learned"]
    assert 0 < row["bpp"] <= row["bits_uncoded"] / 64 + 8 / 64 and row["bpp_ideal"] <= row["bpp"]
    assert [r["quality"] for r in report["jpeg"]] == [10, 50]
    assert report["jpeg"][1]["psnr"] > report["jpeg"][0]["psnr"]
    for name in (
        "compress.json",
        "compress.md",
        "rate_distortion.png",
        "compression_examples.png",
        "k4_L3/codec.npz",
    ):
        assert (tmp_path / name).is_file()


def test_hashing_task_on_digits(tmp_path):
    config = _digits_config()
    config.task.name = "hashing"
    config.task.code_sizes = (8,)
    config.task.retrieval_k = 10
    report = aejax.run_task(config, tmp_path)
    (row,) = report["rows"]
    for method in ("autoencoder", "pca_sign", "random_projection"):
        assert 0.1 < row[method]["precision_at_10"] <= 1.0  # above chance (10 classes) or equal
        assert 0 < row[method]["map"] <= 1.0
    assert (tmp_path / "precision_at_k.png").is_file()


def test_ksparse_task_on_digits(tmp_path):
    config = _digits_config(latent_dim=24, topk_alpha=2.0)
    config.eval.plots = True
    config.task.name = "ksparse"
    config.task.sparse_ks = (3, 8)
    report = aejax.run_task(config, tmp_path)
    assert [r["eval_k"] for r in report["rows"]] == [6, 16]
    for row in report["rows"]:
        assert row["mean_nonzero_test"] <= row["eval_k"]
        assert 0 <= row["dead_units"] <= 24 and row["linear_probe"] > 0.2
    assert (tmp_path / "k3" / "unit_pictures.png").is_file()
    assert ksparse.dead_units(np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]])) == 1


def test_topk_schedule_anneals_k_in_training_only():
    model, variables = _init(
        ModelSpec(latent_dim=30, bottleneck="topk", topk=4, topk_start=20, topk_schedule_steps=10)
    )
    assert model.uses_step
    x = jax.random.uniform(jax.random.PRNGKey(5), (6, 20))
    for step, expected in ((0, 20), (5, 12), (10, 4), (50, 4)):
        code = model.apply(variables, x, train=True, step=jnp.asarray(step), method="encode")
        assert np.all((np.asarray(code) != 0).sum(axis=1) == expected)
    assert np.all((np.asarray(model.apply(variables, x, method="encode")) != 0).sum(axis=1) == 4)
    with pytest.raises(ValueError, match="topk_start"):
        build_model(
            ModelSpec(latent_dim=30, bottleneck="topk", topk=4, topk_start=2, topk_schedule_steps=10), (20,)
        )
