"""`aejax bench`: the throughput report, its markdown table and the README table it replaces."""

from __future__ import annotations

import importlib.util
import json

import jax
import numpy as np
import pytest

from aejax import cli


@pytest.mark.slow
def test_bench_writes_report_table_and_readme(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- step-throughput:begin -->\nold table\n<!-- step-throughput:end -->\nafter\n"
    )
    argv = [
        "bench",
        "--models",
        "mlp_784-256-64",
        "conv_28x28_32-64_16",
        "--batch-sizes",
        "64",
    ]
    argv += ["--steps", "3", "--repeats", "2", "--out", str(tmp_path / "out"), "--readme", str(readme)]
    argv += ["--backends", "single", "sharded"]  # conftest fakes 8 CPU devices
    assert cli.main(argv) == 0
    (report_file,) = (tmp_path / "out").glob("step_throughput-*.json")
    report = json.loads(report_file.read_text())
    rows = {r["model"]: r for r in report["results"]}
    assert set(rows) == {"mlp_784-256-64", "conv_28x28_32-64_16"}
    for row in rows.values():
        assert row["steps_per_second"] > 0 and row["fused10_steps_per_second"] > 0 and row["spread"] >= 0
        assert row["fit_loop_steps_per_second"] > 0 and row["fused_vs_fit_loop"] > 0
        assert row["backend"] == "single" and row["devices"] == 1 and np.isfinite(row["final_loss"])
        assert row["gflop_per_step"] is None or row["gflop_per_step"] > 0
    for row in rows.values():  # the hand-written reference ran for every model
        assert row["minimal_jax_steps_per_second"] > 0 and row["vs_minimal_jax"] > 0
    conv = rows["conv_28x28_32-64_16"]  # fit's loops slice the conv AE's batches, and the row says so
    assert conv["fit_microbatch_size"] == 32 and conv["fit_loop_whole_batch_steps_per_second"] > 0
    assert conv["fit_loop_vs_whole_batch_median"] > 0
    assert rows["mlp_784-256-64"]["fit_microbatch_size"] == 0
    assert "fit_loop_whole_batch_steps_per_second" not in rows["mlp_784-256-64"]
    dense = rows["mlp_784-256-64"]  # the A/A control: a second instance of the hand-written step
    assert dense["minimal_control_ratio"] > 0 and dense["minimal_control_ratio_median"] > 0
    assert len(dense["rounds_steps_per_second"]["minimal_control"]) == dense["rounds"] == 2
    assert "minimal_control_ratio" not in rows["conv_28x28_32-64_16"]
    has_torch = (
        importlib.util.find_spec("torch") is not None
    )  # an optional extra: columns only where installed
    assert all(("torch_eager_steps_per_second" in row) == has_torch for row in rows.values())
    # PyTorch shares the conv row's rounds: a paired ratio too
    assert ("best_vs_torch_eager_paired" in conv) == has_torch
    if has_torch:
        assert len(conv["rounds_steps_per_second"]["torch"]) == len(conv["rounds_steps_per_second"]["aejax"])
        assert (
            conv["fastest_mode"] in conv["rounds_steps_per_second"] and conv["best_vs_torch_eager_paired"] > 0
        )
    sharded = {r["model"]: r for r in report["backend_results"]}
    assert set(sharded) == set(rows)
    for row in sharded.values():
        assert (
            row["backend"] == "sharded"
            and row["devices"] == jax.device_count()
            and row["steps_per_second"] > 0
        )
        # the same seed, batches and number of steps as the single-device column: the same loss
        assert np.isclose(row["final_loss"], rows[row["model"]]["final_loss"], rtol=1e-3)
    text = readme.read_text()
    assert "old table" not in text and "| mlp_784-256-64 | 64 |" in text and text.endswith("after\n")
    assert "| conv_28x28_32-64_16 | 64 |" in capsys.readouterr().out


def test_interleaved_rounds_run_every_runner_once_in_shuffled_orders():
    """Every round times every runner once; the order changes between rounds, so a runner does not always
    follow the same one, and it is the same sequence in every run (seeded)."""
    from aejax import bench

    def sequences():
        calls = []

        def runner(key):
            def run(n):
                calls.append(key)
                return n

            return run

        keys = ["a", "b", "c", "d"]
        rates = bench.interleaved_rates({k: runner(k) for k in keys}, dict.fromkeys(keys, 3), 12)
        assert all(len(v) == 12 and min(v) > 0 for v in rates.values())
        rounds = [calls[4 + 4 * i : 8 + 4 * i] for i in range(12)]  # after the 4 warm-up calls
        assert all(sorted(r) == keys for r in rounds)
        return rounds

    rounds = sequences()
    predecessors = {r[r.index("a") - 1] for r in rounds if r.index("a") > 0}
    assert len({tuple(r) for r in rounds}) > 3 and len(predecessors) > 1
    assert sequences() == rounds
