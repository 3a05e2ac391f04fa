"""No function in aejax/ is longer than 100 lines (issue 21, "small functions").

A function's length is the span of its definition, `def` line to last line (end_lineno - lineno + 1), comments
and docstring included; nested functions and methods count on their own as well as inside their enclosing one.
ruff's C90 and PLR09xx rules (pyproject.toml) bound complexity, branches and statements; this bounds length.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aejax"
MAX_LINES = 100


def long_functions(source: str, filename: str, max_lines: int = MAX_LINES) -> list[str]:
    """`file:line name (n lines)` for every def / async def in `source` spanning more than `max_lines` lines."""
    offenders = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > max_lines:
                offenders.append(f"{filename}:{node.lineno} {node.name} ({length} lines)")
    return offenders


def test_no_function_in_the_package_spans_more_than_100_lines():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20, f"expected the aejax package under {PACKAGE}, found {len(files)} .py files"
    offenders = [
        offender
        for path in files
        for offender in long_functions(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not offenders, f"functions over {MAX_LINES} lines (split them into helpers):\n" + "\n".join(
        offenders
    )


def test_the_check_names_long_functions_nested_and_async_ones_included():
    def assignments(n: int, indent: str) -> list[str]:
        return [f"{indent}x{i} = {i}" for i in range(n)]

    lines = [
        *["def short():", "    return 1", ""],  # lines 1-3
        *["def exactly_100_lines():", *assignments(99, "    "), ""],  # lines 4-103, then a blank 104
        *["async def outer():", "    def inner():", *assignments(100, "        "), "    return inner"],
    ]  # outer: lines 105-207 (103 lines); inner, nested: lines 106-206 (101 lines)
    source = "\n".join(lines)
    assert long_functions(source, "m.py") == ["m.py:105 outer (103 lines)", "m.py:106 inner (101 lines)"]
