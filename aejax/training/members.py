"""The runs one fit loop trains (a single run or a vmapped sweep's members) and each one's early stopping."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from aejax.training.specs import TrainSpec, epoch_permutation


@dataclasses.dataclass
class EarlyStopping:
    """One run's early stopping: the best validation value and epoch so far and the epochs since (an
    improvement must beat the best by `min_delta`, as in Keras); saved in and restored from checkpoint meta."""

    patience: int
    min_delta: float
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record an epoch's validation value; True when training should stop."""
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
        else:
            self.bad_epochs += 1
        return self.patience > 0 and self.bad_epochs >= self.patience

    def to_meta(self) -> dict[str, Any]:
        return {
            "best_val": self.best if math.isfinite(self.best) else None,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
        }

    def load_meta(self, meta: Mapping[str, Any]) -> None:
        self.best = math.inf if meta.get("best_val") is None else float(meta["best_val"])
        self.best_epoch = int(meta.get("best_epoch", -1))
        self.bad_epochs = int(meta.get("bad_epochs", 0))


def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


_tree_finite = jax.jit(_all_finite)
_members_finite = jax.jit(jax.vmap(_all_finite))


@dataclasses.dataclass(frozen=True)
class Members:
    """The runs one loop trains: a single run (its state as it is), or a vmapped sweep's members (their
    states stacked on a leading axis), each with its own seed and so its own epoch order."""

    seeds: tuple[int, ...]
    stacked: bool = False

    @property
    def count(self) -> int:
        return len(self.seeds)

    def order(self, epoch: int, n: int) -> np.ndarray:
        """The epoch's row order: (n,) for a single run, (members, n) for a sweep."""
        orders = [epoch_permutation(seed, epoch, n) for seed in self.seeds]
        return np.stack(orders) if self.stacked else orders[0]

    def select(self, tree: Any, member: int) -> Any:
        """One member's part of a state or of a step's metrics."""
        return jax.tree.map(lambda leaf: leaf[member], tree) if self.stacked else tree

    def merge(self, kept: Any, new: Any, members: list[int]) -> Any:
        """`new` for the listed members and `kept` for the others (a single run: `new`), as a copy that later
        steps (which donate their input state) cannot delete."""
        if not self.stacked or kept is None:
            if jax.process_count() == 1:  # a copy by transfer: no op to compile for each leaf's shape
                return jax.device_put(new, may_alias=False)
            return jax.tree.map(jnp.copy, new)
        chosen = np.isin(np.arange(self.count), members)
        return jax.tree.map(
            lambda k, n: jnp.where(chosen.reshape((-1,) + (1,) * (n.ndim - 1)), n, k), kept, new
        )

    def finite(self, tree: Any) -> np.ndarray:
        """Whether each member's part of `tree` is finite everywhere, shape (members,)."""
        return np.atleast_1d(np.asarray(_members_finite(tree) if self.stacked else _tree_finite(tree)))

    def naming(self, members: list[int]) -> str:
        """' for sweep members [..]' in a sweep's error messages; nothing for a single run."""
        return f" for sweep members {members}" if self.stacked else ""


def check_early_stopping(train: TrainSpec, x_val: np.ndarray | None) -> None:
    if train.early_stopping_patience > 0 and x_val is None:
        raise ValueError("train.early_stopping_patience > 0 needs a validation split (data.val_fraction > 0)")


def monitored(val: dict[str, float], name: str) -> float:
    """The validation value early stopping watches (the family's `monitor`: a variational model's -ELBO, by
    default the reconstruction loss). Several processes all track process 0's value, so they stop at the same
    step."""
    monitored = val[name]
    if jax.process_count() > 1:
        monitored = float(multihost_utils.broadcast_one_to_all(np.asarray(monitored, np.float32)))
    return monitored
