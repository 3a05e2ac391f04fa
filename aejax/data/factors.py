"""Images generated from known ground-truth factors (offline), for disentanglement research. NumPy only.

`GroundTruthData` is the interface the metrics code uses: factor indices (N, F) ints in, observations
(N, *observation_shape) float32 out, rendering deterministic (no randomness beyond `sample_factors`).

- `DSprites`: the dSprites definition (Matthey et al. 2017): 64x64x1 binary images of a square, ellipse or
  heart; factors shape (3), scale (6: 0.5..1.0), orientation (40: 2πk/40 rad), pos_x (32: 0..1),
  pos_y (32: 0..1); 737,280 combinations.
- `ColorShapes`: a coloured, 3-D-looking scene in the spirit of 3dshapes (Burgess & Kim 2018): 32x32x3 RGB
  of a shaded cube, sphere or cylinder standing on a floor in front of a wall, with a drop shadow; factors
  floor_hue, wall_hue, object_hue (10 each: k/10), shape (3), scale (6: 0.75..1.25), pos_x (8: 0..1);
  144,000 combinations.
- `all_factor_indices(sizes)`: the full product in row-major order (last factor fastest), in chunks.

Pixel (row i, column j) covers [j, j+1] x [i, i+1] in image coordinates (x right, y down) and is tested at its
centre (j + 0.5, i + 0.5). Shapes are implicit inside-tests in their own frame (u right, v up, unit = the
shape's radius in pixels), so rendering is a few vectorised NumPy expressions over a chunk of images.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterator

import numpy as np

# ----------------------------------------------------------------------------------------------- DSprites
DSPRITES_SIZE = 64  # pixels per side
DSPRITES_SHAPES = ("square", "ellipse", "heart")
DSPRITES_CENTRE_PX = (16.0, 48.0)  # pos 0 and pos 1 map to these pixel coordinates (both axes)
DSPRITES_RADIUS_PX = 10.0  # the shape's unit in pixels at scale 1 (the square's half side)
ELLIPSE_AXES = (1.4, 0.7)  # semi-axes along u and v in shape units (2:1; reaches 1.4 < sqrt(2))
# Heart (u²+v²-1)³ - u²v³ <= 0: lobes up, tip down at v = -1, area 3.662 with its centroid at v = 0.2935;
# shifting by the centroid puts the declared position at the heart's centre of mass (farthest point 1.294).
HEART_CENTROID_V = 0.2935
# The farthest point of any shape from its centre is the square's corner, sqrt(2) = 1.414 units, i.e. 14.14 px
# at scale 1, so a shape centred in [16, 48] covers at most [1.86, 62.14]: rows/columns 0, 1, 62, 63 stay empty.

# ---------------------------------------------------------------------------------------------- ColorShapes
COLOR_SIZE = 32
COLOR_SHAPES = ("cube", "sphere", "cylinder")
HORIZON_Y = 13.0  # pixel centres above this line show the wall, below it the floor
GROUND_Y = 27.0  # the object stands on this line (its lowest point, v = -1)
COLOR_RADIUS_PX = 6.0  # object half-height in pixels at scale 1 (scales 0.75..1.25: 4.5..7.5 px)
COLOR_CENTRE_X = (9.0, 23.0)  # pos_x 0 and 1 in pixels; at scale 1.25 the object spans at most [1.5, 30.5]
LIGHT = np.array([-0.5, 0.65, 0.6]) / np.linalg.norm([-0.5, 0.65, 0.6])  # from upper left, toward the viewer
AMBIENT = 0.3  # object brightness = AMBIENT + (1 - AMBIENT) * max(0, normal . LIGHT)
SHADOW_DARKENING = 0.6  # floor brightness factor under the drop shadow
SATURATION = {"floor": 0.7, "wall": 0.6, "object": 0.9}
CYLINDER_AXES = (0.75, 0.25)  # half width and the caps' vertical semi-axis (a view from slightly above)
WALL, FLOOR, OBJECT = 0, 1, 2  # `ColorShapes.segment` labels


def all_factor_indices(sizes: tuple[int, ...], chunk_size: int = 4096) -> Iterator[np.ndarray]:
    """Every combination of factor indices in row-major order (last factor fastest), as (<= chunk_size, F)
    int64 chunks; e.g. `for idx in all_factor_indices(data.factor_sizes): data.render(idx)`."""
    sizes = tuple(sizes)
    if not sizes or any(not isinstance(s, int | np.integer) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be a non-empty sequence of positive ints, got {sizes}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return _index_chunks(sizes, chunk_size)  # checked above, at the call, not at the first next()


def _index_chunks(sizes: tuple[int, ...], chunk_size: int) -> Iterator[np.ndarray]:
    total = math.prod(sizes)
    for start in range(0, total, chunk_size):
        flat = np.arange(start, min(start + chunk_size, total))
        yield np.stack(np.unravel_index(flat, sizes), axis=1).astype(np.int64)


def _check_count(num) -> int:
    if isinstance(num, bool) or not isinstance(num, int | np.integer) or num < 0:
        raise ValueError(f"num must be a non-negative int, got {num!r}")
    return int(num)


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


class GroundTruthData(abc.ABC):
    """Observations rendered from discrete factors; subclasses set the value tables and `_render_chunk`.

    `factor_value_tables[f][k]` is the value of factor f at index k (scales as multipliers, angles in
    radians, positions and hues in [0, 1], categorical factors as their index).
    """

    factor_names: tuple[str, ...]
    factor_value_tables: tuple[np.ndarray, ...]
    observation_shape: tuple[int, ...]

    def __init__(self, chunk_size: int = 128):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = chunk_size  # images rendered at once: bounds the temporary arrays

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """Number of values of each factor."""
        return tuple(len(table) for table in self.factor_value_tables)

    @property
    def num_factors(self) -> int:
        return len(self.factor_names)

    @property
    def num_combinations(self) -> int:
        """Size of the full factor product (every distinct image)."""
        return math.prod(self.factor_sizes)

    def check_indices(self, indices) -> np.ndarray:
        """`indices` as an (N, F) int64 array after checking dtype, shape and each factor's range."""
        array = np.asarray(indices)
        expected = f"an integer array of shape (N, {self.num_factors}) with columns {self.factor_names}"
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"factor indices must be {expected}; got dtype {array.dtype}")
        if array.ndim != 2 or array.shape[1] != self.num_factors:
            raise ValueError(f"factor indices must be {expected}; got shape {array.shape}")
        for f, (name, size) in enumerate(zip(self.factor_names, self.factor_sizes, strict=True)):
            bad = np.flatnonzero((array[:, f] < 0) | (array[:, f] >= size))
            if bad.size:
                raise ValueError(
                    f"factor {name!r} index {int(array[bad[0], f])} at row {int(bad[0])} is out of range; "
                    f"expected 0 <= index < {size}"
                )
        return array.astype(np.int64, copy=False)

    def factor_values(self, indices) -> np.ndarray:
        """(N, F) int indices -> (N, F) float64 factor values (see `factor_value_tables`)."""
        array = self.check_indices(indices)
        columns = [table[array[:, f]] for f, table in enumerate(self.factor_value_tables)]
        return np.stack(columns, axis=1) if columns else np.zeros((len(array), 0))

    def render(self, indices) -> np.ndarray:
        """(N, F) int indices -> (N, *observation_shape) float32 images in [0, 1], chunk by chunk."""
        array = self.check_indices(indices)
        out = np.empty((len(array), *self.observation_shape), np.float32)
        for start in range(0, len(array), self.chunk_size):
            stop = start + self.chunk_size
            out[start:stop] = self._render_chunk(array[start:stop])
        return out

    @abc.abstractmethod
    def _render_chunk(self, indices: np.ndarray) -> np.ndarray:
        """Checked (n, F) int64 indices -> (n, *observation_shape) float32."""

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """(num, F) int64 indices, each factor independently uniform over its values."""
        num, rng = _check_count(num), _check_rng(rng)
        columns = [rng.integers(0, size, size=num) for size in self.factor_sizes]
        return np.stack(columns, axis=1).astype(np.int64)

    def sample_distinct_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """(num, F) int64 indices of `num` different combinations drawn uniformly without replacement."""
        num, rng = _check_count(num), _check_rng(rng)
        if num > self.num_combinations:
            raise ValueError(f"num={num} exceeds the {self.num_combinations} distinct factor combinations")
        flat = rng.choice(self.num_combinations, size=num, replace=False)
        return np.stack(np.unravel_index(flat, self.factor_sizes), axis=1).astype(np.int64)

    def sample_observations_from_factors(self, indices, rng: np.random.Generator) -> np.ndarray:
        """The same as `render(indices)`: rendering is deterministic, so `rng` is unused."""
        del rng
        return self.render(indices)

    def sample(self, num: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(images (num, *observation_shape) float32, indices (num, F) int64) with uniform factors."""
        indices = self.sample_factors(num, rng)
        return self.render(indices), indices


def _quarter_turn_angles(count: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2πk/count, where a quarter turn (count/4 steps) maps (c, s) to (-s, c) bit-exactly.

    Computing cos/sin of each angle separately leaves rounding differences between k and k + count/4 that can
    flip a pixel centre lying on the boundary; with this table a quarter turn maps the shape frame (u, v) to
    (v, -u) exactly, so a 4-fold (2-fold) symmetric shape renders identically after a quarter (half) turn.
    """
    if count % 4:
        raise ValueError(f"the orientation count must be a multiple of 4, got {count}")
    base = 2.0 * np.pi * np.arange(count // 4) / count
    c, s = np.cos(base), np.sin(base)
    cos = np.concatenate([c, -s, -c, s])
    sin = np.concatenate([s, c, -s, -c])
    return cos, sin


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 1.0


def _ellipse(u, v):
    a, b = ELLIPSE_AXES
    return u * u * (1.0 / a**2) + v * v * (1.0 / b**2) <= 1.0


def _heart(u, v):
    w = v + np.float32(HEART_CENTROID_V)
    uu, ww = u * u, w * w
    r = uu + ww - 1.0
    return r * r * r <= uu * ww * w


class DSprites(GroundTruthData):
    """dSprites-style 64x64x1 binary sprites; see the module docstring and the DSPRITES_* constants.

    Position: pixel x (and y, downward) = 16 + 32 pos, so pos_y = 1 is at the bottom. Orientation rotates the
    shape counter-clockwise as displayed. Scale multiplies the shape's 10 px unit (square: half side).
    """

    factor_names = ("shape", "scale", "orientation", "pos_x", "pos_y")
    observation_shape = (DSPRITES_SIZE, DSPRITES_SIZE, 1)
    factor_value_tables = (
        np.arange(3, dtype=np.float64),
        np.linspace(0.5, 1.0, 6),
        2.0 * np.pi * np.arange(40) / 40,
        np.linspace(0.0, 1.0, 32),
        np.linspace(0.0, 1.0, 32),
    )
    _COS, _SIN = _quarter_turn_angles(40)

    @staticmethod
    def position_to_pixels(pos: np.ndarray) -> np.ndarray:
        """Factor positions in [0, 1] -> the shape centre in pixel coordinates (pixel j spans [j, j+1])."""
        low, high = DSPRITES_CENTRE_PX
        return low + (high - low) * np.asarray(pos, np.float64)

    def _render_chunk(self, indices: np.ndarray) -> np.ndarray:
        tables = self.factor_value_tables
        radius = DSPRITES_RADIUS_PX * tables[1][indices[:, 1]]
        cos_r = (self._COS[indices[:, 2]] / radius).astype(np.float32)[:, None]
        sin_r = (self._SIN[indices[:, 2]] / radius).astype(np.float32)[:, None]
        centres = np.arange(DSPRITES_SIZE) + 0.5
        dx = (centres - self.position_to_pixels(tables[3][indices[:, 3]])[:, None]).astype(np.float32)
        dy = (self.position_to_pixels(tables[4][indices[:, 4]])[:, None] - centres).astype(np.float32)
        out = np.zeros((len(indices), DSPRITES_SIZE, DSPRITES_SIZE, 1), np.float32)
        for k, inside in enumerate((_square, _ellipse, _heart)):
            rows = np.flatnonzero(indices[:, 0] == k)
            if rows.size:
                # Inverse rotation into the shape frame: (n, 1, W) + (n, H, 1), so only the sums are full size.
                c, s, x, y = cos_r[rows], sin_r[rows], dx[rows], dy[rows]
                u = (c * x)[:, None, :] + (s * y)[:, :, None]
                v = ((-s) * x)[:, None, :] + (c * y)[:, :, None]
                out[rows, :, :, 0] = inside(u, v)
        return out


def hue_to_rgb(hue: np.ndarray, saturation: float) -> np.ndarray:
    """(N,) hues in [0, 1) (0 red, 1/3 green, 2/3 blue) -> (N, 3) RGB in [0, 1] at HSV value 1."""
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * np.asarray(hue, np.float64)[:, None]) % 6.0
    return 1.0 - saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _lambert(nx, ny, nz):
    """Object brightness for unit normals (u right, v up, z toward the viewer)."""
    return AMBIENT + (1.0 - AMBIENT) * np.maximum(0.0, LIGHT[0] * nx + LIGHT[1] * ny + LIGHT[2] * nz)


# Isometric cube faces: top, left, right unit normals, shaded once.
_CUBE_SHADES = [
    _lambert(0.0, math.sqrt(2 / 3), math.sqrt(1 / 3)),
    _lambert(-math.sqrt(1 / 2), -math.sqrt(1 / 6), math.sqrt(1 / 3)),
    _lambert(math.sqrt(1 / 2), -math.sqrt(1 / 6), math.sqrt(1 / 3)),
]
_CYLINDER_TOP_SHADE = _lambert(0.0, 0.9, math.sqrt(1 - 0.81))


def _cube(u, v):
    """Isometric cube: a pointy-top hexagon (circumradius 1) split into top, left and right faces."""
    au = np.abs(u)
    inside = (au <= math.sqrt(3) / 2) & (np.abs(v) + au * (1 / math.sqrt(3)) <= 1.0)
    top = math.sqrt(3) * v > au
    shade = np.where(top, _CUBE_SHADES[0], np.where(u < 0, _CUBE_SHADES[1], _CUBE_SHADES[2]))
    return inside, shade


def _sphere(u, v):
    """Unit disc shaded as a sphere: normal (u, v, sqrt(1 - u² - v²))."""
    rr = u * u + v * v
    return rr <= 1.0, _lambert(u, v, np.sqrt(np.maximum(0.0, 1.0 - rr)))


def _cylinder(u, v):
    """Upright cylinder seen from slightly above: elliptic caps at v = ±(1 - b), body in between."""
    a, b = CYLINDER_AXES
    cap = 1.0 - b
    uu = (u * (1.0 / a)) ** 2
    top = uu + ((v - cap) * (1.0 / b)) ** 2 <= 1.0
    bottom = uu + ((v + cap) * (1.0 / b)) ** 2 <= 1.0
    body = (uu <= 1.0) & (np.abs(v) <= cap)
    side = _lambert(u * (1.0 / a), 0.0, np.sqrt(np.maximum(0.0, 1.0 - uu)))
    return top | bottom | body, np.where(top, _CYLINDER_TOP_SHADE, side)


def _background() -> tuple[np.ndarray, np.ndarray]:
    """(H, W) labels (WALL / FLOOR) and brightness: the wall dims toward the horizon, the floor brightens
    toward the viewer (bottom), which gives the scene its depth."""
    y = np.arange(COLOR_SIZE) + 0.5
    floor = y > HORIZON_Y
    wall_shade = 0.95 - 0.15 * y / HORIZON_Y
    floor_shade = 0.55 + 0.4 * (y - HORIZON_Y) / (COLOR_SIZE - HORIZON_Y)
    shade = np.where(floor, floor_shade, wall_shade)[:, None].repeat(COLOR_SIZE, axis=1)
    labels = np.where(floor, FLOOR, WALL)[:, None].repeat(COLOR_SIZE, axis=1)
    return labels.astype(np.int8), shade.astype(np.float32)


class ColorShapes(GroundTruthData):
    """32x32x3 RGB scenes: a shaded object on a floor in front of a wall; see the module docstring.

    Hues index k/10 of the HSV circle; scale multiplies the object's 6 px half-height; pos_x moves the
    object from x = 9 to x = 23 px. The light (upper left) and the drop shadow are fixed, not factors.
    """

    factor_names = ("floor_hue", "wall_hue", "object_hue", "shape", "scale", "pos_x")
    observation_shape = (COLOR_SIZE, COLOR_SIZE, 3)
    factor_value_tables = (
        np.arange(10) / 10,
        np.arange(10) / 10,
        np.arange(10) / 10,
        np.arange(3, dtype=np.float64),
        np.linspace(0.75, 1.25, 6),
        np.linspace(0.0, 1.0, 8),
    )
    _BACKGROUND = _background()

    def segment(self, indices) -> np.ndarray:
        """(N, F) int indices -> (N, H, W) int8 labels WALL (0), FLOOR (1, shadow included), OBJECT (2)."""
        return self._layout(self.check_indices(indices))[0]

    def _layout(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels (n, H, W) int8, brightness (n, H, W) float32) of checked indices; hues play no part."""
        tables = self.factor_value_tables
        radius = COLOR_RADIUS_PX * tables[4][indices[:, 4]]
        low, high = COLOR_CENTRE_X
        centre_x = low + (high - low) * tables[5][indices[:, 5]]
        pixels = np.arange(COLOR_SIZE) + 0.5
        u = ((pixels - centre_x[:, None]) / radius[:, None]).astype(np.float32)
        v = ((GROUND_Y - radius[:, None] - pixels) / radius[:, None]).astype(np.float32)
        # Drop shadow: an ellipse on the ground line, offset away from the light (to the right).
        shadow = ((u[:, None, :] - 0.35) * (1 / 1.1)) ** 2 + ((v[:, :, None] + 1.0) * (1 / 0.28)) ** 2 <= 1.0
        labels0, shade0 = self._BACKGROUND
        labels = np.broadcast_to(labels0, shadow.shape).copy()
        shade = np.where(shadow & (labels0 == FLOOR), shade0 * SHADOW_DARKENING, shade0).astype(np.float32)
        for k, draw in enumerate((_cube, _sphere, _cylinder)):
            rows = np.flatnonzero(indices[:, 3] == k)
            if rows.size:
                inside, object_shade = draw(u[rows][:, None, :], v[rows][:, :, None])
                labels[rows] = np.where(inside, OBJECT, labels[rows])
                shade[rows] = np.where(inside, object_shade, shade[rows])
        return labels, shade

    def _render_chunk(self, indices: np.ndarray) -> np.ndarray:
        labels, shade = self._layout(indices)
        tables = self.factor_value_tables
        colours = np.stack(  # (n, label, RGB), in label order WALL, FLOOR, OBJECT
            [
                hue_to_rgb(tables[1][indices[:, 1]], SATURATION["wall"]),
                hue_to_rgb(tables[0][indices[:, 0]], SATURATION["floor"]),
                hue_to_rgb(tables[2][indices[:, 2]], SATURATION["object"]),
            ],
            axis=1,
        ).astype(np.float32)
        rgb = colours[np.arange(len(indices))[:, None, None], labels]
        return rgb * shade[..., None]
