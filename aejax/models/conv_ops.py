"""Convolutions as patch extraction plus one matmul, and transposed convolutions by output phase.

XLA on CPU runs `lax.conv_general_dilated` well for plain forward convolutions, but the gradients of strided
and transposed convolutions fall to slow generic loops, and convolutions inside `lax.scan` lose their fast path.
A matmul keeps its speed everywhere. These functions compute exactly what the `lax` reference computes (NHWC
images, HWIO kernels; the tests compare them) with only slices, pads, reshapes and one `dot` per layer:

* `conv2d` gathers each output position's receptive field (kh * kw * C values, strided slices stacked
  taps-major) and multiplies by the kernel reshaped to (kh * kw * C, O).
* `conv_transpose2d` uses the fact that output pixel s * m + p of a stride-s transposed convolution only sees
  the taps t with (p + t - pad) divisible by s. Each of the s * s output phases is a stride-1 correlation of the
  *undilated* input with a sub-kernel; stacking the sub-kernels (zeros where a phase has no tap) gives one
  stride-1 convolution with s * s * O outputs, then the phases are interleaved (depth to space). No multiply
  touches the zeros that `lhs_dilation` would insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Padding = str | Sequence[tuple[int, int]]
_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def _pairs(padding: Padding, pads_for) -> list[tuple[int, int]]:
    if isinstance(padding, str):
        if padding.upper() not in ("SAME", "VALID"):
            raise ValueError(f"padding must be 'SAME', 'VALID' or ((lo, hi), (lo, hi)), got {padding!r}")
        return [pads_for(i, padding.upper()) for i in range(2)]
    pairs = [tuple(int(v) for v in p) for p in padding]
    if len(pairs) != 2 or any(len(p) != 2 for p in pairs):
        raise ValueError(f"padding must be 'SAME', 'VALID' or ((lo, hi), (lo, hi)), got {padding!r}")
    return pairs


def _check(x: jax.Array, kernel: jax.Array) -> None:
    if x.ndim != 4 or kernel.ndim != 4 or x.shape[-1] != kernel.shape[2]:
        raise ValueError(
            f"expected images (batch, H, W, C) and a kernel (kh, kw, C, O) with the same C, got {x.shape} and "
            f"{kernel.shape}"
        )


def conv2d_reference(x, kernel, strides=(1, 1), padding: Padding = "SAME") -> jax.Array:
    """`lax.conv_general_dilated` in NHWC/HWIO (what flax's `nn.Conv` computes, without bias)."""
    return lax.conv_general_dilated(x, kernel, tuple(strides), padding, dimension_numbers=_DIMENSIONS)


def conv_transpose2d_reference(x, kernel, strides=(1, 1), padding: Padding = "SAME") -> jax.Array:
    """`lax.conv_transpose` in NHWC/HWIO, kernel not flipped (what flax's `nn.ConvTranspose` computes)."""
    return lax.conv_transpose(x, kernel, tuple(strides), padding, dimension_numbers=_DIMENSIONS)


def conv2d(x: jax.Array, kernel: jax.Array, strides=(1, 1), padding: Padding = "SAME") -> jax.Array:
    """Correlation of x (B, H, W, C) with kernel (kh, kw, C, O), equal to `conv2d_reference`."""
    _check(x, kernel)
    kh, kw = kernel.shape[:2]
    sh, sw = (int(s) for s in strides)
    size, k, s = x.shape[1:3], (kh, kw), (sh, sw)

    def same_or_valid(i: int, mode: str) -> tuple[int, int]:
        if mode == "VALID":
            return (0, 0)
        out = -(-size[i] // s[i])
        total = max((out - 1) * s[i] + k[i] - size[i], 0)
        return (total // 2, total - total // 2)

    (lo_h, hi_h), (lo_w, hi_w) = _pairs(padding, same_or_valid)
    out_h = (size[0] + lo_h + hi_h - kh) // sh + 1
    out_w = (size[1] + lo_w + hi_w - kw) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"kernel {k} with padding {padding!r} does not fit images {size}")
    return _valid_conv(_pad_or_crop(x, (lo_h, hi_h), (lo_w, hi_w)), kernel, (sh, sw))


def _window(a: jax.Array, i: int, j: int, strides, out) -> jax.Array:
    """a[:, i + s_h * m, j + s_w * n] for m < out_h, n < out_w: tap (i, j)'s input at every output position."""
    (sh, sw), (oh, ow) = strides, out
    return a[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]


def _unwindow(w: jax.Array, i: int, j: int, strides, size) -> jax.Array:
    """The transpose of `_window`: w placed back at the positions it was read from, zeros elsewhere."""
    (sh, sw), (oh, ow) = strides, w.shape[1:3]
    config = [
        (0, 0, 0),
        (i, size[0] - i - sh * (oh - 1) - 1, sh - 1),
        (j, size[1] - j - sw * (ow - 1) - 1, sw - 1),
    ]
    return lax.pad(w, jnp.zeros((), w.dtype), config + [(0, 0, 0)] * (w.ndim - 3))


def _taps(kh: int, kw: int):
    return [(i, j) for i in range(kh) for j in range(kw)]


def _out_size(xp, kernel, strides) -> tuple[int, int]:
    return tuple((xp.shape[1 + d] - kernel.shape[d]) // strides[d] + 1 for d in range(2))


def _patches(xp, kernel, strides) -> jax.Array:
    """(B, out_h, out_w, kh * kw * C): every output position's receptive field, taps major, channels minor.
    Built by stacking on a new axis: XLA-CPU copies that much faster than a concatenate along channels."""
    out = _out_size(xp, kernel, strides)
    windows = [_window(xp, i, j, strides, out) for i, j in _taps(*kernel.shape[:2])]
    return jnp.stack(windows, axis=-2).reshape(*windows[0].shape[:3], -1)


def _shifted(g, kernel, strides, size) -> jax.Array:
    """(B, H, W, kh * kw * O): for every input position, the output values each tap sends there."""
    kh, kw, _, o = kernel.shape
    return jnp.stack([_unwindow(g, i, j, strides, size) for i, j in _taps(kh, kw)], axis=-2).reshape(
        g.shape[0], *size, kh * kw * o
    )


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def _valid_conv(xp: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    """Strided 'VALID' correlation as one matmul, with a backward pass made of matmuls too.

    With at least as many outputs as inputs per tap (O >= C) it multiplies the patches (kh * kw * C per output
    position) by the kernel. With fewer (O < C, e.g. the last layer to the image's channels) it multiplies
    first, giving every tap's contribution at every input position (kh * kw * O values), and adds the shifted
    taps: the tensor in the middle is the smaller one either way."""
    return _valid_conv_fwd(xp, kernel, strides)[0]


def _valid_conv_fwd(xp, kernel, strides):
    kh, kw, c, o = kernel.shape
    # materialize the padded input: fused into the patch copies, its producer (bias, activation, the phase
    # interleaving of a transposed convolution) would be recomputed for every tap, several times slower
    xp = lax.optimization_barrier(xp)
    if o >= c:
        patches = _patches(xp, kernel, strides)
        return jnp.dot(patches, kernel.reshape(kh * kw * c, o)), (xp, kernel)
    size = _out_size(xp, kernel, strides)
    taps = jnp.dot(xp, kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * o))
    taps = taps.reshape(*taps.shape[:3], kh * kw, o)
    out = sum(_window(taps[..., t, :], i, j, strides, size) for t, (i, j) in enumerate(_taps(kh, kw)))
    return out, (xp, kernel)


def _valid_conv_bwd(strides, residuals, g):
    xp, kernel = residuals
    kh, kw, c, o = kernel.shape
    if o >= c:  # the patches path of the forward pass
        # the patches transposed, (kh * kw * C, positions), gathered from the channels-first input: a plain
        # matmul with the output gradient, no transposed copy of a large operand
        xt = jnp.transpose(xp, (3, 0, 1, 2)).reshape(c * xp.shape[0], *xp.shape[1:3])
        rows = [_window(xt, i, j, strides, g.shape[1:3]) for i, j in _taps(kh, kw)]
        d_kernel = jnp.dot(jnp.stack(rows).reshape(kh * kw * c, -1), g.reshape(-1, o)).reshape(kernel.shape)
        d_patches = jnp.dot(g, kernel.reshape(kh * kw * c, o).T).reshape(*g.shape[:3], kh * kw, c)
        d_xp = sum(
            _unwindow(d_patches[..., t, :], i, j, strides, xp.shape[1:3])
            for t, (i, j) in enumerate(_taps(kh, kw))
        )
    else:
        # the weight gradient contracts over every position; XLA lays one operand out transposed for that, so
        # the smaller one (the shifted output gradient) goes first and the small result is transposed instead
        contract_positions = (((0, 1, 2), (0, 1, 2)), ((), ()))
        shifted = _shifted(g, kernel, strides, xp.shape[1:3])
        flat = kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * o)
        d_kernel = (
            lax.dot_general(shifted, xp, contract_positions).reshape(kh, kw, o, c).transpose(0, 1, 3, 2)
        )
        d_xp = jnp.dot(shifted, flat.T)
    return d_xp, d_kernel


_valid_conv.defvjp(_valid_conv_fwd, _valid_conv_bwd)


def _pad_or_crop(x: jax.Array, pad_h: tuple[int, int], pad_w: tuple[int, int]) -> jax.Array:
    """Negative padding crops, as in `lax.pad`."""
    config = [(0, 0, 0), (pad_h[0], pad_h[1], 0), (pad_w[0], pad_w[1], 0), (0, 0, 0)]
    if all(lo == hi == 0 for lo, hi, _ in config):
        return x
    return lax.pad(x, jnp.zeros((), x.dtype), config)


def _transpose_pads(k: int, s: int, mode: str) -> tuple[int, int]:
    """Padding of the dilated input that `lax.conv_transpose` uses for 'SAME' and 'VALID'."""
    if mode == "SAME":
        pad_len = k + s - 2
        pad_a = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    else:
        pad_len = k + s - 2 + max(k - s, 0)
        pad_a = k - 1
    return pad_a, pad_len - pad_a


def _phase_taps(n: int, k: int, s: int, pad: tuple[int, int]) -> tuple[list[list[int | None]], int, int, int]:
    """For one spatial axis of a transposed convolution: taps[u][p], the kernel tap that output phase p takes
    from input offset dmin + u (None where it takes none), with dmin, the output rows per phase and the output
    length."""
    pad_a, pad_b = pad
    length = (n - 1) * s + 1 + pad_a + pad_b - k + 1
    found = [(p, t, (p + t - pad_a) // s) for p in range(s) for t in range(k) if (p + t - pad_a) % s == 0]
    if length < 1 or not found:
        raise ValueError(
            f"transposed convolution of length {n} by kernel {k}, stride {s}, padding {pad} is empty"
        )
    dmin = min(d for _, _, d in found)
    span = max(d for _, _, d in found) - dmin + 1
    taps: list[list[int | None]] = [[None] * s for _ in range(span)]
    for p, t, d in found:
        taps[d - dmin][p] = t
    return taps, dmin, -(-length // s), length


def conv_transpose2d(x: jax.Array, kernel: jax.Array, strides=(1, 1), padding: Padding = "SAME") -> jax.Array:
    """Transposed convolution of x (B, H, W, C) by kernel (kh, kw, C, O), equal to `conv_transpose2d_reference`:
    one stride-1 patch matmul producing all s_h * s_w output phases, then the phases interleaved."""
    _check(x, kernel)
    kh, kw, c, o = kernel.shape
    sh, sw = (int(s) for s in strides)
    k, s = (kh, kw), (sh, sw)
    pads = _pairs(padding, lambda i, mode: _transpose_pads(k[i], s[i], mode))
    (taps_h, dmin_h, rows_h, len_h), (taps_w, dmin_w, rows_w, len_w) = (
        _phase_taps(x.shape[1 + i], k[i], s[i], pads[i]) for i in range(2)
    )
    span_h, span_w = len(taps_h), len(taps_w)
    # phase kernel (span_h, span_w, C, sh, sw, O): block (u, v, p, q) is kernel tap (taps_h[u][p], taps_w[v][q])
    # or zeros. Stacked from static slices, its gradient is slices and adds (inside a microbatch scan it is
    # taken once per microbatch; an einsum with 0/1 selection tensors there cost tiny, slow matmuls)
    zeros = jnp.zeros((c, o), kernel.dtype)
    blocks = [
        zeros if taps_h[u][p] is None or taps_w[v][q] is None else kernel[taps_h[u][p], taps_w[v][q]]
        for u in range(span_h)
        for v in range(span_w)
        for p in range(sh)
        for q in range(sw)
    ]
    phase_kernel = jnp.stack(blocks).reshape(span_h, span_w, sh, sw, c, o).transpose(0, 1, 4, 2, 3, 5)
    # input rows m + dmin + u for m < rows and u < span: pad (or crop) x to cover exactly that range
    pad_h = (-dmin_h, rows_h - 1 + dmin_h + span_h - 1 - (x.shape[1] - 1))
    pad_w = (-dmin_w, rows_w - 1 + dmin_w + span_w - 1 - (x.shape[2] - 1))
    phases = conv2d(
        _pad_or_crop(x, pad_h, pad_w), phase_kernel.reshape(span_h, span_w, c, sh * sw * o), padding="VALID"
    )
    b = x.shape[0]
    out = phases.reshape(b, rows_h, rows_w, sh, sw, o).transpose(0, 1, 3, 2, 4, 5)
    return out.reshape(b, rows_h * sh, rows_w * sw, o)[:, :len_h, :len_w, :]
