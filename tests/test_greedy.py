"""Greedy layer-wise pretraining: stage configs, exact unrolling into the deep model, fine-tuning, kill+resume."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import aejax
from aejax.data import from_arrays
from aejax.greedy import greedy_pretrain, stage_config, unroll
from aejax.trained import model_from_config


@pytest.fixture
def greedy_config(tiny_config):
    config = tiny_config
    config.model.hidden = (12, 8)
    config.model.latent_dim = 4
    config.model.activation = "tanh"
    config.pretrain.method = "greedy"
    config.pretrain.epochs = 2
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config


def test_stage_configs_follow_the_deep_model(greedy_config):
    greedy_config.model.code_activation = "sigmoid"
    greedy_config.loss.reconstruction = "bernoulli"
    greedy_config.loss.corruption.kind = "gaussian"
    greedy_config.loss.regularizers = {
        "sparse": {"fn": "kl_sparsity", "weight": 0.1, "rho": 0.1},
        "cae": {"fn": "contractive", "weight": 0.01},
    }
    stages = [stage_config(greedy_config, s) for s in range(3)]
    assert [s.model.latent_dim for s in stages] == [12, 8, 4]
    assert all(s.model.hidden == () and s.pretrain.method == "none" for s in stages)
    assert [s.model.code_activation for s in stages] == ["tanh", "tanh", "sigmoid"]
    assert [s.model.output_activation for s in stages] == ["sigmoid", "tanh", "tanh"]
    assert [s.loss.reconstruction for s in stages] == ["bernoulli", "mse", "mse"]
    assert [s.loss.corruption.clip for s in stages] == [True, False, False]
    assert [sorted(s.loss.regularizers.to_dict()) for s in stages] == [["cae"], ["cae"], ["cae", "sparse"]]
    assert all(s.train.epochs == 2 for s in stages)


@pytest.mark.parametrize("tied", [False, True])
def test_unrolled_model_is_the_composition_of_the_stages(greedy_config, blobs, tmp_path, tied):
    greedy_config.model.tied_weights = tied
    x_train, x_val, x_test = blobs
    data = from_arrays(x_train, x_val, x_test)
    params, summaries = greedy_pretrain(greedy_config, data, tmp_path, fit_stage=aejax.fit)
    assert [s["code_width"] for s in summaries] == [12, 8, 4]
    stages = [aejax.load(tmp_path / "pretrain" / f"stage_{s}") for s in range(3)]

    deep = model_from_config(greedy_config, (16,))
    variables = {"params": params}
    codes = x_test
    for stage in stages:
        codes = stage.encode(codes)
    np.testing.assert_allclose(deep.apply(variables, x_test, method="encode"), codes, rtol=1e-5, atol=1e-6)
    z = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    decoded = z
    for stage in reversed(stages):
        decoded = stage.decode(decoded)
    np.testing.assert_allclose(deep.apply(variables, z, method="decode"), decoded, rtol=1e-5, atol=1e-6)
    if tied:
        assert "hidden" not in params["decoder"] and set(params["decoder"]["output"]) == {"bias"}


def test_unroll_rejects_a_mismatched_tree(greedy_config, blobs):
    x_train, x_val, _ = blobs
    data = from_arrays(x_train, x_val)
    params, _ = greedy_pretrain(greedy_config, data, None, fit_stage=aejax.fit)
    params["encoder"].pop("hidden")
    from aejax.training.loop import _checked_init_params

    template = model_from_config(greedy_config, (16,)).init(jax.random.PRNGKey(0), x_train[:1])["params"]
    with pytest.raises(ValueError, match="init_params do not match"):
        _checked_init_params(template, params)
    assert unroll([params], tied=False)["encoder"]["code"] is params["encoder"]["code"]


def test_pretraining_gives_a_better_start_than_random_init(greedy_config, blobs, tmp_path):
    x_train, x_val, x_test = blobs
    data = from_arrays(x_train, x_val, x_test)
    greedy_config.train.log_every_steps = 1
    greedy_config.pretrain.epochs = 20
    greedy_config.pretrain.learning_rate = 3e-3
    pretrained = aejax.fit(greedy_config, data=data, workdir=tmp_path / "greedy")
    greedy_config.pretrain.method = "none"
    scratch = aejax.fit(greedy_config, data=data, workdir=tmp_path / "scratch")
    first = {}
    for name, run in (("greedy", pretrained), ("scratch", scratch)):
        records = aejax.training.MetricsLog(run.workdir / "metrics.jsonl").read()
        first[name] = next(r["loss"] for r in records if r["split"] == "train")
    assert first["greedy"] < 0.8 * first["scratch"], first
    assert [s["stage"] for s in pretrained.results["pretrain"]] == [0, 1, 2]
    assert (tmp_path / "greedy" / "pretrain" / "stage_2" / "checkpoints").is_dir()


def test_greedy_needs_a_mirrored_plain_mlp(greedy_config, blobs):
    data = from_arrays(*blobs)
    greedy_config.model.decoder_hidden = (8,)
    with pytest.raises(ValueError, match="mirrored decoder"):
        aejax.fit(greedy_config, data=data)
    greedy_config.model.decoder_hidden = (-1,)
    greedy_config.model.layer_norm = True
    with pytest.raises(ValueError, match="layer_norm"):
        aejax.fit(greedy_config, data=data)
    greedy_config.model.layer_norm = False
    greedy_config.pretrain.method = "greedyy"
    with pytest.raises(ValueError, match="valid: none, greedy"):
        aejax.fit(greedy_config, data=data)


RESUME_CONFIG = """
from aejax.config import load_default

def get_config():
    config = load_default()
    config.model.hidden = (48, 24)
    config.model.latent_dim = 8
    config.pretrain.method = "greedy"
    config.pretrain.epochs = 3
    config.train.epochs = 3
    config.train.batch_size = 32
    config.train.progress = False
    config.checkpoint.every_steps = 10
    config.eval.plots = False
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config
"""


def _command(config_file, workdir):
    return [
        sys.executable,
        "-m",
        "aejax.cli",
        "train",
        "--config",
        str(config_file),
        "--workdir",
        str(workdir),
    ]


def _steps(directory):
    return [int(p.name) for p in directory.iterdir() if p.name.isdigit()] if directory.is_dir() else []


@pytest.mark.slow
def test_greedy_run_killed_in_pretraining_and_fine_tuning_resumes_bit_identically(tmp_path):
    config_file = tmp_path / "greedy_config.py"
    config_file.write_text(RESUME_CONFIG)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    subprocess.run(_command(config_file, reference), check=True, env=env, capture_output=True, timeout=600)

    # Kill once while stage 1 is training, once while the deep model is fine-tuning.
    for watched in (interrupted / "pretrain" / "stage_1" / "checkpoints", interrupted / "checkpoints"):
        proc = subprocess.Popen(
            _command(config_file, interrupted), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 300
        while not _steps(watched) and proc.poll() is None:
            assert time.time() < deadline, f"no checkpoint appeared in {watched}"
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert max(_steps(interrupted / "checkpoints")) < aejax.load(reference).step
    finished = subprocess.run(
        _command(config_file, interrupted), env=env, capture_output=True, text=True, timeout=600
    )
    assert finished.returncode == 0, finished.stderr[-2000:]

    a, b = aejax.load(reference), aejax.load(interrupted)
    assert a.step == b.step and b.results["resumed_from"] is not None
    assert [s["steps"] for s in b.results["pretrain"]] == [s["steps"] for s in a.results["pretrain"]]
    leaves = lambda t: jax.tree_util.tree_leaves(jax.device_get((t.state.params, t.state.opt_state)))
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
