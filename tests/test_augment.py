"""Training-batch augmentation (aejax/data/augment.py) against NumPy references, and its place in the step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aejax.data.augment import Augmentation, affine, image_layout
from aejax.objectives import Objective
from aejax.training.steps import _step_inputs


def _shift_reference(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """np.roll with the wrapped-around rows and columns set to zero."""
    out = np.roll(image, (dy, dx), axis=(0, 1))
    if dy > 0:
        out[:dy] = 0
    elif dy < 0:
        out[dy:] = 0
    if dx > 0:
        out[:, :dx] = 0
    elif dx < 0:
        out[:, dx:] = 0
    return out


def test_whole_pixel_shift_is_roll_with_zero_fill():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(5, 28, 28, 1)).astype(np.float32)
    shifts = np.array([[0, 0], [2, -1], [-3, 2], [1, 1], [-2, -2]], np.float32)
    out = np.asarray(affine(jnp.asarray(images), jnp.asarray(shifts), jnp.zeros(5)))
    for i, (dy, dx) in enumerate(shifts.astype(int)):
        np.testing.assert_allclose(out[i], _shift_reference(images[i], dy, dx), atol=1e-6)


def test_quarter_turn_is_rot90():
    image = np.random.default_rng(1).uniform(size=(1, 6, 6, 2)).astype(np.float32)
    out = np.asarray(affine(jnp.asarray(image), jnp.zeros((1, 2)), jnp.full((1,), np.pi / 2)))
    # rotating the picture counter-clockwise by 90 degrees, as np.rot90 does in (row, column) axes
    np.testing.assert_allclose(out[0], np.rot90(image[0], k=1, axes=(0, 1)), atol=1e-5)


def test_augmentation_keeps_shape_and_draws_per_example():
    x = jnp.asarray(np.random.default_rng(2).uniform(size=(8, 784)).astype(np.float32))
    augment = Augmentation(kind="affine", shift=2, rotation=10.0)
    out = augment(x, jax.random.key(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not np.allclose(out, x)
    np.testing.assert_array_equal(out, augment(x, jax.random.key(0)))
    assert np.asarray(Augmentation()(x, jax.random.key(0)) == x).all()  # off by default


def test_shift_only_moves_whole_pixels():
    x = np.random.default_rng(3).uniform(size=(16, 10, 12)).astype(np.float32)
    out = np.asarray(Augmentation(kind="affine", shift=1, rotation=0.0)(jnp.asarray(x), jax.random.key(1)))
    for i in range(16):
        assert any(
            np.allclose(out[i], _shift_reference(x[i], dy, dx), atol=1e-6)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )


def test_layout_errors():
    assert image_layout((784,)) == (28, 28, 1)
    assert image_layout((12,), (2, 3, 2)) == (2, 3, 2)
    with pytest.raises(ValueError, match="square"):
        image_layout((10,))
    with pytest.raises(ValueError, match="kind"):
        Augmentation(kind="flip")


def test_step_moves_input_and_target_together():
    x = jnp.asarray(np.random.default_rng(4).uniform(size=(4, 64)).astype(np.float32))
    objective = Objective.from_mapping("mse", {}, augment={"kind": "affine", "shift": 2, "rotation": 5.0})
    target, encoder_input = _step_inputs(objective, x, jax.random.key(3))
    assert not np.allclose(target, x)
    np.testing.assert_array_equal(target, encoder_input)
    plain_target, _ = _step_inputs(Objective.from_mapping("mse", {}), x, jax.random.key(3))
    np.testing.assert_array_equal(plain_target, x)
