"""Regenerate one README results table from its experiments.

    python benchmarks/reproduce.py --list
    python benchmarks/reproduce.py TABLE [--readme README.md] [--workdir DIR]
    python benchmarks/reproduce.py TABLE --render-only [--readme README.md]

Runs the table's experiments (each `aejax train` / `aejax task` / script as its own process, in `--workdir`, new or
empty, default a fresh temporary directory), writes `benchmarks/results/TABLE.{json,md}` (the JSON: raw numbers, the
commands, versions, CPU count, load averages, date; the Markdown: the rendered table) and, with `--readme`,
rewrites README.md between the table's markers. `--render-only` re-renders from the committed JSON. Tables
whose generator is an older script (`script` in `--list`) run that script with its own flags.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.tables import REGISTRY, common, result_stem


def listing() -> str:
    """One line per table: its name, what it runs, and whether the README still shows pasted numbers."""
    lines = []
    for name, table in REGISTRY.items():
        pending = getattr(table, "PENDING", None)
        if pending and not (common.RESULTS / f"{result_stem(table)}.json").is_file():
            lines.append(f"{name:20s} {table.SUMMARY} [{pending}]")
        else:
            lines.append(f"{name:20s} {table.SUMMARY}")
    return "\n".join(lines)


def committed(table) -> dict:
    """The table's committed `benchmarks/results/<stem>.json`."""
    return json.loads((common.RESULTS / f"{result_stem(table)}.json").read_text())


def run_experiments(table, workdir: Path) -> dict:
    """Run the table's experiments in `workdir`; the raw numbers are saved before anything is rendered."""
    if workdir.is_dir() and any(workdir.iterdir()):
        raise SystemExit(
            f"--workdir {workdir} is not empty: its runs would be resumed, not timed; pass a fresh one"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    record = table.run(workdir)
    common.save(table.NAME, record)
    return record


def reproduce(name: str, workdir: Path | None, readme: Path | None, render_only: bool) -> str:
    """Run (or, with `render_only`, re-render) one table; returns the rendered text."""
    table = REGISTRY[name]
    if not render_only and hasattr(table, "script"):
        with tempfile.TemporaryDirectory(prefix=f"reproduce-{name}-") as tmp:
            table.script(workdir or Path(tmp), readme is not None)
    if render_only or hasattr(table, "script"):
        text = table.render(committed(table))
        if not hasattr(table, "script"):
            (common.RESULTS / f"{table.NAME}.md").write_text(text)
        if readme is not None:
            common.replace_between(readme, table.MARKERS, text)
        return text
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix=f"reproduce-{name}-") as tmp:
            record = run_experiments(table, Path(tmp))
    else:
        record = run_experiments(table, workdir)
    text = table.render(record)
    common.write(table.NAME, record, text, readme, table.MARKERS)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?", choices=sorted(REGISTRY))
    parser.add_argument("--list", action="store_true", help="list the tables and exit")
    parser.add_argument("--readme", type=Path, help="rewrite this README between the table's markers")
    parser.add_argument("--workdir", type=Path, help="run directory (default: a temporary one)")
    parser.add_argument("--render-only", action="store_true", help="render the committed JSON, run nothing")
    args = parser.parse_args(argv)
    if args.list or args.table is None:
        print(listing())
        return
    print(reproduce(args.table, args.workdir, args.readme, args.render_only))


if __name__ == "__main__":
    main()
