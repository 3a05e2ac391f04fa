"""The disentangle task: each model's loss, a small end-to-end run (report, table, pictures), and its errors."""

import json

import numpy as np
import pytest

from aejax.config import get_config
from aejax.tasks import get_task, run_task
from aejax.tasks.disentangle import MODELS, model_config
from aejax.tasks.disentangle_report import METRIC_COLUMNS, markdown_table


@pytest.fixture
def config():
    config = get_config("disentangle_dsprites")
    config.data.max_examples = 600
    config.model.hidden = (32,)
    config.model.latent_dim = 4
    config.model.factorvae.discriminator_hidden = (16,)
    config.train.epochs = 1
    config.train.progress = False
    config.eval.plots = False
    config.task.seeds = (0, 1)
    config.task.metric_examples = 500
    config.task.score_examples = 40
    return config


def test_each_model_is_the_loss_of_its_paper(config):
    regularizers = lambda name: model_config(config, name, 1000).loss.regularizers.to_dict()
    assert regularizers("vae") == {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    assert regularizers("beta_vae")["kl"]["weight"] == config.task.beta
    tc = regularizers("beta_tcvae")
    assert {k: (v["fn"], v["weight"], v["dataset_size"]) for k, v in tc.items()} == {
        "mi": ("tc_mutual_information", 1.0, 1000),
        "tc": ("total_correlation", config.task.tc_beta, 1000),
        "dwkl": ("dimensionwise_kl", 1.0, 1000),
    }
    factor = model_config(config, "factorvae", 1000)
    assert factor.model.family == "factorvae" and factor.model.factorvae.gamma == config.task.factor_gamma
    assert regularizers("dip_vae_ii")["dip"] == {
        "fn": "dip_covariance",
        "weight": config.task.dip_weight,
        "kind": "ii",
    }
    capacity = regularizers("annealed_capacity")["capacity"]
    assert capacity["capacity_steps"] == config.train.epochs * (
        1000 // config.train.batch_size
    )  # full batches
    assert regularizers("dip_vae_i")["dip"]["kind"] == "i"
    assert set(MODELS) >= {"vae", "beta_vae", "beta_tcvae", "factorvae", "dip_vae_i"}


@pytest.mark.slow
def test_small_study_writes_report_table_and_pictures(config, tmp_path):
    config.task.models = ("beta_tcvae", "factorvae")
    report = run_task(config, tmp_path)
    assert list(report["models"]) == ["beta_tcvae", "factorvae"]
    assert report["factors"] == {"shape": 3, "scale": 6, "orientation": 40, "pos_x": 32, "pos_y": 32}
    for model in report["models"].values():
        assert model["seeds"] == [0, 1] and len(model["per_seed"]) == 2
        for metric in METRIC_COLUMNS:
            values = [s[metric] for s in model["per_seed"]]
            assert np.isfinite(values).all()
            assert model["mean"][metric] == pytest.approx(np.mean(values))
        assert np.shape(model["per_seed"][0]["unit_factor_mi"]) == (4, 5)
        assert 0.0 <= model["mean"]["mig"] <= 1.0
        assert (tmp_path / model["traversal"]).is_file()
    assert report["best_model"] in report["models"]
    assert json.loads((tmp_path / "disentangle.json").read_text())["models"].keys() == report["models"].keys()
    assert (tmp_path / "disentangle.md").read_text() == markdown_table(report)
    assert (tmp_path / "metrics.png").is_file()
    assert (tmp_path / "beta_tcvae" / "member_1" / "results.json").is_file()  # the seeds' sweep
    assert (tmp_path / "factorvae" / "seed_1" / "results.json").is_file()  # a fit per seed
    lines = get_task("disentangle").lines(report)
    assert lines[0].startswith("disentangle beta_tcvae: MIG") and "best by MIG" in lines[-1]


def test_unknown_model_and_data_without_factors_are_refused_before_training(config, tmp_path):
    config.task.models = ("vae", "beta_tcave")
    with pytest.raises(ValueError, match=r"unknown task\.models entry 'beta_tcave'; valid: vae, beta_vae"):
        run_task(config, tmp_path)
    config.task.models = ("vae",)
    config.data.source = "digits"
    with pytest.raises(ValueError, match=r"data\.source must be one of dsprites, color_shapes"):
        run_task(config, tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]  # nothing trained


@pytest.mark.slow
def test_color_shapes_study_scores_against_its_six_factors(config, tmp_path):
    config.data.source = "color_shapes"
    config.task.models = ("dip_vae_ii",)
    config.task.seeds = (3,)
    report = run_task(config, tmp_path)
    model = report["models"]["dip_vae_ii"]
    assert report["factors"] == {
        "floor_hue": 10,
        "wall_hue": 10,
        "object_hue": 10,
        "shape": 3,
        "scale": 6,
        "pos_x": 8,
    }
    assert model["seeds"] == [3] and model["std"]["mig"] == 0.0
    assert np.shape(model["per_seed"][0]["unit_factor_mi"]) == (4, 6)
    assert (tmp_path / "dip_vae_ii" / "member_0" / "results.json").is_file()
