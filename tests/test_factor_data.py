"""Ground-truth-factor images (aejax.data.factors): DSprites and ColorShapes geometry, sampling, validation, sources.

References are closed forms (shape areas, factor values), exact symmetries of the shapes (a quarter turn of
the square, a half turn of the ellipse) and the declared geometry (centre in pixels, empty frame border).
"""

import itertools
import math

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv

from aejax.data import ColorShapes, DSprites, SourceSpec, all_factor_indices, load_dataset
from aejax.data.factors import (
    DSPRITES_RADIUS_PX,
    ELLIPSE_AXES,
    FLOOR,
    OBJECT,
    WALL,
)

SHAPE, SCALE, ORIENTATION, POS_X, POS_Y = range(5)
HEART_AREA = 3.662  # area of (u²+v²-1)³ <= u²v³ in shape units (fine-grid integration)


@pytest.fixture(scope="module")
def sprites():
    return DSprites()


@pytest.fixture(scope="module")
def scenes():
    return ColorShapes()


def _grid(**fixed):
    """One DSprites index row per combination of the given lists/ints, in the factor order."""
    names = ("shape", "scale", "orientation", "pos_x", "pos_y")
    columns = [np.atleast_1d(fixed.get(name, 0)) for name in names]
    return np.array(list(itertools.product(*columns)), np.int64)


def _centroids(images):
    """(N, H, W, 1) masks -> (N, 2) centroids (x, y) in pixel coordinates (pixel j spans [j, j+1])."""
    masks = images[..., 0]
    area = masks.sum(axis=(1, 2))
    pixels = np.arange(masks.shape[1]) + 0.5
    x = (masks.sum(axis=1) * pixels).sum(axis=1) / area
    y = (masks.sum(axis=2) * pixels).sum(axis=1) / area
    return np.stack([x, y], axis=1)


# --------------------------------------------------------------------------- DSprites: definition


def test_dsprites_declares_the_dsprites_factors(sprites):
    assert sprites.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert sprites.factor_sizes == (3, 6, 40, 32, 32)
    assert sprites.num_factors == 5 and sprites.num_combinations == 737_280
    assert sprites.observation_shape == (64, 64, 1)
    values = sprites.factor_values(np.array([[0, 0, 0, 0, 0], [2, 5, 39, 31, 31], [1, 3, 10, 15, 1]]))
    np.testing.assert_allclose(values[0], [0, 0.5, 0, 0, 0])
    np.testing.assert_allclose(values[1], [2, 1.0, 2 * np.pi * 39 / 40, 1, 1])
    np.testing.assert_allclose(values[2], [1, 0.8, np.pi / 2, 15 / 31, 1 / 31])


def test_dsprites_rendering_is_deterministic_binary_and_independent_of_batching(sprites):
    indices = sprites.sample_factors(300, np.random.default_rng(1))
    first = sprites.render(indices)
    assert first.dtype == np.float32 and first.shape == (300, 64, 64, 1)
    assert set(np.unique(first)) == {0.0, 1.0}
    np.testing.assert_array_equal(first, sprites.render(indices))
    np.testing.assert_array_equal(first, DSprites(chunk_size=7).render(indices))  # chunking changes nothing
    np.testing.assert_array_equal(first[5:6], sprites.render(indices[5:6]))
    assert (first.sum(axis=(1, 2, 3)) > 0).all()


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_area_grows_strictly_with_scale_and_matches_the_closed_form(sprites, shape):
    indices = _grid(shape=shape, scale=range(6), orientation=[0, 3, 17], pos_x=[4, 20], pos_y=[9, 27])
    area = sprites.render(indices).sum(axis=(1, 2, 3)).reshape(6, -1)  # scale is the slowest factor here
    assert (np.diff(area, axis=0) > 0).all(), area
    unit_area = (4.0, math.pi * ELLIPSE_AXES[0] * ELLIPSE_AXES[1], HEART_AREA)[shape]
    radius = DSPRITES_RADIUS_PX * np.linspace(0.5, 1.0, 6)[:, None]
    closed_form = unit_area * radius[:, 0] ** 2
    # One image may gain or lose a boundary row of pixels (a 10 px square: 10 of 100); over 12 placements
    # those errors average out (measured: under 1%).
    np.testing.assert_allclose(area, np.broadcast_to(closed_form[:, None], area.shape), rtol=0.1)
    np.testing.assert_allclose(area.mean(axis=1), closed_form, rtol=0.02)


@pytest.mark.parametrize(("shape", "steps"), [(0, 10), (1, 20)])
def test_symmetric_shapes_render_identically_after_their_symmetry_rotation(sprites, shape, steps):
    """Exact equality: the angle table maps a quarter turn to (cos, sin) -> (-sin, cos) bit for bit."""
    base = _grid(shape=shape, scale=[0, 5], orientation=range(40 - steps), pos_x=[0, 13], pos_y=[31, 6])
    turned = base.copy()
    turned[:, ORIENTATION] += steps
    np.testing.assert_array_equal(sprites.render(base), sprites.render(turned))
    other = base.copy()
    other[:, ORIENTATION] = (other[:, ORIENTATION] + steps // 2) % 40  # not a symmetry: the image changes
    changed = (sprites.render(base) != sprites.render(other)).any(axis=(1, 2, 3))
    assert changed.all()


def test_the_heart_has_no_quarter_turn_symmetry(sprites):
    base = _grid(shape=2, scale=5, orientation=range(30), pos_x=16, pos_y=16)
    turned = base + np.array([0, 0, 10, 0, 0])
    assert (sprites.render(base) != sprites.render(turned)).any(axis=(1, 2, 3)).all()


@pytest.mark.parametrize("shape", [0, 1, 2])
def test_centroid_follows_the_declared_position(sprites, shape):
    """pos_x moves the shape right, pos_y down; the centroid is the declared centre within a pixel."""
    positions = [0, 5, 11, 16, 24, 31]
    for axis, name in ((0, "pos_x"), (1, "pos_y")):
        other = "pos_y" if name == "pos_x" else "pos_x"
        indices = _grid(shape=shape, scale=[1, 5], orientation=[0, 7], **{name: positions, other: 12})
        centroid = _centroids(sprites.render(indices))[:, axis].reshape(2, 2, len(positions))
        assert (np.diff(centroid, axis=-1) > 0).all()
        declared = sprites.position_to_pixels(np.array(positions) / 31)
        assert np.abs(centroid - declared).max() < 1.0


def test_largest_shapes_at_extreme_positions_stay_inside_the_frame(sprites):
    """No pixel in the outer two rows/columns: a connected shape that crossed the frame would touch them."""
    images = sprites.render(
        _grid(shape=range(3), scale=5, orientation=range(40), pos_x=[0, 31], pos_y=[0, 31])
    )
    masks = images[..., 0]
    border = np.ones((64, 64), bool)
    border[2:-2, 2:-2] = False
    assert masks[:, border].sum() == 0
    assert masks.sum(axis=(1, 2)).min() > 250  # the shapes are there, at full size


def test_different_shapes_differ_at_the_same_other_factors(sprites):
    others = sprites.sample_factors(100, np.random.default_rng(3))
    images = []
    for shape in range(3):
        indices = others.copy()
        indices[:, SHAPE] = shape
        images.append(sprites.render(indices))
    for a, b in itertools.combinations(range(3), 2):
        differing = (images[a] != images[b]).sum(axis=(1, 2, 3))
        assert differing.min() >= 3, (a, b, differing.min())


# --------------------------------------------------------------------------- sampling and enumeration


def test_sample_factors_is_uniform_within_sizes_and_seeded(sprites):
    indices = sprites.sample_factors(40_000, np.random.default_rng(0))
    assert indices.shape == (40_000, 5) and np.issubdtype(indices.dtype, np.integer)
    for f, size in enumerate(sprites.factor_sizes):
        counts = np.bincount(indices[:, f], minlength=size)
        assert counts.size == size  # nothing at or beyond the size
        expected = 40_000 / size
        assert np.abs(counts - expected).max() < 6 * math.sqrt(expected), (f, counts)
    np.testing.assert_array_equal(indices, sprites.sample_factors(40_000, np.random.default_rng(0)))


def test_sample_returns_rendered_images_of_its_indices(sprites):
    images, indices = sprites.sample(20, np.random.default_rng(5))
    np.testing.assert_array_equal(images, sprites.render(indices))
    again = sprites.sample_observations_from_factors(indices, np.random.default_rng(99))
    np.testing.assert_array_equal(images, again)
    assert sprites.sample(0, np.random.default_rng(0))[0].shape == (0, 64, 64, 1)


def test_sample_distinct_factors_has_no_repeats(scenes):
    indices = scenes.sample_distinct_factors(5000, np.random.default_rng(0))
    assert np.unique(indices, axis=0).shape[0] == 5000
    with pytest.raises(ValueError, match="exceeds the 144000 distinct"):
        scenes.sample_distinct_factors(144_001, np.random.default_rng(0))


def test_all_factor_indices_enumerates_the_product_in_row_major_order(sprites):
    chunks = list(all_factor_indices((2, 3, 4), chunk_size=5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 4]
    np.testing.assert_array_equal(
        np.concatenate(chunks), list(itertools.product(range(2), range(3), range(4)))
    )
    total, last = 0, None
    for chunk in all_factor_indices(sprites.factor_sizes, chunk_size=100_000):
        total, last = total + len(chunk), chunk[-1]
    assert total == 737_280 and last.tolist() == [2, 5, 39, 31, 31]
    with pytest.raises(ValueError, match="positive ints"):
        all_factor_indices((3, 0))  # at the call, before any chunk is asked for


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((2, 5)), r"integer array of shape \(N, 5\).*got dtype float64"),
        (np.zeros((2, 4), int), r"shape \(N, 5\) with columns \('shape', 'scale'.*got shape \(2, 4\)"),
        (np.zeros(5, int), r"got shape \(5,\)"),
        (np.zeros((2, 5), bool), "got dtype bool"),
        ([[0, 6, 0, 0, 0]], r"factor 'scale' index 6 at row 0 is out of range; expected 0 <= index < 6"),
        ([[0, 0, 0, 0, 0], [0, 0, -1, 0, 0]], r"'orientation' index -1 at row 1.*< 40"),
    ],
)
def test_bad_indices_are_rejected_with_the_expected_form(sprites, bad, message):
    for method in (sprites.render, sprites.factor_values):
        with pytest.raises(ValueError, match=message):
            method(bad)


def test_bad_sample_arguments(sprites):
    with pytest.raises(ValueError, match="num must be a non-negative int"):
        sprites.sample_factors(-1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="num must be a non-negative int"):
        sprites.sample(2.5, np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"numpy Generator \(np.random.default_rng\(seed\)\), got int"):
        sprites.sample_factors(3, 0)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        DSprites(chunk_size=0)


# --------------------------------------------------------------------------- ColorShapes


def test_color_shapes_declares_its_factors_and_renders_deterministically(scenes):
    assert scenes.factor_names == ("floor_hue", "wall_hue", "object_hue", "shape", "scale", "pos_x")
    assert scenes.factor_sizes == (10, 10, 10, 3, 6, 8) and scenes.num_combinations == 144_000
    np.testing.assert_allclose(scenes.factor_values([[3, 0, 9, 2, 5, 7]]), [[0.3, 0, 0.9, 2, 1.25, 1]])
    indices = scenes.sample_factors(200, np.random.default_rng(2))
    images = scenes.render(indices)
    assert images.dtype == np.float32 and images.shape == (200, 32, 32, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, ColorShapes(chunk_size=9).render(indices))


def test_every_color_shapes_factor_changes_the_image(scenes):
    base = scenes.sample_factors(50, np.random.default_rng(4))
    images = scenes.render(base)
    for f, size in enumerate(scenes.factor_sizes):
        moved = base.copy()
        moved[:, f] = (moved[:, f] + 1) % size
        assert (scenes.render(moved) != images).any(axis=(1, 2, 3)).all(), scenes.factor_names[f]


@pytest.mark.parametrize(("factor", "label"), [(0, FLOOR), (1, WALL), (2, OBJECT)])
def test_a_hue_changes_the_colour_of_exactly_its_region(scenes, factor, label):
    base = scenes.sample_factors(50, np.random.default_rng(6))
    moved = base.copy()
    moved[:, factor] = (moved[:, factor] + 3) % 10
    labels = scenes.segment(base)
    np.testing.assert_array_equal(labels, scenes.segment(moved))  # the layout does not move
    changed = (scenes.render(base) != scenes.render(moved)).any(axis=-1)
    np.testing.assert_array_equal(changed, labels == label)
    # The region's pixels carry the declared hue (shading scales the HSV value only).
    images = scenes.render(moved)
    hue = rgb_to_hsv(images[labels == label])[:, 0]
    declared = np.broadcast_to((moved[:, factor] / 10)[:, None, None], labels.shape)[labels == label]
    circular = np.abs((hue - declared + 0.5) % 1.0 - 0.5)
    assert circular.max() < 1e-3


def test_object_geometry_scale_position_shape_and_frame(scenes):
    idx = np.array(list(itertools.product([0], [0], [0], range(3), range(6), range(8))), np.int64)
    is_object = scenes.segment(idx) == OBJECT
    area = is_object.sum(axis=(1, 2)).reshape(3, 6, 8)
    assert (np.diff(area, axis=1) > 0).all()  # grows with scale
    columns = np.arange(32) + 0.5
    centre_x = (is_object.sum(axis=1) * columns).sum(axis=1).reshape(3, 6, 8) / area
    assert (np.diff(centre_x, axis=2) > 0).all()  # moves right with pos_x
    np.testing.assert_allclose(centre_x, (9 + 14 * np.linspace(0, 1, 8)) * np.ones((3, 6, 1)), atol=1.0)
    assert not is_object[:, :, [0, -1]].any() and not is_object[:, [0, -1], :].any()  # inside the frame
    masks = is_object.reshape(3, 48, 32, 32)
    for a, b in itertools.combinations(range(3), 2):
        assert (masks[a] != masks[b]).any(axis=(1, 2)).all()


# --------------------------------------------------------------------------- sources


@pytest.mark.parametrize(("source", "shape"), [("dsprites", (64, 64, 1)), ("color_shapes", (32, 32, 3))])
def test_sources_load_seeded_splits_labelled_by_shape(source, shape):
    data = load_dataset(SourceSpec(source=source, max_examples=500))
    assert data.x_train.shape == (400, math.prod(shape)) and data.x_val.shape[0] == data.x_test.shape[0] == 50
    assert data.y_train.dtype == np.int32 and set(np.unique(data.y_train)) == {0, 1, 2}
    again = load_dataset(SourceSpec(source=source, max_examples=500))
    np.testing.assert_array_equal(data.x_train, again.x_train)
    np.testing.assert_array_equal(data.y_test, again.y_test)
    other = load_dataset(SourceSpec(source=source, max_examples=500, split_seed=1))
    assert not np.array_equal(data.x_train, other.x_train)
    images = load_dataset(SourceSpec(source=source, max_examples=100, flatten=False))
    assert images.x_train.shape == (80, *shape)
