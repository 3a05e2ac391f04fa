"""The adversarial autoencoder's train step (Makhzani et al. 2015) and its prior-matching evaluation.

One jitted step makes three updates on the same batch, each with its own optimizer and state:
1. reconstruction: encoder + decoder on the configured Objective; this is the plain `train_step` (same keys,
   regularizers, corruption, binarization), with `state.tx` / `state.opt_state`;
2. discriminator: prior samples are real (label 1), codes of the batch fake (label 0); the loss is the sigmoid
   cross-entropy from logits averaged over the 2B examples; `extras['discriminator_opt_state']`;
3. generator: the encoder alone, on generator_weight * mean(-log sigmoid(D(E(x)))) (the non-saturating
   loss) against the discriminator just updated; `extras['generator_opt_state']`.
Keys: step_key = fold_in(state.rng, state.step), used by phase 1 exactly as `train_step` uses it; phases 2 and 3
split fold_in(step_key, 6) into (prior draw, discriminator-phase dropout, generator-phase dropout).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from aejax.models.aae import AdversarialSpec, sample_prior
from aejax.objectives.objective import Objective
from aejax.training.state import TrainState
from aejax.training.steps import jit_step, train_step

Batch = dict[str, jax.Array]


def sigmoid_cross_entropy(logits: jax.Array, label: float) -> jax.Array:
    """Per-example -log sigmoid(logits) for label 1, -log(1 - sigmoid(logits)) for label 0."""
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label))


def encode(model: nn.Module, params, model_state, x: jax.Array, dropout_key: jax.Array) -> jax.Array:
    """Codes in training mode; batch statistics (model.norm='batch') normalize with this batch, and the running
    averages this pass would update are dropped (the reconstruction phase updated them already)."""
    variables, rngs = {"params": params, **model_state}, {"dropout": dropout_key}
    if model_state:
        z, _ = model.apply(variables, x, train=True, method="encode", rngs=rngs, mutable=list(model_state))
        return z
    return model.apply(variables, x, train=True, method="encode", rngs=rngs)


def discriminate(model: nn.Module, discriminator_params, z: jax.Array) -> jax.Array:
    return model.apply({"params": discriminator_params}, z, train=True, method="discriminate")


def discriminator_update(
    model: nn.Module,
    tx: optax.GradientTransformation,
    discriminator_params,
    opt_state,
    z_real: jax.Array,
    z_fake: jax.Array,
) -> tuple[Any, Any, dict[str, jax.Array], Any]:
    """One step of the discriminator on prior draws (real) against codes (fake); the codes carry no gradient.

    Returns (params, opt_state, metrics, grads); accuracies are those of the discriminator before the step.
    """
    z_fake = jax.lax.stop_gradient(z_fake)

    def loss_fn(d_params):
        logits_real = discriminate(model, d_params, z_real)
        logits_fake = discriminate(model, d_params, z_fake)
        per_example = jnp.concatenate(
            [sigmoid_cross_entropy(logits_real, 1.0), sigmoid_cross_entropy(logits_fake, 0.0)]
        )
        return jnp.mean(per_example), (logits_real, logits_fake)

    (loss, (logits_real, logits_fake)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        discriminator_params
    )
    updates, opt_state = tx.update(grads, opt_state, discriminator_params)
    accuracy_real = jnp.mean((logits_real > 0).astype(jnp.float32))
    accuracy_fake = jnp.mean((logits_fake < 0).astype(jnp.float32))
    metrics = {
        "disc_loss": loss,
        "disc_accuracy": 0.5 * (accuracy_real + accuracy_fake),
        "disc_accuracy_real": accuracy_real,
        "disc_accuracy_fake": accuracy_fake,
    }
    return optax.apply_updates(discriminator_params, updates), opt_state, metrics, grads


def generator_update(
    model: nn.Module,
    tx: optax.GradientTransformation,
    params,
    model_state,
    discriminator_params,
    opt_state,
    x: jax.Array,
    dropout_key: jax.Array,
    weight: float,
) -> tuple[Any, Any, dict[str, jax.Array], Any]:
    """One step of the encoder (params['encoder'] only) towards codes the discriminator calls real.

    Returns (params, opt_state, metrics, grads); `generator_loss` is reported unweighted.
    """

    def loss_fn(encoder_params):
        z = encode(model, {**params, "encoder": encoder_params}, model_state, x, dropout_key)
        loss = jnp.mean(sigmoid_cross_entropy(discriminate(model, discriminator_params, z), 1.0))
        return weight * loss, loss

    (_, loss), grads = jax.value_and_grad(loss_fn, has_aux=True)(params["encoder"])
    updates, opt_state = tx.update(grads, opt_state, params["encoder"])
    params = {**params, "encoder": optax.apply_updates(params["encoder"], updates)}
    return params, opt_state, {"generator_loss": loss}, grads


def adversarial_train_step(
    state: TrainState,
    batch: Batch,
    *,
    model: nn.Module,
    objective: Objective,
    schedule: optax.Schedule,
    log_norms: bool = True,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """Reconstruction, then discriminator, then generator update on one batch (see the module docstring)."""
    spec: AdversarialSpec = model.adversarial
    discriminator_tx, generator_tx = spec.optimizers()
    step_key = jax.random.fold_in(state.rng, state.step)
    new_state, metrics = train_step(
        state, batch, model=model, objective=objective, schedule=schedule, log_norms=log_norms
    )
    x = batch["x"]
    if objective.binarize:  # the same Bernoulli sample the reconstruction phase saw
        x = jax.random.bernoulli(jax.random.fold_in(step_key, 3), x).astype(x.dtype)
    prior_key, fake_key, generator_key = jax.random.split(jax.random.fold_in(step_key, 6), 3)
    extras = state.extras
    params = new_state.params

    z_fake = encode(model, params, new_state.model_state, x, fake_key)
    z_real = sample_prior(spec, prior_key, x.shape[0], model.latent_dim).astype(z_fake.dtype)
    discriminator_params, discriminator_opt_state, d_metrics, d_grads = discriminator_update(
        model,
        discriminator_tx,
        extras["discriminator_params"],
        extras["discriminator_opt_state"],
        z_real,
        z_fake,
    )
    params, generator_opt_state, g_metrics, g_grads = generator_update(
        model,
        generator_tx,
        params,
        new_state.model_state,
        discriminator_params,
        extras["generator_opt_state"],
        x,
        generator_key,
        spec.generator_weight,
    )
    metrics = {**metrics, **d_metrics, **g_metrics}
    if log_norms:
        metrics["disc_grad_norm"] = optax.tree.norm(d_grads)
        metrics["generator_grad_norm"] = optax.tree.norm(g_grads)
        metrics["param_norm"] = optax.tree.norm(params)
    extras = {
        "discriminator_params": discriminator_params,
        "discriminator_opt_state": discriminator_opt_state,
        "generator_opt_state": generator_opt_state,
    }
    return new_state.replace(params=params, extras=extras), metrics


def make_adversarial_train_step(
    model: nn.Module,
    objective: Objective,
    schedule: optax.Schedule,
    *,
    donate: bool = True,
    max_traces: int | None = None,
    log_norms: bool = True,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """jit once (as `make_train_step`); with `max_traces`, raises if traced more often than that."""
    bound = functools.partial(
        adversarial_train_step, model=model, objective=objective, schedule=schedule, log_norms=log_norms
    )
    return jit_step(bound, donate=donate, max_traces=max_traces, what="adversarial train step")


# ---------------------------------------------------------------------------------------------- evaluation
def squared_distances(a_NxK: jax.Array, b_MxK: jax.Array) -> jax.Array:
    """(N, M) squared Euclidean distances, clipped at 0 against rounding."""
    sq = jnp.sum(a_NxK**2, 1)[:, None] + jnp.sum(b_MxK**2, 1)[None, :] - 2.0 * a_NxK @ b_MxK.T
    return jnp.maximum(sq, 0.0)


def median_bandwidth(y_MxK: jax.Array) -> jax.Array:
    """The median heuristic: sigma with 2 sigma^2 = median squared distance between distinct rows of y."""
    m = y_MxK.shape[0]
    sq = squared_distances(y_MxK, y_MxK)[jnp.triu_indices(m, k=1)]
    return jnp.sqrt(0.5 * jnp.median(sq))


def gaussian_mmd2(x_NxK: jax.Array, y_MxK: jax.Array, bandwidth: float | jax.Array) -> jax.Array:
    """Unbiased estimate of MMD^2(P, Q) from x ~ P and y ~ Q (Gretton et al. 2012, eq. 3) with the kernel
    k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2)): the mean of k over distinct pairs within x, plus that within
    y, minus twice the mean over all cross pairs. Zero in expectation when P = Q; may be slightly negative."""
    n, m = x_NxK.shape[0], y_MxK.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 samples on each side, got {n} and {m}")
    scale = -0.5 / jnp.square(bandwidth)
    k_xx = jnp.exp(scale * squared_distances(x_NxK, x_NxK))
    k_yy = jnp.exp(scale * squared_distances(y_MxK, y_MxK))
    k_xy = jnp.exp(scale * squared_distances(x_NxK, y_MxK))
    within_x = (jnp.sum(k_xx) - jnp.trace(k_xx)) / (n * (n - 1))
    within_y = (jnp.sum(k_yy) - jnp.trace(k_yy)) / (m * (m - 1))
    return within_x + within_y - 2.0 * jnp.mean(k_xy)


def _prior_draws(model: nn.Module, num: int, seed: int) -> jax.Array:
    return sample_prior(
        model.adversarial, jax.random.fold_in(jax.random.PRNGKey(seed), 0xAAE), num, model.latent_dim
    )


def prior_mmd(model: nn.Module, codes: np.ndarray, seed: int = 0) -> dict[str, float]:
    """MMD^2 between the first `adversarial.eval_examples` rows of `codes` and as many draws from the prior of
    the AAE `model` (seeded); the bandwidth is `adversarial.mmd_bandwidth`, or the median heuristic on the prior
    draws alone, so codes of different models are measured with the same kernel. `codes` may come from any
    model with the same code size (e.g. a plain autoencoder, for comparison)."""
    spec: AdversarialSpec = model.adversarial
    codes = jnp.asarray(np.asarray(codes, np.float32)[: spec.eval_examples])
    if codes.ndim != 2 or codes.shape[1] != model.latent_dim:
        raise ValueError(
            f"prior_mmd expects codes of shape (n, {model.latent_dim}), got {tuple(codes.shape)}"
        )
    prior = _prior_draws(model, codes.shape[0], seed)
    bandwidth = spec.mmd_bandwidth if spec.mmd_bandwidth > 0 else median_bandwidth(prior)
    return {
        "prior_mmd2": float(gaussian_mmd2(codes, prior, bandwidth)),
        "mmd_bandwidth": float(bandwidth),
        "mmd_examples": int(codes.shape[0]),
    }


def adversarial_evaluation(
    model: nn.Module, state: TrainState, codes: np.ndarray, seed: int = 0
) -> dict[str, float]:
    """How well codes match the prior: `prior_mmd`, and the trained discriminator's accuracy at telling the
    codes (fake) from as many prior draws (real), each side and balanced."""
    report = prior_mmd(model, codes, seed)
    n = report["mmd_examples"]
    codes = jnp.asarray(np.asarray(codes, np.float32)[:n])
    params = state.extras["discriminator_params"]
    logits_real = model.apply({"params": params}, _prior_draws(model, n, seed), method="discriminate")
    logits_fake = model.apply({"params": params}, codes, method="discriminate")
    accuracy_real = float(jnp.mean(logits_real > 0))
    accuracy_fake = float(jnp.mean(logits_fake < 0))
    return {
        **report,
        "disc_accuracy": 0.5 * (accuracy_real + accuracy_fake),
        "disc_accuracy_real": accuracy_real,
        "disc_accuracy_fake": accuracy_fake,
    }
