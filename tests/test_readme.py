"""The README's commands and quickstart are what CI and users run."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _command_after(marker):
    block = README.split(marker, 1)[1]
    return re.search(r"```sh\n(.+?)\n```", block, re.DOTALL).group(1)


def test_ci_runs_the_readme_test_command():
    command = _command_after("<!-- test-command -->")
    assert "\n" not in command and "pytest" in command and "pip install" in command
    assert "ruff check ." in command and "ruff format --check ." in command
    extracted = subprocess.run(
        ["awk", "/<!-- test-command -->/{getline; getline; print; exit}", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert extracted == command
    assert "$test_command" in (ROOT / ".ci" / "run").read_text()


def test_ci_builds_the_docs_with_warnings_as_errors_without_running_examples():
    command = _command_after("<!-- test-command -->")
    assert 'pip install -e ".[tests,docs]"' in command
    build = re.search(r"python -m sphinx ([^&]+)&&", command).group(1).split()
    assert "-W" in build and build[-2:] == ["docs", "docs/_build/html"]
    # Executing the gallery takes minutes and needs CBIS-DDSM for one script.
    assert "plot_gallery=0" in build


def test_main_command_runs_the_comparison():
    command = _command_after("<!-- main-command -->")
    assert "\n" not in command and command.endswith("mammoclf compare")


@pytest.mark.slow
def test_quickstart_code_runs():
    code = re.search(
        r"## Quickstart\n\n```python\n(.+?)\n```", README, re.DOTALL
    ).group(1)
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dropout" in result.stdout
