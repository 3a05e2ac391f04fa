"""Anomaly detection: thresholds and metrics against hand-computed and NumPy references; scores that learn."""

import numpy as np
import pytest

import aejax
from aejax.tasks import anomaly


def _mann_whitney_auroc(scores, labels):
    """P(anomaly scores above normal) + P(tie) / 2 over all pairs: the AUROC by its definition."""
    a, n = scores[labels == 1][:, None], scores[labels == 0][None, :]
    return float(np.mean(a > n) + 0.5 * np.mean(a == n))


def test_auroc_and_auprc_of_perfect_and_reversed_rankings():
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    perfect = anomaly.detection_metrics(scores, [0, 0, 1, 1], None)
    assert perfect["auroc"] == 1.0 and perfect["auprc"] == 1.0
    assert "f1" not in perfect and perfect["n"] == 4 and perfect["n_anomalies"] == 2
    reversed_ = anomaly.detection_metrics(scores, [1, 1, 0, 0], None)
    assert reversed_["auroc"] == 0.0
    # Ranked high to low the labels read 0, 0, 1, 1: precision 1/3 at recall 1/2, 2/4 at recall 1.
    assert reversed_["auprc"] == pytest.approx(0.5 * (1 / 3) + 0.5 * (2 / 4))


def test_threshold_metrics_by_hand_and_auroc_against_pair_counting():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.2])
    labels = np.array([0, 0, 1, 1, 0, 1])
    m = anomaly.detection_metrics(scores, labels, 0.3)
    # Flagged (score > 0.3): indices 1, 2, 3, 4 -> TP = {2, 3}, FP = {1, 4}, FN = {5}.
    assert m["flagged"] == 4
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(4 / 7)
    # Anomalies {0.35, 0.8, 0.2} beat normals {0.1, 0.4, 0.7} in 1 + 3 + 1 of 9 pairs.
    assert m["auroc"] == pytest.approx(5 / 9)
    # Strictly above: at a threshold equal to a score, that example is not flagged.
    at_score = anomaly.detection_metrics(scores, labels, 0.35)
    assert at_score["flagged"] == 3 and at_score["recall"] == pytest.approx(1 / 3)
    np.testing.assert_array_equal(anomaly.predict_anomalies(scores, 0.35), [0, 1, 0, 1, 1, 0])

    rng = np.random.default_rng(0)
    tied = rng.integers(0, 5, size=300).astype(float)  # many ties
    random_labels = rng.integers(0, 2, size=300)
    assert anomaly.detection_metrics(tied, random_labels, None)["auroc"] == pytest.approx(
        _mann_whitney_auroc(tied, random_labels)
    )


def test_contamination_threshold_is_the_upper_quantile():
    scores = np.arange(100.0)[::-1]  # order does not matter
    threshold = anomaly.contamination_threshold(scores, 0.1)
    assert threshold == pytest.approx(89.1)  # 0.9 * 99 = 89.1 with linear interpolation
    assert np.sum(scores > threshold) == 10
    rng = np.random.default_rng(1)
    x = rng.exponential(size=1001)
    assert anomaly.contamination_threshold(x, 0.05) == pytest.approx(np.quantile(x, 0.95))
    assert np.sum(x > anomaly.contamination_threshold(x, 0.05)) == 50
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="contamination must be in"):
            anomaly.contamination_threshold(x, bad)


def test_validation_threshold_maximizes_f1_exactly():
    # Candidates and their F1: flag all 4/7; t=1: 4/6; t=2: 4/5; t=3: 2/4; t=4: 2/3; t=5: 0.
    scores, labels = np.array([1.0, 2, 3, 4, 5]), np.array([0, 0, 1, 0, 1])
    assert anomaly.validation_threshold(scores, labels) == 2.0
    assert anomaly.detection_metrics(scores, labels, 2.0)["f1"] == pytest.approx(0.8)
    # Flagging everything is best here: the threshold lies just below the smallest score.
    below = anomaly.validation_threshold([1.0, 2.0], [1, 0])
    assert below < 1.0 and anomaly.detection_metrics([1.0, 2.0], [1, 0], below)["f1"] == pytest.approx(2 / 3)

    rng = np.random.default_rng(2)
    for _ in range(5):
        s = np.round(rng.normal(size=80), 1)  # ties
        y = (rng.uniform(size=80) < 1 / (1 + np.exp(-2 * s))).astype(int)
        best = anomaly.validation_threshold(s, y)
        # Brute force over thresholds between and around every pair of distinct scores.
        u = np.unique(s)
        grid = np.concatenate([[u[0] - 1], (u[:-1] + u[1:]) / 2, [u[-1] + 1]])
        f1s = [anomaly.detection_metrics(s, y, t)["f1"] for t in grid]
        assert anomaly.detection_metrics(s, y, best)["f1"] == pytest.approx(max(f1s))


def test_clear_errors_for_bad_scores_and_labels():
    with pytest.raises(ValueError, match="labels has 3 entries but scores has 4"):
        anomaly.detection_metrics([0.1, 0.2, 0.3, 0.4], [0, 1, 1], 0.2)
    with pytest.raises(ValueError, match=r"single class \(all normal \(0\)\)"):
        anomaly.detection_metrics([0.1, 0.2], [0, 0], 0.2)
    with pytest.raises(ValueError, match="single class"):
        anomaly.validation_threshold([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match=r"non-finite values .* first at index 1"):
        anomaly.detection_metrics([0.1, np.nan, 0.3], [0, 1, 1], 0.2)
    with pytest.raises(ValueError, match="non-finite"):
        anomaly.contamination_threshold([0.1, np.inf], 0.1)
    with pytest.raises(ValueError, match=r"must hold 0 .* and 1"):
        anomaly.detection_metrics([0.1, 0.2, 0.3], [0, 1, 2], 0.2)
    with pytest.raises(ValueError, match="1-d array"):
        anomaly.detection_metrics(np.zeros((2, 2)), [0, 1], 0.2)
    with pytest.raises(ValueError, match="threshold must be finite"):
        anomaly.detection_metrics([0.1, 0.2], [0, 1], np.nan)
    # Booleans are labels too.
    assert anomaly.detection_metrics([0.1, 0.2], [False, True], 0.15)["f1"] == 1.0


def off_subspace(x, seed=1):
    """Each column permuted on its own: the same marginals as `x`, but off its low-dimensional subspace.

    An untrained autoencoder ranks these barely above chance (AUROC about 0.6); separating them takes a
    model that has learned the subspace.
    """
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(x[:, j]) for j in range(x.shape[1])], axis=1)


@pytest.fixture
def trained_on_blobs(tiny_config, blobs):
    x_train, x_val, _ = blobs
    tiny_config.model.latent_dim = 3
    tiny_config.train.epochs = 30
    tiny_config.train.learning_rate = 3e-3
    tiny_config.eval.compare_pca = False
    tiny_config.eval.jacobian_examples = 0
    return aejax.fit(tiny_config, data=aejax.data.from_arrays(x_train, x_val))


def test_scores_separate_off_subspace_points(trained_on_blobs, blobs, tmp_path):
    _, _, x_test = blobs
    off = off_subspace(x_test)
    normal_scores = anomaly.reconstruction_scores(trained_on_blobs, x_test)
    off_scores = anomaly.reconstruction_scores(trained_on_blobs, off)
    assert normal_scores.dtype == np.float64 and normal_scores.shape == (64,)
    assert np.std(normal_scores) > 0  # not constant
    scores = np.concatenate([normal_scores, off_scores])
    labels = np.r_[np.zeros(64), np.ones(64)].astype(int)
    threshold = anomaly.contamination_threshold(
        anomaly.reconstruction_scores(trained_on_blobs, blobs[0]), 0.05
    )
    metrics = anomaly.detection_metrics(scores, labels, threshold)
    assert metrics["auroc"] > 0.9
    assert metrics["recall"] > 0.5

    error_map = anomaly.squared_error_map(trained_on_blobs, x_test)
    assert error_map.shape == x_test.shape
    np.testing.assert_allclose(error_map, np.square(x_test - trained_on_blobs.reconstruct(x_test)), rtol=1e-6)
    # The configured loss is MSE: the map's per-example mean is the score.
    np.testing.assert_allclose(error_map.mean(axis=1), normal_scores, rtol=1e-4, atol=1e-7)

    roc = anomaly.save_roc_curves(
        tmp_path / "roc.png", {"autoencoder": (scores, labels), "random": (-scores, labels)}
    )
    hist = anomaly.save_score_histogram(
        tmp_path / "hist.png", scores, labels, threshold=threshold, title="blobs"
    )
    for path in (roc, hist):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hist.png", "roc.png"]  # no temporary files left
    with pytest.raises(ValueError, match="at least one curve"):
        anomaly.save_roc_curves(tmp_path / "none.png", {})
