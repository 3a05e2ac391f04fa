"""Code bottlenecks applied to the encoder's linear output: uniform scalar quantization (compression), binary
codes (semantic hashing) and k-sparse codes, each with a straight-through gradient where it is discrete.

All three are pure functions of the pre-code activations `a_BxK`:

- `quantize`: a = levels/2 * tanh(a) - 1/2 shifted to [-1/2, levels - 1/2], rounded to the integer symbols
  0..levels-1 (as in finite scalar quantization, Mentzer et al. 2023); the code is the centred symbol
  s - (levels - 1)/2 and the backward pass sees the unrounded value (straight-through estimator).
- `binary`: bits b = [a > 0] in {0, 1}; the backward pass sees sigmoid(a) (straight-through). Gaussian noise
  of std `noise` on `a` in training pushes the logits away from 0, as in semantic hashing (Salakhutdinov &
  Hinton 2009).
- `top_k`: the k largest activations of each example are kept and the others set to 0 (Makhzani & Frey 2013);
  gradients reach the kept units only. Their remedy for dead units, k falling linearly from a larger value
  over the first steps of training, is `scheduled_k` with `top_k_dynamic`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

BOTTLENECKS = ("none", "quantize", "binary", "topk")


def quantize_continuous(a_BxK: jax.Array, levels: int) -> jax.Array:
    """The value in [-1/2, levels - 1/2] that is rounded to a symbol."""
    return 0.5 * levels * (jnp.tanh(a_BxK) + 1.0) - 0.5


def quantize_symbols(a_BxK: jax.Array, levels: int) -> jax.Array:
    """Integer symbols in 0..levels-1 (int32)."""
    return jnp.clip(jnp.round(quantize_continuous(a_BxK, levels)), 0, levels - 1).astype(jnp.int32)


def quantize(a_BxK: jax.Array, levels: int) -> jax.Array:
    """Centred quantized code s - (levels - 1)/2 with a straight-through gradient."""
    u = quantize_continuous(a_BxK, levels)
    s = jnp.clip(jnp.round(u), 0, levels - 1)
    return u + jax.lax.stop_gradient(s - u) - 0.5 * (levels - 1)


def symbols_to_quantized(symbols_BxK: jax.Array, levels: int) -> jax.Array:
    """The code the decoder sees for integer symbols (the inverse of quantize's rounding)."""
    return symbols_BxK.astype(jnp.float32) - 0.5 * (levels - 1)


def binarize(a_BxK: jax.Array) -> jax.Array:
    """Bits [a > 0] as floats; the gradient is sigmoid'(a) (straight-through)."""
    soft = jax.nn.sigmoid(a_BxK)
    return soft + jax.lax.stop_gradient((a_BxK > 0).astype(soft.dtype) - soft)


def top_k(a_BxK: jax.Array, k: int) -> jax.Array:
    """Keep the k largest entries of each row, zero the rest (exactly k kept, ties broken by position)."""
    if not 1 <= k <= a_BxK.shape[-1]:
        raise ValueError(f"top_k needs 1 <= k <= {a_BxK.shape[-1]} code units, got k={k}")
    _, index = jax.lax.top_k(a_BxK, k)
    keep = jnp.zeros(a_BxK.shape, a_BxK.dtype)
    keep = keep.at[jnp.arange(a_BxK.shape[0])[:, None], index].set(1)
    return a_BxK * keep


def top_k_dynamic(a_BxK: jax.Array, k: jax.Array) -> jax.Array:
    """`top_k` for a traced k (an annealing schedule): entries >= the k-th largest of their row are kept."""
    ordered = -jnp.sort(-a_BxK, axis=-1)
    threshold = jnp.take(ordered, jnp.clip(k, 1, a_BxK.shape[-1]) - 1, axis=-1)[:, None]
    return jnp.where(a_BxK >= threshold, a_BxK, 0.0)


def scheduled_k(k: int, start: int, steps: int, step: jax.Array) -> jax.Array:
    """Makhzani & Frey's schedule: k falls linearly from `start` to `k` over the first `steps` steps."""
    fraction = jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / steps)
    return jnp.round(start + (k - start) * fraction).astype(jnp.int32)


def eval_k(k: int, alpha: float, units: int) -> int:
    """Units kept at evaluation: round(alpha * k), at most the code size."""
    return max(1, min(units, round(alpha * k)))


def check_bottleneck(
    kind: str,
    latent_dim: int,
    levels: int,
    k: int,
    alpha: float,
    noise: float,
    start: int = 0,
    steps: int = 0,
) -> None:
    """Fail with the valid forms before anything is traced."""
    if kind not in BOTTLENECKS:
        raise ValueError(f"unknown model.bottleneck {kind!r}; valid: {', '.join(BOTTLENECKS)}")
    if kind == "quantize" and levels < 2:
        raise ValueError(f"model.bottleneck='quantize' needs model.quantize_levels >= 2, got {levels}")
    if kind == "topk" and not 1 <= k <= latent_dim:
        raise ValueError(
            f"model.bottleneck='topk' needs 1 <= model.topk <= model.latent_dim ({latent_dim}), got {k}"
        )
    if kind == "topk" and alpha < 1:
        raise ValueError(f"model.topk_alpha must be >= 1 (units kept at evaluation / k), got {alpha}")
    if start and not (kind == "topk" and k <= start <= latent_dim and steps >= 1):
        raise ValueError(
            f"model.topk_start ({start}) anneals a topk bottleneck: it needs model.topk ({k}) <= topk_start <= "
            f"model.latent_dim ({latent_dim}) and model.topk_schedule_steps >= 1 (got {steps})"
        )
    if noise < 0:
        raise ValueError(f"model.binary_noise must be >= 0, got {noise}")
