"""Sequence, attention and capsule families through the library: config, fit, steps, masks, data, task."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import aejax
from aejax.families import build_model
from aejax.models import ModelSpec
from aejax.objectives import Objective
from aejax.objectives.losses import hidden_patch_mse, mean_squared_error
from aejax.training import create_train_state, make_train_step

FAMILIES = {
    "lstm": {"family": "sequence", "sequence": {"cell": "lstm", "hidden": 16}},
    "gru_stacked_bidirectional": {
        "family": "sequence",
        "sequence": {"cell": "gru", "hidden": 16, "layers": 2, "bidirectional": True},
    },
    "attention_rows": {
        "family": "attention",
        "attention": {"model_dim": 16, "mlp_dim": 32, "num_heads": 2, "layers": 1},
    },
}
CAPSULE = {
    "family": "capsule",
    "latent_dim": 12,
    "hidden": (32,),
    "capsule": {
        "num_capsules": 3,
        "capsule_dim": 4,
        "conv_features": 8,
        "conv_kernel": 3,
        "primary_channels": 4,
        "primary_dim": 4,
        "primary_kernel": 3,
    },
}


def _build(model: dict, shape: tuple[int, ...]):
    """The model of a FAMILIES / CAPSULE entry: shared settings and the family's own block."""
    return build_model(ModelSpec.from_mapping(model), shape, settings=model.get(model["family"]))


def _config(rows: bool = True, **model):
    config = aejax.load_default()
    config.data.flatten = False
    config.data.as_sequences = rows
    config.train.epochs = 2
    config.train.progress = False
    config.model.latent_dim = 8
    config.eval.plots = False
    config.eval.jacobian_examples = 0
    for key, value in model.items():
        if isinstance(value, dict):  # a family's own block
            config.model[key].update(value)
        else:
            config.model[key] = value
    return config


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_fit_sequence_families_on_digit_rows(name):
    trained = aejax.fit(_config(**FAMILIES[name]))
    assert trained.input_shape == (8, 8)
    assert np.isfinite(trained.results["test"]["mse"]) and trained.results["test"]["mse"] < 0.2
    codes = trained.encode(aejax.get_dataset(trained.config).x_test)
    assert codes.shape[1] == 8 and np.std(codes) > 0


def test_fit_capsule_and_its_lengths():
    trained = aejax.fit(_config(rows=False, **CAPSULE))
    x = aejax.get_dataset(trained.config).x_test[:16]
    lengths = trained.output_field(x, "lengths")
    assert lengths.shape == (16, 3) and np.all((lengths >= 0) & (lengths < 1))
    code = trained.encode(x).reshape(16, 3, 4)
    poses = trained.output_field(x, "poses")
    longest = lengths.argmax(axis=1)
    np.testing.assert_allclose(code[np.arange(16), longest], poses[np.arange(16), longest], atol=1e-6)
    with pytest.raises(ValueError, match="no array field"):
        trained.output_field(x, "nothing")


def test_attention_on_image_patches_with_masked_patch_training():
    config = _config(rows=False, **FAMILIES["attention_rows"])
    config.model.attention.update({"patch_size": 4, "mask_ratio": 0.5})
    config.loss.reconstruction = "hidden_mse"
    trained = aejax.fit(config)
    x = aejax.get_dataset(config).x_test[:3]
    weights = trained.attention(x)
    assert set(weights) >= {"encoder_self_0", "decoder_cross"}
    for w in weights.values():
        np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", [*sorted(FAMILIES), "capsule"])
def test_train_step_traced_once_per_family(name):
    shape = (8, 8, 1) if name == "capsule" else (8, 8)
    model = _build(CAPSULE if name == "capsule" else {"latent_dim": 8, **FAMILIES[name]}, shape)
    tx = optax.adam(1e-3)
    state = create_train_state(model, tx, shape, 0)
    step = make_train_step(model, Objective(), optax.constant_schedule(1e-3), max_traces=1)
    batch = {"x": jax.random.uniform(jax.random.PRNGKey(1), (4, *shape))}
    losses = []
    for _ in range(3):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert int(state.step) == 3 and all(np.isfinite(losses))


@pytest.mark.parametrize("name", ["lstm", "attention_rows"])
def test_padding_never_changes_the_training_loss_or_update(name):
    model = _build({"latent_dim": 8, "output_activation": "identity", **FAMILIES[name]}, (6, 3))
    state = create_train_state(model, optax.sgd(0.1), (6, 3), 0)
    step = make_train_step(model, Objective(), optax.constant_schedule(0.1), donate=False)
    x = jax.random.normal(jax.random.PRNGKey(2), (4, 6, 3))
    mask = jnp.array([[1, 1, 1, 1, 0, 0], [1] * 6, [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]], jnp.float32)
    other = jnp.where(mask[..., None] > 0, x, 100.0 * jax.random.normal(jax.random.PRNGKey(3), x.shape))
    new_a, metrics_a = step(state, {"x": x, "mask": mask})
    new_b, metrics_b = step(state, {"x": other, "mask": mask})
    assert float(metrics_a["loss"]) == pytest.approx(float(metrics_b["loss"]), rel=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), new_a.params, new_b.params
    )


def test_masked_mse_matches_numpy():
    from aejax.models.sequence import SequenceOutput

    rng = np.random.default_rng(0)
    x, r = rng.normal(size=(3, 5, 2)), rng.normal(size=(3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], np.float32)
    out = SequenceOutput(
        reconstruction=jnp.asarray(r), code=jnp.zeros((3, 1)), logits=jnp.asarray(r), mask=mask
    )
    got = np.asarray(mean_squared_error(out, jnp.asarray(x)))
    expected = [np.mean(np.square(x[i, : int(mask[i].sum())] - r[i, : int(mask[i].sum())])) for i in range(2)]
    np.testing.assert_allclose(got, [*expected, 0.0], rtol=1e-5)


def test_hidden_patch_mse_scores_hidden_patches_only():
    from aejax.models.attention import AttentionOutput

    target = np.zeros((1, 4, 4, 1), np.float32)
    recon = np.zeros_like(target)
    recon[0, :2, :2] = 1.0  # error only in the top-left 2x2 patch (token 0)
    for hidden, expected in (([1, 0, 0, 0], 1.0), ([0, 1, 1, 0], 0.0), ([0, 0, 0, 0], 0.25)):
        out = AttentionOutput(
            reconstruction=jnp.asarray(recon),
            code=jnp.zeros((1, 2)),
            logits=jnp.asarray(recon),
            mask=jnp.ones((1, 4)),
            token_mask=jnp.asarray([hidden], jnp.float32),
            attention=(),
        )
        assert float(hidden_patch_mse(out, jnp.asarray(target))[0]) == pytest.approx(expected)


def test_sequence_data_sources():
    config = _config()
    dataset = aejax.get_dataset(config)
    assert dataset.input_shape == (8, 8) and dataset.display_shape == (8, 8)
    config = _config(rows=False)
    config.data.source, config.data.max_examples, config.data.sequence_length = "sines", 100, 12
    sines = aejax.get_dataset(config)
    assert sines.input_shape == (12, 1) and sines.x_train.shape[0] == 80 and sines.x_train.min() < 0


@pytest.mark.parametrize(
    ("changes", "rows", "message"),
    [
        ({"family": "sequence"}, False, r"data\.as_sequences"),
        ({**CAPSULE, "latent_dim": 10}, False, "num_capsules \\* capsule_dim"),
        ({"family": "sequence", "sequence": {"cell": "rnn"}}, True, r"model\.sequence\.cell"),
        (
            {"family": "attention", "attention": {"model_dim": 10, "num_heads": 4}},
            True,
            r"multiple of model\.attention\.num_heads",
        ),
        ({"family": "sequence", "sequence": {"celll": "gru"}}, True, r"did you mean 'model\.sequence\.cell'"),
    ],
)
def test_family_config_errors_are_named(changes, rows, message):
    config = _config(rows=rows, **changes)
    config.data.flatten = not rows and changes == {"family": "sequence"}  # flat vectors are not sequences
    with pytest.raises(ValueError, match=message):
        aejax.fit(config)


def test_as_sequences_needs_unflattened_images():
    config = _config()
    config.data.flatten = True
    with pytest.raises(ValueError, match=r"data\.flatten=False"):
        aejax.get_dataset(config)


def test_sequence_anomaly_task_on_small_sines(tmp_path):
    config = aejax.get_config("experiments/sequence_anomaly_sines.py")
    config.data.max_examples, config.data.sequence_length = 300, 16
    config.model.sequence.hidden = 16
    config.train.epochs = 2
    config.train.progress = False
    report = aejax.run_task(config, tmp_path)
    for method in ("autoencoder", "moving_average_zscore"):
        for key in ("auroc_sequence", "auroc_timestep", "auroc_spike", "auroc_level_shift"):
            assert 0.0 <= report[method][key] <= 1.0
    assert report["autoencoder"]["auroc_sequence"] > 0.6
    assert (tmp_path / "roc.png").is_file() and (tmp_path / "sequence_anomalies.png").is_file()


def test_capsule_margin_training_uses_labels():
    config = _config(rows=False, **CAPSULE)
    config.loss.regularizers = {"margin": {"fn": "capsule_margin", "weight": 1.0}}
    config.loss.reconstruction_weight = 0.05
    trained = aejax.fit(config)
    assert np.isfinite(trained.results["test"]["mse"])
    dataset = aejax.get_dataset(config)
    unlabelled = aejax.data.from_arrays(dataset.x_train, x_val=dataset.x_val)
    config.data.source = "arrays"
    with pytest.raises(ValueError, match="needs labels"):
        aejax.fit(config, data=unlabelled)


def test_capsule_margin_term_matches_numpy():
    model = _build(CAPSULE, (8, 8, 1))
    state = create_train_state(model, optax.sgd(0.0), (8, 8, 1), 0)
    objective = Objective(regularizers=(("margin", "capsule_margin", 1.0),))
    step = make_train_step(model, objective, optax.constant_schedule(0.0), donate=False)
    x = jax.random.uniform(jax.random.PRNGKey(4), (4, 8, 8, 1))
    y = jnp.array([0, 1, 2, 1])
    _, metrics = step(state, {"x": x, "y": y})
    out = model.apply({"params": state.params}, x, labels=y)
    lengths = np.asarray(out.lengths)
    t = np.eye(3)[np.asarray(y)]
    expected = np.mean(
        np.sum(
            t * np.maximum(0, 0.9 - lengths) ** 2 + 0.5 * (1 - t) * np.maximum(0, lengths - 0.1) ** 2, axis=1
        )
    )
    assert float(metrics["reg/margin"]) == pytest.approx(expected, rel=1e-5)
    code = np.asarray(out.code).reshape(4, 3, 4)
    for i, label in enumerate(np.asarray(y)):  # the label's capsule is the one decoded in training
        assert np.all(np.delete(code[i], label, axis=0) == 0)
