"""The build declaration can build what pyproject.toml declares."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")
packaging_requirements = pytest.importorskip("packaging.requirements")

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_setuptools_floor_reads_an_spdx_license_string():
    """A ``license = "BSD-3-Clause"`` string needs setuptools >= 77 (PEP 639).

    Older ones reject it, which broke an offline ``pip install
    --no-build-isolation`` (the GPU machine's) with "invalid pyproject.toml
    config: project.license".
    """
    config = tomllib.loads(PYPROJECT.read_text())
    if not isinstance(config["project"].get("license"), str):
        pytest.skip("license is a table, read by every setuptools")
    [setuptools] = [
        packaging_requirements.Requirement(text)
        for text in config["build-system"]["requires"]
        if text.startswith("setuptools")
    ]
    assert not setuptools.specifier.contains("76.1")
    assert setuptools.specifier.contains("77.0.3")
