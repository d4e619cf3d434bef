"""Every CSV cell of the ``compare`` and ``evaluate`` reports, against main 6c2201e.

6c2201e is the last commit before the two reports shared one writer and the
three predict loops became one. Its ``mammoclf`` package is extracted with
``git archive`` and both versions run the same tiny ``compare`` +
``evaluate`` (tests/cli/golden_reports.py) in their own processes; every
CSV cell but the timing and memory columns must agree.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.golden_reports import compare_tables

BASELINE = "6c2201e"
ROOT = Path(__file__).resolve().parents[2]


def _run(pythonpath, out):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    subprocess.run(
        [sys.executable, "-m", "tests.cli.golden_reports", "run", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=900,
    )


@pytest.mark.slow
def test_every_csv_cell_is_what_main_6c2201e_writes(tmp_path):
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.fail("this test needs the git history (git archive of 6c2201e)")
    baseline_code = tmp_path / "baseline-code"
    baseline_code.mkdir()
    archive = subprocess.run(
        [git, "archive", BASELINE, "mammoclf"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(baseline_code)], input=archive, check=True)
    _run([baseline_code, ROOT], tmp_path / "baseline")
    _run([ROOT], tmp_path / "candidate")
    n_cells, differences = compare_tables(tmp_path / "baseline", tmp_path / "candidate")
    assert n_cells > 1000
    assert differences == []
