"""`aejax bench`: the throughput report, its markdown table and the README table it replaces."""

from __future__ import annotations

import json

from aejax import cli


def test_bench_writes_report_table_and_readme(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- step-throughput:begin -->\nold table\n<!-- step-throughput:end -->\nafter\n"
    )
    argv = ["bench", "--models", "mlp_784-256-64", "vae_784-512-256-32", "--batch-sizes", "8"]
    argv += ["--steps", "3", "--repeats", "2", "--out", str(tmp_path / "out"), "--readme", str(readme)]
    assert cli.main(argv) == 0
    (report_file,) = (tmp_path / "out").glob("step_throughput-*.json")
    report = json.loads(report_file.read_text())
    rows = {r["model"]: r for r in report["results"]}
    assert set(rows) == {"mlp_784-256-64", "vae_784-512-256-32"}
    for row in rows.values():
        assert row["steps_per_second"] > 0 and row["fused10_steps_per_second"] > 0 and row["spread"] >= 0
        assert row["gflop_per_step"] is None or row["gflop_per_step"] > 0
    assert rows["mlp_784-256-64"]["minimal_jax_steps_per_second"] > 0  # the hand-written reference ran
    assert "minimal_jax_steps_per_second" not in rows["vae_784-512-256-32"]
    text = readme.read_text()
    assert "old table" not in text and "| mlp_784-256-64 | 8 |" in text and text.endswith("after\n")
    assert "| vae_784-512-256-32 | 8 |" in capsys.readouterr().out
