"""The documentation site: `mkdocs build --strict` passes, and the snippets on its pages run.

The snippet convention (also in docs/contributing.md):

- Every ```python block in docs/**/*.md runs, unless the line just before its fence (blank lines skipped) is
  `<!-- no-run: reason -->`; the reason is required. Running is the default so that a new snippet cannot be
  forgotten: one that needs data this checkout lacks (MNIST in ../shared/data/mnist) must say so.
- A page's runnable blocks run in order as one script, in a fresh namespace and a fresh temporary working
  directory (on sys.path), so a later block may use names an earlier one defined. One interpreter runs all
  pages in turn (importing JAX once), and forgets each page's file modules afterwards.
- A block whose first line is a comment naming a Python file (`# my_penalties.py`) is written to that file in
  the working directory instead of run, so the page's other blocks can import it.
- ```bash blocks never run, except one preceded by `<!-- run-shell -->`: each of its lines runs through
  `aejax.cli.main` and must start with `aejax ` (anything else fails the test).
- Snippets stay fast: the embedded digits, one or two epochs, `config.eval.plots = False`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PAGES = sorted(DOCS.rglob("*.md"))

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})(?P<info>[^`\n]*)$")
NO_RUN = re.compile(r"^<!--\s*no-run:\s*(?P<reason>\S.*?)\s*-->$")
RUN_SHELL = "<!-- run-shell -->"
FILE_NAME = re.compile(r"^#\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*\.py)\s*$")
SNIPPET_TIMEOUT = 600  # seconds for all pages together; about a minute on one free core


@dataclasses.dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    marker: str  # the HTML comment just before the fence, or ""

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def file_name(self) -> str | None:
        """`name.py` when the block's first line is `# name.py` (a module the page's other blocks import)."""
        first = self.code.lstrip("\n").split("\n", 1)[0]
        match = FILE_NAME.match(first.strip())
        return match.group("name") if match else None

    @property
    def runs(self) -> bool:
        if self.language == "python":
            return not self.marker.startswith("<!-- no-run")
        return self.language in ("bash", "sh", "shell") and self.marker == RUN_SHELL


def fenced_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, with the HTML comment (if any) just before each."""
    lines = page.read_text().split("\n")
    blocks, i, previous = [], 0, ""
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, fence = len(match.group("indent")), match.group("fence")
        language = (match.group("info").strip().split() or [""])[0].lstrip("{.").rstrip("}")
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][indent:] if not lines[j][:indent].strip() else lines[j].lstrip())
            j += 1
        marker = previous if previous.startswith("<!--") else ""
        blocks.append(Block(page, i + 1, language, "\n".join(body) + "\n", marker))
        previous, i = "", j + 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in fenced_blocks(page)]
RUN_PAGES = sorted({block.page for block in ALL_BLOCKS if block.runs})


# The snippets train tiny models for an epoch: compiling dominates, and XLA-CPU's cheapest optimisation level
# compiles them in about two thirds of the time (what they compute stays the same up to float rounding).
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def _run(args: list[str], cwd: Path, timeout: float, xla_flags: str = "") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.pop("NO_MKDOCS_2_WARNING", None)
    if xla_flags:
        env["XLA_FLAGS"] = " ".join(filter(None, [env.get("XLA_FLAGS", ""), xla_flags]))
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_mkdocs_build_strict(tmp_path):
    """The site builds with warnings as errors: broken links and anchors, pages missing from the nav, and
    docstrings griffe cannot parse all fail here (not a skip: the docs extra is part of `dev`)."""
    site = tmp_path / "site"
    result = _run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(REPO / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (site / "index.html").is_file()
    assert (site / "api" / "index.html").is_file()
    assert 'id="aejax.fit"' in (site / "api" / "index.html").read_text()


def test_markers_are_well_formed():
    """Every marker says why a block does not run, and markers sit only on the blocks they can change."""
    problems = []
    for block in ALL_BLOCKS:
        if block.marker.startswith("<!-- no-run") and not NO_RUN.match(block.marker):
            problems.append(f"{block.where}: a no-run marker needs a reason: <!-- no-run: why -->")
        if block.marker.startswith("<!-- no-run") and block.language != "python":
            problems.append(f"{block.where}: no-run marks a python block (other blocks never run)")
        if block.marker == RUN_SHELL and block.language not in ("bash", "sh", "shell"):
            problems.append(f"{block.where}: run-shell marks a bash block")
        if block.language in ("py", "python3", "pycon"):
            problems.append(f"{block.where}: write ```python, the language the snippet runner reads")
    assert not problems, "\n".join(problems)
    assert RUN_PAGES, "no runnable snippet found: is the fence parser broken?"


def test_every_family_and_task_has_a_page():
    """One page per registered family (docs/families/<name>.md) and per task (docs/tasks/<name>.md), in nav.
    The registries are read in a fresh interpreter: other tests in this process register families of their own."""
    code = (
        "import json; from aejax.families import family_names; from aejax.tasks import TASKS; "
        "print(json.dumps([family_names(), sorted(TASKS)]))"
    )
    listed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    families, tasks = json.loads(listed.stdout.strip().splitlines()[-1])
    nav = (REPO / "mkdocs.yml").read_text()
    missing = [
        f"{kind}/{name}.md"
        for kind, names in (("families", families), ("tasks", tasks))
        for name in names
        if not (DOCS / kind / f"{name}.md").is_file() or f"{kind}/{name}.md" not in nav
    ]
    assert not missing, f"pages missing (or not in mkdocs.yml's nav): {missing}"


def _page_script(page: Path, workdir: Path) -> str:
    """Write the page's file blocks into `workdir`; return its other runnable python blocks as one script."""
    parts = []
    for block in fenced_blocks(page):
        if not block.runs or block.language != "python":
            continue
        if block.file_name is not None:
            (workdir / block.file_name).write_text(block.code)
            continue
        parts.append(f"# --- {block.where}\n{block.code}")
    return "\n".join(parts)


def _shell_commands(page: Path) -> list[list[str]]:
    """The argv (after `aejax`) of every line of the page's run-shell blocks."""
    commands = []
    for block in fenced_blocks(page):
        if not block.runs or block.language == "python":
            continue
        for line in block.code.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line:
                argv = shlex.split(line)
                assert argv[0] == "aejax", (
                    f"{block.where}: a run-shell line must start with 'aejax ': {line!r}"
                )
                commands.append(argv[1:])
    return commands


# One interpreter runs every page (importing JAX once per page would cost more than the snippets): each page
# in a fresh namespace, with its own working directory on sys.path, and its file modules forgotten afterwards.
WORKER = """
import json, os, sys, time, traceback
jobs = json.load(open(sys.argv[1]))
results = {}
for job in jobs:
    started = time.perf_counter()
    os.chdir(job["dir"])
    sys.path.insert(0, job["dir"])
    try:
        if job["script"].strip():
            exec(compile(job["script"], job["page"], "exec"), {"__name__": "__main__"})
        for argv in job["shell"]:
            from aejax.cli import main
            print("$ aejax " + " ".join(argv), flush=True)
            status = main([*argv, "--no-keep-freed-memory"])
            assert status == 0, f"aejax {' '.join(argv)} exited with {status}"
        results[job["page"]] = None
    except BaseException:
        results[job["page"]] = traceback.format_exc()
    finally:
        sys.path.remove(job["dir"])
        for name, module in list(sys.modules.items()):
            if (getattr(module, "__file__", None) or "").startswith(job["dir"]):
                del sys.modules[name]
        print(f"{job['page']}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    json.dump(results, open(sys.argv[2], "w"))
"""


def test_snippets_run(tmp_path):
    """Every page's runnable snippets (see the module docstring), all pages in one test: split over pytest-xdist
    workers, per-page tests would each start the runner."""
    jobs = []
    for page in RUN_PAGES:
        workdir = tmp_path / str(page.relative_to(DOCS)).replace("/", "_").removesuffix(".md")
        workdir.mkdir()
        jobs.append(
            {
                "page": str(page.relative_to(REPO)),
                "dir": str(workdir),
                "script": _page_script(page, workdir),
                "shell": _shell_commands(page),
            }
        )
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "worker.py").write_text(WORKER)
    result = _run(
        [
            sys.executable,
            str(tmp_path / "worker.py"),
            str(tmp_path / "jobs.json"),
            str(tmp_path / "results.json"),
        ],
        cwd=tmp_path,
        timeout=SNIPPET_TIMEOUT,
        xla_flags=FAST_COMPILE,
    )
    output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert (tmp_path / "results.json").is_file(), (
        f"the snippet runner died (status {result.returncode}):\n{output}"
    )
    results = json.loads((tmp_path / "results.json").read_text())
    not_run = [job["page"] for job in jobs if job["page"] not in results]
    assert not not_run, f"the snippet runner stopped before {not_run}:\n{output}"
    failed = {page: trace for page, trace in results.items() if trace is not None}
    assert not failed, "snippets failed:\n" + "\n".join(
        f"--- {page}\n{trace}" for page, trace in failed.items()
    )
    assert result.returncode == 0, output
