"""The README's two commands stay in sync with CI and with the experiment files."""

from conftest import REPO


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2, "the README opens with exactly two setup commands"
    assert "aejax train --config experiments/ae_digits.py" in commands[0]
    assert commands[1] in (REPO / ".ci" / "run").read_text()
    assert (REPO / "experiments" / "ae_digits.py").is_file()
