"""Shared pieces of the README table generators: running one experiment as its own process and reading its
results, the machine's description, writing `benchmarks/results/<table>.{json,md}` and the README markers."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"


def load() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 2)


def machine() -> dict:
    """Versions and the machine, as a table's JSON records them."""
    import jax

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "platform": platform.platform(),
        "backend": jax.default_backend(),
        "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def aejax_command(verb: str, config: str, workdir: Path, *overrides: str) -> list[str]:
    """`aejax train|task --config NAME --workdir DIR [--config.key=value ...]` as an argv (this interpreter)."""
    return [
        sys.executable,
        "-m",
        "aejax.cli",
        verb,
        "--config",
        config,
        "--workdir",
        str(workdir),
        *overrides,
    ]


def shown(argv: list[str]) -> str:
    """The command as a user types it: `aejax ...` or `python ...`, paths relative to the repository."""
    head = ["aejax"] if argv[1:3] == ["-m", "aejax.cli"] else ["python"]
    rest = argv[3:] if head == ["aejax"] else argv[1:]
    return shlex.join(head + rest)


def run(argv: list[str], report: Path | None = None) -> dict:
    """Run one experiment as its own process in the repository (so `../shared/data` resolves); its wall time,
    the load average before and after, and the JSON report it wrote (`report`, e.g. the run's results.json)."""
    before = load()
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:])
        raise SystemExit(f"{shown(argv)} failed with exit status {done.returncode}")
    print(f"{wall:8.1f} s  {shown(argv)}", flush=True)
    record = {"command": shown(argv), "wall_seconds": wall, "load_before": before, "load_after": load()}
    if report is not None:
        record["report"] = json.loads(Path(report).read_text())
    else:
        record["stdout"] = done.stdout[-2000:]
    return record


def save(name: str, record: dict) -> None:
    """`benchmarks/results/<name>.json`: the raw numbers."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2, default=float) + "\n")


def write(name: str, record: dict, table: str, readme: Path | None, markers: tuple[str, str]) -> None:
    """`benchmarks/results/<name>.json` (raw numbers), `<name>.md` (the table) and, with `readme`, the README
    text between the table's markers."""
    save(name, record)
    (RESULTS / f"{name}.md").write_text(table)
    if readme is not None:
        replace_between(Path(readme), markers, table)


def replace_between(path: Path, markers: tuple[str, str], text: str) -> None:
    """Replace what stands between two marker lines of the README."""
    content = path.read_text()
    begin, end = markers
    if content.count(begin) != 1 or content.count(end) != 1:
        raise ValueError(f"{path} needs exactly one {begin} and one {end}")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text}{end}{tail}")


def between(content: str, markers: tuple[str, str]) -> str:
    """The README text between a table's markers (without the marker lines)."""
    begin, end = markers
    return content.split(begin, 1)[1].split(end, 1)[0].removeprefix("\n")


def runs_meta(runs: list[dict], started_load: float) -> dict:
    """The machine plus the load before the first and after the last run, and the total wall time."""
    return {
        **machine(),
        "load_before": started_load,
        "load_after": load(),
        "total_wall_seconds": round(sum(r["wall_seconds"] for r in runs), 1),
    }


def train(config: str, workdir: Path, *overrides: str) -> dict:
    """`aejax train --config NAME --workdir workdir/NAME`, with its results.json."""
    argv = aejax_command("train", config, workdir / config, *overrides)
    return attach(run(argv, workdir / config / "results.json"), workdir / config)


def task(config: str, workdir: Path, report: str) -> dict:
    """`aejax task --config NAME --workdir workdir/NAME`, with the task's report (`report`, e.g. hashing.json)
    and, where the task trained one model in its workdir, that run's results.json (`results`)."""
    return attach(
        run(aejax_command("task", config, workdir / config), workdir / config / report), workdir / config
    )


def attach(record: dict, workdir: Path) -> dict:
    """Add the run's config.json (`config`) and, for a task that trained one model there, its results.json
    (`results`) to the record of a run."""
    for key, name in (("config", "config.json"), ("results", "results.json")):
        path = workdir / name
        if path.is_file() and record.get("report") != json.loads(path.read_text()):
            record[key] = json.loads(path.read_text())
    return record


def display(command: str) -> str:
    """A recorded command as the README shows it: the run directory as `runs/<name>`."""
    return re.sub(r"--workdir \S*/([^/\s]+)", r"--workdir runs/\1", command)


def wall(meta: dict) -> str:
    """The caption's note on the machine: wall times on a shared CPU, with the load measured around the runs."""
    return (
        f"wall times measured on a shared {meta['cpus']}-core CPU (1-minute load average {meta['load_before']:.1f} "
        f"before the first run, {meta['load_after']:.1f} after the last; Python {meta['python']}, jax {meta['jax']}, "
        f"{meta['date'][:10]})"
    )


def single_task(config: str, report: str, workdir: Path) -> dict:
    """The record of a table made from one task run: its report, command, wall time and the machine."""
    started = load()
    runs = {config: task(config, workdir, report)}
    return {"meta": runs_meta(list(runs.values()), started), "runs": runs}


def script_module(stem: str):
    """benchmarks/<stem>.py as a module (its renderer; the script imports JAX only when it runs)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"benchmarks_{stem}", REPO / "benchmarks" / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(argv: list[str]) -> None:
    """Run an older generator script (it writes its own JSON, Markdown and README table)."""
    done = subprocess.run([sys.executable, *argv], cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"python {shlex.join(argv)} failed with exit status {done.returncode}")


def functions_from_source(path: Path, names: tuple[str, ...]) -> dict:
    """The top-level functions and constants `names` of a Python file, without importing the module (aejax's
    bench module imports JAX; its renderer is pure Python): the one source of its table's format."""
    import ast

    tree = ast.parse(Path(path).read_text())

    def wanted(node) -> bool:
        if isinstance(node, ast.FunctionDef):
            return node.name in names
        return isinstance(node, ast.Assign) and any(getattr(t, "id", None) in names for t in node.targets)

    module = ast.Module(body=[node for node in tree.body if wanted(node)], type_ignores=[])
    namespace: dict = {}
    exec(compile(module, str(path), "exec"), namespace)
    return namespace


def paragraph(text: str) -> str:
    """Prose as the README wraps it (115 columns)."""
    import textwrap

    return textwrap.fill(text, 115, break_long_words=False, break_on_hyphens=False)


def regenerate(name: str) -> str:
    """The sentence that names a table's generator."""
    return f"`python benchmarks/reproduce.py {name} --readme README.md` regenerates this table."


def captioned_table(caption: str, table: str, prose: str) -> str:
    """A table block as the README shows it: the caption paragraph, a task's own markdown table, the prose."""
    return "\n".join([paragraph(caption), "", *table.rstrip("\n").split("\n"), "", paragraph(prose)]) + "\n"
