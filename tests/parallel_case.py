"""The small training case the backend tests share: 5 Adam steps of a 12-16-4 autoencoder on fixed batches."""

import jax
import numpy as np
import optax

from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.objectives import Objective
from aejax.training import create_train_state, make_train_step
from aejax.training.parallel import Placement


def run_case(backend: str, steps: int = 5):
    """(params, losses) after `steps` updates with `backend`; params as the backend leaves them."""
    model = build_model(ModelSpec(latent_dim=4, hidden=(16,)), (12,))
    objective = Objective(regularizers=(("l2", "code_l2", 0.1),))
    placement = Placement.create(backend, 32)
    state = placement.place_state(create_train_state(model, optax.adam(1e-2), (12,), 0))
    step = make_train_step(model, objective, optax.constant_schedule(1e-2), placement=placement)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        batch = {"x": rng.random((32, 12), np.float32)}
        state, metrics = step(state, placement.place_batch(batch))
        losses.append(
            float(np.asarray(jax.tree.leaves(placement.metrics(metrics)["loss"])[0].addressable_data(0)))
        )
    return placement.host_state(state).params, losses
