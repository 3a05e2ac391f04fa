"""scikit-learn estimators: the estimator checks, Pipeline / clone / pickle, label conventions, errors, learning."""

import functools
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import estimator_checks_generator

from aejax.anomaly_detector import detector_latent_dim
from aejax.sklearn import AutoencoderAnomalyDetector, AutoencoderTransformer, auto_latent_dim
from aejax.tasks.anomaly import detection_metrics

# check_estimator fits dozens of times on tiny tables; one epoch of a one-layer encoder and decoder keeps each
# fit to about half a second, almost all of it XLA compilation.
FAST = {"hidden": (), "epochs": 1}
DETECTOR_FAST = {"n_members": 2, "hidden": (), "epochs": 1}
# blob_tables' rows lie on a 3-d subspace; its anomalies leave it with normal marginals
SUBSPACE = {"n_members": 4, "hidden": (32,), "latent_dim": 3, "epochs": 60, "score_type": "reconstruction"}

# The transformer shares every fit/validation/scaling/pickling/inference line with the detector
# (_AutoencoderEstimator), whose run of the whole suite covers them. For the transformer we run the checks
# specific to transformers plus the API checks that do not train, keeping this file under a minute on 2 cores.
TRANSFORMER_CHECKS = {
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_estimator_repr",
    "check_no_attributes_set_in_init",
    "check_estimators_unfitted",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
    "check_transformer_data_not_an_array",
    "check_transformers_unfitted",
    "check_transformer_n_iter",
}


def _name(check) -> str:
    return check.func.__name__ if isinstance(check, functools.partial) else check.__name__


def _checks(estimator, keep=None):
    pairs = list(estimator_checks_generator(estimator, legacy=True))
    return [pytest.param(e, c, id=_name(c)) for e, c in pairs if keep is None or _name(c) in keep]


@pytest.mark.parametrize("estimator, check", _checks(AutoencoderAnomalyDetector(**DETECTOR_FAST)))
def test_detector_passes_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator, check", _checks(AutoencoderTransformer(**FAST), TRANSFORMER_CHECKS))
def test_transformer_passes_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_transformer_check_subset_names_exist():
    """The subset above names real checks (a renamed check would otherwise silently stop running)."""
    names = {_name(c) for _, c in estimator_checks_generator(AutoencoderTransformer(**FAST), legacy=True)}
    assert names >= TRANSFORMER_CHECKS


@pytest.fixture
def blob_tables(blobs):
    """Normal rows on a 3-d subspace (in [0, 1]) and off-subspace rows with the same marginals.

    The anomalies are the test rows with each column permuted on its own; an untrained autoencoder ranks
    them barely above chance (AUROC about 0.6), a trained one near 1.
    """
    x_train, _, x_test = blobs
    rng = np.random.default_rng(1)
    off = np.stack([rng.permutation(x_test[:, j]) for j in range(x_test.shape[1])], axis=1)
    return x_train, x_test, off


def _auroc(detector, normal, anomalous):
    scores = np.concatenate([detector.anomaly_score(normal), detector.anomaly_score(anomalous)])
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))].astype(int)
    return detection_metrics(scores, labels, None)["auroc"]


def test_detector_learns_the_subspace_and_flags_the_contamination_fraction(blob_tables):
    x_train, x_test, off = blob_tables
    # off-subspace rows with the normal marginals: the reconstruction error alone finds them
    detector = AutoencoderAnomalyDetector(**SUBSPACE, contamination=0.1)
    detector.fit(x_train)
    assert _auroc(detector, x_test, off) > 0.9
    assert np.std(detector.anomaly_score(x_test)) > 0
    predicted = detector.predict(x_train)
    assert set(np.unique(predicted)) == {-1, 1}
    # The 0.9 quantile of 256 scores lies between sorted positions 229 and 230: 26 rows are above it.
    assert np.sum(predicted == -1) == 26
    np.testing.assert_allclose(detector.score_samples(x_test), -detector.anomaly_score(x_test))
    np.testing.assert_allclose(
        detector.decision_function(x_test), detector.score_samples(x_test) + detector.threshold_
    )


def test_auto_contamination_is_median_plus_three_robust_sigmas(blob_tables):
    x_train, _, _ = blob_tables
    detector = AutoencoderAnomalyDetector(n_members=2, hidden=(16,), epochs=20).fit(x_train)
    scores = detector.anomaly_score(x_train)
    np.testing.assert_allclose(scores, detector.train_scores_, rtol=1e-6, atol=1e-9)
    median = np.median(scores)
    expected = median + 3 * 1.4826 * np.median(np.abs(scores - median))
    np.testing.assert_allclose(detector.threshold_, expected, rtol=1e-6)
    assert np.mean(detector.predict(x_train) == -1) < 0.1  # a few training rows, not a fixed share


def test_robust_scaling_squash_and_sparse_clip_match_numpy(blob_tables):
    x_train, _, _ = blob_tables
    table = 40.0 * x_train - 7.0
    table[:, 0] = 3.0  # a constant feature keeps scale 1
    table[:, 1] = 0.0
    table[::10, 1] = np.arange(len(table[::10, 1])) + 1.0  # sparse: a tenth of the rows are nonzero
    detector = AutoencoderAnomalyDetector(**DETECTOR_FAST).fit(table)
    median = np.median(table, axis=0)
    mad = 1.4826 * np.median(np.abs(table - median), axis=0)
    sparse = mad == 0
    expected_scale = np.where(sparse, table.std(axis=0), mad)
    expected_scale[0] = 1.0
    np.testing.assert_array_equal(detector.sparse_, sparse)
    assert sparse[:2].all() and not sparse[2:].any()
    np.testing.assert_allclose(detector.center_, median)
    np.testing.assert_allclose(detector.scale_, expected_scale, rtol=1e-6)
    z = (table - median) / expected_scale
    expected = np.where(sparse, np.clip(z, -1.5, 1.5), 2.0 * np.arcsinh(z / 2.0))
    assert np.abs(z[:, 1]).max() > 1.5  # the clip is exercised
    np.testing.assert_allclose(detector._to_model_space(table), expected, rtol=1e-5, atol=1e-6)
    unclipped = AutoencoderAnomalyDetector(**DETECTOR_FAST, sparse_clip=0).fit(table)
    np.testing.assert_allclose(
        unclipped._to_model_space(table), 2.0 * np.arcsinh(z / 2.0), rtol=1e-5, atol=1e-6
    )


def test_pipeline_with_scaler_clone_and_wide_tables(blob_tables):
    x_train, x_test, off = blob_tables
    scale = lambda x: 40.0 * x - 7.0  # a wide-ranged table: the detector scales on its own
    detector = AutoencoderAnomalyDetector(**SUBSPACE)
    detector.fit(scale(x_train))
    assert _auroc(detector, scale(x_test), scale(off)) > 0.9

    pipeline = make_pipeline(StandardScaler(), clone(detector)).fit(scale(x_train))
    manual = clone(detector).fit(StandardScaler().fit_transform(scale(x_train)))
    np.testing.assert_allclose(
        pipeline.decision_function(scale(x_test)),
        manual.decision_function(StandardScaler().fit(scale(x_train)).transform(scale(x_test))),
        rtol=1e-4,
        atol=1e-5,
    )
    assert set(np.unique(pipeline.predict(np.concatenate([scale(x_test), scale(off)])))) == {-1, 1}

    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    with pytest.raises(NotFittedError):
        copy.predict(x_test)
    np.testing.assert_array_equal(
        copy.fit(scale(x_train)).score_samples(x_test), detector.score_samples(x_test)
    )


def test_pyod_label_convention_and_pickle_round_trip(blob_tables):
    x_train, x_test, off = blob_tables
    rows = np.concatenate([x_test, off])
    sk = AutoencoderAnomalyDetector(**DETECTOR_FAST, contamination=0.1).fit(x_train)
    pyod = AutoencoderAnomalyDetector(**DETECTOR_FAST, contamination=0.1, label_convention="pyod").fit(
        x_train
    )
    np.testing.assert_array_equal(pyod.predict(rows), (sk.predict(rows) == -1).astype(int))
    assert set(np.unique(pyod.fit_predict(x_train))) == {0, 1}

    restored = pickle.loads(pickle.dumps(sk))
    np.testing.assert_array_equal(restored.score_samples(rows), sk.score_samples(rows))
    assert restored.threshold_ == sk.threshold_


def test_grid_search_picks_by_held_out_reconstruction_without_labels(blob_tables):
    from sklearn.model_selection import GridSearchCV

    x_train, x_test, off = blob_tables
    grid = {"latent_dim": [1, 3], "hidden": [(32,)]}
    search = GridSearchCV(AutoencoderAnomalyDetector(n_members=2, epochs=60, batch_size=32), grid, cv=3)
    search.fit(x_train)
    # the rows lie on a 3-d subspace: a 3-unit code explains held-out rows better than a 1-unit one
    assert search.best_params_["latent_dim"] == 3
    means = search.cv_results_["mean_test_score"]
    assert np.all(means < 0) and means[1] > means[0]
    assert _auroc(search.best_estimator_, x_test, off) > 0.9


def test_transformer_early_stopping_holds_out_a_validation_split(blob_tables):
    x_train, _, _ = blob_tables
    transformer = AutoencoderTransformer(
        hidden=(8,), epochs=40, early_stopping=True, validation_fraction=0.25, n_iter_no_change=2
    ).fit(x_train)
    results = transformer.trained_.results
    assert "val" in results and results["best_epoch"] >= 0
    assert results["data"].startswith(f"arrays: train={len(x_train) - 64}, val=64")
    with pytest.raises(ValueError, match="validation_fraction"):
        AutoencoderTransformer(**FAST, early_stopping=True, validation_fraction=1.5).fit(x_train)


def test_transformer_codes_feed_logistic_regression():
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    pipeline = make_pipeline(
        AutoencoderTransformer(hidden=(64,), latent_dim=16, epochs=40), LogisticRegression(max_iter=2000)
    )
    pipeline.fit(x[:1400], y[:1400])
    transformer = pipeline[0]
    codes = transformer.transform(x[1400:])
    assert codes.shape == (len(x) - 1400, 16) and codes.dtype == np.float32
    np.testing.assert_array_equal(codes, transformer.trained_.encode(x[1400:]))
    assert pipeline.score(x[1400:], y[1400:]) > 0.85
    assert list(transformer.get_feature_names_out()) == [f"autoencodertransformer{i}" for i in range(16)]


def test_clear_errors_for_nan_feature_count_settings_and_unfitted(blob_tables):
    x_train, x_test, _ = blob_tables
    with pytest.raises(NotFittedError):
        AutoencoderAnomalyDetector().score_samples(x_test)
    bad = x_train.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AutoencoderAnomalyDetector(**DETECTOR_FAST).fit(bad)
    detector = AutoencoderAnomalyDetector(**DETECTOR_FAST).fit(x_train)
    with pytest.raises(ValueError, match="NaN"):
        detector.predict(bad)
    with pytest.raises(ValueError, match="has 15 features, but AutoencoderAnomalyDetector is expecting 16"):
        detector.predict(x_test[:, :15])
    transformer = AutoencoderTransformer(**FAST).fit(x_train)
    with pytest.raises(ValueError, match="has 17 features, but AutoencoderTransformer is expecting 16"):
        transformer.transform(np.zeros((2, 17)))
    for params, match in [
        ({"contamination": 0.7}, "contamination"),
        ({"label_convention": "pm1"}, "label_convention"),
        ({"hidden": (8, 0)}, "hidden"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"n_members": 0}, "n_members"),
        ({"min_steps": -1}, "min_steps"),
        ({"connection_density": 0.0}, "connection_density"),
        ({"trim_fraction": 0.5}, "trim_fraction"),
        ({"squash": -1.0}, "squash"),
        ({"sparse_clip": -1.0}, "sparse_clip"),
        ({"score_type": "elbo"}, "score_type must be one of"),
        ({"contamination": "high"}, "contamination"),
    ]:
        with pytest.raises(ValueError, match=match):
            AutoencoderAnomalyDetector(**params).fit(x_train)


def test_auto_latent_dim_is_a_bottleneck():
    assert [auto_latent_dim(d) for d in (1, 2, 6, 16, 300, 784)] == [1, 1, 3, 4, 18, 28]


def test_detector_latent_dim_is_ceil_sqrt_of_half_the_features():
    assert [detector_latent_dim(d) for d in (1, 2, 6, 16, 64, 784)] == [1, 1, 2, 3, 6, 20]
