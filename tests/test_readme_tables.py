"""Every results table in README.md is generated: each marker pair has a registered generator
(`benchmarks/reproduce.py --list`) and a committed `benchmarks/results/<stem>.json`, and rendering that JSON gives
exactly the README text between the markers. Runs no experiment: the renderers are pure functions of the JSON.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.tables import REGISTRY, common, result_stem  # noqa: E402

README = (REPO / "README.md").read_text()
MARKER = re.compile(r"<!-- ([A-Za-z0-9_-]+):(start|begin|end) -->")


def marker_names() -> list[str]:
    return sorted({m.group(1) for m in MARKER.finditer(README)})


def test_markers_are_well_formed():
    """Each table has one opening marker (`:start` or `:begin`) and one `:end` after it, and tables do not nest."""
    found = [(m.group(1), m.group(2) == "end") for m in MARKER.finditer(README)]
    counts = Counter(found)
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}
    open_table = None
    for name, closes in found:
        if closes:
            assert open_table == name, f"{name}:end without its opening marker (open: {open_table})"
            open_table = None
        else:
            assert open_table is None, f"{name} opens inside {open_table}"
            open_table = name
    assert open_table is None, f"{open_table} is never closed"
    for name in marker_names():
        opening = [m.group(0) for m in MARKER.finditer(README) if m.group(1) == name and m.group(2) != "end"]
        assert opening, f"{name} has an end marker only"


def test_every_table_has_a_generator_and_committed_results():
    assert set(marker_names()) == set(REGISTRY), "README markers and registered tables differ"
    for name, table in REGISTRY.items():
        assert table.MARKERS[0] in README and table.MARKERS[1] in README, name
        committed = (common.RESULTS / f"{result_stem(table)}.json").is_file()
        assert committed or getattr(table, "PENDING", None), f"{name}: no committed JSON"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_committed_json_renders_to_the_readme_table(name):
    table = REGISTRY[name]
    if getattr(table, "PENDING", None) and not (common.RESULTS / f"{result_stem(table)}.json").is_file():
        pytest.skip(f"{name}: {table.PENDING}")
    record = json.loads((common.RESULTS / f"{result_stem(table)}.json").read_text())
    assert table.render(record) == common.between(README, table.MARKERS)
