"""FactorVAE's train step (Kim & Mnih 2018): two updates on the same batch in one jitted step.

1. VAE: the plain `train_step` (reconstruction + configured regularizers, e.g. the KL) with gamma * TC added,
   TC = mean over the batch of the discriminator's logit D(z) on the sampled codes (the discriminator frozen);
   `state.tx` / `state.opt_state`. Its metrics add `total_correlation` (the estimate, unweighted).
2. Discriminator: codes of the batch under the just-updated encoder are 'real' (label 1), the same codes with
   every unit permuted independently across the batch 'fake' (label 0); sigmoid cross-entropy, its own Adam
   (`extras['discriminator_opt_state']`), through the adversarial autoencoder's `discriminator_update`.
   Like disentanglement_lib, the permuted codes come from the same batch (the paper draws a second batch).
Keys: the step key is fold_in(state.rng, state.step) as in `train_step`; phase 2 splits fold_in(step_key, 7)
into (codes, permutation) and the codes key into (dropout, latent draw).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from aejax.objectives.objective import Objective
from aejax.training.adversarial import discriminate, discriminator_update
from aejax.training.state import TrainState
from aejax.training.steps import _step_inputs, jit_step, train_step

Batch = dict[str, jax.Array]
PHASE_KEY = 7  # folded into the step key for the discriminator phase (see STEP_KEY_PURPOSES)


def factor_extras(model: nn.Module, params: Any, key: jax.Array) -> dict[str, Any]:
    """The discriminator's parameters from `key` and its optimizer's fresh state."""
    dummy = jnp.zeros((1, model.latent_dim), jnp.float32)
    discriminator_params = model.init({"params": key}, dummy, method="discriminate")["params"]
    return {
        "discriminator_params": discriminator_params,
        "discriminator_opt_state": model.factor.optimizer().init(discriminator_params),
    }


def permute_dims(z_BxK: jax.Array, key: jax.Array) -> jax.Array:
    """Each column of z permuted on its own across the batch: draws from the product of the marginals."""
    keys = jax.random.split(key, z_BxK.shape[1])
    return jax.vmap(lambda k, column: jax.random.permutation(k, column), in_axes=(0, 1), out_axes=1)(
        keys, z_BxK
    )


def with_total_correlation(family, discriminator_params, gamma: float):
    """`family` whose loss hook adds gamma * TC (after its own hook, e.g. the IWAE bound)."""
    inner = family.adjust_loss

    def adjust_loss(model, variables, x_input, objective, loss, aux, rngs, output):
        if inner is not None:
            loss, aux = inner(model, variables, x_input, objective, loss, aux, rngs, output)
        tc = jnp.mean(discriminate(model, discriminator_params, output.code))
        loss = loss + gamma * tc
        return loss, {**aux, "total_correlation": tc, "loss": loss}

    return dataclasses.replace(family, adjust_loss=adjust_loss)


def sampled_codes(model: nn.Module, state: TrainState, x: jax.Array, key: jax.Array) -> jax.Array:
    """z ~ q(z|x) under the state's parameters (training mode, its own dropout and latent draws)."""
    dropout_key, latent_key = jax.random.split(key)
    variables = {"params": state.params, **state.model_state}
    rngs = {"dropout": dropout_key}
    if state.model_state:  # batch statistics update in training mode; this pass's update is dropped
        (mean, log_variance), _ = model.apply(
            variables, x, train=True, method="posterior", rngs=rngs, mutable=list(state.model_state)
        )
    else:
        mean, log_variance = model.apply(variables, x, train=True, method="posterior", rngs=rngs)
    eps = jax.random.normal(latent_key, mean.shape, mean.dtype)
    return mean + jnp.exp(0.5 * log_variance) * eps


def factor_vae_train_step(
    state: TrainState,
    batch: Batch,
    *,
    model: nn.Module,
    objective: Objective,
    schedule: optax.Schedule,
    family,
    log_norms: bool = True,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """The VAE update with the TC term, then the discriminator update (see the module docstring)."""
    extras = state.extras
    phase = with_total_correlation(family, extras["discriminator_params"], model.factor.gamma)
    new_state, metrics = train_step(
        state, batch, model=model, objective=objective, schedule=schedule, log_norms=log_norms, family=phase
    )
    step_key = jax.random.fold_in(state.rng, state.step)
    _, x_input = _step_inputs(objective, batch["x"], step_key)  # what the encoder saw in phase 1
    codes_key, permutation_key = jax.random.split(jax.random.fold_in(step_key, PHASE_KEY))
    z = sampled_codes(model, new_state, x_input, codes_key)
    params, opt_state, d_metrics, d_grads = discriminator_update(
        model,
        model.factor.optimizer(),
        extras["discriminator_params"],
        extras["discriminator_opt_state"],
        z,
        permute_dims(z, permutation_key),
    )
    metrics = {**metrics, **d_metrics}
    if log_norms:
        metrics["disc_grad_norm"] = optax.tree.norm(d_grads)
    extras = {"discriminator_params": params, "discriminator_opt_state": opt_state}
    return new_state.replace(extras=extras), metrics


def make_factor_vae_train_step(
    model: nn.Module,
    objective: Objective,
    schedule: optax.Schedule,
    *,
    family,
    donate: bool = True,
    max_traces: int | None = None,
    log_norms: bool = True,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """jit once (as `make_train_step`); `family` is the FactorVAE's record (its VAE hooks)."""
    bound = functools.partial(
        factor_vae_train_step,
        model=model,
        objective=objective,
        schedule=schedule,
        family=family,
        log_norms=log_norms,
    )
    return jit_step(bound, donate=donate, max_traces=max_traces, what="FactorVAE train step")
