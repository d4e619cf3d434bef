"""Crash test harness: ``mammoclf compare`` killed with SIGKILL at random moments.

A small run is started in a subprocess and killed at N random moments (a
chain: each rerun resumes what the previous ones left, and is itself killed),
then run to the end. Asserted after every kill:

- no file under a final name is truncated or unreadable (every model, fit,
  table, figure, report, cache entry and synthetic DICOM is complete);
- no worker process (decoding workers, loky and its resource trackers)
  outlives the killed run: the tree must be gone within a bound
  (TREE_GONE_SECONDS), polled;

and at the end: the last rerun exits 0 with every table identical to an
uninterrupted run's (the compute table, which holds wall-clock times, is
compared by its columns only).

N is 5, and 20 for four more seeds. Every run starts a Python process that
imports TensorFlow, so even N = 5 costs minutes on two shared cores (one
measurement: 275 s): the harness runs under ``-m slow``, and the default
suite covers each failure mode with the cheap tests of test_run_folder.py.
It cannot be made cheap enough for the default suite: at least seven
processes start (the reference, five killed runs, the final rerun), and on
the shared two cores importing mammoclf's CLI with Keras alone took 14 s
(TensorFlow) or 8 s (``KERAS_BACKEND=jax``), while the whole small run took
35 s on TensorFlow and 60 s on JAX (jit compilation of each shape).
The moments are drawn from a fixed seed over the uninterrupted run's
duration, and printed on a failure, so that a failing moment can be
replayed.
"""

import json
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

psutil = pytest.importorskip("psutil")

# The small run of conftest.py, quieter, with two decoding workers (to
# check that none outlives a kill) and the image cache on.
OPTIONS = ("--n-resamples", "10", "--decode-jobs", "2", "--quiet")
# Tables whose values are wall-clock measurements.
_TIMED_TABLES = {"compute.csv"}


def _command(run, out, cache):
    # One pseudonym key for every run: the tables name patients by it.
    salt = Path(cache).parent / "salt"
    return [
        sys.executable,
        "-m",
        "mammoclf",
        *run,
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--salt-file",
        str(salt),
    ]


def _run_to_end(run, out, cache):
    started = time.monotonic()
    completed = subprocess.run(
        _command(run, out, cache), capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return time.monotonic() - started


def _kill_after(run, out, cache, seconds):
    """Start the run, SIGKILL it after ``seconds``; return the processes it had."""
    process = subprocess.Popen(
        _command(run, out, cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + seconds
    descendants = set()
    while time.monotonic() < deadline and process.poll() is None:
        try:
            descendants |= {
                (p.pid, p.create_time())
                for p in psutil.Process(process.pid).children(recursive=True)
            }
        except psutil.Error:
            pass
        time.sleep(0.05)
    finished = process.poll() is not None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return finished, descendants


# How long a killed run's process tree may take to end. A worker killed while
# it starts ends as soon as its initializer runs (mammoclf.utils._orphans),
# after it has imported joblib and scikit-learn: 5 s measured on an idle
# two-core machine, several times that while the other test slot trains. The
# resource trackers (loky's, the standard library's) end once every process
# holding their pipe is gone, after unlinking what the run left. A worker that
# really outlives its parent waits for loky's idle timeout (300 s) or forever:
# past this bound, which is only waited for when something is still running.
TREE_GONE_SECONDS = 60


def _survivors(descendants, wait=TREE_GONE_SECONDS):
    """The processes of ``descendants`` still running after at most ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        alive = [
            (pid, _command_line(pid))
            for pid, created in descendants
            if _running(pid, created)
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _running(pid, created):
    """Whether the process ``pid`` started at ``created`` runs (a zombie does not)."""
    try:
        process = psutil.Process(pid)
        return (
            process.create_time() == created
            and process.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.NoSuchProcess:
        return False


def _command_line(pid):
    try:
        return " ".join(psutil.Process(pid).cmdline())[:120]
    except psutil.Error:  # it ended meanwhile: still named by its pid
        return "?"


def _incomplete_files(*roots):
    """Files under a final name that are truncated or unreadable."""
    from mammoclf.storage import LOCK_FILE, TEMPORARY_SUFFIX, read_entry

    bad = []
    for root in roots:
        for path in Path(root).rglob("*"):
            name = path.name
            if not path.is_file() or name.endswith(TEMPORARY_SUFFIX):
                continue
            if name in (LOCK_FILE, "CACHEDIR.TAG") or name.endswith(".new"):
                continue
            try:
                _check_complete(path, read_entry)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                bad.append(f"{path}: {type(exc).__name__}: {exc}")
    return bad


def _check_complete(path, read_entry):
    data = path.read_bytes()
    assert data, "empty"
    suffix = path.suffix
    if suffix == ".mammoclf":
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None
    elif suffix == ".entry":
        read_entry(path)
    elif suffix == ".json":
        json.loads(data)
    elif suffix == ".png":
        assert data.startswith(b"\x89PNG") and data.rstrip().endswith(b"IEND\xaeB`\x82")
    elif suffix == ".dcm":
        assert data[128:132] == b"DICM" and len(data) > 16 * 16 * 2
    elif suffix in (".csv", ".md", ".html", ".txt"):
        text = data.decode("utf-8")
        assert text.endswith("\n") or suffix in (".html", ".md"), "no final newline"
        if suffix == ".html":
            assert text.rstrip().endswith("</html>")


def _tables(out):
    tables = {}
    for path in sorted((Path(out) / "tables").glob("*.csv")):
        text = path.read_text()
        tables[path.name] = text.splitlines()[0] if path.name in _TIMED_TABLES else text
    return tables


def _crash_and_recover(run, tmp_path, n_kills, seed):
    duration = _run_to_end(run, tmp_path / "reference", tmp_path / "reference-cache")
    expected = _tables(tmp_path / "reference")
    assert expected, "the uninterrupted run wrote no tables"
    out, cache = tmp_path / "out", tmp_path / "cache"
    rng = random.Random(seed)
    moments = sorted(rng.uniform(0.5, duration) for _ in range(n_kills))
    for moment in moments:
        _, descendants = _kill_after(run, out, cache, moment)
        context = f"killed at {moment:.2f} s of {duration:.1f} s (seed {seed})"
        assert not _survivors(descendants), f"workers outlived the run {context}"
        assert not _incomplete_files(out, cache), context
    _run_to_end(run, out, cache)
    assert _tables(out) == expected, f"moments {moments}"
    assert not _incomplete_files(out, cache)
    leftovers = {p.name for p in out.iterdir()} - {
        "report.md",
        "report.html",
        "run.json",
        "figures",
        "tables",
        "models",
        "synthetic-data",
    }
    assert not leftovers, leftovers


@pytest.mark.slow
def test_killed_at_random_moments_the_rerun_equals_an_uninterrupted_run(
    tmp_path, small_run
):
    _crash_and_recover(small_run(*OPTIONS), tmp_path, n_kills=5, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_killed_at_many_random_moments(tmp_path, small_run, seed):
    _crash_and_recover(small_run(*OPTIONS), tmp_path, n_kills=20, seed=seed)


def test_the_harness_sees_a_truncated_file(tmp_path):
    """The completeness check is not vacuous."""
    (tmp_path / "t.csv").write_text("a,b\n1,")
    (tmp_path / "m.mammoclf").write_bytes(b"PK\x03\x04")
    (tmp_path / "f.png").write_bytes(b"\x89PNG\r\n\x1a\n....")
    assert len(_incomplete_files(tmp_path)) == 3
