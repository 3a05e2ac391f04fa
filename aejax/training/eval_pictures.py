"""Pictures drawn at each validation for the metric writers that take images (TensorBoard, MLflow): a fixed
set of validation examples over their reconstructions and, for a generative family, decoded prior draws."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np

from aejax.training.state import TrainState


def as_picture(example: np.ndarray, display_shape: Sequence[int]) -> np.ndarray:
    """One example as a (H, W) or (H, W, 3) image in [0, 1]; flat data shows as a one-row strip."""
    shape = tuple(display_shape)
    image = np.asarray(example).reshape((1, -1) if len(shape) == 1 else shape)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] != 3:
        image = image.mean(axis=-1)  # channels TensorBoard cannot show as colour: their mean
    return np.clip(image, 0.0, 1.0)


def tile(rows: Sequence[np.ndarray], display_shape: Sequence[int], gap: int = 1) -> np.ndarray:
    """Rows of examples (each (n, *features)) as one image: row r, column c is example c of rows[r]."""
    tiles = [[as_picture(example, display_shape) for example in row] for row in rows]
    height, width = tiles[0][0].shape[:2]
    columns = max(len(row) for row in tiles)
    canvas = np.ones(
        (len(tiles) * (height + gap) - gap, columns * (width + gap) - gap, *tiles[0][0].shape[2:]), np.float32
    )
    for r, row in enumerate(tiles):
        for c, image in enumerate(row):
            top, left = r * (height + gap), c * (width + gap)
            canvas[top : top + height, left : left + width] = image
    return canvas


def make_eval_pictures(
    model, family, x: np.ndarray, display_shape: Sequence[int], seed: int, num: int = 8
) -> Callable[[TrainState], dict[str, np.ndarray]]:
    """A function of the state giving {'val/reconstructions': originals over reconstructions} and, for a
    generative family, {'val/samples': `num` decoded prior draws}; compiled once, on `num` fixed examples."""
    originals = np.asarray(x[:num])
    reconstruct = jax.jit(lambda v, rows: model.apply(v, rows, train=False).reconstruction)
    generative = family is not None and family.generative

    def sample(v):
        z = model.apply(v, jax.random.PRNGKey(seed), num, method="prior_sample")
        return model.apply(v, z, train=False, method="decode")

    draw = jax.jit(sample) if generative else None

    def pictures(state: TrainState) -> dict[str, np.ndarray]:
        variables = {"params": state.params, **state.model_state}
        rebuilt = np.asarray(reconstruct(variables, originals))
        out = {"val/reconstructions": tile([originals, rebuilt], display_shape)}
        if draw is not None:
            out["val/samples"] = tile([np.asarray(draw(variables))], display_shape)
        return out

    return pictures
