"""Image restoration: masks as pure functions, the hole loss, blind Gaussian levels, PSNR/SSIM, and the denoise,
inpaint and segmentation tasks end to end on scikit-learn's 8x8 digits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage.metrics import structural_similarity

import aejax
from aejax.cli import task_lines
from aejax.objectives import Corruption, Forward
from aejax.objectives.corruptions import (
    MISSING,
    centre_square_mask,
    gaussian_noise,
    random_boxes_mask,
    random_pixels_mask,
)
from aejax.objectives.regularizers import hole_mse
from aejax.tasks.restoration import mean_ssim, psnr_in_hole


def test_centre_square_mask_is_exact():
    x = jnp.zeros((2, 7, 6))
    mask = np.asarray(centre_square_mask(x, 3))
    expected = np.zeros((7, 6))
    expected[2:5, 1:4] = 1
    np.testing.assert_array_equal(mask[0], expected)
    np.testing.assert_array_equal(mask[1], expected)
    assert centre_square_mask(jnp.zeros((1, 8, 8, 3)), 2).shape == (1, 8, 8, 3)


def test_random_masks_are_seeded_per_image_and_cover_the_requested_amount():
    x = jnp.zeros((200, 16, 16, 3))
    pixels = np.asarray(random_pixels_mask(x, jax.random.PRNGKey(0), 0.3))
    assert abs(pixels.mean() - 0.3) < 0.01
    assert np.all(pixels == pixels[..., :1])  # a pixel goes missing in every channel at once
    boxes = np.asarray(random_boxes_mask(x, jax.random.PRNGKey(1), num_boxes=2, max_size=5))
    np.testing.assert_array_equal(boxes, np.asarray(random_boxes_mask(x, jax.random.PRNGKey(1), 2, 5)))
    per_image = boxes[..., 0].reshape(200, -1).sum(axis=1)
    assert per_image.min() >= 1 and per_image.max() <= 2 * 25 and len(np.unique(per_image)) > 5
    with pytest.raises(ValueError, match=r"data\.flatten=False"):
        random_pixels_mask(jnp.zeros((2, 64)), jax.random.PRNGKey(0), 0.5)


def test_inpainting_corruption_marks_the_hole_and_the_hole_loss_counts_only_it():
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(4, 6, 6)), jnp.float32)
    masked = Corruption(kind="centre_square", size=2)(x, jax.random.PRNGKey(0))
    hole = np.asarray(masked) == MISSING
    assert hole.sum() == 4 * 4 and np.allclose(np.asarray(masked)[~hole], np.asarray(x)[~hole])
    recon = np.asarray(x).copy()
    recon[hole] += 0.5  # error only inside the hole
    recon[:, 0, 0] += 1.0  # and a larger one outside it, which the hole loss must ignore
    output = type("Out", (), {"reconstruction": jnp.asarray(recon)})()
    forward = Forward(x=x, x_input=masked, output=output, params={}, rng=None, encode=None)
    assert float(hole_mse(forward)) == pytest.approx(0.25, rel=1e-6)
    assert psnr_in_hole(np.asarray(x), recon, hole.astype(np.float32)) == pytest.approx(
        10 * np.log10(1 / 0.25)
    )


def test_blind_gaussian_levels_vary_per_example():
    x = jnp.zeros((64, 100))
    noisy = np.asarray(gaussian_noise(x, jax.random.PRNGKey(0), std=0.1, std_max=0.6, clip=False))
    stds = noisy.std(axis=1)
    assert stds.min() > 0.07 and stds.max() < 0.7 and stds.max() - stds.min() > 0.3


def test_mean_ssim_against_skimage():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(3, 64))
    b = np.clip(a + rng.normal(scale=0.1, size=a.shape), 0, 1)
    expected = np.mean(
        [
            structural_similarity(p.reshape(8, 8), q.reshape(8, 8), data_range=1.0)
            for p, q in zip(a, b, strict=True)
        ]
    )
    assert mean_ssim(a, b, (8, 8)) == pytest.approx(expected)


@pytest.fixture
def conv_config(tiny_config):
    c = tiny_config
    c.data.flatten = False
    c.model.encoder = c.model.decoder = "conv"
    c.model.conv_features = (16, 32)
    c.model.latent_dim = 16
    c.train.epochs = 10
    c.train.learning_rate = 3e-3
    c.eval.compare_pca = False
    c.eval.jacobian_examples = 0
    c.task.max_examples = 60
    return c


def test_denoise_task_beats_the_noisy_input(conv_config, tmp_path):
    conv_config.task.name = "denoise"
    conv_config.task.noise_levels = (0.3, 0.5)
    conv_config.loss.corruption.kind = "gaussian"
    conv_config.loss.corruption.std = 0.1
    conv_config.loss.corruption.std_max = 0.6
    report = aejax.run_task(conv_config, tmp_path)
    for row in report["rows"]:
        methods = row["methods"]
        assert methods["autoencoder"]["psnr"] > methods["noisy input"]["psnr"] + 1.0, row
        assert len(methods) == 4
    assert (tmp_path / "denoise.json").is_file() and (tmp_path / "denoise_sigma0.3.png").is_file()
    assert task_lines("denoise", report)[0].startswith("denoise sigma 0.3: PSNR/SSIM noisy input")


def test_inpaint_task_beats_the_mean_fill(conv_config, tmp_path):
    conv_config.task.name = "inpaint"
    conv_config.loss.corruption.kind = "centre_square"
    conv_config.loss.corruption.size = 4
    conv_config.loss.regularizers = {"hole": {"fn": "hole_mse", "weight": 1.0}}
    report = aejax.run_task(conv_config, tmp_path)
    assert report["missing_fraction"] == pytest.approx(16 / 64)
    assert report["psnr_hole_autoencoder"] > report["psnr_hole_mean_fill"] + 2.0, report
    assert np.isfinite(report["psnr_hole_biharmonic"])
    assert (tmp_path / "inpaint.png").is_file()
    conv_config.loss.corruption.kind = "gaussian"
    with pytest.raises(ValueError, match="trains on holes"):
        aejax.run_task(conv_config, tmp_path / "bad")


def test_segmentation_task_through_run_task(tiny_config, tmp_path):
    tiny_config.task.name = "segmentation"
    tiny_config.data.source = "digits"
    tiny_config.data.flatten = False
    tiny_config.model.conv_features = (8, 16)
    tiny_config.train.epochs = 1
    tiny_config.train.batch_size = 32
    import aejax.tasks.segmentation as seg

    calls = {}
    real = seg.run_segmentation
    monkey_kwargs = {"sizes": (64, 16, 16), "canvas_size": 16}

    def small(workdir, **kwargs):
        calls.update(kwargs)
        return real(workdir, **{**kwargs, **monkey_kwargs})

    seg_run = seg.run_segmentation
    seg.run_segmentation = small
    try:
        report = aejax.run_task(tiny_config, tmp_path)
    finally:
        seg.run_segmentation = seg_run
    assert calls["source"] == "digits" and calls["features"] == (8, 16) and calls["epochs"] == 1
    assert report["task"] == "segmentation" and 0 <= report["test"]["mean_iou"] <= 1
    assert task_lines("segmentation", report)[0].startswith("segmentation: test pixel accuracy")
