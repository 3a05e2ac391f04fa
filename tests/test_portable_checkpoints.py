"""Portable checkpoints (issue 23, part 5): a run interrupted on one layout resumes on another (single device,
sharded over the 8 fake CPU devices, pmap) and `aejax.load` restores a sharded run onto one device.

What holds, measured here (8 fake CPU devices, f32, dropout 0.1, warmup_cosine, 32 steps on each layout):
- bit for bit: everything up to the interruption (the checkpoint at the interrupted step and the metrics log
  before it equal the uninterrupted run of the first layout); step count and epoch position; `aejax.load` of a
  sharded run gives the parameters `fit` returned and results.json's test metrics exactly.
- to tolerance: whatever runs on another layout, since sharded jit sums the gradients in another order. Against
  either uninterrupted run the first loss after the resume differs by <= 1.8e-7 relative, the later losses by
  <= 3.5e-7, final parameters by <= 1.2e-7 (max abs), the test loss by <= 2.3e-7; asserted at 1e-5. Sharded jit
  draws the single-device dropout masks (a step's key is folded from the saved key), so dropout stays in.
- pmap draws a step's randomness per shard (with dropout its losses differ from one device's by up to 70%), so
  the pmap round trip runs without dropout, where it matches one device to the same ~3e-7.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from jax.sharding import SingleDeviceSharding

import aejax
from aejax.data import from_arrays
from aejax.training import MetricsLog
from aejax.training.loop import EpochLoop

pytestmark = pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 (fake) devices")

STEPS_PER_EPOCH = 16  # 512 training rows in batches of 32
EPOCHS = 4
TOTAL = EPOCHS * STEPS_PER_EPOCH
CUT = 2 * STEPS_PER_EPOCH  # the interruption: right after the checkpoint at the end of epoch 2


def _blobs():
    """(train, val, test) rows of 16 features in [0, 1] on a 3-d subspace."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 16))

    def draw(n):
        return (1 / (1 + np.exp(-(rng.normal(size=(n, 3)) @ basis)))).astype(np.float32)

    return from_arrays(draw(512), draw(64), draw(64))


def _config(backend: str, dropout: float = 0.1):
    config = aejax.load_default()
    config.model.latent_dim = 4
    config.model.hidden = (32,)
    config.model.dropout = dropout  # the step keys must carry over between layouts too
    config.train.epochs = EPOCHS
    config.train.batch_size = 32  # a multiple of the 8 devices
    config.train.learning_rate = 1e-2  # the loss falls to a third by the interruption
    config.train.schedule = "warmup_cosine"  # a position-dependent learning rate
    config.train.warmup_steps = 8
    config.train.progress = False
    config.train.log_every_steps = 1  # one metrics record per step
    config.train.backend = backend
    config.checkpoint.every_epochs = 1  # a checkpoint at every epoch end, to resume from on another layout
    config.checkpoint.max_to_keep = EPOCHS  # every epoch's checkpoint stays readable
    config.eval.plots = False
    config.eval.compare_pca = False
    config.eval.jacobian_examples = 0
    return config


class _Interrupted(Exception):
    """Raised right after a checkpoint completes: a crash between two steps."""


def _fit_until(monkeypatch, config, data, workdir, stop_at: int) -> None:
    """Train in `workdir` until the checkpoint at step `stop_at` is written, then crash."""
    save = EpochLoop._checkpoint

    def save_then_crash(self, state, *, done):
        save(self, state, done=done)
        if self.step == stop_at:
            raise _Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(EpochLoop, "_checkpoint", save_then_crash)
        with pytest.raises(_Interrupted):
            aejax.fit(config, data, workdir=workdir)
    assert not (workdir / "results.json").exists()


def _losses(workdir) -> dict[int, float]:
    """The logged training loss of each step (one record per step); a step logged twice fails."""
    records = [r for r in MetricsLog(workdir / "metrics.jsonl").read() if r["split"] == "train"]
    steps = [r["step"] for r in records]
    assert steps == sorted(set(steps)), steps
    return {r["step"]: r["loss"] for r in records}


def _leaves(state):
    state = jax.device_get(state)
    return jax.tree.leaves((state.params, state.opt_state, state.rng, state.step))


def _max_abs_diff(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b, strict=True))


def _assert_bit_identical(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def data():
    return _blobs()


@pytest.fixture(scope="module")
def references(data, tmp_path_factory):
    """Uninterrupted runs of the same config on one device and sharded over 8: {backend: (Trained, workdir)}."""
    root = tmp_path_factory.mktemp("portable")
    runs = {}
    for backend in ("single", "sharded"):
        runs[backend] = (aejax.fit(_config(backend), data, workdir=root / backend), root / backend)
    return runs


@pytest.mark.parametrize(("first", "then"), [("single", "sharded"), ("sharded", "single")])
def test_interrupted_run_resumes_on_the_other_layout(first, then, data, references, monkeypatch, tmp_path):
    workdir = tmp_path / f"{first}_then_{then}"
    _fit_until(monkeypatch, _config(first), data, workdir, CUT)
    resumed = aejax.fit(_config(then), data, workdir=workdir)  # train.backend may change on resume

    # It resumed where it stopped and ran to the end, each step logged once.
    assert resumed.results["resumed_from"] == CUT
    assert resumed.step == resumed.results["steps"] == resumed.results["total_steps"] == TOTAL
    assert aejax.config.from_json((workdir / "config.json").read_text()).train.backend == then
    losses = _losses(workdir)
    assert sorted(losses) == list(range(1, TOTAL + 1))

    # Bit for bit: the part before the interruption is the first layout's uninterrupted run.
    (first_run, first_dir), (then_run, then_dir) = references[first], references[then]
    first_losses, then_losses = _losses(first_dir), _losses(then_dir)
    assert [losses[s] for s in range(1, CUT + 1)] == [first_losses[s] for s in range(1, CUT + 1)]
    _assert_bit_identical(
        _leaves(aejax.load(workdir, step=CUT).state), _leaves(aejax.load(first_dir, step=CUT).state)
    )

    # To tolerance: the loss goes on from where it was, and the end is the uninterrupted run's.
    after = range(CUT + 1, TOTAL + 1)
    for reference in (first_losses, then_losses):
        np.testing.assert_allclose(losses[CUT + 1], reference[CUT + 1], rtol=1e-5)
        np.testing.assert_allclose([losses[s] for s in after], [reference[s] for s in after], rtol=1e-5)
    assert losses[CUT + 1] < 0.5 * losses[1]  # not a fresh start
    for reference in (first_run, then_run):
        assert _max_abs_diff(_leaves(resumed.state), _leaves(reference.state)) < 1e-5
        np.testing.assert_allclose(
            resumed.results["test"]["reconstruction"],
            reference.results["test"]["reconstruction"],
            rtol=1e-5,
        )


def test_load_restores_a_sharded_run_onto_one_device(data, references):
    trained, workdir = references["sharded"]
    assert trained.config.train.backend == "sharded"
    loaded = aejax.load(workdir)
    assert loaded.step == TOTAL
    device = jax.devices()[0]
    for leaf in jax.tree.leaves(loaded.state):
        assert isinstance(leaf.sharding, SingleDeviceSharding)
        assert leaf.devices() == {device}
    # The saved state is the one fit returned (replicated over 8 devices), bit for bit.
    _assert_bit_identical(_leaves(loaded.state), _leaves(trained.state))
    # Its evaluation on one device gives results.json's test metrics (computed on the sharded run's state).
    evaluated = loaded.evaluate(data.x_test)
    for key, value in evaluated.items():
        np.testing.assert_allclose(value, loaded.results["test"][key], rtol=1e-6)
    np.testing.assert_allclose(loaded.reconstruct(data.x_test), trained.reconstruct(data.x_test), rtol=1e-6)


@pytest.mark.slow
def test_single_pmap_single_round_trip(data, monkeypatch, tmp_path):
    """Epochs 1-2 on one device, epoch 3 on pmap, epoch 4 on one device again, against one device throughout
    (no dropout: pmap draws a step's randomness per shard)."""
    reference = aejax.fit(_config("single", dropout=0.0), data, workdir=tmp_path / "reference")
    reference_losses = _losses(tmp_path / "reference")
    workdir = tmp_path / "round_trip"
    _fit_until(monkeypatch, _config("single", dropout=0.0), data, workdir, CUT)
    _fit_until(monkeypatch, _config("pmap", dropout=0.0), data, workdir, CUT + STEPS_PER_EPOCH)
    resumed = aejax.fit(_config("single", dropout=0.0), data, workdir=workdir)

    assert resumed.results["resumed_from"] == CUT + STEPS_PER_EPOCH
    assert resumed.step == TOTAL
    losses = _losses(workdir)
    assert sorted(losses) == list(range(1, TOTAL + 1))
    assert [losses[s] for s in range(1, CUT + 1)] == [reference_losses[s] for s in range(1, CUT + 1)]
    np.testing.assert_allclose(
        [losses[s] for s in range(CUT + 1, TOTAL + 1)],
        [reference_losses[s] for s in range(CUT + 1, TOTAL + 1)],
        rtol=1e-5,
    )
    assert _max_abs_diff(_leaves(resumed.state), _leaves(reference.state)) < 1e-5
