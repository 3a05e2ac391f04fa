"""The anomaly detector's ensemble: forward pass, code-size masks and trimmed loss against NumPy references."""

import jax.numpy as jnp
import numpy as np

from aejax.robust_ensemble import (
    EnsembleSpec,
    _trimmed_loss,
    apply_member,
    init_ensemble,
    latent_sizes,
    member_outputs,
    train_ensemble,
)

SPEC = EnsembleSpec(n_members=3, hidden=(7,), latent_dim=4, density=0.5, epochs=2, batch_size=16, seed=3)


def _numpy_forward(params, masks, i, x):
    w = [np.asarray(m[i]) * np.asarray(c[i]) for m, c in zip(params["w"], masks["connections"], strict=True)]
    b = [np.asarray(v[i]) for v in params["b"]]
    h = np.maximum(x @ w[0] + b[0], 0)
    code = (h @ w[1] + b[1]) * np.asarray(masks["latent"][i])
    h = np.maximum(code @ w[2] + b[2], 0)
    return code, h @ w[3] + b[3]


def test_members_match_a_numpy_forward_pass_with_their_masks():
    params, masks = init_ensemble(5, SPEC)
    x = np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)
    codes, recons = member_outputs(params, masks, x)
    assert codes.shape == (3, 9, 4) and recons.shape == (3, 9, 5)
    for i in range(3):
        code, recon = _numpy_forward(params, masks, i, x)
        np.testing.assert_allclose(codes[i], code, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(recons[i], recon, rtol=1e-5, atol=1e-5)
    # member i uses the first latent_sizes[i] code units; the others are exactly 0
    assert list(latent_sizes(SPEC)) == [1, 2, 4] or list(latent_sizes(SPEC)) == [1, 3, 4]
    for i, k in enumerate(latent_sizes(SPEC)):
        assert np.all(codes[i, :, k:] == 0)
    density = np.mean([np.asarray(c).mean() for c in masks["connections"]])
    assert 0.35 < density < 0.65


def test_trimmed_loss_averages_the_rows_below_the_quantile():
    params, masks = init_ensemble(5, SPEC)
    member = {"w": [w[0] for w in params["w"]], "b": [b[0] for b in params["b"]]}
    member_masks = {"connections": [c[0] for c in masks["connections"]], "latent": masks["latent"][0]}
    x = np.random.default_rng(1).normal(size=(20, 5)).astype(np.float32)
    _, recon = apply_member(member, member_masks, jnp.asarray(x))
    errors = np.mean((np.asarray(recon) - x) ** 2, axis=1)
    for fraction in (0.0, 0.25):
        kept = errors[errors <= np.quantile(errors, 1 - fraction)]
        got = float(_trimmed_loss(member, member_masks, jnp.asarray(x), fraction))
        np.testing.assert_allclose(got, kept.mean(), rtol=1e-5)


def test_scores_do_not_depend_on_the_other_rows_and_training_lowers_the_error():
    x = np.random.default_rng(2).normal(size=(64, 3)) @ np.random.default_rng(3).normal(size=(3, 5))
    x = x.astype(np.float32)
    spec = EnsembleSpec(
        **{**SPEC.__dict__, "hidden": (16,), "density": 1.0, "epochs": 100, "learning_rate": 1e-2}
    )
    before = member_outputs(*init_ensemble(5, spec), x)[1]
    params, masks = train_ensemble(x, spec)
    after = member_outputs(params, masks, x)[1]
    # the last member has 4 code units for rank-3 rows: it learns them almost exactly
    assert np.mean((after[-1] - x) ** 2) < 0.1 * np.mean((before[-1] - x) ** 2)
    np.testing.assert_array_equal(member_outputs(params, masks, x[:7])[1], after[:, :7])
