"""The end-to-end benchmark's pieces that can be checked without timing (aejax/benchmarking).

The peers' data, splits and schedule against aejax's own; the per-round ratios and medians; the markdown and the
README block; the variants and jobs a machine without torch or MNIST runs; and the hand-written peers on a tiny
job (2 epochs), in a subprocess, against aejax.fit on the same job.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aejax.benchmarking import end_to_end, report
from aejax.benchmarking.peer_data import JOBS, learning_rate, load_job_data, parse_result, steps_per_epoch


def test_peer_schedule_is_optax_warmup_cosine():
    import optax

    job = JOBS["digits"]._replace(min_learning_rate_ratio=0.1)
    total = 2200
    reference = optax.warmup_cosine_decay_schedule(0.0, job.learning_rate, job.warmup_steps, total, 2e-4)
    for step in (0, 1, 50, 99, 100, 101, 1000, 2199, 2200, 2500):
        assert learning_rate(job, step, total) == pytest.approx(float(reference(step)), rel=1e-5, abs=1e-9)


def test_peer_digits_split_is_aejax_split():
    from aejax.config import get_config
    from aejax.fitting import get_dataset

    x_train, x_val, x_test = load_job_data(JOBS["digits"])
    dataset = get_dataset(get_config("ae_digits"))
    assert (x_train.shape, x_val.shape, x_test.shape) == ((1437, 64), (180, 64), (180, 64))
    for ours, theirs in ((x_train, dataset.x_train), (x_val, dataset.x_val), (x_test, dataset.x_test)):
        np.testing.assert_array_equal(ours, np.asarray(theirs).reshape(theirs.shape[0], -1))
    assert steps_per_epoch(JOBS["digits"], 1437) == 22 and steps_per_epoch(JOBS["mnist"], 8000) == 62


def _record(round_index: int, variant: str, process: float, train: float, **more) -> dict:
    times = {"process_seconds": process, "train_seconds": train}
    return {"round": round_index, "job": "digits", "variant": variant, **times, **more}


def test_ratios_are_medians_of_per_round_ratios_and_figures_medians_over_rounds():
    records = [
        _record(0, "jax", 10.0, 4.0),
        _record(0, "train", 20.0, 4.0, eval_seconds=1.0),
        _record(1, "jax", 20.0, 8.0),
        _record(1, "train", 22.0, 10.0, eval_seconds=3.0),
        _record(2, "jax", 10.0, 5.0),
        _record(2, "train", 30.0, 5.5, eval_seconds=2.0),
        _record(3, "train", 99.0, 99.0),  # no reference in round 3: in the medians, not in the ratios
    ]
    assert report.per_round_ratios(records, "digits", "train", "jax", "process_seconds") == [2.0, 1.1, 3.0]
    summary = report.summarize(records)["digits"]
    train = summary["train"]
    assert train["rounds"] == 4
    assert train["process_seconds"] == pytest.approx(26.0)  # median of 20, 22, 30, 99
    assert train["eval_seconds"] == pytest.approx(2.0)
    assert train["process_seconds_vs_jax"] == pytest.approx(2.0)  # median of 2.0, 1.1, 3.0
    assert train["train_seconds_vs_jax"] == pytest.approx(1.1)  # median of 1.0, 1.25, 1.1
    # (a ratio of the medians would differ: 26 / 10 and 7.75 / 5)
    assert train["outside_train_seconds"] == pytest.approx(14.0)  # median of 16, 12, 24.5, 0
    assert "process_seconds_vs_jax" not in summary["jax"]


def _report(records: list[dict]) -> dict:
    versions = {
        "backend": "cpu",
        "device": "cpu",
        "cpus": 2,
        "python": "3.11",
        "jax": "0.10.2",
        "torch": None,
    }
    return {
        "versions": versions,
        "settings": {"rounds": 2, "baseline_repo": "/tmp/old"},
        "summary": report.summarize(records),
        "runs": records,
        "skipped": ["PyTorch eager: skipped, torch is not installed (pip install torch)"],
    }


def test_markdown_table_and_readme_block(tmp_path):
    records = [
        _record(0, "jax", 10.0, 4.0),
        _record(0, "train", 20.0, 4.0, test_mse=0.0073, best_epoch=97),
        _record(0, "baseline", 25.0, 5.0, load_average=3.5),
    ]
    text = report.markdown(_report(records))
    assert "| digits | `aejax train` | 20.0 | 4.0 | 16.0 | 2.000 | 1.000 |" in text
    assert "| digits | hand-written JAX | 10.0 | 4.0 | 6.0 | n/a | n/a |" in text
    assert "over the baseline (/tmp/old): process 0.800, train 0.800" in text
    assert "PyTorch not installed" in text and "torch is not installed" in text
    assert "load average as each run started: 3.50 to 3.50 (2 CPUs" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{report.MARKERS[0]}\nold table\n{report.MARKERS[1]}\nafter\n")
    stem = report.write(_report(records), tmp_path / "results", readme)
    assert stem == tmp_path / "results" / "end_to_end-cpu"
    assert json.loads(stem.with_suffix(".json").read_text())["summary"]["digits"]["train"]["rounds"] == 1
    new = readme.read_text()
    assert "old table" not in new and new.startswith("# x\n\nbefore\n") and new.endswith("\nafter\n")
    assert new.count(report.MARKERS[0]) == 1 and text.strip() in new
    with pytest.raises(ValueError, match="end-to-end:begin"):
        report.replace_marked("no markers here", "table")


def test_driver_skips_torch_and_missing_mnist_cleanly(monkeypatch, tmp_path):
    monkeypatch.setattr(end_to_end, "torch_available", lambda: False)
    settings = end_to_end.Settings(mnist_path=str(tmp_path / "absent"), baseline_repo=str(tmp_path))
    names = [v.name for v in end_to_end.select_variants(settings)]
    assert names == ["train", "fit", "jax", "baseline"]
    assert end_to_end.select_jobs(settings) == ["digits"]
    assert any("torch is not installed" in note for note in settings.skipped)
    assert any(note.startswith("mnist: skipped") for note in settings.skipped)


def test_rounds_run_every_variant_once_per_job_in_a_seeded_shuffled_order():
    variants = [end_to_end.Variant(name) for name in ("train", "fit", "jax", "torch")]
    order = end_to_end.schedule(["digits", "mnist"], variants, rounds=3)
    assert order == end_to_end.schedule(["digits", "mnist"], variants, rounds=3)
    assert len(order) == 24
    for round_index in range(3):
        for job in ("digits", "mnist"):
            ran = [v.name for r, j, v in order if r == round_index and j == job]
            assert sorted(ran) == ["fit", "jax", "torch", "train"]
    assert len({tuple(v.name for r, _, v in order if r == k) for k in range(3)}) > 1


def test_aejax_commands_describe_the_peers_job(tmp_path):
    from aejax import config as config_lib

    settings = end_to_end.Settings(mnist_path=str(tmp_path))
    for name, job in JOBS.items():
        overrides = end_to_end.aejax_overrides(job, settings)
        config = config_lib.get_config(job.config)
        config_lib.apply_overrides(config, overrides)
        assert end_to_end.config_mismatches(json.loads(config_lib.to_json(config)), job) == [], name
    config_lib.apply_overrides(config, ["train.warmup_steps=200", "model.activation=gelu"])
    found = end_to_end.config_mismatches(json.loads(config_lib.to_json(config)), JOBS["mnist"])
    assert found == [
        "model.activation='gelu' (the job has 'relu')",
        "train.warmup_steps=200 (the job has 100)",
    ]
    argv = end_to_end.command(end_to_end.Variant("train"), "mnist", tmp_path / "w", settings)
    assert argv[3:8] == ["train", "--config", "ae_mnist", "--workdir", str(tmp_path / "w")]
    assert f"--config.data.path={tmp_path.resolve()}" in argv and "--config.train.epochs=30" in argv


def _run_peer(name: str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # not the tests' 8 fake devices
    script = Path(end_to_end.__file__).with_name(f"peer_{name}.py")
    done = subprocess.run(
        [sys.executable, str(script), "--job", "digits", "--epochs", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = parse_result(done.stdout)
    assert result is not None, done.stdout
    return result


@pytest.fixture(scope="module")
def fit_two_epochs():
    """aejax.fit on the main job cut to 2 epochs (the reference the peers are compared with)."""
    from aejax.config import apply_overrides, get_config
    from aejax.fitting import fit

    config = get_config("ae_digits")
    apply_overrides(config, ["train.epochs=2", "train.early_stopping_patience=0", "train.progress=False"])
    config.eval.plots = False
    return fit(config).results


@pytest.mark.slow
@pytest.mark.parametrize("peer", ["jax", "torch"])
def test_peer_trains_the_tiny_job_about_as_far_as_aejax_fit(peer, tmp_path, fit_two_epochs):
    if peer == "torch" and not end_to_end.torch_available():
        pytest.skip("torch is not installed")
    result = _run_peer(peer, tmp_path)
    assert result["sizes"] == [1437, 180, 180] and result["steps"] == 44 == fit_two_epochs["steps"]
    assert all(math.isfinite(result[k]) for k in ("last_loss", "best_val", "test_mse", "train_seconds"))
    # the same job from a different (equally distributed) initialisation and batch order: generous tolerance
    assert result["test_mse"] == pytest.approx(fit_two_epochs["test"]["mse"], rel=0.3)
    assert result["best_val"] == pytest.approx(fit_two_epochs["best_val_reconstruction"], rel=0.3)


@pytest.mark.slow
def test_aejax_bench_end_to_end_runs_writes_and_replaces_the_readme_block(tmp_path, capsys):
    from aejax import cli

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.MARKERS[0]}\nold\n{report.MARKERS[1]}\n")
    argv = ["bench", "--end-to-end", "--rounds", "1", "--jobs", "digits", "--variants", "train", "jax"]
    argv += ["--epochs", "1", "--out", str(tmp_path / "out"), "--readme", str(readme)]
    assert cli.main(argv) == 0
    saved = json.loads((tmp_path / "out" / "end_to_end-cpu.json").read_text())
    assert [(r["job"], r["round"]) for r in saved["runs"]] == [("digits", 0)] * 2
    train = saved["summary"]["digits"]["train"]
    assert (
        train["mismatches"] == []
        and train["steps"] == 22
        and train["process_seconds"] > train["train_seconds"]
    )
    assert train["process_seconds_vs_jax"] > 0 and saved["versions"]["jax"]
    assert "| digits | `aejax train` |" in readme.read_text() and "old" not in readme.read_text()
    assert "wrote" in capsys.readouterr().out
