"""A family, an encoder and a decoder defined here, outside aejax, train through aejax.fit / aejax.load."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

import aejax
from aejax.families import Family, get_family, register_family
from aejax.models import AutoencoderOutput

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class ToySettings:
    """The toy family's own block, `model.toy`."""

    code_scale: float = 1.0  # the code is the encoder's tanh output times this

    def __post_init__(self):
        if self.code_scale <= 0:
            raise ValueError(f"model.toy.code_scale must be > 0, got {self.code_scale}")


class ToyModel(nn.Module):
    """A one-layer tanh autoencoder whose code is scaled by `code_scale`."""

    input_shape: tuple[int, ...]
    latent_dim: int
    code_scale: float

    def setup(self):
        self.down = nn.Dense(self.latent_dim)
        self.up = nn.Dense(int(np.prod(self.input_shape)))

    def encode(self, x, *, train: bool = False):
        return self.code_scale * jnp.tanh(self.down(x.reshape(x.shape[0], -1)))

    def decode(self, z, *, train: bool = False):
        return nn.sigmoid(self.up(z)).reshape(z.shape[0], *self.input_shape)

    def __call__(self, x, *, train: bool = False):
        code = self.encode(x, train=train)
        logits = self.up(code).reshape(x.shape)
        return AutoencoderOutput(reconstruction=nn.sigmoid(logits), code=code, logits=logits)


def build_toy(spec, settings: ToySettings, context):
    return ToyModel(
        input_shape=context.input_shape, latent_dim=spec.latent_dim, code_scale=settings.code_scale
    )


def code_energy(output, per_example_reconstruction):
    """A per-example evaluation term of the family's own: the squared norm of the code."""
    return {"code_energy": jnp.sum(jnp.square(output.code), axis=1)}


def toy_split_metrics(trained, x, metrics):
    return {"code_energy_root": float(np.sqrt(metrics["code_energy"]))}


TOY = Family(
    name="toy",
    build=build_toy,
    settings=ToySettings,
    eval_terms=code_energy,
    monitor="code_energy",
    split_metrics=toy_split_metrics,
)
register_family(TOY)


class TinyEncoder(nn.Module):
    """A user's encoder part: gets latent_dim from the family, `width` from model.encoder_settings."""

    latent_dim: int
    width: int = 8

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        h = nn.relu(nn.Dense(self.width)(x.reshape(x.shape[0], -1)))
        return nn.Dense(self.latent_dim)(h)


class TinyDecoder(nn.Module):
    """A user's decoder part: gets output_shape from the family."""

    output_shape: tuple[int, ...]
    width: int = 8

    @nn.compact
    def __call__(self, z, *, train: bool = False):
        h = nn.relu(nn.Dense(self.width)(z))
        return nn.Dense(int(np.prod(self.output_shape)))(h).reshape(z.shape[0], *self.output_shape)


def _config(epochs: int = 1):
    config = aejax.load_default()
    config.model.latent_dim = 4
    config.train.epochs = epochs
    config.train.batch_size = 64
    config.train.progress = False
    config.eval.plots = False
    config.eval.jacobian_examples = 0
    return config


def test_a_family_registered_here_trains_evaluates_checkpoints_resumes_and_loads(tmp_path):
    config = _config(epochs=1)
    config.model.family = "toy"
    config.model.toy.code_scale = 0.5
    workdir = tmp_path / "toy"
    first = aejax.fit(config, workdir=workdir)
    assert isinstance(first.model, ToyModel) and first.model.code_scale == 0.5
    assert first.results["resumed_from"] is None
    config.train.epochs = 2
    resumed = aejax.fit(config, workdir=workdir)
    assert resumed.results["resumed_from"] == first.results["steps"]
    assert resumed.results["steps"] == 2 * first.results["steps"]
    test = resumed.results["test"]
    assert "code_energy" in test and test["code_energy_root"] == pytest.approx(np.sqrt(test["code_energy"]))
    codes = resumed.encode(aejax.get_dataset(config).x_test)
    assert np.max(np.abs(codes)) <= 0.5 + 1e-6  # the family's own setting reached its model
    assert np.mean(np.sum(codes**2, axis=1)) == pytest.approx(test["code_energy"], rel=1e-4)

    loaded = aejax.load(workdir)
    assert loaded.family is TOY and loaded.step == resumed.step
    for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(resumed.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x_test = aejax.get_dataset(config).x_test
    evaluated = loaded.evaluate(x_test)
    assert evaluated["code_energy"] == pytest.approx(test["code_energy"], rel=1e-6)
    np.testing.assert_allclose(loaded.score(x_test[:5]), resumed.score(x_test[:5]), rtol=1e-6)
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["model"]["family"] == "toy" and saved["model"]["toy"] == {"code_scale": 0.5}


def test_a_family_is_found_by_import_path_and_its_settings_are_checked():
    assert get_family(f"{__name__}:TOY") is TOY
    config = _config()
    config.model.family = "toy"
    config.model.toy.code_scal = 2.0
    with pytest.raises(ValueError, match=r"did you mean 'model\.toy\.code_scale'"):
        aejax.config.validate(config)
    config = _config()
    config.model.family = "toy"
    config.model.toy.code_scale = -1.0
    with pytest.raises(ValueError, match="code_scale must be > 0"):
        aejax.fit(config)
    with pytest.raises(ValueError, match=r"unknown model\.family 'toyy'; valid: .*toy"):
        get_family("toyy")
    with pytest.raises(ValueError, match="already registered"):
        register_family(dataclasses.replace(TOY, monitor="reconstruction"))


def test_user_encoder_and_decoder_by_import_path_with_checked_settings():
    config = _config()
    config.model.encoder = f"{__name__}:TinyEncoder"
    config.model.encoder_settings = {"width": 12}
    config.model.decoder = f"{__name__}:TinyDecoder"
    trained = aejax.fit(config)
    assert trained.params["encoder"]["Dense_0"]["kernel"].shape == (64, 12)
    assert trained.params["decoder"]["Dense_1"]["kernel"].shape == (8, 64)
    assert np.isfinite(trained.results["test"]["mse"])
    config.model.encoder_settings = {"widht": 12}
    with pytest.raises(
        ValueError, match=r"model\.encoder_settings\.widht.*did you mean 'model\.encoder_settings\.width'"
    ):
        aejax.config.validate(config)
    config.model.encoder_settings = {}
    config.model.encoder = f"{__name__}:NoSuchEncoder"
    with pytest.raises(ValueError, match="has no flax Module class 'NoSuchEncoder'"):
        aejax.config.validate(config)


def test_old_flat_family_keys_name_their_new_place():
    config = aejax.load_default()
    config.model.rnn_hidden = 32
    with pytest.raises(ValueError, match=r"'model\.rnn_hidden' moved to 'model\.sequence\.hidden'"):
        aejax.config.validate(config)
    with pytest.raises(ValueError, match=r"moved to 'model\.vqvae\.num_embeddings'"):
        aejax.config.apply_overrides(aejax.load_default(), ["model.vq_num_embeddings=64"])


def test_a_workdir_config_with_old_flat_keys_still_reads():
    old = json.loads(aejax.config.to_json(aejax.load_default()))
    for block in ("vqvae", "sequence", "attention", "capsule"):
        del old["model"][block]
    old["model"]["cell"], old["model"]["rnn_hidden"], old["model"]["vq_num_embeddings"] = "gru", 32, 64
    config = aejax.config.from_json(json.dumps(old))
    assert config.model.sequence.cell == "gru" and config.model.sequence.hidden == 32
    assert config.model.vqvae.num_embeddings == 64


@pytest.mark.slow
def test_cli_trains_with_an_encoder_by_import_path(tmp_path):
    config_file = tmp_path / "my_config.py"
    config_file.write_text(
        "import aejax\n\n\ndef get_config():\n    config = aejax.load_default()\n"
        f"    config.model.encoder = '{Path(__file__).stem}:TinyEncoder'\n"
        "    config.train.epochs = 1\n    config.eval.plots = False\n    return config\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "aejax.cli",
            "train",
            "--config",
            str(config_file),
            "--workdir",
            str(tmp_path / "w"),
            "--config.model.encoder_settings.width=6",
            "--config.train.progress=False",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    saved = json.loads((tmp_path / "w" / "config.json").read_text())
    assert saved["model"]["encoder_settings"] == {"width": 6}
