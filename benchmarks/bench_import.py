"""Import cost: ``python -c "import mammoclf"`` vs ``python -c "import keras"``.

A third command, ``from mammoclf import DenseNetTransferClassifier,
DicomLoader``, resolves the lazily exported names (scikit-learn, SciPy and
pandas load, Keras still does not). Each command runs ``--repeats`` times
in a fresh interpreter (the interleaved order A B B A ...), and the
benchmark reports the median wall time of the
whole process (interpreter start-up included) and its peak resident memory
(``ru_maxrss`` of that child, from ``os.wait4``). ``import keras`` is the
contrast: it loads the Keras backend (TensorFlow by default), which
mammoclf defers to the first ``fit``. A separate fresh interpreter checks
which heavy frameworks ``import mammoclf`` loaded (it must load none).

Target: ``import mammoclf`` under 3 s, without TensorFlow.

Run (one command, appends a row to benchmarks/RESULTS.md)::

    python benchmarks/bench_import.py
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import interleaved, median

COMMANDS = {
    "mammoclf": "import mammoclf",
    # Resolving the lazy public names imports scikit-learn, SciPy and pandas
    # (still no Keras): the cost of a script's first line.
    "mammoclf-api": "from mammoclf import DenseNetTransferClassifier, DicomLoader",
    "keras": "import keras",
}
HEAVY_MODULES = ("tensorflow", "keras", "jax", "torch", "matplotlib")


def run_fresh(code):
    """Run ``python -c code`` in a fresh interpreter; return (seconds, peak RSS MiB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"python -c {code!r} failed:\n{stderr}")
    return seconds, usage.ru_maxrss / 1024.0  # Linux reports KiB


def modules_loaded_by(code):
    """The heavy top-level modules in ``sys.modules`` after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & "
        f"set({list(HEAVY_MODULES)!r}))))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure(repeats, commands=COMMANDS):
    """Time each command in fresh interpreters; return medians and raw runs."""
    runs = {name: [] for name in commands}
    for name in interleaved(repeats, list(commands)):
        runs[name].append(run_fresh(commands[name]))
    result = {"repeats": repeats, "python": sys.executable}
    for name, samples in runs.items():
        result[name] = {
            "command": f'python -c "{commands[name]}"',
            "seconds": median([s for s, _ in samples]),
            "peak_rss_mib": median([r for _, r in samples]),
            "runs": samples,
            "heavy_modules": modules_loaded_by(commands[name]),
        }
    return result


def _loaded(side):
    return ", ".join(side["heavy_modules"]) or "none of " + "/".join(HEAVY_MODULES)


def describe(result):
    ours, api, keras = result["mammoclf"], result["mammoclf-api"], result["keras"]
    return (
        f"fresh interpreters, median of {result['repeats']}: import mammoclf "
        f"{ours['seconds']:.2f} s, peak RSS {ours['peak_rss_mib']:.0f} MiB, loads "
        f"{_loaded(ours)}; from mammoclf import DenseNetTransferClassifier, "
        f"DicomLoader {api['seconds']:.2f} s, {api['peak_rss_mib']:.0f} MiB, loads "
        f"{_loaded(api)}; import keras {keras['seconds']:.2f} s, peak RSS "
        f"{keras['peak_rss_mib']:.0f} MiB (loads {', '.join(keras['heavy_modules'])}); "
        f"mammoclf x{keras['seconds'] / ours['seconds']:.1f} faster, "
        f"{keras['peak_rss_mib'] / ours['peak_rss_mib']:.1f}x less memory"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="print the results without appending to RESULTS.md",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # inherited by the children
    result = measure(args.repeats)
    sentence = describe(result)
    print(sentence)
    if args.no_record:
        return
    from _results import append_row, keras_backend

    # No Keras in this process: the backend is the one `import keras` loads.
    append_row("import", sentence, backend=f"{keras_backend()} (import keras only)")


if __name__ == "__main__":
    main()
