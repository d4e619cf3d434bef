"""Worker processes end with their parent, even a parent killed as they start."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from mammoclf.utils import _orphans
from mammoclf.utils._orphans import exit_with_parent, workers_ending_with_parent

# A worker killed while it starts ends once its initializer runs, after it has
# imported joblib and scikit-learn (5 s measured on an idle two-core machine,
# several times that while other tests load it); its resource trackers end
# when the last process holding their pipe is gone. A worker that outlives its
# parent waits for loky's idle timeout (300 s), far beyond this bound.
BOUND_SECONDS = 60


class _Worker:
    name = "LokyProcess-1"


class _Exited(Exception):
    pass


def _raise_exited(code):
    raise _Exited(code)


def test_a_worker_whose_parent_is_already_gone_ends_at_once(monkeypatch):
    monkeypatch.setattr(_orphans.multiprocessing, "current_process", _Worker)
    monkeypatch.setattr(_orphans.os, "_exit", _raise_exited)
    adopted_by = os.getppid()
    with pytest.raises(_Exited, match="1"):
        exit_with_parent(parent=adopted_by + 1)


def test_the_main_process_is_left_alone():
    exit_with_parent(parent=os.getppid() + 1)  # returns: no watchdog, no exit
    assert not _orphans._watching


def test_the_workers_are_told_their_parent():
    backend = workers_ending_with_parent()
    assert backend.backend_kwargs["initializer"] is exit_with_parent
    assert backend.backend_kwargs["initargs"] == (os.getpid(),)


@pytest.mark.slow
def test_workers_end_with_a_parent_killed_while_they_start():
    psutil = pytest.importorskip("psutil")
    script = textwrap.dedent(
        """
        import time
        from joblib import Parallel, delayed
        from mammoclf.utils._orphans import workers_ending_with_parent

        Parallel(n_jobs=2, backend=workers_ending_with_parent())(
            delayed(time.sleep)(0) for _ in range(2))
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    started = set()
    try:
        deadline = time.monotonic() + BOUND_SECONDS
        workers = 0
        while workers < 2 and time.monotonic() < deadline:
            children = psutil.Process(parent.pid).children(recursive=True)
            started |= {(c.pid, c.create_time()) for c in children}
            workers = sum("LokyProcess" in _command(c) for c in children)
            time.sleep(0.01)
        assert workers == 2, "the workers did not start"
    finally:
        parent.kill()
        parent.wait()
    # Killed as soon as they exist: seconds before their imports are done.
    deadline = time.monotonic() + BOUND_SECONDS
    while True:
        alive = [pid for pid, created in started if _running(psutil, pid, created)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not alive, f"processes {alive} outlived their killed parent"


def _command(process):
    try:
        return " ".join(process.cmdline())
    except Exception:  # noqa: BLE001 - a process that ended has no command
        return ""


def _running(psutil, pid, created):
    """Whether the process ``pid`` started at ``created`` runs (a zombie does not)."""
    try:
        process = psutil.Process(pid)
        return (
            process.create_time() == created
            and process.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.NoSuchProcess:
        return False
