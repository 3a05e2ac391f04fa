"""Sequence autoencoders (recurrent and attention), their masked errors, and the sequence data helpers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from aejax.data.sequences import (
    SequenceArrays,
    image_rows,
    moving_average_zscore_scores,
    pad_sequences,
    sines,
    sines_with_anomalies,
)
from aejax.models.attention import AttentionAutoencoder, hidden_patch_error, patchify, unpatchify
from aejax.models.sequence import SequenceAutoencoder, masked_sequence_error, per_timestep_error

T, F, B = 6, 2, 4
MASK = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4, [1] * 5 + [0]], np.float32)


def _x(shape=(B, T, F), seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


def _seq(**kw):
    settings = dict(input_shape=(T, F), latent_dim=3, cell="lstm", hidden=8, num_layers=1)
    return SequenceAutoencoder(**(settings | kw))


def _attn(**kw):
    settings = dict(input_shape=(T, F), latent_dim=3, num_layers=1, num_heads=2, model_dim=8, mlp_dim=16)
    return AttentionAutoencoder(**(settings | kw))


_MODELS = {
    "lstm": lambda: _seq(),
    "gru": lambda: _seq(cell="gru", hidden=5),
    "gru_bi2": lambda: _seq(cell="gru", bidirectional=True, num_layers=2),
    "attn_seq": lambda: _attn(),
    "attn_img": lambda: _attn(input_shape=(8, 4, 3), patch_size=2),
}


@functools.cache
def _init(name):
    """(model, params) built once per module: initialisation compiles, and this box is small and shared."""
    model = _MODELS[name]()
    return model, jax.jit(model.init)(jax.random.key(1), _x((B, *model.input_shape)))


def _apply(model):
    """A jitted model.apply (whole-graph compiles beat op-by-op dispatch on this CPU)."""
    return jax.jit(model.apply, static_argnames="train")


def _corrupt_padding(x, mask):
    return jnp.where(jnp.asarray(mask)[..., None] > 0, x, 100.0 + 7.0 * _x(x.shape, seed=9))


@pytest.mark.parametrize(
    "cell,bidirectional,num_layers",
    [("lstm", False, 1), ("gru", False, 1), ("lstm", True, 2), ("gru", True, 2)],
)
def test_sequence_shapes(cell, bidirectional, num_layers):
    # eval_shape traces without compiling, so every variant stays cheap.
    model = _seq(cell=cell, bidirectional=bidirectional, num_layers=num_layers)
    x = _x()
    params = jax.eval_shape(model.init, jax.random.key(1), x)
    for train in (False, True):
        out = jax.eval_shape(lambda p, x, train=train: model.apply(p, x, train=train, mask=MASK), params, x)
        assert out.reconstruction.shape == out.logits.shape == (B, T, F)
        assert out.code.shape == (B, 3) and out.mask.shape == (B, T)


@pytest.mark.parametrize("name", ["lstm", "gru_bi2"])
def test_sequence_padding_invariance(name):
    model, params = _init(name)
    x = _x()
    # Training reads the (corrupted) targets through teacher forcing, so it is the case that can leak padding;
    # free running reads only the code. One compile per model keeps this box's budget.
    apply = _apply(model)
    out = apply(params, x, train=True, mask=MASK)
    bad = apply(params, _corrupt_padding(x, MASK), train=True, mask=MASK)
    np.testing.assert_allclose(bad.code, out.code, atol=1e-6)
    np.testing.assert_allclose(
        masked_sequence_error(bad.reconstruction, x, MASK), masked_sequence_error(out.reconstruction, x, MASK)
    )
    # A sequence padded from 4 to 6 steps has the code of the same 4 steps unpadded (the backward pass starts
    # at the real end); recurrent parameters do not depend on T.
    short = model.clone(input_shape=(4, F))
    np.testing.assert_allclose(short.apply(params, x[1:2, :4], method="encode"), out.code[1:2], atol=1e-5)


def test_sequence_bad_shapes_raise():
    model, params = _init("lstm")
    with pytest.raises(ValueError, match=r"expects \(batch, 6, 2\), got \(4, 5, 2\)"):
        model.apply(params, _x((B, 5, F)))
    with pytest.raises(ValueError, match="mask expects shape"):
        model.apply(params, _x(), mask=MASK[:, :5])
    with pytest.raises(ValueError, match="cell must be one of"):
        jax.eval_shape(_seq(cell="rnn").init, jax.random.key(1), _x())


def test_masked_error_matches_numpy():
    rng = np.random.default_rng(0)
    rec, target = rng.normal(size=(B, T, F)), rng.normal(size=(B, T, F))
    mask = MASK.copy()
    mask[2] = 0.0  # an all-padding row
    expected = np.array(
        [
            np.mean((rec[i][mask[i] > 0] - target[i][mask[i] > 0]) ** 2) if mask[i].any() else 0.0
            for i in range(B)
        ]
    )
    got = masked_sequence_error(jnp.asarray(rec), jnp.asarray(target), jnp.asarray(mask))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    steps = per_timestep_error(jnp.asarray(rec), jnp.asarray(target), jnp.asarray(mask))
    np.testing.assert_allclose(steps, ((rec - target) ** 2).mean(-1) * mask, rtol=1e-5)
    assert np.all(np.isfinite(got)) and got[2] == 0.0


def test_teacher_forcing_matches_manual_gru_loop():
    model, params = _init("gru")
    x = _x()
    train_out = _apply(model)(params, x, train=True)
    free_out = _apply(model)(params, x, train=False)
    assert not np.allclose(train_out.logits, free_out.logits)
    assert np.array_equal(free_out.mask, np.ones((B, T)))  # no mask given: every step is real
    # Scheduled sampling that never picks the true frame is free running.
    never = _apply(model.clone(teacher_forcing=0.0))(
        params, x, train=True, rngs={"latent": jax.random.key(2)}
    )
    np.testing.assert_allclose(never.logits, free_out.logits, atol=1e-6)

    p = jax.tree.map(np.asarray, params["params"]["decoder"])
    cell, out = p["step"]["cell_0"], p["step"]["out"]
    sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))
    lin = lambda d, v: v @ d["kernel"] + d.get("bias", 0.0)
    h = np.tanh(lin(p["init_h_0"], np.asarray(train_out.code)))
    xs = np.asarray(x)
    logits = []
    for t in range(T):
        inp = np.zeros((B, F)) if t == 0 else xs[:, t - 1]
        r = sigmoid(lin(cell["ir"], inp) + lin(cell["hr"], h))
        z = sigmoid(lin(cell["iz"], inp) + lin(cell["hz"], h))
        n = np.tanh(lin(cell["in"], inp) + r * lin(cell["hn"], h))
        h = (1.0 - z) * n + z * h
        logits.append(lin(out, h))
    np.testing.assert_allclose(train_out.logits, np.stack(logits, 1), atol=1e-5)


@pytest.mark.parametrize("name", ["attn_seq", "attn_img"])
def test_attention_shapes_and_weights(name):
    model, params = _init(name)
    shape, patch = model.input_shape, model.patch_size
    x = _x((B, *shape))
    mask = MASK if len(shape) == 2 else None
    apply = _apply(model)
    out = apply(params, x, mask=mask)
    n = T if len(shape) == 2 else (shape[0] // patch) * (shape[1] // patch)
    assert out.reconstruction.shape == (B, *shape) and out.code.shape == (B, 3)
    assert out.attention_names == ("encoder_self_0", "decoder_cross", "decoder_self_0")
    assert [a.shape for a in out.attention] == [(B, 2, n, n), (B, 2, n, 4), (B, 2, n, n)]
    for weights in out.attention:
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    if mask is not None:
        for weights in out.attention[:1]:  # encoder self-attention: padded keys get exactly 0
            assert np.all(
                np.asarray(weights)[np.broadcast_to(MASK[:, None, None, :] == 0, weights.shape)] == 0.0
            )
        bad = apply(params, _corrupt_padding(x, MASK), mask=mask)
        np.testing.assert_allclose(bad.code, out.code, atol=1e-5)
    np.testing.assert_array_equal(unpatchify(patchify(x, patch), shape, patch), x)


def test_masked_patches():
    base, params = _init("attn_img")
    model = base.clone(mask_ratio=0.4)  # the parameters do not depend on mask_ratio
    x = _x((B, 8, 4, 3))
    rngs = {"latent": jax.random.key(5)}
    apply = _apply(model)
    out = apply(params, x, train=True, rngs=rngs)
    hidden = np.asarray(out.token_mask)
    assert hidden.shape == (B, 8) and np.all(hidden.sum(1) == round(0.4 * 8))
    assert len({tuple(row) for row in hidden}) > 1  # a different subset per example
    enc = out.attention[0]
    assert np.all(np.asarray(enc)[np.broadcast_to(hidden[:, None, None, :] == 1, enc.shape)] == 0.0)
    # Hidden patches cannot reach the code.
    tokens = patchify(x, 2)
    noisy = unpatchify(jnp.where(hidden[..., None] > 0, tokens + 50.0, tokens), (8, 4, 3), 2)
    np.testing.assert_allclose(apply(params, noisy, train=True, rngs=rngs).code, out.code, atol=1e-5)
    assert np.all(apply(params, x).token_mask == 0)  # eval hides nothing

    err = hidden_patch_error(out.reconstruction, x, out.token_mask, 2)
    t_np, r_np = np.asarray(patchify(x, 2)), np.asarray(patchify(out.reconstruction, 2))
    expected = [np.mean((r_np[i][hidden[i] > 0] - t_np[i][hidden[i] > 0]) ** 2) for i in range(B)]
    np.testing.assert_allclose(err, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="mask_ratio"):
        jax.eval_shape(_attn(mask_ratio=1.0).init, jax.random.key(1), _x())


def _loss(model, params, x, mask, key):
    out = model.apply(params, x, train=True, mask=mask, rngs={"latent": key, "dropout": key})
    return jnp.mean(masked_sequence_error(out.reconstruction, x, out.mask))


@pytest.mark.parametrize(
    "name,settings",
    [("lstm", {}), ("gru", {"teacher_forcing": 0.5}), ("attn_seq", {"mask_ratio": 0.5, "dropout": 0.1})],
)
def test_jitted_step_traces_once(name, settings):
    base, params = _init(name)
    model = base.clone(**settings)  # these settings do not change the parameters
    traces = []

    @jax.jit
    def step(params, x, mask, key):
        traces.append(1)
        loss, grads = jax.value_and_grad(lambda p: _loss(model, p, x, mask, key))(params)
        return loss, jax.tree.map(lambda p, g: p - 0.01 * g, params, grads)

    for i in range(3):
        loss, params = step(params, _x(seed=i), jnp.asarray(MASK), jax.random.key(i))
        assert np.isfinite(loss)
    assert len(traces) == 1


def test_lstm_loss_falls_on_sines():
    x = jnp.asarray(sines(8, 12, F, num_components=(1, 1), seed=0))
    base, params = _init("lstm")
    model = base.clone(input_shape=(12, F))  # recurrent parameters do not depend on T
    tx = optax.adam(1e-2)
    opt = tx.init(params)
    mask = jnp.ones((8, 12))

    @jax.jit
    def step(params, opt):
        loss, grads = jax.value_and_grad(lambda p: _loss(model, p, x, mask, jax.random.key(0)))(params)
        updates, opt = tx.update(grads, opt)
        return optax.apply_updates(params, updates), opt, loss

    losses = []
    for _ in range(30):
        params, opt, loss = step(params, opt)
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0], losses


def test_sines_seeded():
    a = sines(5, 12, 2, seed=3)
    assert a.shape == (5, 12, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, sines(5, 12, 2, seed=3))
    assert not np.array_equal(a, sines(5, 12, 2, seed=4))


def test_anomalies_labels_consistent():
    x, seq_labels, step_labels = sines_with_anomalies(40, 12, anomaly_fraction=0.5, seed=1)
    clean, clean_seq, clean_steps = sines_with_anomalies(40, 12, anomaly_fraction=0.0, seed=1)
    assert x.shape == (40, 12, 1) and step_labels.shape == (40, 12) and seq_labels.sum() == 20
    np.testing.assert_array_equal(seq_labels, step_labels.max(1))
    assert clean_seq.sum() == 0 and clean_steps.sum() == 0
    # Anomalies change the signal exactly where the step labels say so.
    changed = np.abs(x - clean)[..., 0] > 1e-6
    assert np.all(changed <= step_labels) and np.all(changed.any(1) == seq_labels.astype(bool))
    for kind in ("spike", "level_shift", "frequency_change"):
        _, s, st = sines_with_anomalies(6, 12, anomaly_fraction=1.0, kinds=(kind,), seed=2)
        assert s.sum() == 6 and np.all(st.sum(1) == 1) == (kind == "spike")
    again = sines_with_anomalies(40, 12, anomaly_fraction=0.5, seed=1)
    np.testing.assert_array_equal(again[0], x)

    scores, per_sequence = moving_average_zscore_scores(x, window=3)
    assert scores.shape == (40, 12) and per_sequence.shape == (40,)
    spikes_x, _, spikes_at = sines_with_anomalies(8, 48, anomaly_fraction=1.0, kinds=("spike",), seed=3)
    spike_scores, _ = moving_average_zscore_scores(spikes_x, window=5)
    assert np.all(spike_scores.argmax(1) == spikes_at.argmax(1))


def test_padding_and_validation():
    seqs = [np.ones((3, 2)), 2 * np.ones((5, 2)), np.ones((1, 2))]
    x, mask, lengths = pad_sequences(seqs)
    assert x.shape == (3, 5, 2) and np.array_equal(lengths, [3, 5, 1])
    np.testing.assert_array_equal(mask.sum(1), lengths)
    assert np.all(x[0, 3:] == 0) and x.dtype == mask.dtype == np.float32
    assert pad_sequences(seqs, max_length=7)[0].shape == (3, 7, 2)
    with pytest.raises(ValueError, match="max_length 4"):
        pad_sequences(seqs, max_length=4)
    with pytest.raises(ValueError, match=r"expects shape \(T_i, F\)"):
        pad_sequences([np.ones(3)])
    with pytest.raises(ValueError, match="expects \\(N, T, F\\)"):
        SequenceArrays(np.ones((3, 5)), mask, lengths)
    with pytest.raises(ValueError, match="NaN or inf"):
        SequenceArrays(np.where(x > 1, np.nan, x), mask, lengths)
    with pytest.raises(ValueError, match="mask expects shape"):
        SequenceArrays(x, mask[:, :4], lengths)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 5\]"):
        SequenceArrays(x, mask, np.array([3, 6, 1]))
    padded_scores, _ = moving_average_zscore_scores(x, mask)
    assert np.all(padded_scores[mask == 0] == 0)
    assert image_rows(np.zeros((2, 28, 28, 1), np.uint8)).shape == (2, 28, 28)
    with pytest.raises(ValueError, match="image_rows expects"):
        image_rows(np.zeros((2, 28, 28, 3)))
