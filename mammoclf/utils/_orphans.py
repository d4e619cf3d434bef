"""Worker processes that end with their parent, however the parent ends.

joblib's loky workers outlive a parent killed by ``kill -9`` or a job
scheduler's SIGTERM: they wait for their next task for minutes. A task
function calls :func:`exit_with_parent` first; in a worker process it
starts, once per process, a daemon thread that ends the process as soon as
its parent is gone (the process is re-parented, so ``os.getppid()``
changes; a zombie parent counts as gone too). In the main process it does
nothing.
"""

import multiprocessing
import os
import threading

__all__ = ["exit_with_parent"]

# Seconds between checks: a killed run's workers are gone within this.
POLL_SECONDS = 0.5
_started = threading.Lock()
_watching = []


def exit_with_parent():
    """In a worker process, end it when its parent process ends; else nothing."""
    if multiprocessing.current_process().name == "MainProcess":
        return
    with _started:
        if _watching:
            return
        parent = os.getppid()
        watchdog = threading.Thread(
            target=_watch, args=(parent,), name="mammoclf-exit-with-parent", daemon=True
        )
        watchdog.start()
        _watching.append(watchdog)


def _watch(parent):
    stop = threading.Event()
    while not stop.wait(POLL_SECONDS):
        if os.getppid() != parent:
            os._exit(1)
