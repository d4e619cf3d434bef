"""Append measured rows to benchmarks/RESULTS.md.

Every benchmark measures mammoclf and its baseline in the same run and records
one row: date, machine, Keras backend, the exact command, the numbers and the
ratio. Rows are appended, never rewritten, so the history of a number stays
visible.
"""

import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine_description():
    """A short description of this machine: CPU count, model, and GPU if any."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}"


def keras_backend():
    """The Keras backend a run used, without importing Keras if it was not."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def append_row(benchmark, numbers, *, machine=None, backend=None, results_file=None):
    """Append one result row for ``benchmark`` to RESULTS.md (or ``results_file``).

    Parameters
    ----------
    benchmark : str
        Section name, e.g. ``"loading"``.
    numbers : str
        The measurements and the ratio, human readable.
    machine, backend : str, optional
        Override the detected machine/backend (e.g. for a remote GPU run).
    results_file : path-like, optional
        Append there instead, e.g. a file under ``$OUT`` on the device
        machine, whose rows are then appended to RESULTS.md here.
    """
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    row = "| {date} | {benchmark} | {machine} | {backend} | `{command}` | {numbers} |\n".format(
        date=datetime.date.today().isoformat(),
        benchmark=benchmark,
        machine=machine or machine_description(),
        backend=backend or keras_backend(),
        command=command,
        numbers=numbers.replace("|", "/"),
    )
    with open(results_file or RESULTS, "a") as handle:
        handle.write(row)
    print(row, end="")
