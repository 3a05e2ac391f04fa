"""TensorBoard event files without TensorFlow: the record format, read back by our reader and by TensorBoard's
own, and the run's writers beside metrics.jsonl (same steps, truncated on resume)."""

import numpy as np
import pytest

import aejax
from aejax.training import MetricsLog
from aejax.training.run_log import RunLog
from aejax.training.tensorboard import TensorBoardLog, crc32c, read_events


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue's check value


def test_scalars_and_images_round_trip_and_truncate(tmp_path):
    log = TensorBoardLog(tmp_path / "tb")
    for step in (0, 10, 20, 30):
        log.append({"split": "train", "step": step, "epoch": 0, "loss": 1.0 / (step + 1), "flag": True})
    log.append_images(20, {"val/reconstructions": np.random.default_rng(0).random((8, 16))})
    events = [e for e in log.events() if e.scalars or e.images]
    assert [e.step for e in events] == [0, 10, 20, 30, 20]
    assert events[1].scalars == {"train/loss": pytest.approx(1 / 11)}  # no epoch, step or booleans
    assert events[-1].images["val/reconstructions"].startswith(b"\x89PNG")
    log.truncate_after(15)
    assert [e.step for e in log.events() if e.scalars or e.images] == [0, 10]
    assert len(log.files()) == 1
    log.append({"split": "val", "step": 20, "loss": 0.5})
    assert [(e.step, e.scalars) for e in log.events() if e.scalars][-1] == (20, {"val/loss": 0.5})


def test_a_record_cut_short_is_skipped_and_damage_is_named(tmp_path):
    log = TensorBoardLog(tmp_path)
    log.append({"split": "train", "step": 1, "loss": 1.0})
    log.append({"split": "train", "step": 2, "loss": 2.0})
    (path,) = log.files()
    data = path.read_bytes()
    path.write_bytes(data[:-5])  # a kill in the middle of the last record
    assert [e.step for e in read_events(path) if e.scalars] == [1]
    damaged = bytearray(data)
    damaged[-6] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="damaged record"):
        read_events(path)


def test_fit_writes_tensorboard_steps_that_match_metrics_jsonl(tmp_path, tiny_config):
    tiny_config.train.epochs = 3
    aejax.fit(tiny_config, workdir=tmp_path)
    records = MetricsLog(tmp_path / "metrics.jsonl").read()
    expected = sorted(
        {
            (f"{r['split']}/{k}", r["step"])
            for r in records
            for k, v in r.items()
            if k not in ("split", "step", "epoch")
        }
    )
    events = TensorBoardLog(tmp_path / "tensorboard").events()
    written = sorted({(tag, e.step) for e in events for tag in e.scalars})
    assert written == expected and any(tag.startswith("val/") for tag, _ in written)
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    reader = accumulator.EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0})
    reader.Reload()
    by_tensorboard = sorted((tag, e.step) for tag in reader.Tags()["scalars"] for e in reader.Scalars(tag))
    assert by_tensorboard == expected
    losses = {r["step"]: r["loss"] for r in records if r["split"] == "train"}
    assert [e.value for e in reader.Scalars("train/loss")] == pytest.approx(
        [losses[s] for s in sorted(losses)]
    )


def test_writers_are_configurable(tmp_path, tiny_config):
    tiny_config.train.writers = ()
    aejax.fit(tiny_config, workdir=tmp_path)
    assert (tmp_path / "metrics.jsonl").is_file() and not (tmp_path / "tensorboard").exists()
    with pytest.raises(
        ValueError, match=r"unknown train\.writers \['wandb'\]; valid: jsonl, tensorboard, mlflow"
    ):
        RunLog(tmp_path, ("wandb",))


def _tags_and_steps(events):
    return sorted((tag, e.step) for e in events for tag in [*e.scalars, *e.images])


def _kill_at_val(monkeypatch, step):
    original = MetricsLog.append

    def crash(self, record):
        if record["step"] == step and record["split"] == "val":
            raise KeyboardInterrupt("killed")
        original(self, record)

    monkeypatch.setattr(MetricsLog, "append", crash)
    return original


def test_evaluation_pictures_and_a_resumed_run_append_each_step_once(tmp_path, tiny_config, monkeypatch):
    tiny_config.train.epochs = 4
    tiny_config.checkpoint.every_epochs = 1
    tiny_config.eval.plots = True
    whole = aejax.fit(tiny_config, workdir=tmp_path / "whole")
    per_epoch = whole.results["steps"] // 4
    original = _kill_at_val(monkeypatch, 3 * per_epoch)  # after the epoch-2 save and epoch 3's train records
    with pytest.raises(KeyboardInterrupt):
        aejax.fit(tiny_config, workdir=tmp_path / "resumed")
    monkeypatch.setattr(MetricsLog, "append", original)
    resumed = aejax.fit(tiny_config, workdir=tmp_path / "resumed")
    assert resumed.results["resumed_from"] == 2 * per_epoch
    events = {name: TensorBoardLog(tmp_path / name / "tensorboard").events() for name in ("whole", "resumed")}
    seen = _tags_and_steps(events["resumed"])
    assert seen == _tags_and_steps(events["whole"]) and len(seen) == len(set(seen))  # nothing twice
    images = [(e.step, tag, png) for e in events["resumed"] for tag, png in e.images.items()]
    assert [(step, tag) for step, tag, _ in images] == [
        (k * per_epoch, "val/reconstructions") for k in range(1, 5)
    ]
    from PIL import Image

    picture = np.asarray(Image.open(__import__("io").BytesIO(images[-1][2])))
    assert picture.shape == (
        2 * 8 + 1,
        8 * 8 + 7,
    )  # 8 validation digits over their reconstructions, 1-px gaps
    val = aejax.get_dataset(tiny_config).x_val[:8]
    np.testing.assert_allclose(picture[:8, :8] / 255, val[0].reshape(8, 8), atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(
        picture[9:, :8] / 255, np.clip(resumed.reconstruct(val[:1])[0], 0, 1).reshape(8, 8), atol=1 / 255
    )


def test_a_generative_family_also_shows_samples(tmp_path, tiny_config):
    tiny_config.model.family = "vae"
    tiny_config.eval.plots = True
    tiny_config.loss.reconstruction = "bernoulli"
    tiny_config.loss.regularizers = {"kl": {"fn": "kl_standard_normal", "weight": 1.0}}
    aejax.fit(tiny_config, workdir=tmp_path)
    tags = {tag for e in TensorBoardLog(tmp_path / "tensorboard").events() for tag in e.images}
    assert tags == {"val/reconstructions", "val/samples"}
