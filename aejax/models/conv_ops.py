"""Convolutions as patch extraction plus one matmul, and transposed convolutions by output phase.

XLA on CPU runs `lax.conv_general_dilated` well for plain forward convolutions, but the gradients of strided
and transposed convolutions fall to slow generic loops, and convolutions inside `lax.scan` lose their fast path.
A matmul keeps its speed everywhere. These functions compute exactly what the `lax` reference computes (NHWC
images, HWIO kernels; the tests compare them) with only slices, pads, reshapes and one `dot` per layer:

* `conv2d` gathers each output position's receptive field (kh * kw * C values, strided slices stacked
  taps-major) and multiplies by the kernel reshaped to (kh * kw * C, O).
* `conv_transpose2d` multiplies first: every input pixel times every kernel tap (one matmul, C -> kh * kw * O,
  the flops of the convolution itself, no zeros), then output pixel s * m + p of a stride-s transposed
  convolution, which only sees the taps t with (p + t - pad) divisible by s, is the sum of those taps' values
  at input offsets m + (p + t - pad) / s: each of the s * s output phases is a sum of unit-stride shifted tap
  slices, and the phases are interleaved (depth to space). Its gradients are one matmul each too: the output
  gradient's phases, shifted back and stacked per tap, times the kernel (the input's gradient) and against the
  input (the kernel's). A stride-1 convolution to fewer channels than it reads (O < C, e.g. the last layer to
  the image's channels) is the same computation with one phase, without a padded copy of its input.

A transposed convolution computed as one stride-1 patch matmul over all s * s phases at once (a phase kernel
with zeros where a phase has no tap) spends 16/9 of these flops for a 3x3 kernel at stride 2; the conv AE's
training step ran 1.3-1.4x faster with the taps above (2-core CPU, interleaved rounds).
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
    if (sh, sw) == (1, 1) and kernel.shape[3] < kernel.shape[2]:
        # fewer outputs than inputs: multiply first, then add the shifted taps (a transposed convolution's
        # single phase), without a padded copy of the input
        return _taps_transpose(
            x, kernel, (1, 1), _phase_axes(x, kernel, (1, 1), ((lo_h, hi_h), (lo_w, hi_w)))
        )
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


def _stack_taps(tap, kh: int, kw: int, last: bool) -> jax.Array:
    """tap(i, j) for every tap, stacked taps-major on new axes: before the last axis (`last`) or first. Nested
    stacks of kh and kw: XLA-CPU fuses a stack of up to 8 operands into one copy, a flat stack of 9 (a 3x3
    kernel) becomes 9 copies and a concatenate, measured 3-4x slower."""
    if last:
        return jnp.stack([jnp.stack([tap(i, j) for j in range(kw)], axis=-2) for i in range(kh)], axis=-3)
    return jnp.stack([jnp.stack([tap(i, j) for j in range(kw)]) for i in range(kh)])


def _out_size(xp, kernel, strides) -> tuple[int, int]:
    return tuple((xp.shape[1 + d] - kernel.shape[d]) // strides[d] + 1 for d in range(2))


def _patches(xp, kernel, strides) -> jax.Array:
    """(B, out_h, out_w, kh * kw * C): every output position's receptive field, taps major, channels minor.
    Built by stacking on a new axis: XLA-CPU copies that much faster than a concatenate along channels."""
    out = _out_size(xp, kernel, strides)
    patches = _stack_taps(lambda i, j: _window(xp, i, j, strides, out), *kernel.shape[:2], last=True)
    return patches.reshape(*patches.shape[:3], -1)


def _shifted(g, kernel, strides, size) -> jax.Array:
    """(B, H, W, kh * kw * O): for every input position, the output values each tap sends there."""
    kh, kw, _, o = kernel.shape
    return _stack_taps(lambda i, j: _unwindow(g, i, j, strides, size), kh, kw, last=True).reshape(
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
        rows = _stack_taps(lambda i, j: _window(xt, i, j, strides, g.shape[1:3]), kh, kw, last=False)
        d_kernel = jnp.dot(rows.reshape(kh * kw * c, -1), g.reshape(-1, o)).reshape(kernel.shape)
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


def _shift(a: jax.Array, axis_offsets: tuple[int, int], out: tuple[int, int]) -> jax.Array:
    """b[:, m, n] = a[:, m + off_h, n + off_w] for m < out_h, n < out_w, zeros where that is outside a."""
    (off_h, off_w), (n_h, n_w) = axis_offsets, a.shape[1:3]
    return _pad_or_crop(a, (-off_h, out[0] - 1 + off_h - (n_h - 1)), (-off_w, out[1] - 1 + off_w - (n_w - 1)))


def conv_transpose2d(x: jax.Array, kernel: jax.Array, strides=(1, 1), padding: Padding = "SAME") -> jax.Array:
    """Transposed convolution of x (B, H, W, C) by kernel (kh, kw, C, O), equal to `conv_transpose2d_reference`:
    every input pixel times every kernel tap (one matmul, C -> kh * kw * O), then each output phase the sum of
    its taps' unit-stride shifts, the phases interleaved."""
    _check(x, kernel)
    k, s = kernel.shape[:2], tuple(int(v) for v in strides)
    pads = _pairs(padding, lambda i, mode: _transpose_pads(k[i], s[i], mode))
    return _taps_transpose(x, kernel, s, _phase_axes(x, kernel, s, pads))


def _phase_axes(x, kernel, strides, pads) -> tuple:
    """`_phase_taps` of both spatial axes, hashable (a static argument of `_taps_transpose`)."""
    axes = (_phase_taps(x.shape[1 + i], kernel.shape[i], strides[i], pads[i]) for i in range(2))
    return tuple((tuple(map(tuple, taps)), *rest) for taps, *rest in axes)


def _phase_terms(axes):
    """For each output phase (p, q): the (tap_h, tap_w, offset_h, offset_w) it sums."""
    (taps_h, dmin_h, _, _), (taps_w, dmin_w, _, _) = axes
    sh, sw = len(taps_h[0]), len(taps_w[0])
    return [
        [
            (taps_h[u][p], taps_w[v][q], dmin_h + u, dmin_w + v)
            for u in range(len(taps_h))
            for v in range(len(taps_w))
            if taps_h[u][p] is not None and taps_w[v][q] is not None
        ]
        for p in range(sh)
        for q in range(sw)
    ]


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _taps_transpose(x, kernel, strides, axes):
    """The transposed convolution of x by kernel with `strides` and the phase taps of both axes (`_phase_taps`):
    taps = x times the kernel flattened to (C, kh * kw * O), each phase a sum of shifted tap slices."""
    return _taps_transpose_fwd(x, kernel, strides, axes)[0]


def _taps_transpose_fwd(x, kernel, strides, axes):
    kh, kw, c, o = kernel.shape
    (sh, sw), rows = strides, (axes[0][2], axes[1][2])
    x = lax.optimization_barrier(x)
    taps = jnp.dot(x, kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * o)).reshape(*x.shape[:3], kh, kw, o)
    phases = [
        sum(_shift(taps[:, :, :, th, tw, :], (dh, dw), rows) for th, tw, dh, dw in terms)
        if terms
        else jnp.zeros((x.shape[0], *rows, o), x.dtype)
        for terms in _phase_terms(axes)
    ]
    b = x.shape[0]
    out = jnp.stack(phases, axis=3).reshape(b, rows[0], rows[1], sh, sw, o).transpose(0, 1, 3, 2, 4, 5)
    out = out.reshape(b, rows[0] * sh, rows[1] * sw, o)[:, : axes[0][3], : axes[1][3], :]
    return out, (x, kernel)


def _taps_transpose_bwd(strides, axes, residuals, g):
    x, kernel = residuals
    kh, kw, c, o = kernel.shape
    (sh, sw), rows = strides, (axes[0][2], axes[1][2])
    b = g.shape[0]
    g = _pad_or_crop(g, (0, rows[0] * sh - g.shape[1]), (0, rows[1] * sw - g.shape[2]))
    g = g.reshape(b, rows[0], sh, rows[1], sw, o)
    # tap (th, tw) at input position r is its phase's gradient at r - offset: slices of g padded once. Every
    # tap belongs to exactly one phase (p = pad - t mod s)
    terms = [(index, term) for index, ts in enumerate(_phase_terms(axes)) for term in ts]
    n = x.shape[1:3]
    lo = [max([0] + [t[2 + a] for _, t in terms]) for a in range(2)]
    hi = [max([0] + [n[a] - t[2 + a] - rows[a] for _, t in terms]) for a in range(2)]
    config = [(0, 0, 0), (lo[0], hi[0], 0), (0, 0, 0), (lo[1], hi[1], 0), (0, 0, 0), (0, 0, 0)]
    gp = lax.optimization_barrier(lax.pad(g, jnp.zeros((), g.dtype), config))
    where = {(th, tw): (index, dh, dw) for index, (th, tw, dh, dw) in terms}

    def d_tap(th, tw):
        index, dh, dw = where[th, tw]
        p, q = divmod(index, sw)
        return gp[:, lo[0] - dh : lo[0] - dh + n[0], p, lo[1] - dw : lo[1] - dw + n[1], q, :]

    d_taps = _stack_taps(d_tap, kh, kw, last=True)
    d_taps = d_taps.reshape(*x.shape[:3], kh * kw * o)
    flat = kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * o)
    d_x = jnp.dot(d_taps, flat.T)
    contract_positions = (((0, 1, 2), (0, 1, 2)), ((), ()))
    # the weight gradient contracts over every position; XLA lays one operand out transposed for that, so the
    # smaller one goes first and the small result is transposed instead
    if kh * kw * o < c:
        d_kernel = lax.dot_general(d_taps, x, contract_positions).reshape(kh, kw, o, c).transpose(0, 1, 3, 2)
    else:
        d_kernel = lax.dot_general(x, d_taps, contract_positions).reshape(c, kh, kw, o).transpose(1, 2, 0, 3)
    return d_x, d_kernel


_taps_transpose.defvjp(_taps_transpose_fwd, _taps_transpose_bwd)
