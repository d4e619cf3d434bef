"""Worker processes that end with their parent, however the parent ends.

joblib's loky workers outlive a parent killed by ``kill -9`` or a job
scheduler's SIGTERM: they wait for their next task for minutes. Workers
started with :func:`workers_ending_with_parent`'s backend run
:func:`exit_with_parent` as they start, and task functions call it too
(for workers of another backend); in a worker process it
starts, once per process, a daemon thread that ends the process as soon as
its parent is gone (the process is re-parented, so ``os.getppid()``
changes; a zombie parent counts as gone too). In the main process it does
nothing.

A loky worker runs its initializer only after it has imported what
unpickling the initializer needs (joblib, scikit-learn: seconds), so its
parent may already be gone by then, and ``os.getppid()`` then names the
process that adopted it. The backend therefore passes the parent's pid as
seen by the parent, and a worker that finds another parent ends at once.
"""

import multiprocessing
import os
import threading

__all__ = ["exit_with_parent", "workers_ending_with_parent"]

# Seconds between checks: a killed run's workers are gone within this.
POLL_SECONDS = 0.5
_started = threading.Lock()
_watching = []


def exit_with_parent(parent=None):
    """In a worker process, end it when its parent process ends; else nothing.

    Parameters
    ----------
    parent : int, default=None
        The pid of the process that started this worker, as that process
        saw it; a worker whose parent is another process (it was adopted:
        the parent is gone) ends at once. None means this process's parent
        now, for a call from a task function, which runs while the parent
        waits for it.
    """
    if multiprocessing.current_process().name == "MainProcess":
        return
    if parent is None:
        parent = os.getppid()
    elif os.getppid() != parent:
        os._exit(1)
    with _started:
        if _watching:
            return
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


def workers_ending_with_parent():
    """A joblib backend whose new workers run :func:`exit_with_parent` first, or None.

    Pass it as ``Parallel(backend=...)``. An idle worker that never received
    a task would otherwise miss the check. None (joblib's choice) when
    another backend than the default loky one is active (threads, Dask, a
    user's ``parallel_config``): those are left as they are.
    """
    from joblib._parallel_backends import LokyBackend
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    if type(backend) is not LokyBackend or backend.backend_kwargs:
        return None
    return LokyBackend(
        nesting_level=backend.nesting_level,
        inner_max_num_threads=backend.inner_max_num_threads,
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )
