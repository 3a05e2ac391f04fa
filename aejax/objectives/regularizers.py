"""Regularizers: pure functions `regularizer(forward, **settings) -> scalar`, selected by name or import path.

Settings beyond `fn` and `weight` in a config entry are passed as keyword arguments, e.g.
`{"fn": "kl_sparsity", "weight": 0.1, "rho": 0.05}`. A user-written regularizer is any importable
function of a `Forward`; configs name it as `"my_pkg.penalties:orthogonality"`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from aejax._registry import import_object, lookup
from aejax.models.vae import kl_to_standard_normal
from aejax.objectives.disentangling import DISENTANGLING
from aejax.objectives.forward import Forward
from aejax.objectives.jacobian import hutchinson_frobenius_sq, jacobian_frobenius_sq

Regularizer = Callable[..., jax.Array]


def _flat_code(forward: Forward) -> jax.Array:
    code = forward.output.code
    return code.reshape(code.shape[0], -1)


def code_l2(forward: Forward) -> jax.Array:
    """Squared L2 norm of the code, summed over code units and averaged over the batch."""
    return jnp.mean(jnp.sum(jnp.square(_flat_code(forward)), axis=1))


def code_l1(forward: Forward) -> jax.Array:
    """L1 activity penalty: sum_j |h_j|, averaged over the batch."""
    return jnp.mean(jnp.sum(jnp.abs(_flat_code(forward)), axis=1))


def kl_divergence_bernoulli(rho: float, rho_hat: jax.Array, eps: float = 1e-6) -> jax.Array:
    """KL(Bernoulli(rho) || Bernoulli(rho_hat)) elementwise, with rho_hat clipped into [eps, 1 - eps].

    Computed in at least float32, so that 1 - eps stays below 1 for half-precision codes.
    """
    rho_hat = jnp.clip(rho_hat.astype(jnp.promote_types(rho_hat.dtype, jnp.float32)), eps, 1.0 - eps)
    return rho * (jnp.log(rho) - jnp.log(rho_hat)) + (1.0 - rho) * (jnp.log1p(-rho) - jnp.log1p(-rho_hat))


def kl_sparsity(forward: Forward, *, rho: float = 0.05, eps: float = 1e-6) -> jax.Array:
    """sum_j KL(rho || rho_hat_j), rho_hat_j the batch-mean activation of code unit j (codes in (0, 1))."""
    if not 0.0 < rho < 1.0:
        raise ValueError(f"kl_sparsity: rho must be in (0, 1), got {rho}")
    rho_hat = jnp.mean(_flat_code(forward), axis=0)
    return jnp.sum(kl_divergence_bernoulli(rho, rho_hat, eps))


def contractive(forward: Forward) -> jax.Array:
    """Exact ||J_f(x)||_F^2 of the encoder at the input it saw, averaged over the batch.

    Costs one reverse pass per code unit (or forward pass per input, whichever is fewer) per example.
    """
    return jnp.mean(jacobian_frobenius_sq(forward.encode, forward.x_input))


def contractive_hutchinson(
    forward: Forward, *, num_projections: int = 1, distribution: str = "rademacher"
) -> jax.Array:
    """Unbiased estimate of `contractive` from `num_projections` Jacobian-vector products per example."""
    values = hutchinson_frobenius_sq(
        forward.encode, forward.x_input, forward.rng, num_projections, distribution
    )
    return jnp.mean(values)


def kl_standard_normal(forward: Forward, *, free_bits: float = 0.0) -> jax.Array:
    """KL(q(z|x) || N(0, I)) in nats per example, closed form, averaged over the batch (VAE records).

    With `free_bits` > 0 (Kingma et al. 2016), each latent unit's batch-mean KL counts as at least
    `free_bits` nats, so the optimizer gains nothing by pushing a unit below it.
    """
    output = forward.output
    if not hasattr(output, "log_variance"):
        raise ValueError("kl_standard_normal needs a variational model (model.family='vae')")
    per_unit = kl_to_standard_normal(output.mean, output.log_variance)
    per_unit = jnp.mean(per_unit.reshape(per_unit.shape[0], -1), axis=0)
    if free_bits > 0:
        per_unit = jnp.maximum(per_unit, free_bits)
    return jnp.sum(per_unit)


def imq_mmd(x: jax.Array, y: jax.Array, scale: float) -> jax.Array:
    """Unbiased MMD^2 between samples x (n, d) and y (m, d) with the inverse multiquadratic kernel
    k(a, b) = C / (C + ||a - b||^2), C = scale (Tolstikhin et al. 2018 use C = 2 d sigma^2)."""

    def kernel(a, b):
        return scale / (scale + jnp.sum(jnp.square(a[:, None, :] - b[None, :, :]), axis=-1))

    n, m = x.shape[0], y.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"MMD needs at least 2 samples on each side, got {n} and {m}")
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    off = lambda k, size: (jnp.sum(k) - jnp.trace(k)) / (size * (size - 1))
    return off(kxx, n) + off(kyy, m) - 2.0 * jnp.mean(kxy)


def mmd_to_prior(forward: Forward, *, prior_std: float = 1.0) -> jax.Array:
    """WAE-MMD penalty: MMD^2 between the batch's codes and as many draws from N(0, prior_std^2 I), IMQ kernel
    with C = 2 d prior_std^2 (Tolstikhin et al. 2018); pair a plain autoencoder with it to get a WAE."""
    code = _flat_code(forward)
    prior = prior_std * jax.random.normal(forward.rng, code.shape, code.dtype)
    return imq_mmd(code, prior, 2.0 * code.shape[1] * prior_std**2)


def _vq_terms(forward: Forward):
    output = forward.output
    if not hasattr(output, "quantized"):
        raise ValueError("vq_codebook / vq_commitment need a VQ-VAE (model.family='vqvae')")
    return output.encoding, output.quantized


def vq_codebook(forward: Forward) -> jax.Array:
    """||sg[z_e] - e||^2 summed over the code vectors of an example, batch mean: moves the codebook."""
    z_e, z_q = _vq_terms(forward)
    error = jnp.square(jax.lax.stop_gradient(z_e) - z_q)
    return jnp.mean(jnp.sum(error.reshape(error.shape[0], -1), axis=1))


def vq_commitment(forward: Forward) -> jax.Array:
    """||z_e - sg[e]||^2 summed over the code vectors of an example, batch mean: commits the encoder."""
    z_e, z_q = _vq_terms(forward)
    error = jnp.square(z_e - jax.lax.stop_gradient(z_q))
    return jnp.mean(jnp.sum(error.reshape(error.shape[0], -1), axis=1))


def hole_mse(forward: Forward) -> jax.Array:
    """Inpainting: squared error over the missing pixels only (x_input == -1), per example the mean over
    its hole, averaged over the batch (examples without a hole count 0)."""
    hole = (forward.x_input == -1.0).astype(forward.x.dtype)
    error = hole * jnp.square(forward.output.reconstruction - forward.x)
    flat = lambda a: a.reshape(a.shape[0], -1)
    return jnp.mean(jnp.sum(flat(error), axis=1) / jnp.maximum(jnp.sum(flat(hole), axis=1), 1.0))


def _layer_params(params, name: str) -> list[jax.Array]:
    """Leaves called `name` (kernel or bias) of layers; norm layers (those with a `scale`) are skipped."""
    found = []

    def visit(tree):
        if isinstance(tree, Mapping):
            if name in tree and "scale" not in tree and not isinstance(tree[name], Mapping):
                found.append(tree[name])
            for value in tree.values():
                if isinstance(value, Mapping):
                    visit(value)

    visit(params)
    return found


def _sum_over(arrays: list[jax.Array], fn) -> jax.Array:
    return sum((jnp.sum(fn(a)) for a in arrays), jnp.zeros(()))


def weight_l2(forward: Forward) -> jax.Array:
    """Sum of squared kernel entries over all layers (biases and norm scales excluded)."""
    return _sum_over(_layer_params(forward.params, "kernel"), jnp.square)


def weight_l1(forward: Forward) -> jax.Array:
    """Sum of absolute kernel entries over all layers."""
    return _sum_over(_layer_params(forward.params, "kernel"), jnp.abs)


def bias_l2(forward: Forward) -> jax.Array:
    """Sum of squared biases of dense/conv layers (norm-layer offsets excluded)."""
    return _sum_over(_layer_params(forward.params, "bias"), jnp.square)


def bias_l1(forward: Forward) -> jax.Array:
    """Sum of absolute biases of dense/conv layers."""
    return _sum_over(_layer_params(forward.params, "bias"), jnp.abs)


def capsule_margin(
    forward: Forward, *, m_plus: float = 0.9, m_minus: float = 0.1, lam: float = 0.5
) -> jax.Array:
    """Sabour et al. (2017) margin loss on capsule lengths (model.family='capsule'), mean over the batch: the
    label's capsule longer than m_plus, the others shorter than m_minus (weight lam). Needs labels: the
    training batches then carry y, and the label's capsule is the one decoded."""
    from aejax.models.capsule import margin_loss

    lengths = getattr(forward.output, "lengths", None)
    if lengths is None or forward.labels is None:
        raise ValueError("capsule_margin needs a capsule model (output.lengths) and labelled training data")
    return jnp.mean(margin_loss(lengths, forward.labels, m_plus, m_minus, lam))


capsule_margin.needs_labels = True

# Whether a term is a mean over examples of per-example values, or a function of the parameters alone: then its
# mean over equal slices of a batch is its value on the whole batch (what train.microbatch_size=0 needs before
# it microbatches). True, False, or a predicate of the term's settings; see `per_example`.
for _fn in (
    code_l1,
    code_l2,
    contractive,
    contractive_hutchinson,
    vq_codebook,
    vq_commitment,
    hole_mse,
    capsule_margin,
    weight_l1,
    weight_l2,
    bias_l1,
    bias_l2,
):
    _fn.per_example = True
kl_sparsity.per_example = False  # the batch-mean activation
mmd_to_prior.per_example = False  # the batch's codes against as many prior draws
kl_standard_normal.per_example = lambda settings: not settings.get("free_bits", 0.0)  # free bits: batch means


def per_example(name: str, settings: Mapping[str, Any]) -> bool:
    """Whether the term is per-example in the sense above. A user's function says so with an attribute,
    `fn.per_example = True`; without one it counts as batch-level (automatic microbatching stays off)."""
    flag = getattr(resolve_regularizer(name), "per_example", False)
    return bool(flag(dict(settings)) if callable(flag) else flag)


def needs_labels(name: str) -> bool:
    """Whether a regularizer reads forward.labels (its function has `needs_labels = True`)."""
    return bool(getattr(resolve_regularizer(name), "needs_labels", False))


REGULARIZERS: dict[str, Regularizer] = {
    "capsule_margin": capsule_margin,
    "code_l1": code_l1,
    "code_l2": code_l2,
    "kl_sparsity": kl_sparsity,
    "kl_standard_normal": kl_standard_normal,
    "mmd_to_prior": mmd_to_prior,
    "hole_mse": hole_mse,
    "vq_codebook": vq_codebook,
    "vq_commitment": vq_commitment,
    "contractive": contractive,
    "contractive_hutchinson": contractive_hutchinson,
    "weight_l1": weight_l1,
    "weight_l2": weight_l2,
    "bias_l1": bias_l1,
    "bias_l2": bias_l2,
    **DISENTANGLING,  # beta-TCVAE's three terms, DIP-VAE, annealed capacity
}


def resolve_regularizer(name: str) -> Regularizer:
    """A registered name (e.g. 'code_l2') or an import path 'package.module:function'."""
    if ":" not in name:
        return lookup(REGULARIZERS, name, "regularizer (or use 'package.module:function')")
    return import_object(name, f"regularizer {name!r}", "callable", callable)


def regularizer_settings(name: str) -> list[str] | None:
    """Keyword settings the regularizer accepts (None when it takes any, via **kwargs)."""
    fn = resolve_regularizer(name)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins or C functions: nothing to check against
        return None
    params = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params[1:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def check_settings(name: str, settings: Mapping[str, Any]) -> None:
    """Raise when `settings` are not keyword arguments the regularizer accepts."""
    accepted = regularizer_settings(name)
    unknown = sorted(set(settings) - set(accepted)) if accepted is not None else []
    if unknown:
        raise ValueError(
            f"regularizer {name!r} takes no setting(s) {unknown}; its settings are {accepted or 'none'}"
        )
