"""Pure train and eval steps, and their jitted forms.

`train_step(state, batch, *, model, objective, schedule) -> (state, metrics)`; the step key is
`fold_in(state.rng, state.step)`, so the same seed and data give the same bits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from aejax.objectives.forward import Forward
from aejax.objectives.losses import squared_error_per_example
from aejax.objectives.objective import Objective
from aejax.training.compiler import TrainStepJit
from aejax.training.state import TrainState

Batch = dict[str, jax.Array]


def _apply(
    model: nn.Module, params, model_state, x, *, train: bool, rngs=None, mask=None, labels=None, step=None
):
    """Forward pass; returns (output, updated model_state) and only mutates collections that exist.

    `mask` (batch, time), 1 for real steps, reaches models of padded sequences (batch['mask']); `labels`
    (batch['y'], when the objective needs labels) reaches models that use them (a capsule model decodes the
    label's capsule)."""
    variables = {"params": params, **model_state}
    mutable = list(model_state.keys()) if train else False
    extra = {} if mask is None else {"mask": mask}
    if labels is not None and getattr(model, "uses_labels", False):
        extra["labels"] = labels
    if step is not None and getattr(model, "uses_step", False):  # e.g. an annealed top-k
        extra["step"] = step
    if mutable:
        output, new_state = model.apply(variables, x, train=train, rngs=rngs, mutable=mutable, **extra)
        return output, dict(new_state)
    return model.apply(variables, x, train=train, rngs=rngs, **extra), model_state


def train_step(
    state: TrainState,
    batch: Batch,
    *,
    model: nn.Module,
    objective: Objective,
    schedule: optax.Schedule,
    log_norms: bool = True,
    axis_name: str | None = None,
    hyper: dict | None = None,
    microbatch_size: int = 0,
    family=None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One update. With `axis_name` (the pmap backend) each device holds a shard of the batch, and gradients,
    metrics and model collections are averaged over that axis before the update. `hyper` (vmapped sweeps)
    holds traced per-member values: 'weights' (regularizer label -> weight) and 'lr_scale' (the update is
    multiplied by it; exact for optimizers whose update is linear in the learning rate, as all of aejax's are).

    `microbatch_size` > 0 computes the gradient over consecutive slices of that many examples in a `lax.scan`
    and averages them: the same update (up to float rounding) for objectives that are means of per-example
    terms, with a working set that stays in cache (several times faster for convolutional models on CPU).
    Batch-level terms (kl_sparsity's mean activation) see one microbatch at a time; random draws (dropout,
    latent samples) use a key per microbatch; models with batch statistics are refused.

    `family` (an aejax.families.Family) may add to the loss (`adjust_loss`, e.g. the IWAE bound)."""
    step_key = jax.random.fold_in(state.rng, state.step)
    x, x_input = _step_inputs(objective, batch["x"], step_key)
    keys = _step_keys(step_key)
    inputs = (x, x_input, batch.get("mask"), batch.get("y"))
    loss_fn = _make_loss_fn(state, model, objective, hyper, _loss_hook(family, objective))
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if microbatch_size and microbatch_size < x.shape[0]:
        grads, aux = _microbatched(grad_fn, state, inputs, keys, microbatch_size)
        model_state = state.model_state
    else:
        (_, (aux, model_state)), grads = grad_fn(state.params, *inputs, keys)
    if axis_name is not None:
        grads, aux, model_state = jax.lax.pmean((grads, aux, model_state), axis_name)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    if hyper is not None:
        updates = jax.tree.map(lambda u: u * hyper["lr_scale"].astype(u.dtype), updates)
    params = optax.apply_updates(state.params, updates)
    metrics = {**aux, "learning_rate": jnp.asarray(schedule(state.step), jnp.float32)}
    if log_norms:  # two extra passes over params and grads; off, the step runs at hand-written speed
        metrics["grad_norm"] = optax.tree.norm(grads)
        metrics["param_norm"] = optax.tree.norm(params)
    new_state = state.replace(
        step=state.step + 1, params=params, opt_state=opt_state, model_state=model_state
    )
    return new_state, metrics


# What each key folded from a step's key is for (the numbers fix the draws: changing one changes results).
# 6: the AAE's phases; 7: FactorVAE's discriminator phase (aejax.training.factor_vae.PHASE_KEY)
STEP_KEY_PURPOSES = {"corruption": 2, "binarize": 3, "latent": 4, "importance": 5, "augment": 8}


def _step_inputs(objective: Objective, x: jax.Array, step_key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(target, encoder input): x moved by the augmentation (both), a fresh Bernoulli sample of it with dynamic
    binarization, and for denoising a corrupted copy for the encoder while the loss compares with the clean x."""
    if objective.augmentation.active:
        x = objective.augmentation(x, jax.random.fold_in(step_key, STEP_KEY_PURPOSES["augment"]))
    if objective.binarize:
        x = jax.random.bernoulli(jax.random.fold_in(step_key, STEP_KEY_PURPOSES["binarize"]), x).astype(
            x.dtype
        )
    x_input = x
    if objective.corruption.active:
        x_input = objective.corrupt(x, jax.random.fold_in(step_key, STEP_KEY_PURPOSES["corruption"]))
    return x, x_input


def _step_keys(step_key: jax.Array) -> tuple[jax.Array, ...]:
    """(dropout, forward, latent, importance) keys of one step; a microbatch folds its index into each."""
    dropout_key, forward_key = jax.random.split(step_key)
    latent_key = jax.random.fold_in(step_key, STEP_KEY_PURPOSES["latent"])
    return dropout_key, forward_key, latent_key, jax.random.fold_in(step_key, STEP_KEY_PURPOSES["importance"])


def _make_loss_fn(state: TrainState, model: nn.Module, objective: Objective, hyper, adjust_loss) -> Callable:
    """loss_fn(params, x, x_input, mask, labels, keys) -> (loss, (aux, model_state)): the forward pass, the
    objective on its Forward record, and the family's adjustment."""

    def loss_fn(params, x, x_input, mask, labels, keys):
        dropout_key, forward_key, latent_key, importance_key = keys
        rngs = {"dropout": dropout_key, "latent": latent_key}
        output, model_state = _apply(
            model,
            params,
            state.model_state,
            x_input,
            train=True,
            rngs=rngs,
            mask=mask,
            labels=labels,
            step=state.step,
        )

        def encode(inputs):
            return model.apply({"params": params, **state.model_state}, inputs, train=False, method="encode")

        forward = Forward(
            x=x,
            x_input=x_input,
            output=output,
            params=params,
            rng=forward_key,
            encode=encode,
            step=state.step,
            labels=labels,
        )
        loss, aux = objective(forward, None if hyper is None else hyper["weights"])
        if adjust_loss is not None:
            variables = {"params": params, **state.model_state}
            rngs = {"latent": importance_key, "dropout": dropout_key}
            loss, aux = adjust_loss(model, variables, x_input, objective, loss, aux, rngs, output)
        return loss, (aux, model_state)

    return loss_fn


def _loss_hook(family, objective: Objective):
    adjust_loss = None if family is None else family.adjust_loss
    if objective.iwae_samples > 1 and adjust_loss is None:
        raise ValueError(
            "loss.iwae_samples > 1 trains on an importance-weighted bound, which only a variational family "
            "provides (model.family='vae'): pass the step its family"
        )
    return adjust_loss


def _microbatched(grad_fn, state: TrainState, inputs, keys, size: int):
    """(mean gradient, mean metrics) over the batch in slices of `size` rows, one `lax.scan` iteration each."""
    rows = inputs[0].shape[0]
    if rows % size:
        raise ValueError(
            f"train.microbatch_size={size} must divide the batch ({rows} rows per step and device); choose a "
            "divisor of train.batch_size"
        )
    if jax.tree.leaves(state.model_state):
        raise ValueError(
            "train.microbatch_size needs a model without batch statistics (model.norm='batch' would normalize "
            f"each microbatch separately); this model keeps {sorted(state.model_state)}"
        )
    count = rows // size
    chunks = jax.tree.map(lambda a: a.reshape(count, size, *a.shape[1:]), inputs)

    def body(total, chunk_and_index):
        chunk, index = chunk_and_index
        chunk_keys = tuple(jax.random.fold_in(key, index) for key in keys)
        (_, (aux, _)), grads = grad_fn(state.params, *chunk, chunk_keys)
        return jax.tree.map(jnp.add, total, (grads, aux)), None

    first = jax.eval_shape(lambda: grad_fn(state.params, *jax.tree.map(lambda a: a[0], chunks), keys))
    zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), (first[1], first[0][1][0]))
    total, _ = jax.lax.scan(body, zeros, (chunks, jnp.arange(count)))
    return jax.tree.map(lambda a: a / count, total)


def eval_step(
    state: TrainState, batch: Batch, *, model: nn.Module, objective: Objective, family=None
) -> dict[str, jax.Array]:
    """Sums over the valid rows of a padded batch (`batch['weight']` is 1 for real rows, 0 for padding)."""
    weight = batch["weight"]
    variables = {"params": state.params, **state.model_state}
    terms = evaluation_terms(model, objective, family, variables, batch["x"], batch.get("mask"))
    metrics = {name: jnp.sum(weight * term) for name, term in terms.items()}
    return {
        "reconstruction": metrics.pop("reconstruction"),
        "mse": metrics.pop("mse"),
        "count": jnp.sum(weight),
        **metrics,
    }


def evaluation_terms(model, objective: Objective, family, variables, x, mask=None) -> dict[str, jax.Array]:
    """Per example: the reconstruction loss, the squared error, and the family's own terms (`eval_terms`), of
    the forward pass evaluation scores (the family's `eval_output`, by default the deterministic pass)."""
    if family is not None and family.eval_output is not None:
        output = family.eval_output(model, variables, x, mask)
    else:
        output = model.apply(variables, x, train=False, **({} if mask is None else {"mask": mask}))
    reconstruction = objective.per_example_reconstruction(output, x)
    terms = {"reconstruction": reconstruction, "mse": squared_error_per_example(output, x)}
    if family is not None and family.eval_terms is not None:
        terms.update(family.eval_terms(output, reconstruction))
    return terms


def _bound_train_step(model, objective, schedule, log_norms: bool, microbatch_size: int, family) -> Callable:
    _loss_hook(family, objective)  # refuse an IWAE objective without its family before tracing
    return functools.partial(
        train_step,
        model=model,
        objective=objective,
        schedule=schedule,
        log_norms=log_norms,
        microbatch_size=microbatch_size,
        family=family,
    )


def make_train_step(
    model: nn.Module,
    objective: Objective,
    schedule: optax.Schedule,
    *,
    donate: bool = True,
    max_traces: int | None = None,
    log_norms: bool = True,
    placement=None,
    microbatch_size: int = 0,
    family=None,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """jit once; with `max_traces`, the step raises if it is traced (compiled) more often than that.
    `placement` (aejax.training.parallel.Placement) with backend 'pmap' gives the pmapped step instead."""
    bound = _bound_train_step(model, objective, schedule, log_norms, microbatch_size, family)
    if placement is not None and placement.backend == "pmap":
        return placement.compile(bound, donate=donate)

    return jit_step(bound, donate=donate, max_traces=max_traces, what="train step")


def jit_step(bound: Callable, *, donate: bool, max_traces: int | None, what: str) -> Callable:
    """jit a (state, batch) step once, donating the state; with `max_traces`, a counter of this step's own
    (chex.assert_max_traces counts per call site, shared by steps) raises when it is traced more often."""
    traces = 0

    def fn(state: TrainState, batch: Batch):
        nonlocal traces
        traces += 1
        if max_traces is not None and traces > max_traces:
            raise AssertionError(
                f"the {what} was traced {traces} times (max_traces={max_traces}): shapes, dtypes or "
                "static arguments changed between calls"
            )
        return bound(state, batch)

    return TrainStepJit(fn, donate_argnums=(0,) if donate else ())


def make_fused_train_steps(
    model: nn.Module,
    objective: Objective,
    schedule: optax.Schedule,
    *,
    log_norms: bool = True,
    donate: bool = True,
    microbatch_size: int = 0,
    steps: int = 0,
    family=None,
) -> Callable:
    """`(state, x, y, idx_KxB) -> (state, metrics stacked over K)`: K train steps in one `lax.scan`, each on the
    rows idx[k] of the device-resident training data (and labels y, or None). Bit-identical to K calls of the
    plain step on the same batches (tested), with one dispatch instead of K.

    `steps=1` gives the single step `(state, x, y, idx_B) -> (state, metrics)` on the rows idx_B, gathered
    inside the step: one dispatch per step instead of a gather and a step (fit's single-device loop)."""
    bound = _bound_train_step(model, objective, schedule, log_norms, microbatch_size, family)

    def fused(state: TrainState, x: jax.Array, y: jax.Array | None, idx: jax.Array):
        if steps == 1:
            return bound(state, _rows(x, y, idx))
        return jax.lax.scan(lambda carry, idx_B: bound(carry, _rows(x, y, idx_B)), state, idx)

    return TrainStepJit(fused, donate_argnums=(0,) if donate else ())


def make_indexed_train_step(
    model: nn.Module, objective: Objective, schedule: optax.Schedule, **kwargs
) -> Callable:
    """The plain train step on rows gathered inside it: `make_fused_train_steps(..., steps=1)` (the same bits
    as the plain step on `x[idx_B]`, tested)."""
    return make_fused_train_steps(model, objective, schedule, steps=1, **kwargs)


def _rows(x: jax.Array, y: jax.Array | None, idx_B: jax.Array) -> Batch:
    batch = {"x": x[idx_B]}
    if y is not None:
        batch["y"] = y[idx_B]
    return batch


@functools.lru_cache(maxsize=64)
def make_eval_step(
    model: nn.Module, objective: Objective, family=None
) -> Callable[[TrainState, Batch], dict[str, jax.Array]]:
    """The jitted evaluation step; one per (model, objective, family) (equal modules hash alike), so the fit
    loop's validation and the evaluation after it share one compiled program per batch shape."""
    return jax.jit(functools.partial(eval_step, model=model, objective=objective, family=family))
