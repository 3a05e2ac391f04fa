"""Application tasks: rating data and AutoRec, dimensionality reduction vs PCA, codes as features; `aejax task`."""

import json

import numpy as np
import pytest
from conftest import REPO
from sklearn.decomposition import PCA

import aejax
from aejax.cli import main as cli_main
from aejax.data.ratings import (
    fit_biases,
    from_triples,
    load_movielens,
    rating_matrix,
    rmse,
    split_ratings,
)
from aejax.tasks.reduction import pca_codes, squared_error_per_example


def _low_rank_ratings(num_users=60, num_items=50, density=0.5, seed=0):
    """Integer 1-5 ratings from a rank-2 taste model, a random `density` of them observed."""
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(num_users, 2)) @ rng.normal(size=(2, num_items))
    stars = np.clip(np.round(3 + 1.2 * taste / taste.std()), 1, 5)
    users, items = np.nonzero(rng.uniform(size=stars.shape) < density)
    return users + 1, items + 1, stars[users, items]  # 1-based ids, as MovieLens writes them


@pytest.fixture
def movielens_dir(tmp_path):
    users, items, stars = _low_rank_ratings()
    lines = [
        f"{u}\t{i}\t{int(r)}\t88125{n:04d}"
        for n, (u, i, r) in enumerate(zip(users, items, stars, strict=True))
    ]
    directory = tmp_path / "ml-tiny"
    directory.mkdir()
    (directory / "u.data").write_text("\n".join(lines) + "\n")
    return directory


# --------------------------------------------------------------------------- rating data
def test_movielens_formats_parse_to_the_same_ratings(tmp_path, movielens_dir):
    a = load_movielens(movielens_dir)
    rows = [line.split("\t") for line in (movielens_dir / "u.data").read_text().splitlines()]
    (tmp_path / "ratings.dat").write_text("\n".join("::".join(r) for r in rows) + "\n")
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n" + "\n".join(",".join(r) for r in rows)
    )
    for other in (load_movielens(tmp_path / "ratings.dat"), load_movielens(csv)):
        np.testing.assert_array_equal(other.users, a.users)
        np.testing.assert_array_equal(other.items, a.items)
        np.testing.assert_array_equal(other.ratings, a.ratings)
    assert a.users.min() == 0 and a.num_users == len(np.unique(a.users))


def test_movielens_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"u.data, ratings.dat, ratings.csv"):
        load_movielens(tmp_path)
    (tmp_path / "u.data").write_text("1\t2\n")
    with pytest.raises(ValueError, match=r"u.data:1: expected user"):
        load_movielens(tmp_path)
    with pytest.raises(ValueError, match="> 0"):
        from_triples([1, 2], [1, 1], [3.0, 0.0])


def test_split_is_seeded_and_disjoint_and_matrix_places_ratings():
    ratings = from_triples(*_low_rank_ratings())
    train, test = split_ratings(ratings, 0.1, seed=3)
    again, _ = split_ratings(ratings, 0.1, seed=3)
    np.testing.assert_array_equal(train.ratings, again.ratings)
    assert len(train) + len(test) == len(ratings) and len(test) == round(0.1 * len(ratings))
    pairs = lambda r: set(zip(r.users.tolist(), r.items.tolist(), strict=True))
    assert not pairs(train) & pairs(test)
    items = rating_matrix(train, "item")
    users = rating_matrix(train, "user")
    np.testing.assert_array_equal(items, users.T)
    assert items.shape == (ratings.num_items, ratings.num_users)
    assert np.count_nonzero(items) == len(train)
    np.testing.assert_array_equal(items[train.items, train.users], train.ratings)
    with pytest.raises(ValueError, match="'item' or 'user'"):
        rating_matrix(train, "movie")


def test_biases_solve_the_ridge_problem():
    """At convergence each bias satisfies its ridge normal equation given the others."""
    ratings = from_triples(*_low_rank_ratings())
    mu, b_user, b_item = fit_biases(ratings, reg_user=2.0, reg_item=3.0, iterations=200)
    assert mu == pytest.approx(np.mean(ratings.ratings))
    residual = ratings.ratings - mu - b_user[ratings.users] - b_item[ratings.items]
    np.testing.assert_allclose(
        np.bincount(ratings.items, residual, ratings.num_items), 3.0 * b_item, atol=1e-6
    )
    np.testing.assert_allclose(
        np.bincount(ratings.users, residual, ratings.num_users), 2.0 * b_user, atol=1e-6
    )
    assert rmse(np.array([1.0, 3.0]), np.array([2.0, 3.0])) == pytest.approx(np.sqrt(0.5))


def test_observed_sse_ignores_unobserved_entries():
    from aejax.models import AutoencoderOutput
    from aejax.objectives import get_reconstruction_loss

    target = np.array([[5.0, 0.0, 1.0], [0.0, 0.0, 2.0]], np.float32)
    prediction = np.array([[4.0, 9.0, 1.5], [7.0, 7.0, 2.0]], np.float32)
    output = AutoencoderOutput(reconstruction=prediction, code=None, logits=prediction)
    np.testing.assert_allclose(get_reconstruction_loss("observed_sse")(output, target), [1.25, 0.0])


def test_autorec_task_beats_the_global_mean_and_writes_its_report(movielens_dir, tmp_path):
    config = aejax.get_config("experiments/autorec_ml100k.py")
    config.data.path = str(movielens_dir)
    config.model.latent_dim = 32
    config.train.epochs = 150
    config.train.batch_size = 16
    config.train.learning_rate = 3e-3
    config.train.progress = False
    config.loss.regularizers.l2.weight = 1e-3
    config.task.l2_weights = ()  # keep the configured weight
    report = aejax.run_task(config, tmp_path / "run")
    assert report["rmse_autorec"] < 0.9 * report["rmse_global_mean"], report
    saved = json.loads((tmp_path / "run" / "autorec.json").read_text())
    assert saved["rmse_autorec"] == pytest.approx(report["rmse_autorec"])
    assert (tmp_path / "run" / "autorec_predictions.png").stat().st_size > 0
    assert report["train_ratings"] + report["test_ratings"] == report["ratings"]
    assert report["selection"] == [] and report["l2_weight"] == pytest.approx(1e-3)


def test_autorec_selects_the_weight_on_validation_ratings_only(movielens_dir, tmp_path, monkeypatch):
    import aejax.tasks.autorec as autorec

    config = aejax.get_config("experiments/autorec_ml100k.py")
    config.data.path = str(movielens_dir)
    config.model.latent_dim = 16
    config.train.epochs = 20
    config.train.batch_size = 16
    config.train.progress = False
    config.task.l2_weights = (1e-4, 30.0)
    seen = []
    real_split = autorec.split_ratings
    monkeypatch.setattr(autorec, "split_ratings", lambda r, *a: seen.append(len(r)) or real_split(r, *a))
    report = aejax.run_task(config, tmp_path)
    # The first split carves the test ratings; the second carves validation out of the training ratings only.
    assert seen == [report["ratings"], report["train_ratings"]]
    assert [row["l2_weight"] for row in report["selection"]] == [1e-4, 30.0]
    best = min(report["selection"], key=lambda row: row["rmse_validation"])
    assert report["l2_weight"] == best["l2_weight"]
    assert (tmp_path / "selection" / "l2_0.0001" / "results.json").is_file()
    config.loss.regularizers = {}
    with pytest.raises(ValueError, match="weight_l2"):
        aejax.run_task(config, tmp_path / "none")


def test_movielens_source_is_only_for_the_autorec_task(tiny_config):
    tiny_config.data.source = "movielens"
    with pytest.raises(ValueError, match=r"task\.name='autorec'"):
        aejax.fit(tiny_config)
    tiny_config.task.name = "none"
    with pytest.raises(
        ValueError, match="set it to one of: anomaly, autorec, compress, denoise, disentangle, features"
    ):
        aejax.run_task(tiny_config)


# --------------------------------------------------------------------------- reduction and features
def test_squared_error_units_and_pca_codes_against_sklearn():
    rng = np.random.default_rng(0)
    x_train, x_test = rng.uniform(size=(200, 12)), rng.uniform(size=(30, 12))
    codes, reconstruction = pca_codes(x_train, x_test, 4)
    pca = PCA(4).fit(x_train)
    np.testing.assert_allclose(np.abs(codes), np.abs(pca.transform(x_test)), rtol=1e-6, atol=1e-9)
    expected = np.mean(np.sum((x_test - pca.inverse_transform(pca.transform(x_test))) ** 2, axis=1))
    assert squared_error_per_example(x_test, reconstruction) == pytest.approx(expected)
    assert squared_error_per_example(x_test.reshape(30, 3, 4), x_test.reshape(30, 3, 4)) == 0.0


def test_reduce_task_sweeps_code_sizes_and_draws(tiny_config, tmp_path):
    tiny_config.task.name = "reduce"
    tiny_config.task.code_sizes = (2, 8)
    tiny_config.task.max_examples = 150
    tiny_config.train.epochs = 20
    tiny_config.train.learning_rate = 3e-3
    report = aejax.run_task(tiny_config, tmp_path)
    rows = {r["code_size"]: r for r in report["rows"]}
    assert set(rows) == {2, 8}
    assert rows[8]["ae_sse"] < rows[2]["ae_sse"] and rows[8]["pca_sse"] < rows[2]["pca_sse"]
    assert all(
        0.5 < r["ae_trustworthiness"] <= 1 and 0.5 < r["pca_trustworthiness"] <= 1 for r in rows.values()
    )
    for name in (
        "reduce.json",
        "error_vs_code_size.png",
        "latent_scatter.png",
        "k2/results.json",
        "k8/results.json",
    ):
        assert (tmp_path / name).is_file(), name


def test_features_task_probes_codes_pca_and_raw_inputs(tiny_config, tmp_path, capsys):
    config_file = tmp_path / "features_config.py"
    config_file.write_text(
        "from aejax.config import load_default\n\n\ndef get_config():\n    c = load_default()\n"
        "    c.task.name = 'features'\n    c.model.latent_dim = 8\n    c.model.hidden = (64,)\n"
        "    c.train.epochs = 20\n    c.train.learning_rate = 3e-3\n    c.train.progress = False\n"
        "    c.eval.plots = False\n    return c\n"
    )
    workdir = tmp_path / "run"
    assert cli_main(["task", "--config", str(config_file), "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert "features: AE codes (8) linear probe" in out
    report = json.loads((workdir / "features.json").read_text())
    for key in ("autoencoder_codes", "pca_codes", "raw_inputs"):
        assert 0.5 < report[key]["linear_probe"] <= 1 and 0.5 < report[key]["knn"] <= 1, report
    # The autoencoder's 8-d codes carry the digit identity far above chance (10 classes).
    assert report["autoencoder_codes"]["linear_probe"] > 0.8
    assert cli_main(["eval", "--workdir", str(workdir)]) == 0
    assert "features: raw inputs linear probe" in capsys.readouterr().out


def test_application_experiment_files_load():
    for name in ("autorec_ml100k", "deep_ae_mnist", "reduce_mnist"):
        config = aejax.get_config(REPO / "experiments" / f"{name}.py")
        assert config.task.name in ("autorec", "features", "reduce")


def test_anomaly_task_one_class_digits(tiny_config, tmp_path, capsys):
    tiny_config.task.name = "anomaly"
    tiny_config.task.normal_class = 0
    tiny_config.model.latent_dim = 8
    tiny_config.train.epochs = 30
    tiny_config.train.batch_size = 16
    tiny_config.train.learning_rate = 3e-3
    report = aejax.run_task(tiny_config, tmp_path)
    for method in ("autoencoder", "isolation_forest", "pca"):
        assert 0.0 <= report[method]["auroc"] <= 1.0 and "f1" in report[method]
    # Digit 0 against the other digits: the autoencoder trained on zeros separates them well.
    assert report["autoencoder"]["auroc"] > 0.9, report["autoencoder"]
    for name in ("anomaly.json", "roc.png", "score_histogram.png"):
        assert (tmp_path / name).is_file()
    assert cli_main(["eval", "--workdir", str(tmp_path)]) == 0
    assert "anomaly (class 0 normal): test AUROC autoencoder" in capsys.readouterr().out
    tiny_config.task.normal_class = 42
    with pytest.raises(ValueError, match="normal_class=42"):
        aejax.run_task(tiny_config, tmp_path / "bad")


def test_pca_baseline_equals_sklearn_full_pca_and_fits_once_per_training_split(monkeypatch):
    from aejax import baselines

    rng = np.random.default_rng(3)
    x_train = (
        rng.normal(size=(300, 5)) @ rng.normal(size=(5, 40)) + rng.normal(size=(300, 40)) * 0.1
    ).astype(np.float32)
    x_test = (rng.normal(size=(50, 5)) @ rng.normal(size=(5, 40))).astype(np.float32)
    for k in (1, 3, 8):
        pca = PCA(k, svd_solver="full").fit(x_train)
        expected = np.mean((x_test - pca.inverse_transform(pca.transform(x_test))) ** 2)
        np.testing.assert_allclose(baselines.pca_reconstruction_mse(x_train, x_test, k), expected, rtol=1e-5)
    fits = []
    original = baselines._exact_axes
    monkeypatch.setattr(baselines, "_exact_axes", lambda *a: fits.append(1) or original(*a))
    baselines.pca_reconstruction_mse(x_train, x_test, 4)
    baselines.pca_reconstruction_mse(x_train, x_test[:10], 4)  # another split: the same fit
    assert len(fits) == 1
    monkeypatch.setattr(baselines, "EXACT_PCA_MAX_FEATURES", 10)  # wide data: scikit-learn's randomized PCA
    wide = baselines.pca_reconstruction_mse(x_train.copy(), x_test, 5)
    pca = PCA(5, svd_solver="full").fit(x_train)
    np.testing.assert_allclose(
        wide, np.mean((x_test - pca.inverse_transform(pca.transform(x_test))) ** 2), rtol=1e-3
    )
