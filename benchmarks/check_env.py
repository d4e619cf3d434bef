"""Environment notes of a benchmark run: Python, devices, and every dependency vs pyproject.toml.

Prints one line per requirement of ``[project.dependencies]``: the version
installed and whether it satisfies the requirement. On the GPU machine
TensorFlow is missing by design (Keras runs on JAX there): that line says so
instead of failing. Used by benchmarks/gpu_suite.sh, which keeps the output
in ``$OUT/env.txt``.

Run::

    python benchmarks/check_env.py
"""

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# Not needed where Keras runs on another backend.
_OPTIONAL_WITH_JAX = {"tensorflow"}


def _requirement_parser():
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - pip vendors it
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


def dependency_lines(pyproject=PYPROJECT, extra_names=("jax", "jaxlib", "torch")):
    """One ``name: installed (requirement) status`` line per dependency."""
    Requirement = _requirement_parser()
    with open(pyproject, "rb") as handle:
        project = tomllib.load(handle)["project"]
    lines = []
    for text in project["dependencies"]:
        requirement = Requirement(text)
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed is None:
            status = "MISSING"
            if (
                requirement.name in _OPTIONAL_WITH_JAX
                and os.environ.get("KERAS_BACKEND") == "jax"
            ):
                status = "missing, not needed with KERAS_BACKEND=jax"
        elif requirement.specifier.contains(installed, prereleases=True):
            status = "ok"
        else:
            status = "DOES NOT SATISFY"
        lines.append(f"{requirement.name}: {installed} ({text}) {status}")
    for name in extra_names:
        try:
            lines.append(f"{name}: {importlib.metadata.version(name)} (not required)")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"{name}: not installed (not required)")
    return lines


def main():
    print(f"python: {sys.version.split()[0]} at {sys.executable}")
    print(f"platform: {platform.platform()}")
    print(f"KERAS_BACKEND: {os.environ.get('KERAS_BACKEND', '(unset: tensorflow)')}")
    print(
        "JAX_COMPILATION_CACHE_DIR: "
        f"{os.environ.get('JAX_COMPILATION_CACHE_DIR', '(unset: no persistent cache)')}"
    )
    for line in dependency_lines():
        print(line)
    try:
        import mammoclf

        print(f"mammoclf: {mammoclf.__version__} from {Path(mammoclf.__file__).parent}")
    except ImportError as exc:
        print(f"mammoclf: NOT IMPORTABLE ({exc})")
    if os.environ.get("KERAS_BACKEND") == "jax":
        import jax

        print(f"jax devices: {jax.devices()}")


if __name__ == "__main__":
    main()
