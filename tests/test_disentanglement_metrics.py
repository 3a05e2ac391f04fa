"""aejax.disentanglement: hand-computed small cases, ideal / rotated / noise codes on toy factors, bad inputs.

Codes here are the factors up to permutation and per-dimension scale ("ideal"), a fixed random rotation of them
("rotated"), or standard normal noise ("noise"). A toy ground truth whose observations are a fixed invertible
linear map of the factor indices drives the beta-VAE and FactorVAE scores.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from aejax.disentanglement import (
    beta_vae_score,
    dci,
    dci_from_importance,
    discrete_entropy,
    discrete_mutual_info,
    discretize_codes,
    factor_vae_score,
    mig,
    mig_from_mutual_info,
    modularity,
    modularity_from_mutual_info,
    mutual_info_matrix,
    sap,
)
from aejax.disentanglement.factor_vae import majority_vote_accuracy
from aejax.disentanglement.sap import r_squared_matrix, top_two_gap

SIZES = (3, 4, 5, 6)
CHANCE_ACCURACY = float(np.mean([1 / size for size in SIZES]))


def binary_entropy_nats(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def random_rotation(dim: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def ideal_map(num_factors: int, seed: int) -> np.ndarray:
    """(F, F) matrix: a permutation with per-column scales in [0.5, 3]."""
    rng = np.random.default_rng(seed)
    return np.eye(num_factors)[:, rng.permutation(num_factors)] * rng.uniform(0.5, 3.0, num_factors)


@pytest.fixture(scope="module")
def rows():
    """(factors (3000, 4), {"ideal", "rotated", "noise"} codes (3000, 4)) for the row-based metrics."""
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(size, size=3000) for size in SIZES], axis=1).astype(np.float64)
    factors = factors * [1.0, 0.5, 2.0, 10.0] - 1.0  # factor values, not indices: encoded by unique value
    ideal = factors @ ideal_map(len(SIZES), 1) + 1e-3 * rng.normal(size=factors.shape)
    codes = {
        "ideal": ideal,
        "rotated": ideal @ random_rotation(len(SIZES), 2),
        "noise": rng.normal(size=ideal.shape),
    }
    return factors, codes


class ToyGroundTruth:
    """Factors uniform over SIZES; observations = (indices / (size - 1)) @ mixing, a fixed invertible map."""

    def __init__(self, factor_sizes=SIZES, seed: int = 3):
        self.factor_sizes = tuple(factor_sizes)
        self.mixing = np.random.default_rng(seed).normal(size=(self.num_factors, self.num_factors))

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(size, size=num) for size in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        del rng  # deterministic observations
        return ((indices / (np.array(self.factor_sizes) - 1.0)) @ self.mixing).astype(np.float32)


def representation(ground_truth: ToyGroundTruth, kind: str):
    """An encoder of the toy observations: ideal (un-mix, permute, scale), rotated, or noise."""
    decode = np.linalg.inv(ground_truth.mixing) @ ideal_map(ground_truth.num_factors, 4)
    if kind == "rotated":
        decode = decode @ random_rotation(ground_truth.num_factors, 5)
    noise_rng = np.random.default_rng(6)
    if kind == "noise":
        return lambda x: noise_rng.normal(size=(len(x), ground_truth.num_factors))
    return lambda x: np.asarray(x, dtype=np.float64) @ decode


# --- hand-computed cases ------------------------------------------------------------------------------------


def test_entropy_and_mutual_information_of_small_tables():
    assert discrete_entropy(np.array([0, 0, 1, 2])) == pytest.approx(1.5 * math.log(2))
    a = np.array([0, 0, 1, 1] * 3)
    b = np.array([0, 1, 0, 1] * 3)
    assert discrete_mutual_info(a, a) == pytest.approx(math.log(2))
    assert discrete_mutual_info(a, b) == pytest.approx(0.0, abs=1e-12)
    # I(a; a AND b) = H(a AND b) - H(a AND b | a) = h(1/4) - (1/2) log 2
    assert discrete_mutual_info(a, a & b) == pytest.approx(binary_entropy_nats(0.25) - 0.5 * math.log(2))


def test_discretization_uses_equal_width_bins():
    codes = np.array([[0.0, 5.0], [0.24, 5.0], [0.26, 5.0], [0.5, 5.0], [1.0, 5.0]])
    np.testing.assert_array_equal(discretize_codes(codes, 4), [[0, 0], [0, 0], [1, 0], [2, 0], [3, 0]])


def test_mig_of_two_factors_and_three_codes():
    a = np.array([0, 0, 1, 1] * 3)
    b = np.array([0, 1, 0, 1] * 3)
    codes = np.stack([a, b, a & b], axis=1).astype(np.float64)
    factors = np.stack([a, b], axis=1)
    # per factor: (log 2 - I(a; a AND b)) / log 2 = 3/2 - h(1/4) / log 2 (= 1.5 - 0.8113 bits)
    expected = 1.5 - binary_entropy_nats(0.25) / math.log(2)
    assert mig(codes, factors, num_bins=2) == pytest.approx(expected)
    mi = mutual_info_matrix(discretize_codes(codes, 2), factors)
    assert mig_from_mutual_info(mi, [math.log(2), math.log(2)]) == pytest.approx(expected)


def test_sap_pieces_by_hand():
    assert top_two_gap(np.array([[0.9, 0.2], [0.5, 0.7], [0.1, 0.6]])) == pytest.approx((0.4 + 0.1) / 2)
    rng = np.random.default_rng(0)
    codes, factors = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    expected = np.corrcoef(codes.T, factors.T)[:3, 3:] ** 2
    np.testing.assert_allclose(r_squared_matrix(codes, factors), expected)
    assert r_squared_matrix(np.ones((50, 1)), factors).tolist() == [[0.0, 0.0]]  # constant code: no fit


def test_dci_from_a_given_importance_matrix():
    assert dci_from_importance(np.array([[0.0, 3.0], [2.0, 0.0], [0.0, 0.0]])) == {
        "disentanglement": 1.0,
        "completeness": 1.0,
    }
    assert dci_from_importance(np.ones((2, 2))) == pytest.approx(
        {"disentanglement": 0.0, "completeness": 0.0}
    )
    # rows (1, 0) and (1/2, 1/2) weigh 1/2 each: D = 1/2 * 1 + 1/2 * 0; columns (2/3, 1/3) and (0, 1)
    scores = dci_from_importance(np.array([[2.0, 0.0], [1.0, 1.0]]))
    assert scores["disentanglement"] == pytest.approx(0.5)
    assert scores["completeness"] == pytest.approx((1 - binary_entropy_nats(1 / 3) / math.log(2) + 1) / 2)


def test_modularity_from_a_given_mutual_information_matrix():
    # code 0: one factor (1); code 1: squares (4, 1, 1), deviation 2 / (2 * 4) (0.75); code 2: uninformative (0)
    mi = np.array([[1.0, 0.0, 0.0], [2.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    assert modularity_from_mutual_info(mi) == pytest.approx((1 + 0.75 + 0) / 3)


def test_factor_vae_majority_vote_by_hand():
    votes = np.array([[8, 1], [2, 9], [0, 0]])  # dim 0 -> factor 0, dim 1 -> factor 1
    assert majority_vote_accuracy(votes, np.argmax(votes, axis=0)) == pytest.approx(17 / 20)


# --- ideal, rotated and noise codes ---------------------------------------------------------------------------


def test_mig(rows):
    factors, codes = rows
    # every factor has <= 20 evenly spaced values, so 20 bins keep them apart: the bound is 1 minus estimator bias
    assert mig(codes["ideal"], factors) > 0.95
    assert mig(codes["rotated"], factors) < mig(codes["ideal"], factors) - 0.4
    assert mig(codes["noise"], factors) < 0.02


def test_mig_of_a_factor_with_more_values_than_bins():
    values = np.repeat(np.arange(40.0), 50)
    codes = np.stack([values, np.zeros_like(values)], axis=1)  # the constant code: no information, no bias
    # 40 evenly spaced values in 20 bins, two per bin: the ideal code keeps log 20 of the factor's log 40 nats
    assert mig(codes, values[:, None]) == pytest.approx(math.log(20) / math.log(40), abs=0.01)


def test_sap(rows):
    factors, codes = rows
    # continuous: R^2 1 for the ideal code dimension, ~0 for the others
    assert sap(codes["ideal"], factors, continuous_factors=True) > 0.95
    assert sap(codes["rotated"], factors, continuous_factors=True) < 0.6
    assert sap(codes["noise"], factors, continuous_factors=True) < 0.01
    # discrete: accuracies of a 1-d linear classifier stay below 1 for factors with 3-6 classes
    ideal = sap(codes["ideal"], factors)
    assert ideal > sap(codes["rotated"], factors) + 0.15
    assert sap(codes["noise"], factors) < 0.03


def test_dci_with_random_forest(rows):
    factors, codes = rows
    ideal = dci(codes["ideal"], factors, classifier="random_forest")
    assert (
        ideal["disentanglement"] > 0.95 and ideal["completeness"] > 0.95 and ideal["informativeness"] > 0.98
    )
    rotated = dci(codes["rotated"], factors, classifier="random_forest")
    assert rotated["disentanglement"] < ideal["disentanglement"] - 0.4
    assert rotated["completeness"] < ideal["completeness"] - 0.4
    noise = dci(codes["noise"], factors, classifier="random_forest")
    assert noise["disentanglement"] < 0.05 and noise["completeness"] < 0.05
    assert noise["informativeness"] == pytest.approx(CHANCE_ACCURACY, abs=0.05)


def test_dci_with_gradient_boosted_trees_on_a_small_case():
    rng = np.random.default_rng(0)
    factors = rng.integers(3, size=(600, 2)).astype(np.float64)
    codes = np.concatenate([factors[:, ::-1] * [2.0, 0.5], rng.normal(size=(600, 1))], axis=1)
    scores = dci(codes, factors)
    assert scores["disentanglement"] > 0.95 and scores["completeness"] > 0.95
    assert scores["informativeness"] == 1.0
    assert dci(codes, factors) == scores  # seeded


def test_modularity_and_explicitness(rows):
    factors, codes = rows
    ideal = modularity(codes["ideal"], factors)
    assert ideal["modularity"] > 0.99 and ideal["explicitness"] > 0.97
    assert modularity(codes["rotated"], factors)["modularity"] < ideal["modularity"] - 0.05
    noise = modularity(codes["noise"], factors)
    # modularity does not see that noise is uninformative; explicitness does (chance AUC is 0.5)
    assert noise["explicitness"] == pytest.approx(0.5, abs=0.05)


def test_beta_vae_score():
    ground_truth = ToyGroundTruth()
    settings = dict(batch_size=32, num_train=600, num_eval=300)
    ideal = beta_vae_score(
        representation(ground_truth, "ideal"), ground_truth, np.random.default_rng(0), **settings
    )
    assert ideal["train_accuracy"] > 0.98 and ideal["eval_accuracy"] > 0.98
    again = beta_vae_score(
        representation(ground_truth, "ideal"), ground_truth, np.random.default_rng(0), **settings
    )
    assert again == ideal
    rotated = beta_vae_score(
        representation(ground_truth, "rotated"), ground_truth, np.random.default_rng(0), **settings
    )
    assert rotated["eval_accuracy"] < 0.9
    noise = beta_vae_score(
        representation(ground_truth, "noise"), ground_truth, np.random.default_rng(0), **settings
    )
    assert noise["eval_accuracy"] == pytest.approx(1 / ground_truth.num_factors, abs=0.1)


def test_factor_vae_score():
    ground_truth = ToyGroundTruth()
    settings = dict(batch_size=32, num_train=600, num_eval=300, num_variance_estimate=2000)
    rng = np.random.default_rng(0)
    ideal = factor_vae_score(representation(ground_truth, "ideal"), ground_truth, rng, **settings)
    assert ideal == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 4}
    rotated = factor_vae_score(representation(ground_truth, "rotated"), ground_truth, rng, **settings)
    assert rotated["eval_accuracy"] < 0.8
    noise = factor_vae_score(representation(ground_truth, "noise"), ground_truth, rng, **settings)
    assert noise["eval_accuracy"] == pytest.approx(1 / ground_truth.num_factors, abs=0.1)


def test_factor_vae_prunes_collapsed_dimensions():
    ground_truth = ToyGroundTruth()
    ideal = representation(ground_truth, "ideal")
    with_collapsed = lambda x: np.concatenate([ideal(x), np.full((len(x), 2), 0.3)], axis=1)
    settings = dict(batch_size=16, num_train=200, num_eval=100, num_variance_estimate=500)
    scores = factor_vae_score(with_collapsed, ground_truth, np.random.default_rng(0), **settings)
    assert scores == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 4}
    constant = lambda x: np.zeros((len(x), 3))
    assert (
        factor_vae_score(constant, ground_truth, np.random.default_rng(0), **settings)["num_active_dims"] == 0
    )


# --- bad inputs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "codes, factors, message",
    [
        (np.zeros(100), np.zeros((100, 2)), r"codes must have shape \(num_rows, num_codes\)"),
        (np.zeros((100, 3)), np.zeros((90, 2)), "100 code rows and 90 factor rows"),
        (np.full((100, 3), np.nan), np.zeros((100, 2)), "codes must be finite"),
        (np.zeros((5, 3)), np.zeros((5, 2)), "at least 10 rows"),
        (np.zeros((100, 1)), np.arange(200.0).reshape(100, 2), "at least 2 code dimensions"),
        (np.zeros((100, 3)), np.zeros((100, 2)), "factor 0 takes the single value"),
    ],
)
def test_row_metrics_reject_bad_inputs(codes, factors, message):
    for metric in (mig, sap):
        with pytest.raises(ValueError, match=message):
            metric(codes, factors)


def test_other_bad_arguments():
    rng = np.random.default_rng(0)
    codes, factors = rng.normal(size=(100, 3)), rng.integers(3, size=(100, 2))
    with pytest.raises(ValueError, match="num_bins must be an integer >= 2"):
        mig(codes, factors, num_bins=1)
    with pytest.raises(ValueError, match="unknown DCI classifier 'svm'; valid names: gbt, random_forest"):
        dci(codes, factors, classifier="svm")
    with pytest.raises(ValueError, match="train_fraction must lie strictly between 0 and 1"):
        modularity(codes, factors, train_fraction=1.0)
    with pytest.raises(ValueError, match="non-negative"):
        dci_from_importance(-np.ones((2, 2)))
    ground_truth = ToyGroundTruth()
    ideal = representation(ground_truth, "ideal")
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        beta_vae_score(ideal, ground_truth, 0)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 2"):
        factor_vae_score(ideal, ground_truth, rng, batch_size=1)
    with pytest.raises(ValueError, match=r"representation_fn must map .* codes of shape"):
        factor_vae_score(lambda x: ideal(x)[:, 0], ground_truth, rng, num_variance_estimate=50)
