"""scikit-learn estimators backed by aejax autoencoders: an outlier detector and a code transformer.

    detector = AutoencoderAnomalyDetector().fit(X_train)   # robust ensemble, contamination="auto"
    detector.predict(X)          # +1 inlier / -1 outlier (label_convention="pyod": 0 normal / 1 anomaly)
    detector.anomaly_score(X)    # higher = more anomalous
    codes = AutoencoderTransformer(latent_dim=8).fit_transform(X)

The detector lives in `aejax.anomaly_detector` (its docstring says how it scores and why). The transformer
trains an MLP autoencoder with `aejax.fit` on a 2-d table (images flattened, values in [0, 1], or any
real-valued features) and works with `clone`, `Pipeline`, grid search and pickle. Features are standardized
with the training mean and standard deviation unless every training value lies in [0, 1]
(`standardize="auto"`); the decoder then ends in a sigmoid for [0, 1] data and is linear otherwise. Training
runs a fixed number of epochs; with `early_stopping=True` a seeded `validation_fraction` of the rows is held
out and training stops after `n_iter_no_change` epochs without improvement of its reconstruction.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from aejax import config as config_lib
from aejax.anomaly_detector import AutoencoderAnomalyDetector, check_widths, is_int, seed_of
from aejax.data import from_arrays
from aejax.data.batching import pad_rows
from aejax.fitting import fit as aejax_fit
from aejax.models import ACTIVATIONS
from aejax.trained import Trained, model_from_config, objective_from_config
from aejax.training import TrainSpec, TrainState

# Inference runs in chunks of exactly this many rows (the last one zero-padded), so a row's output never
# depends on how many rows came with it, and each feature count compiles once.
_CHUNK = 256
__all__ = ["AutoencoderAnomalyDetector", "AutoencoderTransformer", "auto_latent_dim"]


def auto_latent_dim(n_features: int) -> int:
    """ceil(sqrt(n_features)), kept below n_features (a bottleneck) and at least 1: 6 -> 3, 300 -> 18."""
    return max(1, min(n_features - 1, math.ceil(math.sqrt(n_features))))


def _snapshot(trained: Trained) -> dict:
    """Plain, picklable contents of a Trained: config as JSON, NumPy params; enough to predict again."""
    state = jax.device_get(trained.state)
    return {
        "config": config_lib.to_json(trained.config),
        "input_shape": list(trained.input_shape),
        "display_shape": list(trained.display_shape),
        "total_steps": trained.total_steps,
        "batch_size": trained.batch_size,
        "results": trained.results,
        "step": np.asarray(state.step),
        "params": state.params,
        "model_state": state.model_state,
        "rng": np.asarray(state.rng),  # a raw uint32 key (jax.random.PRNGKey)
    }


def _restore(snapshot: dict) -> Trained:
    """The Trained of `_snapshot`, for inference (optimizer moments start afresh)."""
    config = config_lib.from_json(snapshot["config"])
    input_shape = tuple(snapshot["input_shape"])
    model = model_from_config(config, input_shape)
    tx, _ = TrainSpec(**config.train.to_dict()).build_optimizer(snapshot["total_steps"])
    params = jax.tree_util.tree_map(jnp.asarray, snapshot["params"])
    state = TrainState(
        step=jnp.asarray(snapshot["step"]),
        params=params,
        opt_state=tx.init(params),
        rng=jnp.asarray(snapshot["rng"]),
        model_state=jax.tree_util.tree_map(jnp.asarray, snapshot["model_state"]),
        tx=tx,
    )
    return Trained(
        model=model,
        objective=objective_from_config(config),
        state=state,
        config=config,
        display_shape=tuple(snapshot["display_shape"]),
        total_steps=snapshot["total_steps"],
        results=snapshot["results"],
        batch_size=snapshot["batch_size"],
    )


class _AutoencoderEstimator(BaseEstimator):
    """Shared fit/inference of the autoencoder estimators; subclasses declare the constructor parameters."""

    def _check_settings(self) -> tuple[int, ...]:
        """Validate the hyperparameters (at fit time, as scikit-learn requires); returns the hidden widths."""
        hidden = check_widths(self.hidden, self.latent_dim)
        for name in ("epochs", "batch_size", "n_iter_no_change"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.learning_rate, numbers.Real) or not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if not (self.standardize == "auto" or isinstance(self.standardize, bool)):
            raise ValueError(f"standardize must be 'auto', True or False, got {self.standardize!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
            )
        if not isinstance(self.early_stopping, bool):
            raise ValueError(f"early_stopping must be True or False, got {self.early_stopping!r}")
        if self.early_stopping and not (
            isinstance(self.validation_fraction, numbers.Real) and 0 < self.validation_fraction < 1
        ):
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        return hidden

    def _seed(self) -> int:
        return seed_of(self.random_state)

    def _config(self, hidden: tuple[int, ...], n_features: int, n_train: int, unit_range: bool, seed: int):
        latent = auto_latent_dim(n_features) if self.latent_dim == "auto" else int(self.latent_dim)
        config: ml_collections.ConfigDict = config_lib.load_default()
        config.seed = seed
        config.data.source = "arrays"
        config.model.hidden = hidden
        config.model.latent_dim = latent
        config.model.activation = self.activation
        config.model.output_activation = "sigmoid" if unit_range else "identity"
        config.train.epochs = int(self.epochs)
        config.train.batch_size = min(int(self.batch_size), n_train)
        config.train.eval_batch_size = _CHUNK
        config.train.learning_rate = float(self.learning_rate)
        config.train.early_stopping_patience = int(self.n_iter_no_change) if self.early_stopping else 0
        config.train.progress = bool(self.verbose)
        config.train.log_norms = False
        config.eval.plots = False
        config.eval.compare_pca = False
        config.eval.jacobian_examples = 0
        return config

    def _fit_autoencoder(self, X) -> np.ndarray:
        """Validate X, fit the scaling and train; returns the model-space training rows (float32)."""
        hidden = self._check_settings()
        X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32], ensure_min_samples=2)
        unit_range = bool(X.min() >= 0.0 and X.max() <= 1.0)
        self.standardized_ = bool(self.standardize is True or (self.standardize == "auto" and not unit_range))
        if self.standardized_:
            self.mean_ = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            # Constant features keep scale 1 (as StandardScaler does): they center to 0 and stay there.
            self.scale_ = np.where(std > 10 * np.finfo(np.float64).eps * np.abs(self.mean_) + 1e-12, std, 1.0)
        else:
            self.mean_ = np.zeros(X.shape[1])
            self.scale_ = np.ones(X.shape[1])
        x = self._to_model_space(X)
        seed = self._seed()
        x_train, x_val = x, None
        if self.early_stopping:
            order = np.random.default_rng(seed).permutation(x.shape[0])
            n_val = max(1, round(x.shape[0] * self.validation_fraction))
            if x.shape[0] - n_val < 1:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves no training rows out of {x.shape[0]}"
                )
            x_train, x_val = x[order[n_val:]], x[order[:n_val]]
        sigmoid_output = unit_range and not self.standardized_
        config = self._config(hidden, X.shape[1], x_train.shape[0], sigmoid_output, seed)
        data = from_arrays(x_train, x_val, value_range=(0.0, 1.0) if sigmoid_output else None)
        self.trained_ = aejax_fit(config, data=data, workdir=None)
        self.trained_.batch_size = _CHUNK
        self.latent_dim_ = int(config.model.latent_dim)
        return x

    def _to_model_space(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def _prepare(self, X) -> np.ndarray:
        check_is_fitted(self, "trained_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._to_model_space(X)

    def _run(self, method: str, x: np.ndarray) -> np.ndarray:
        """`trained_.<method>(x)` over zero-padded chunks of exactly `_CHUNK` rows."""
        n = x.shape[0]
        x, _ = pad_rows(x, -(-n // _CHUNK) * _CHUNK)
        self.trained_.batch_size = _CHUNK
        return getattr(self.trained_, method)(x)[:n]

    def _reconstruction_error(self, x: np.ndarray) -> np.ndarray:
        return self._run("score", x).astype(np.float64)

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never mutate the live instance
        if "trained_" in state:
            state["trained_"] = _snapshot(state["trained_"])
        return state

    def __setstate__(self, state):
        state = dict(state)
        if isinstance(state.get("trained_"), dict):
            state["trained_"] = _restore(state["trained_"])
        super().__setstate__(state)


class AutoencoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _AutoencoderEstimator):
    """Encode rows to autoencoder codes: `transform(X)` is `trained_.encode(X)` (after the same scaling).

    The output has `latent_dim_` columns and the dtype of X (float32 or float64). Fitted attributes as
    for `AutoencoderAnomalyDetector`, without the threshold.
    """

    def __init__(
        self,
        hidden=(64,),
        latent_dim="auto",
        *,
        epochs=50,
        batch_size=128,
        learning_rate=1e-3,
        activation="relu",
        standardize="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=0,
        verbose=False,
    ):
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.activation = activation
        self.standardize = standardize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y=None):
        """Train the autoencoder on X; y is ignored."""
        self._fit_autoencoder(X)
        return self

    def transform(self, X) -> np.ndarray:
        """Codes of shape (n_samples, latent_dim_), in the dtype of X."""
        check_is_fitted(self, "trained_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._run("encode", self._to_model_space(X)).astype(X.dtype, copy=False)

    @property
    def _n_features_out(self) -> int:
        return self.latent_dim_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
