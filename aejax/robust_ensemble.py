"""An ensemble of small autoencoders trained as one compiled program, for anomaly scores on contaminated data.

K members share a shape (features -> hidden... -> latent -> ...hidden -> features, ReLU, linear output) and
differ in what makes an ensemble useful (RandNet, Chen et al. 2017): their initialisation, a fixed random
mask over each weight matrix (a `density` fraction of the connections is kept) and their code size (member i
uses the first k_i latent units, k_i spread evenly from 1 to `latent_dim`). One `jax.vmap` over the members
runs inside one `lax.scan` over the minibatches of an epoch, so the whole ensemble trains in one jitted call
per epoch.

Training is robust to the anomalies in the training rows (Zhou & Paffenroth 2017 down-weight them; here they
are trimmed): the loss of each minibatch averages the row errors below its (1 - trim) quantile, with the trimmed
fraction ramped from 0 to `trim` over the first half of training, so rows the ensemble cannot explain stop
pulling the members toward them.

Pure functions over NumPy/JAX arrays; `aejax.anomaly_detector` wraps them in a scikit-learn estimator.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax

# Inference runs in chunks of exactly this many rows (zero-padded), so a row's score never depends on how
# many rows came with it, and each feature count compiles once.
CHUNK = 512


@dataclasses.dataclass(frozen=True)
class EnsembleSpec:
    """Shape and training of the ensemble (see the module docstring)."""

    n_members: int = 8
    hidden: tuple[int, ...] = (256,)
    latent_dim: int = 2
    density: float = 0.5
    trim: float = 0.2
    epochs: int = 30
    min_steps: int = 600
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0


def _layer_shapes(n_features: int, spec: EnsembleSpec) -> list[tuple[int, int]]:
    widths = [n_features, *spec.hidden, spec.latent_dim, *reversed(spec.hidden), n_features]
    return list(itertools.pairwise(widths))


def latent_sizes(spec: EnsembleSpec) -> np.ndarray:
    """Code size of each member: evenly spread from 1 to latent_dim (all latent_dim for one member)."""
    if spec.n_members == 1:
        return np.array([spec.latent_dim])
    return np.round(np.linspace(1, spec.latent_dim, spec.n_members)).astype(int)


def init_ensemble(n_features: int, spec: EnsembleSpec) -> tuple[dict, dict]:
    """(params, masks) with a leading member axis; He-normal weights, zero biases, fixed connection masks."""
    shapes = _layer_shapes(n_features, spec)

    def member(key):
        keys = jax.random.split(key, 2 * len(shapes))
        weights = [jax.random.normal(keys[i], s) * jnp.sqrt(2.0 / s[0]) for i, s in enumerate(shapes)]
        masks = [
            (jax.random.uniform(keys[len(shapes) + i], s) < spec.density).astype(jnp.float32)
            if spec.density < 1.0
            else jnp.ones(s, jnp.float32)
            for i, s in enumerate(shapes)
        ]
        return {"w": weights, "b": [jnp.zeros(s[1]) for s in shapes]}, masks

    params, connections = jax.vmap(member)(jax.random.split(jax.random.PRNGKey(spec.seed), spec.n_members))
    units = np.arange(spec.latent_dim)[None, :] < latent_sizes(spec)[:, None]
    return params, {"connections": connections, "latent": jnp.asarray(units, jnp.float32)}


def apply_member(params: dict, masks: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(code, reconstruction) of one member for rows x; unused latent units are zero."""
    n_layers = len(params["w"])
    code_layer = n_layers // 2 - 1
    h, code = x, None
    for i in range(n_layers):
        h = h @ (params["w"][i] * masks["connections"][i]) + params["b"][i]
        if i == code_layer:
            h = code = h * masks["latent"]
        elif i < n_layers - 1:
            h = jax.nn.relu(h)
    return code, h


def _trimmed_loss(params, masks, xb, fraction):
    """Mean squared error per row, averaged over the rows at or below the batch's (1 - fraction) quantile."""
    _, recon = apply_member(params, masks, xb)
    errors = jnp.mean(jnp.square(recon - xb), axis=1)
    cut = jnp.quantile(jax.lax.stop_gradient(errors), 1.0 - fraction)
    keep = (errors <= cut).astype(errors.dtype)
    return jnp.sum(errors * keep) / jnp.maximum(jnp.sum(keep), 1.0)


def _epoch_fn(x: jax.Array, tx: optax.GradientTransformation, n_batches: int, batch_size: int):
    def step(carry, rows):
        params, opt_state, masks, fraction = carry
        xb = x[rows]

        def member(p, o, m):
            grads = jax.grad(_trimmed_loss)(p, m, xb, fraction)
            updates, o = tx.update(grads, o, p)
            return optax.apply_updates(p, updates), o

        params, opt_state = jax.vmap(member)(params, opt_state, masks)
        return (params, opt_state, masks, fraction), None

    @jax.jit
    def epoch(params, opt_state, masks, key, fraction):
        order = jax.random.permutation(key, x.shape[0])[: n_batches * batch_size]
        carry = (params, opt_state, masks, fraction)
        (params, opt_state, _, _), _ = jax.lax.scan(step, carry, order.reshape(n_batches, batch_size))
        return params, opt_state

    return epoch


def training_epochs(spec: EnsembleSpec, n_rows: int) -> int:
    """`spec.epochs`, raised until training takes at least `spec.min_steps` minibatch steps (small tables)."""
    n_batches = max(1, n_rows // min(spec.batch_size, n_rows))
    return max(spec.epochs, -(-spec.min_steps // n_batches))


def train_ensemble(x: np.ndarray, spec: EnsembleSpec, progress=None) -> tuple[dict, dict]:
    """Train every member on rows x (float32, already scaled); returns (params, masks) as NumPy trees.

    Trains `training_epochs(spec, len(x))` epochs; `progress`, when given, is called with the epoch number
    after each epoch.
    """
    n, d = x.shape
    batch_size = min(spec.batch_size, n)
    n_batches = max(1, n // batch_size)
    epochs = training_epochs(spec, n)
    params, masks = init_ensemble(d, spec)
    tx = optax.adam(spec.learning_rate)
    opt_state = jax.vmap(tx.init)(params)
    epoch = _epoch_fn(jnp.asarray(x, jnp.float32), tx, n_batches, batch_size)
    key = jax.random.PRNGKey(spec.seed + 1)
    ramp = max(1, epochs // 2)
    for e in range(epochs):
        key, sub = jax.random.split(key)
        fraction = jnp.float32(spec.trim * min(1.0, e / ramp))
        params, opt_state = epoch(params, opt_state, masks, sub, fraction)
        if progress is not None:
            progress(e + 1)
    return jax.device_get(params), jax.device_get(masks)


@jax.jit
def _outputs(params, masks, x):
    return jax.vmap(lambda p, m: apply_member(p, m, x))(params, masks)


def member_outputs(params: dict, masks: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, reconstructions) of every member: arrays (members, rows, latent_dim) and (members, rows, d)."""
    n = x.shape[0]
    padded = np.zeros((-(-n // CHUNK) * CHUNK, x.shape[1]), np.float32)
    padded[:n] = x
    codes, recons = [], []
    for start in range(0, padded.shape[0], CHUNK):
        code, recon = _outputs(params, masks, jnp.asarray(padded[start : start + CHUNK]))
        codes.append(np.asarray(code))
        recons.append(np.asarray(recon))
    return np.concatenate(codes, axis=1)[:, :n], np.concatenate(recons, axis=1)[:, :n]
