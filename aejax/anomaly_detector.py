"""`AutoencoderAnomalyDetector`: a scikit-learn outlier detector built on a robust autoencoder ensemble.

Why the defaults are what they are (measured by benchmarks/anomaly_odds.py; see docs/tasks/sklearn.md):
reconstruction-error detectors lose to IsolationForest on contaminated tables because (1) the anomalies in
the training rows are learned too, (2) a few heavy-tailed features dominate a squared error, and (3) a point
far out along a direction the model captures is reconstructed well, so its error stays small. The default
detector answers each:

1. robust scaling: features are centred on their median and divided by 1.4826 x their median absolute
   deviation, then squashed with c * asinh(x / c) (c = `squash`): tails are compressed but their order kept,
   so no single feature dominates. A feature whose MAD is 0 (over half the rows share one value: pixels of
   a background, counts, indicators) is divided by its standard deviation and clipped to +-`sparse_clip`:
   such a value says "present", and hundreds of rarely present features (an image's border pixels) would
   otherwise add their noise to every score (clipping at 2 lifted one-class MNIST from 0.898 to 0.911 mean
   AUROC and the five ODDS development sets from 0.850 to 0.859, seed 0; 1.5 vs 2, seeds 0-2: MNIST 0.922
   vs 0.917, ODDS 0.846 vs 0.848);
2. an ensemble (`aejax.robust_ensemble`) of `n_members` autoencoders with random connection masks and code
   sizes from 1 to `latent_dim` (auto: ceil(sqrt(d / 2)); 784 pixels -> 20 units rather than 14 lifted
   one-class MNIST from 0.911 to 0.924, seed 0), trained as one vmapped program with a trimmed loss that
   stops fitting the `trim_fraction` of rows it explains worst, for `epochs` but at least `min_steps`
   minibatch steps (a small table is otherwise undertrained: one-class MNIST rose from 0.871 to 0.895 mean
   AUROC, 3 seeds);
3. a score that adds, per member, how far the row's code lies from the training codes (squared robust
   z-scores summed over the code units) to the reconstruction error; each member's two scores are
   standardized by their median and MAD over the training rows, and the members' sums are averaged.

`contamination="auto"` flags rows whose score exceeds the training scores' median by more than 3 robust
standard deviations (1.4826 x MAD), a rule that needs no anomaly rate. `score(X)` (higher is better) is minus
the trimmed held-out reconstruction error, a label-free criterion for `GridSearchCV`.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from aejax.robust_ensemble import EnsembleSpec, member_outputs, train_ensemble, training_epochs

LABEL_CONVENTIONS = ("sklearn", "pyod")
SCORES = ("latent+reconstruction", "reconstruction", "latent")
_MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its standard deviation


def detector_latent_dim(n_features: int) -> int:
    """ceil(sqrt(n_features / 2)), at least 1 and below n_features: 6 -> 2, 64 -> 6, 784 -> 20."""
    return max(1, min(n_features - 1, int(np.ceil(np.sqrt(n_features / 2)))))


def robust_scaling(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, scale, sparse) per feature.

    scale: 1.4826 x MAD, else the standard deviation, else 1 (constant features); sparse: True where the
    MAD is 0, i.e. over half the rows share one value."""
    center = np.median(x, axis=0)
    mad = _MAD_TO_STD * np.median(np.abs(x - center), axis=0)
    std = x.std(axis=0)
    tiny = 1e-12 + 10 * np.finfo(np.float64).eps * np.abs(center)
    sparse = mad <= tiny
    return center, np.where(sparse, np.where(std > tiny, std, 1.0), mad), sparse


def robust_standardize(train: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(values - median) / (1.4826 MAD) along the last axis, with median and MAD of `train`."""
    center = np.median(train, axis=-1, keepdims=True)
    spread = _MAD_TO_STD * np.median(np.abs(train - center), axis=-1, keepdims=True)
    return (values - center) / np.maximum(spread, 1e-12)


def is_int(value) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_widths(hidden, latent_dim) -> tuple[int, ...]:
    """Validate `hidden` (an int or a tuple of positive widths) and `latent_dim` ('auto' or a positive int)."""
    widths = (hidden,) if is_int(hidden) else hidden
    if not isinstance(widths, tuple | list) or not all(is_int(h) and h > 0 for h in widths):
        raise ValueError(f"hidden must be a tuple of positive layer widths, got {hidden!r}")
    if not (latent_dim == "auto" or (is_int(latent_dim) and latent_dim > 0)):
        raise ValueError(f"latent_dim must be 'auto' or a positive int, got {latent_dim!r}")
    return tuple(int(h) for h in widths)


def seed_of(random_state) -> int:
    """An int seed from scikit-learn's random_state (an int, None or a RandomState)."""
    if is_int(random_state):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _positive_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value > 0


class AutoencoderAnomalyDetector(OutlierMixin, BaseEstimator):
    """Outlier detector from a robust autoencoder ensemble (see the module docstring for the method).

    `anomaly_score(X)`: higher = more anomalous. `score_samples = -anomaly_score` (scikit-learn's
    convention), `decision_function = score_samples - offset_` (negative for outliers), `predict` gives
    +1 inlier / -1 outlier (`label_convention="sklearn"`) or 0 normal / 1 anomaly (`"pyod"`).
    `contamination`: "auto" (median + 3 robust standard deviations of the training scores) or the fraction
    of training rows to flag, in (0, 0.5].

    Fitted attributes: `center_`, `scale_`, `sparse_` (the robust scaling and the clipped features),
    `params_`, `masks_` (the members, NumPy), `latent_dim_`, `epochs_` (epochs trained), `threshold_`,
    `offset_`, `train_scores_`, `n_features_in_` (and `feature_names_in_`).
    """

    def __init__(
        self,
        n_members=8,
        hidden=(256,),
        latent_dim="auto",
        *,
        epochs=30,
        min_steps=600,
        batch_size=128,
        learning_rate=1e-3,
        connection_density=0.5,
        trim_fraction=0.2,
        squash=2.0,
        sparse_clip=1.5,
        score_type="latent+reconstruction",
        contamination="auto",
        label_convention="sklearn",
        random_state=0,
        verbose=False,
    ):
        self.n_members = n_members
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.connection_density = connection_density
        self.trim_fraction = trim_fraction
        self.squash = squash
        self.sparse_clip = sparse_clip
        self.score_type = score_type
        self.contamination = contamination
        self.label_convention = label_convention
        self.random_state = random_state
        self.verbose = verbose

    def _check_settings(self) -> tuple[int, ...]:
        """Validate the hyperparameters (at fit time, as scikit-learn requires); returns the hidden widths."""
        hidden = check_widths(self.hidden, self.latent_dim)
        if not is_int(self.min_steps) or self.min_steps < 0:
            raise ValueError(f"min_steps must be a non-negative int, got {self.min_steps!r}")
        for name in ("n_members", "epochs", "batch_size"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not _positive_real(self.learning_rate):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        self._check_scoring_settings()
        return hidden

    def _check_scoring_settings(self) -> None:
        """The ensemble's robustness, scoring and threshold settings."""
        if not (_positive_real(self.connection_density) and self.connection_density <= 1):
            raise ValueError(f"connection_density must be in (0, 1], got {self.connection_density!r}")
        if not (isinstance(self.trim_fraction, numbers.Real) and 0 <= self.trim_fraction < 0.5):
            raise ValueError(f"trim_fraction must be in [0, 0.5), got {self.trim_fraction!r}")
        if not (self.squash == 0 or _positive_real(self.squash)):
            raise ValueError(f"squash must be 0 (off) or a positive number, got {self.squash!r}")
        if not (self.sparse_clip == 0 or _positive_real(self.sparse_clip)):
            raise ValueError(f"sparse_clip must be 0 (off) or a positive number, got {self.sparse_clip!r}")
        if self.score_type not in SCORES:
            raise ValueError(f"score_type must be one of {SCORES}, got {self.score_type!r}")
        if not (
            self.contamination == "auto" or (_positive_real(self.contamination) and self.contamination <= 0.5)
        ):
            raise ValueError(f"contamination must be 'auto' or in (0, 0.5], got {self.contamination!r}")
        if self.label_convention not in LABEL_CONVENTIONS:
            raise ValueError(
                f"label_convention must be one of {LABEL_CONVENTIONS}, got {self.label_convention!r}"
            )

    def _spec(self, hidden: tuple[int, ...], n_features: int) -> EnsembleSpec:
        seed = seed_of(self.random_state)
        latent = detector_latent_dim(n_features) if self.latent_dim == "auto" else int(self.latent_dim)
        return EnsembleSpec(
            n_members=int(self.n_members),
            hidden=hidden,
            latent_dim=latent,
            density=float(self.connection_density),
            trim=float(self.trim_fraction),
            epochs=int(self.epochs),
            min_steps=int(self.min_steps),
            batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate),
            seed=seed,
        )

    def _to_model_space(self, X: np.ndarray) -> np.ndarray:
        z = (X - self.center_) / self.scale_
        squashed = self.squash * np.arcsinh(z / self.squash) if self.squash else z
        if self.sparse_clip:
            squashed = np.where(self.sparse_, np.clip(z, -self.sparse_clip, self.sparse_clip), squashed)
        return squashed.astype(np.float32)

    def _member_scores(self, x: np.ndarray, outputs=None) -> dict[str, np.ndarray]:
        """Raw per-member scores (members, rows): reconstruction MSE and squared robust code distance.

        `outputs`: the members' (codes, reconstructions) of x when already computed."""
        codes, recons = outputs if outputs is not None else member_outputs(self.params_, self.masks_, x)
        z = (codes - self.code_center_[:, None, :]) / self.code_scale_[:, None, :]
        return {
            "reconstruction": np.mean(np.square(recons - x[None]), axis=-1, dtype=np.float64),
            "latent": np.sum(np.square(z), axis=-1, dtype=np.float64),
        }

    def _combine(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        parts = ("latent", "reconstruction") if self.score_type == SCORES[0] else (self.score_type,)
        total = sum(robust_standardize(self.member_train_[p], raw[p]) for p in parts)
        return np.mean(total, axis=0)

    def fit(self, X, y=None):
        """Train on X (all rows, anomalies included, count as data; y is ignored)."""
        hidden = self._check_settings()
        X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32], ensure_min_samples=2)
        X = X.astype(np.float64, copy=False)
        self.center_, self.scale_, self.sparse_ = robust_scaling(X)
        x = self._to_model_space(X)
        spec = self._spec(hidden, X.shape[1])
        self.latent_dim_ = spec.latent_dim
        self.epochs_ = epochs = training_epochs(spec, X.shape[0])
        progress = (lambda e: print(f"epoch {e}/{epochs}", flush=True)) if self.verbose else None
        self.params_, self.masks_ = train_ensemble(x, spec, progress)
        codes, recons = member_outputs(self.params_, self.masks_, x)
        self.code_center_ = np.median(codes, axis=1)
        spread = _MAD_TO_STD * np.median(np.abs(codes - self.code_center_[:, None, :]), axis=1)
        self.code_scale_ = np.where(spread > 1e-6, spread, 1.0)  # unused code units are 0 everywhere
        self.member_train_ = self._member_scores(x, (codes, recons))
        self.train_scores_ = self._combine(self.member_train_)
        self.threshold_ = self._threshold(self.train_scores_)
        self.offset_ = -self.threshold_
        return self

    def _threshold(self, scores: np.ndarray) -> float:
        if self.contamination == "auto":
            median = np.median(scores)
            return float(median + 3 * _MAD_TO_STD * np.median(np.abs(scores - median)))
        return float(np.quantile(scores, 1.0 - float(self.contamination)))

    def _prepare(self, X) -> np.ndarray:
        check_is_fitted(self, "params_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._to_model_space(X.astype(np.float64, copy=False))

    def anomaly_score(self, X) -> np.ndarray:
        """Anomaly score per row (float64): higher = more anomalous."""
        return self._combine(self._member_scores(self._prepare(X)))

    def score_samples(self, X) -> np.ndarray:
        """Minus the anomaly score: higher = more normal (scikit-learn's convention)."""
        return -self.anomaly_score(X)

    def decision_function(self, X) -> np.ndarray:
        """`score_samples(X) - offset_`: negative for outliers, >= 0 for inliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 inlier / -1 outlier ("sklearn"), or 0 normal / 1 anomaly ("pyod"), per `label_convention`."""
        outlier = self.decision_function(X) < 0
        if self.label_convention == "pyod":
            return outlier.astype(np.int64)
        return np.where(outlier, -1, 1).astype(np.int64)

    def score(self, X, y=None) -> float:
        """Label-free model choice (higher is better): minus the held-out reconstruction error.

        The members' mean squared error per row (in the detector's scaled space), averaged over the rows
        below the (1 - trim_fraction) quantile, so the anomalies in held-out data do not decide. Compare
        only settings that share `squash` (it changes the space the error is measured in).
        """
        errors = np.mean(self._member_scores(self._prepare(X))["reconstruction"], axis=0)
        kept = errors[errors <= np.quantile(errors, 1.0 - float(self.trim_fraction))]
        return -float(np.mean(kept))
