"""SegNet segmentation: pooling with indices and unpooling, metrics against hand-computed values, the
multi-digit canvas generator, and one tiny end-to-end run on scikit-learn's digits."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits

from aejax.data.segmentation import (
    NUM_CLASSES,
    _digit_splits,
    build_segmentation_data,
    make_canvases,
    paste_digit,
)
from aejax.models.segnet import SegNet, max_pool_with_indices, unpool
from aejax.tasks.segmentation import iou_per_class, mean_iou, pixel_accuracy, run_segmentation

# --------------------------------------------------------------------------- pooling and unpooling


def test_max_pool_with_indices_matches_a_numpy_loop():
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, 6, 4, 3)))
    values, idx = jax.jit(max_pool_with_indices)(jnp.asarray(x))
    chex.assert_shape([values, idx], (2, 3, 2, 3))
    assert idx.dtype == jnp.int32
    for b in range(2):
        for i in range(3):
            for j in range(2):
                for c in range(3):
                    window = x[b, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, c].ravel()  # row-major
                    assert int(idx[b, i, j, c]) == int(np.argmax(window))
                    assert float(values[b, i, j, c]) == pytest.approx(window.max())


def test_unpool_of_max_pool_keeps_the_maxima_and_zeros_the_rest():
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 8, 8, 2))
    values, idx = max_pool_with_indices(x)
    restored = np.asarray(jax.jit(unpool)(values, idx))
    chex.assert_shape(restored, x.shape)
    # the kept position of each window, recomputed independently with NumPy
    windows = np.asarray(x).reshape(3, 4, 2, 4, 2, 2)
    window_max = windows.max(axis=(2, 4), keepdims=True)
    kept = np.broadcast_to(windows == window_max, windows.shape).reshape(x.shape)  # continuous draws: no ties
    assert kept.reshape(3, 4, 2, 4, 2, 2).sum(axis=(2, 4)).max() == 1
    np.testing.assert_array_equal(restored[kept], np.asarray(x)[kept])
    np.testing.assert_array_equal(restored[~kept], 0.0)
    assert np.count_nonzero(restored) == x.size // 4


def test_unpool_is_the_adjoint_of_selection_and_inverts_pooling_of_positive_values():
    kx, ky, ki = jax.random.split(jax.random.PRNGKey(2), 3)
    x = jax.random.normal(kx, (2, 4, 6, 3))
    y = jax.random.normal(ky, (2, 2, 3, 3))
    idx = jax.random.randint(ki, (2, 2, 3, 3), 0, 4)
    # select(x, idx) takes the entry of each 2x2 window at idx; computed by hand with NumPy
    windows = np.asarray(x).reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 2, 3, 3, 4)
    selected = np.take_along_axis(windows, np.asarray(idx)[..., None], -1)[..., 0]
    # <select(x), y> == <x, unpool(y)>: unpool is the transpose (adjoint) of selection
    assert float(jnp.sum(unpool(y, idx) * x)) == pytest.approx(float(np.sum(selected * y)), rel=1e-5)
    # and JAX's transpose of unpool, applied to x, is exactly that selection
    _, vjp = jax.vjp(lambda v: unpool(v, idx), y)
    np.testing.assert_allclose(np.asarray(vjp(x)[0]), selected, rtol=1e-6)
    # max_pool(unpool(p, idx)) == (p, idx) when p > 0: pooling is a left inverse of unpooling
    p = jnp.abs(y) + 0.1
    values, back = max_pool_with_indices(unpool(p, idx))
    np.testing.assert_array_equal(np.asarray(values), np.asarray(p))
    np.testing.assert_array_equal(np.asarray(back), np.asarray(idx))


def test_pooling_rejects_odd_sizes():
    with pytest.raises(ValueError, match="even height and width"):
        max_pool_with_indices(jnp.zeros((1, 5, 4, 1)))
    with pytest.raises(ValueError, match="same shape"):
        unpool(jnp.zeros((1, 2, 2, 1)), jnp.zeros((1, 2, 3, 1), jnp.int32))


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_segnet_shapes_and_batch_stats(norm):
    model = SegNet(num_classes=NUM_CLASSES, features=(4, 8), convs_per_block=1, norm=norm)
    x = jnp.ones((2, 16, 16))
    variables = model.init(jax.random.PRNGKey(0), x, train=False)
    assert ("batch_stats" in variables) == (norm == "batch")
    logits = model.apply(variables, x, train=False)
    chex.assert_shape(logits, (2, 16, 16, NUM_CLASSES))
    chex.assert_tree_all_finite(logits)
    if norm == "batch":
        _, updates = model.apply(variables, x + 1.0, train=True, mutable=["batch_stats"])
        before, after = jax.tree.leaves(variables["batch_stats"]), jax.tree.leaves(updates["batch_stats"])
        assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    with pytest.raises(ValueError, match="divisible by 4"):
        model.init(jax.random.PRNGKey(0), jnp.ones((1, 18, 18)), train=False)


# --------------------------------------------------------------------------- metrics


def test_metrics_against_hand_computed_values():
    target = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    assert pixel_accuracy(pred, target) == pytest.approx(4 / 6)
    # class 0: I=1, U=3; class 1: I=2, U=3; class 2: I=1, U=2; class 3: absent from both -> ignored
    ious = iou_per_class(pred, target, num_classes=4)
    np.testing.assert_allclose(ious[:3], [1 / 3, 2 / 3, 1 / 2])
    assert np.isnan(ious[3])
    assert mean_iou(pred, target, num_classes=4) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    # a class only in the prediction counts (IoU 0)
    assert mean_iou(np.array([3, 0]), np.array([0, 0]), num_classes=4) == pytest.approx((1 / 2 + 0) / 2)


def test_perfect_and_constant_predictions():
    rng = np.random.default_rng(0)
    target = rng.integers(0, NUM_CLASSES, size=(4, 10, 10))
    target[0, :5] = 0
    assert mean_iou(target, target, NUM_CLASSES) == 1.0
    assert pixel_accuracy(target, target) == 1.0
    background = np.zeros_like(target)
    frac = float(np.mean(target == 0))
    present = len(np.unique(target))  # background + each digit class in the ground truth
    # background IoU = |true bg| / all pixels; every digit class present has IoU 0
    assert mean_iou(background, target, NUM_CLASSES) == pytest.approx(frac / present)
    assert pixel_accuracy(background, target) == pytest.approx(frac)
    with pytest.raises(ValueError, match="same shape"):
        pixel_accuracy(target[:2], target)
    with pytest.raises(ValueError, match="labels must be in"):
        mean_iou(target + 1, target, NUM_CLASSES)


# --------------------------------------------------------------------------- data


def test_paste_overwrites_image_and_mask_consistently():
    canvas, mask = np.zeros((4, 4), np.float32), np.zeros((4, 4), np.int32)
    first = np.array([[0.9, 0.3], [0.8, 0.0]], np.float32)
    second = np.array([[0.6, 0.2], [0.4, 0.7]], np.float32)
    paste_digit(canvas, mask, first, 3, 0, 0)
    paste_digit(canvas, mask, second, 7, 1, 0)
    np.testing.assert_allclose(canvas[:3, :2], [[0.9, 0.3], [0.6, 0.2], [0.4, 0.7]])
    np.testing.assert_array_equal(mask[:3, :2], [[4, 0], [8, 0], [0, 8]])
    assert canvas[3:].sum() == 0 and canvas[:, 2:].sum() == 0
    with pytest.raises(ValueError, match="does not fit"):
        paste_digit(canvas, mask, first, 1, 3, 3)


def test_canvases_are_seeded_and_labels_match_images():
    data = build_segmentation_data("digits", canvas_size=16, sizes=(20, 5, 5), seed=3)
    again = build_segmentation_data("digits", canvas_size=16, sizes=(20, 5, 5), seed=3)
    other = build_segmentation_data("digits", canvas_size=16, sizes=(20, 5, 5), seed=4)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    np.testing.assert_array_equal(data.m_test, again.m_test)
    assert not np.array_equal(data.x_train, other.x_train)
    for split in ("train", "val", "test"):
        x, m = data.split(split)
        chex.assert_shape(x, (m.shape[0], 16, 16, 1))
        assert x.dtype == np.float32 and m.dtype == np.int32
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert m.min() >= 0 and m.max() < NUM_CLASSES
        np.testing.assert_array_equal(m > 0, x[..., 0] > 0.5)  # foreground iff labelled
    assert len(np.unique(data.m_train)) > 5  # several digit classes appear


def test_a_single_digit_canvas_is_labelled_with_its_class():
    digits = np.zeros((2, 3, 3), np.float32)
    digits[0, 1, :] = 1.0  # a bar of class 4
    digits[1, :, 1] = 0.9  # a bar of class 9
    x, m = make_canvases(digits, np.array([4, 9]), 30, 5, min_digits=1, max_digits=1, seed=0)
    for xi, mi in zip(x[..., 0], m, strict=True):
        labels = set(np.unique(mi[mi > 0]).tolist())
        assert labels in ({5}, {10})
        expected = 1.0 if labels == {5} else 0.9
        np.testing.assert_allclose(xi[mi > 0], expected)
        assert np.count_nonzero(mi) == 3


def test_split_digits_are_disjoint():
    splits = _digit_splits("digits", "", 0)
    assert sum(images.shape[0] for images, _ in splits.values()) == 1797  # every digit used exactly once
    keys = {name: {x.tobytes() for x in images} for name, (images, _) in splits.items()}
    # sklearn's digits hold a few byte-identical images; only those may appear in two splits
    pool = (load_digits().images / 16.0).astype(np.float32)
    duplicates = pool.shape[0] - len({x.tobytes() for x in pool})
    shared = (
        len(keys["train"] & keys["val"]) + len(keys["train"] & keys["test"]) + len(keys["val"] & keys["test"])
    )
    assert shared <= duplicates


# --------------------------------------------------------------------------- end to end


def test_tiny_run_on_sklearn_digits_beats_the_constant_predictor(tmp_path):
    report = run_segmentation(
        tmp_path,
        source="digits",
        canvas_size=16,
        sizes=(512, 32, 64),
        min_digits=1,
        max_digits=2,
        features=(16, 32),
        convs_per_block=2,
        epochs=10,
        batch_size=16,
        learning_rate=3e-3,
        seed=0,
        overlay_examples=2,
        save_checkpoint=False,
        log=lambda _: None,
    )
    test = report["test"]
    history = report["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert test["pixel_accuracy"] > test["background_pixel_accuracy"], test
    assert test["mean_iou"] > test["background_mean_iou"] + 0.05, test  # measured 0.24 vs 0.08
    saved = json.loads((tmp_path / "segmentation.json").read_text())
    assert saved["test"]["mean_iou"] == pytest.approx(test["mean_iou"])
    assert (tmp_path / "overlays.png").stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlays.png", "segmentation.json"]
