"""A hand-written JAX training script: the reference of the end-to-end benchmark (no aejax imports).

    python aejax/benchmarking/peer_jax.py --job digits [--epochs 100] [--mnist-path DIR]

What a careful user writes with flax linen and optax: an MLP autoencoder (encoder widths, a linear code, the
mirrored decoder, sigmoid outputs), per-example MSE averaged over the batch, Adam with warm-up + cosine decay
after global-norm clipping, one `jax.jit` step with donated state on device-resident data, a fresh permutation
each epoch (the last partial batch dropped), a jitted validation pass each epoch, and a copy of the parameters
whenever validation improves; the test MSE of the best parameters at the end. It prints one JSON line
(`peer_data.emit`): train_seconds runs from the first epoch (after data loading and initialisation) to the end
of the last, jit compilation included.
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from peer_data import emit, job_from_args, load_job_data, peer_arguments, phase_record, steps_per_epoch

ACTIVATIONS = {"gelu": nn.gelu, "relu": nn.relu}


class MLPAutoencoder(nn.Module):
    hidden: tuple[int, ...]
    latent: int
    activation: str

    @nn.compact
    def __call__(self, x_BxD):
        act = ACTIVATIONS[self.activation]
        h = x_BxD
        for width in self.hidden:
            h = act(nn.Dense(width)(h))
        h = nn.Dense(self.latent)(h)
        for width in reversed(self.hidden):
            h = act(nn.Dense(width)(h))
        return nn.sigmoid(nn.Dense(x_BxD.shape[-1])(h))


def make_functions(model, tx, n_steps: int, batch_size: int):
    """The jitted epoch shuffle, train step (state donated) and validation loss."""

    def loss_fn(params, x_BxD):
        return jnp.mean(jnp.square(model.apply({"params": params}, x_BxD) - x_BxD))

    @jax.jit
    def shuffled_batches(x_NxD, key):
        order = jax.random.permutation(key, x_NxD.shape[0])[: n_steps * batch_size]
        return x_NxD[order].reshape(n_steps, batch_size, x_NxD.shape[-1])

    @partial(jax.jit, donate_argnums=(0,))
    def train_step(state, batches, index):
        params, opt_state = state
        loss, grads = jax.value_and_grad(loss_fn)(params, batches[index])
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    return shuffled_batches, train_step, jax.jit(loss_fn)


def setup(job, n_train: int, n_features: int, seed: int):
    """The initial (params, optimizer state), the jitted functions, the data key and the steps per epoch."""
    n_steps = steps_per_epoch(job, n_train)
    total_steps = job.epochs * n_steps
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, job.learning_rate, job.warmup_steps, max(total_steps, job.warmup_steps + 1),
        job.learning_rate * job.min_learning_rate_ratio,
    )  # fmt: skip
    tx = optax.chain(optax.clip_by_global_norm(job.grad_clip_norm), optax.adam(schedule))
    model = MLPAutoencoder(job.hidden, job.latent, job.activation)
    init_key, data_key = jax.random.split(jax.random.key(seed))

    @jax.jit  # one compiled program instead of dozens of small eager ones (about half the time)
    def init_state(key):
        params = model.init(key, jnp.zeros((1, n_features), jnp.float32))["params"]
        return params, tx.init(params)

    state = jax.block_until_ready(init_state(init_key))
    return state, make_functions(model, tx, n_steps, job.batch_size), data_key, n_steps


def train(job, state, functions, data_key, n_steps: int, x_train, x_val):
    """The training loop; returns the best parameters and a record of the run."""
    shuffled_batches, train_step, val_loss = functions
    x_train, x_val = jax.device_put(x_train), jax.device_put(x_val)
    best_val, best_epoch, best_params, loss = np.inf, -1, None, None
    for epoch in range(job.epochs):
        batches = shuffled_batches(x_train, jax.random.fold_in(data_key, epoch))
        for index in range(n_steps):
            state, loss = train_step(state, batches, np.int32(index))
        val = float(val_loss(state[0], x_val))
        if val < best_val:  # copy: the next step donates (deletes) the state's buffers
            best_val, best_epoch, best_params = val, epoch, jax.tree.map(jnp.copy, state[0])
    best_params = jax.block_until_ready(best_params)
    steps = job.epochs * n_steps
    return best_params, {
        "steps": steps,
        "best_val": best_val,
        "best_epoch": best_epoch,
        "last_loss": float(loss),
    }


def main() -> None:
    args = peer_arguments(__doc__.splitlines()[0]).parse_args()
    job = job_from_args(args)
    started = time.perf_counter()
    x_train, x_val, x_test = load_job_data(job, args.mnist_path)
    loaded = time.perf_counter()
    state, functions, data_key, n_steps = setup(job, *x_train.shape, args.seed)
    ready = time.perf_counter()
    best_params, record = train(job, state, functions, data_key, n_steps, x_train, x_val)
    trained = time.perf_counter()
    test_mse = float(functions[2](best_params, jax.device_put(x_test)))
    record.update(
        test_mse=test_mse,
        **phase_record(started, loaded, ready, trained, x_train, x_val, x_test),
        backend=jax.default_backend(),
        device=str(jax.devices()[0].device_kind),
    )
    emit(record)


if __name__ == "__main__":
    main()
