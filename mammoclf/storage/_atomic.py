"""Atomic file writes: a reader sees the old file or the new one, never half of one.

The one place in mammoclf that puts a file under its final name: a
temporary file in the same folder, flushed and fsynced, renamed over the
destination, and the folder fsynced so that the rename itself survives a
power loss. Every cache, checkpoint, fit, report file and the salt file is
written through :func:`atomic_write` (or its shorthands :func:`write_bytes`
and :func:`write_text`).
"""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = [
    "TEMPORARY_SUFFIX",
    "atomic_write",
    "create_exclusive",
    "fsync_directory",
    "move_into_place",
    "write_bytes",
    "write_text",
]

# Partial files carry this suffix until renamed; nothing mammoclf reads ends so.
TEMPORARY_SUFFIX = ".partial"


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, file_mode=None):
    """Open a temporary file next to ``path`` and move it into place on success.

    The data are flushed and fsynced before ``os.replace`` swaps the file in,
    so an interrupted process (exception, ``KeyboardInterrupt``, ``kill -9``,
    power loss after the rename) leaves either the previous file or the
    complete new one. The file gets the mode the user's umask gives a new
    file (``0o644`` under umask ``022``), not the owner-only mode of the
    temporary file it was written as. On an exception the temporary file is removed; after a
    hard kill it remains as ``<name>.<random>.partial`` and is never read.

    Parameters
    ----------
    path : str or path-like
        Destination file.
    mode : {"wb", "w"}, default="wb"
        Binary or text mode.
    file_mode : int, default=None
        Permission bits of the file; None gives what ``open`` would.

    Yields
    ------
    handle : file object
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w'; got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f"{path.name}.", suffix=TEMPORARY_SUFFIX
        )
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    try:
        with os.fdopen(
            descriptor, mode, **({"encoding": "utf-8"} if mode == "w" else {})
        ) as handle:
            yield handle
            handle.flush()
            os.chmod(temporary, _new_file_mode() if file_mode is None else file_mode)
        move_into_place(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno:
            # write() and fsync() name no file: say which one a full disk stopped.
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def move_into_place(temporary, path):
    """fsync the complete file ``temporary``, rename it to ``path``, fsync the folder.

    For files another library writes (Keras weights, memory-mapped arrays)
    under a temporary name in ``path``'s folder; :func:`atomic_write` ends
    with it too.
    """
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(os.path.dirname(os.fspath(path)) or ".")


def write_bytes(path, *parts, mode=None):
    """Write the bytes-like ``parts`` one after the other to ``path``, atomically.

    ``mode`` (e.g. ``0o600`` for a secret) replaces the umask's file mode.
    """
    with atomic_write(path, file_mode=mode) as handle:
        for part in parts:
            handle.write(part)


def create_exclusive(path, data, *, mode=None):
    """Write ``data`` to ``path`` unless it exists; return whether this call wrote it.

    The file appears complete or not at all (written and fsynced under a
    temporary name, then hard-linked to ``path``, which fails if another
    process created it first): two runs creating one file concurrently
    both end up using the first one's content.
    """
    path = Path(path)
    with atomic_write(path.with_name(f"{path.name}.new"), file_mode=mode) as handle:
        handle.write(data)
    staged = path.with_name(f"{path.name}.new")
    try:
        os.link(staged, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)
    fsync_directory(path.parent)
    return True


def write_text(path, text, *, mode=None):
    """Write ``text`` (UTF-8) to ``path``, atomically."""
    write_bytes(path, text.encode("utf-8"), mode=mode)


def _new_file_mode():
    """``0o666`` less the process's umask: what ``open(path, "w")`` would create."""
    umask = _read_umask()
    return 0o666 & ~umask


def _read_umask():
    # Linux reports it without changing it; os.umask can only be read by
    # setting it, which briefly affects files other threads create.
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii") as status,
    ):
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def fsync_directory(directory):
    """Persist the rename itself (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError, AttributeError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
