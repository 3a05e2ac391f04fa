"""The `aejax` command end to end: train, eval, info, overrides and errors."""

import json
import re
import subprocess
import sys

import pytest
from conftest import REPO

from aejax import cli

NOT_SCALARS = ("split", "step", "epoch")
FAST = ["--config.train.epochs=2", "--config.train.progress=False", "--config.model.hidden=(32,)"]


def test_train_eval_info_in_process(tmp_path, capsys):
    workdir = tmp_path / "run"
    args = ["train", "--config", str(REPO / "experiments" / "ae_digits.py"), "--workdir", str(workdir), *FAST]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "test MSE per feature: autoencoder" in out and "PCA (12 components)" in out
    assert re.search(r"time: startup [\d.]+ s, training [\d.]+ s \(of which checkpoints [\d.]+ s\)", out)
    assert (workdir / "reconstructions.png").exists() and (workdir / "loss_curves.png").exists()
    # TensorBoard's own reader finds every scalar of metrics.jsonl at its step, and nothing else
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(workdir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    reader.Reload()
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    expected = {
        (f"{r['split']}/{k}", r["step"], v) for r in records for k, v in r.items() if k not in NOT_SCALARS
    }
    scalars = {(tag, e.step, e.value) for tag in reader.Tags()["scalars"] for e in reader.Scalars(tag)}
    assert {(t, s) for t, s, _ in scalars} == {(t, s) for t, s, _ in expected}
    assert sorted(v for *_, v in scalars) == pytest.approx(sorted(float(v) for *_, v in expected), rel=1e-6)
    assert [e.step for e in reader.Images("val/reconstructions")] == [
        r["step"] for r in records if r["split"] == "val"
    ]

    assert cli.main(["eval", "--workdir", str(workdir)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["split"] == "test" and metrics["examples"] == 180 and metrics["mse"] > 0
    assert metrics["mse"] == pytest.approx(json.loads((workdir / "results.json").read_text())["test"]["mse"])

    assert cli.main(["info", "--workdir", str(workdir)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["latest_step"] == 2 * (1437 // 64) and info["model"]["hidden"] == [32]
    assert "reconstructions.png" in info["pictures"]


def test_unknown_override_key_is_an_error_naming_the_closest(tmp_path, capsys):
    args = ["train", "--config", "ae_digits", "--workdir", str(tmp_path), "--config.train.epoch=3"]
    assert cli.main(args) == 2
    assert "did you mean 'train.epochs'" in capsys.readouterr().err


def test_distributed_flags_come_together(tmp_path, capsys):
    """Two processes: tests/test_multiprocess.py; here the flags alone, before anything is started."""
    args = ["train", "--config", "ae_digits", "--workdir", str(tmp_path), "--num-processes", "2"]
    assert cli.main(args) == 2
    assert "need all of --coordinator-address HOST:PORT" in capsys.readouterr().err
    assert not (tmp_path / "config.json").exists()


def test_override_with_separate_value_and_missing_workdir(tmp_path, capsys):
    args = [
        "train",
        "--config",
        "ae_digits",
        "--workdir",
        str(tmp_path / "w"),
        "--config.model.latent_dim",
        "three",
    ]
    assert cli.main(args) == 2
    assert "model.latent_dim" in capsys.readouterr().err
    assert cli.main(["eval", "--workdir", str(tmp_path / "missing")]) == 2
    assert "not an aejax workdir" in capsys.readouterr().err


@pytest.mark.slow
def test_installed_entry_point_runs(tmp_path):
    """The console script (or `python -m aejax.cli`) trains from a fresh process."""
    command = [
        sys.executable,
        "-m",
        "aejax.cli",
        "train",
        "--config",
        "experiments/ae_digits.py",
        "--workdir",
        str(tmp_path / "run"),
        *FAST,
        "--config.eval.plots=False",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PCA" in result.stdout
