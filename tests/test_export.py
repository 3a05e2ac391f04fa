"""Model export (aejax.export): StableHLO and ONNX artifacts compute what `Trained` computes.

Held-out rows: the digits' test and validation splits (180 + 180 rows, neither trained on) plus 640 new rows
made from them (mixtures of two held-out digits with noise), 1,000 rows in all; the MLP AE is the packaged
`ae_digits` experiment trained 2 epochs, the conv AE and the VAE carry random weights (random batch statistics
for the conv AE's batch norm), which test the export as well as trained ones and need no training compile.
The artifacts run at 1,000 rows and at 3 rows: export fixes no batch size (symbolic), so both are new to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import aejax
from aejax.config import get_config, load_default
from aejax.export import ExportError, sidecar_path
from aejax.families import model_from_config
from aejax.trained import Trained, objective_from_config
from aejax.training import TrainState

TOLERANCE = 1e-5  # max abs difference against Trained's own outputs, float32
CASES = [("mlp", "reconstruct"), ("mlp", "score"), ("conv", "encode"), ("vae", "encode")]
FORMATS = ("stablehlo", "onnx")
BATCHES = (1000, 3)


def _held_out_rows() -> np.ndarray:
    config = get_config("ae_digits")
    dataset = aejax.get_dataset(config)
    held_out = np.concatenate([dataset.x_test, dataset.x_val]).astype(np.float32)
    rng = np.random.default_rng(0)
    a, b = (held_out[rng.integers(0, len(held_out), 1000 - len(held_out))] for _ in range(2))
    t = rng.uniform(size=(len(a), 1)).astype(np.float32)
    mixed = np.clip(t * a + (1 - t) * b + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    return np.concatenate([held_out, mixed])


def _random_trained(config, input_shape) -> Trained:
    """A Trained with random weights (no compile: shapes from eval_shape, values from NumPy)."""
    model = model_from_config(config, input_shape)
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, *input_shape)), train=False)
    )
    rng = np.random.default_rng(1)

    def draw(path, leaf):
        name = jax.tree_util.keystr(path)
        if "var" in name:  # batch statistics: positive variances
            return rng.uniform(0.5, 2.0, leaf.shape).astype(np.float32)
        scale = 1.0 / np.sqrt(max(1, int(np.prod(leaf.shape[:-1]))))
        return (rng.normal(0, scale, leaf.shape) + 0.1 * ("bias" in name or "mean" in name)).astype(
            np.float32
        )

    variables = dict(jax.tree_util.tree_map_with_path(draw, shapes))
    params = variables.pop("params")
    state = TrainState(
        step=jnp.zeros((), jnp.int32), params=params, opt_state=None, rng=None, model_state=variables,
        tx=optax.identity(),
    )  # fmt: skip
    return Trained(
        model=model,
        objective=objective_from_config(config),
        state=state,
        config=config,
        display_shape=tuple(input_shape),
        total_steps=1,
    )


def _small(config):
    config.model.latent_dim = 4
    config.model.hidden = (32,)
    return config


@pytest.fixture(scope="module")
def mlp_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ae_digits")
    config = get_config("ae_digits")
    config.train.epochs = 2
    config.train.progress = False
    config.eval.plots = False
    config.eval.compare_pca = False
    aejax.fit(config, workdir=workdir)
    return workdir


@pytest.fixture(scope="module")
def models(mlp_workdir):
    conv = _small(load_default())
    conv.data.flatten = False
    conv.model.encoder = conv.model.decoder = "conv"
    conv.model.conv_features = (8, 16)
    conv.model.norm = "batch"
    vae = _small(load_default())
    vae.model.family = "vae"
    vae.loss.reconstruction = "bernoulli"
    vae.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    return {
        "mlp": aejax.load(mlp_workdir),
        "conv": _random_trained(conv, (8, 8, 1)),
        "vae": _random_trained(vae, (64,)),
    }


@pytest.fixture(scope="module")
def rows():
    return _held_out_rows()


@pytest.fixture(scope="module")
def artifacts(models, tmp_path_factory):
    """(model, what, format) -> (path, sidecar record)."""
    directory = tmp_path_factory.mktemp("artifacts")
    out = {}
    for name, what in CASES:
        for fmt in FORMATS:
            path = directory / f"{name}_{what}.{fmt}"
            out[name, what, fmt] = path, models[name].export(what, fmt, path)
    return out


def _inputs(models, name, rows):
    return rows.reshape(len(rows), *models[name].input_shape)


def _max_diff(a, b) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


ISOLATED = r"""
import importlib.abc, sys

class NoAejax(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "aejax" or name.startswith("aejax."):
            raise ImportError(f"{name} is blocked here: the artifact must load with plain jax")

sys.meta_path.insert(0, NoAejax())
try:
    import aejax
except ImportError:
    pass
else:
    raise SystemExit("aejax was importable")
import json
import jax
import numpy as np

for job in json.loads(sys.argv[1]):
    exported = jax.export.deserialize(open(job["artifact"], "rb").read())
    np.save(job["y"], np.asarray(exported.call(np.load(job["x"]))))
print("ran", len(json.loads(sys.argv[1])), "artifacts")
"""


def test_stablehlo_runs_without_aejax_and_matches_trained(models, rows, artifacts, tmp_path):
    jobs, expected = [], []
    for name, what in CASES:
        x_all = _inputs(models, name, rows)
        for batch in BATCHES:
            x = x_all[:batch]
            stem = tmp_path / f"{name}_{what}_{batch}"
            np.save(f"{stem}_x.npy", x)
            artifact = artifacts[name, what, "stablehlo"][0]
            jobs.append({"artifact": str(artifact), "x": f"{stem}_x.npy", "y": f"{stem}_y.npy"})
            expected.append((name, what, batch, getattr(models[name], what)(x)))
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", ISOLATED, json.dumps(jobs)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for job, (name, what, batch, reference) in zip(jobs, expected, strict=True):
        diff = _max_diff(np.load(job["y"]), reference)
        print(f"stablehlo {name} {what} batch {batch}: max abs diff {diff:.3g}")
        assert diff <= TOLERANCE, (name, what, batch, diff)


@pytest.mark.parametrize("name,what", CASES)
def test_onnx_runs_in_onnxruntime_and_matches_trained(models, rows, artifacts, name, what):
    import onnx
    import onnxruntime

    path, record = artifacts[name, what, "onnx"]
    assert onnx.load(str(path)).opset_import[0].version == record["onnx_opset"] == 18
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x_all = _inputs(models, name, rows)
    for batch in BATCHES:
        x = x_all[:batch]
        (y,) = session.run(None, {"x": x})
        diff = _max_diff(y, getattr(models[name], what)(x))
        print(f"onnx {name} {what} batch {batch}: max abs diff {diff:.3g}")
        assert diff <= TOLERANCE, (batch, diff)


def test_sidecar_says_how_to_call(models, artifacts):
    path, record = artifacts["conv", "encode", "stablehlo"]
    on_disk = json.loads(sidecar_path(path).read_text())
    assert on_disk == record
    assert record["what"] == "encode" and record["dtype"] == "float32" and record["family"] == "autoencoder"
    assert record["input_shape"] == [8, 8, 1] and record["output_shape"] == [4]
    assert record["jax_version"] == jax.__version__
    assert "jax.export.deserialize" in record["load"]
    assert artifacts["mlp", "score", "onnx"][1]["output_shape"] == []


def test_cli_export(mlp_workdir, rows, tmp_path):
    from aejax.cli import main

    out = tmp_path / "codes.stablehlo"
    assert main(["export", "--workdir", str(mlp_workdir), "--what", "encode", "--format", "stablehlo",
                 "--out", str(out)]) == 0  # fmt: skip
    exported = jax.export.deserialize(out.read_bytes())
    trained = aejax.load(mlp_workdir)
    assert _max_diff(np.asarray(exported.call(rows[:50])), trained.encode(rows[:50])) <= TOLERANCE
    assert json.loads(sidecar_path(out).read_text())["what"] == "encode"
    bad = ["export", "--workdir", str(mlp_workdir), "--what", "encode", "--format", "tflite", "--out", "x"]
    with pytest.raises(SystemExit):  # argparse refuses an unknown format
        main(bad)


def test_named_errors(models, tmp_path):
    with pytest.raises(
        ExportError, match=r"cannot export 'logits'.*valid: encode, decode, reconstruct, score"
    ):
        models["mlp"].export("logits", "onnx", tmp_path / "x.onnx")
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        models["mlp"].export("encode", "tflite", tmp_path / "x")
    # the VAE's score draws its posterior sample with JAX's random bits: no ONNX for it, StableHLO has it
    with pytest.raises(ExportError, match=r"'score' of the 'vae' model to ONNX: primitive 'random_\w+'"):
        models["vae"].export("score", "onnx", tmp_path / "vae_score.onnx")
    assert not (tmp_path / "vae_score.onnx").exists()


def test_sequence_family_names_the_primitive_onnx_lacks(tmp_path):
    config = get_config("gru_rows_mnist")
    config.model.latent_dim = 4
    config.model.sequence.hidden = 8
    trained = _random_trained(config, (6, 5))
    with pytest.raises(
        ExportError, match=r"'encode' of the 'sequence' model to ONNX: primitive '\w+' is not covered"
    ):
        trained.export("encode", "onnx", tmp_path / "seq.onnx")
    assert issubclass(ExportError, ValueError)  # so `aejax export` reports it as an error (status 2)
