"""The lock of a run folder: one mammoclf run writes into an ``--out`` at a time.

The lock is a file, ``mammoclf.lock``, in the folder, holding the process
id, host and start time of the run that holds it. On POSIX the holder also
keeps an advisory ``flock`` on it, which the kernel releases when the
process ends in any way (``kill -9`` included); elsewhere a lock whose
process no longer runs on this host counts as released. A run that finds
the folder held by a live run is refused at once
(:class:`RunFolderLockedError`); a stale lock, left by a run that died, is
taken over, and the caller is told whose it was.
"""

import contextlib
import json
import os
import socket
import time

__all__ = ["LOCK_FILE", "RunFolderLock", "RunFolderLockedError"]

LOCK_FILE = "mammoclf.lock"

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


class RunFolderLockedError(RuntimeError):
    """The run folder is held by another live run."""

    def __init__(self, directory, holder):
        self.directory = os.fspath(directory)
        self.holder = holder
        started = holder.get("started")
        since = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
            if isinstance(started, (int, float))
            else "an unknown time"
        )
        super().__init__(
            f"{self.directory} is in use by another mammoclf run (process "
            f"{holder.get('pid', '?')} on {holder.get('host', '?')}, started "
            f"{since}); wait for it to finish, or choose another --out."
        )


class RunFolderLock:
    """Hold the lock of ``directory`` (created if needed) while in the ``with`` block.

    Attributes
    ----------
    taken_over : dict or None
        After entering: the holder record of a stale lock that was taken
        over, else None.
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, LOCK_FILE)
        self.taken_over = None
        self._descriptor = None

    def __enter__(self):
        os.makedirs(self.directory, exist_ok=True)
        for _ in range(10):
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                previous = self._acquire(descriptor)
            except BaseException:
                os.close(descriptor)
                raise
            if previous is not _RETRY:
                break
            os.close(descriptor)
        else:  # pragma: no cover - the file kept being replaced
            raise RunFolderLockedError(self.directory, _read(self.path))
        self._descriptor = descriptor
        self.taken_over = previous or None
        record = {"pid": os.getpid(), "host": _host(), "started": time.time()}
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(record).encode("utf-8"), 0)
        os.fsync(descriptor)
        return self

    def _acquire(self, descriptor):
        """The stale holder's record ({} if none), or _RETRY if the file was replaced."""
        holder = _read_descriptor(descriptor)
        if fcntl is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise RunFolderLockedError(self.directory, holder) from None
            try:
                same = os.fstat(descriptor).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # released and removed between our open and flock
                return _RETRY
            holder = _read_descriptor(descriptor)
        elif _alive(holder):
            raise RunFolderLockedError(self.directory, holder)
        return holder

    def __exit__(self, *exc_info):
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._descriptor)
        self._descriptor = None
        return False


_RETRY = object()


def _read_descriptor(descriptor):
    with contextlib.suppress(OSError, ValueError):
        data = os.pread(descriptor, 4096, 0)
        record = json.loads(data.decode("utf-8")) if data.strip() else {}
        if isinstance(record, dict):
            return record
    return {}


def _read(path):
    with contextlib.suppress(OSError, ValueError), open(path, "rb") as handle:
        return _read_descriptor(handle.fileno())
    return {}


def _alive(holder):
    pid = holder.get("pid")
    if not isinstance(pid, int) or holder.get("host") != _host():
        return bool(holder)  # another host's run cannot be checked: trust it
    import psutil

    return psutil.pid_exists(pid)


def _host():
    return socket.gethostname()
