"""Tables whose generator is an older script, registered as they are: `script(workdir, readme)` runs the script
with its own flags (it writes its JSON, Markdown and README table), `render(record)` renders its committed JSON.
"""

from __future__ import annotations

from pathlib import Path

from . import common


class ScriptTable:
    """One script-generated table: NAME (the marker name), MARKERS, RESULT (the JSON's stem), SUMMARY."""

    def __init__(self, name, markers, result, summary, argv, render, readme_args=("--readme",)):
        self.NAME, self.MARKERS, self.RESULT, self.SUMMARY = name, markers, result, summary
        self._argv, self._render, self._readme_args = argv, render, list(readme_args)

    def script(self, workdir: Path, readme: bool) -> None:
        common.run_script(self._argv(workdir) + (self._readme_args if readme else []))

    def render(self, record) -> str:
        return self._render(record)


def _regularized(record: dict) -> str:
    module = common.script_module("regularized_mnist")
    return module.markdown(record["rows"], dict(module.RUNS))


def _sequence(record: list) -> str:
    return common.script_module("sequence_mnist").markdown(record)


def _disentangle(record: dict) -> str:
    return common.script_module("disentangle_dsprites").table(record)


def _step_throughput(record: dict) -> str:
    names = (
        "CONV_MAX_ROUNDS",
        "TORCH_SETTLE_SECONDS",
        "_header_lines",
        "_result_line",
        "_backend_lines",
        "markdown",
    )
    return common.functions_from_source(common.REPO / "aejax" / "bench.py", names)["markdown"](record)


def _anomaly_odds(record: dict) -> str:
    return common.script_module("anomaly_odds").readme_block(record)


def _end_to_end(record: dict) -> str:
    from aejax.benchmarking.report import markdown

    return markdown(record).strip() + "\n"


TABLES = (
    ScriptTable(
        "anomaly-odds",
        ("<!-- anomaly-odds:start -->", "<!-- anomaly-odds:end -->"),
        "anomaly_odds",
        "script benchmarks/anomaly_odds.py: default detector vs IsolationForest, PCA, LOF, PyOD (about 10 min)",
        lambda workdir: ["benchmarks/anomaly_odds.py"],
        _anomaly_odds,
    ),
    ScriptTable(
        "regularized-table",
        ("<!-- regularized-table:start -->", "<!-- regularized-table:end -->"),
        "regularized_mnist",
        "script benchmarks/regularized_mnist.py: one row per regularizer family (about 6 min)",
        lambda workdir: ["benchmarks/regularized_mnist.py", "--fresh", "--runs-dir", str(workdir)],
        _regularized,
    ),
    ScriptTable(
        "sequence-mnist",
        ("<!-- sequence-mnist:begin -->", "<!-- sequence-mnist:end -->"),
        "sequence_mnist",
        "script benchmarks/sequence_mnist.py: RNN, attention and capsule AEs (about 12 min)",
        lambda workdir: ["benchmarks/sequence_mnist.py", "--runs", str(workdir)],
        _sequence,
    ),
    ScriptTable(
        "disentangle-table",
        ("<!-- disentangle-table:start -->", "<!-- disentangle-table:end -->"),
        "disentangle_dsprites",
        "script benchmarks/disentangle_dsprites.py: the dSprites study (about 25 min)",
        lambda workdir: ["benchmarks/disentangle_dsprites.py", "--no-progress", "--workdir", str(workdir)],
        _disentangle,
    ),
    ScriptTable(
        "step-throughput",
        ("<!-- step-throughput:begin -->", "<!-- step-throughput:end -->"),
        "step_throughput-cpu",
        "script benchmarks/step_throughput.py (`aejax bench`): train-step throughput (about 15 min)",
        lambda workdir: ["benchmarks/step_throughput.py"],
        _step_throughput,
        ("--readme", "README.md"),
    ),
    ScriptTable(
        "end-to-end",
        ("<!-- end-to-end:begin -->", "<!-- end-to-end:end -->"),
        "end_to_end-cpu",
        "script benchmarks/end_to_end.py (`aejax bench --end-to-end`): time to a trained model (about 10 min)",
        lambda workdir: ["benchmarks/end_to_end.py"],
        _end_to_end,
        ("--readme", "README.md"),
    ),
)
