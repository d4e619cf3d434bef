"""mammoclf's cache directory and its checked, atomically written entries.

Two caches live under one root, so that one option chooses it and one
command clears it:

- ``images/``: decoded and resized images (the image cache of
  :mod:`mammoclf.preprocessing`);
- ``cbis-ddsm-index/``: the SeriesInstanceUID index of NBIA-layout CBIS-DDSM
  downloads (:mod:`mammoclf.datasets`);
- ``scratch/``: memory-mapped arrays of the running processes
  (:mod:`mammoclf.storage`'s memory-mapped arrays), removed when they are freed.

Every entry is one file: a magic string, a JSON header holding the entry's
key, a BLAKE2b checksum of header and payload, then the payload. A reader
checks all of it, and that the key is the one it asked for (a file copied
over another entry's name is caught), and treats anything else as a
damaged entry (:class:`DamagedEntryError`, whose message says what was
wrong), which the caches recompute instead of trusting. Entries are
written atomically (:func:`~mammoclf.storage.atomic_write`), so a reader
never sees half of one, and two processes writing the same entry leave one
complete copy.

Nothing stored here identifies a patient: entry names are hashes of file
identities (see the image cache), entry contents are pixels or hashed UIDs.
"""

import contextlib
import hashlib
import json
import os
import shutil
import struct
import sys

from mammoclf.storage._atomic import write_bytes

__all__ = [
    "CACHE_SUBDIRECTORIES",
    "DamagedEntryError",
    "cache_size_bytes",
    "cache_subdirectory",
    "clear_cache_directory",
    "default_cache_dir",
    "read_entry",
    "write_entry",
]

#: The folders mammoclf creates under a cache root; clearing removes only these.
CACHE_SUBDIRECTORIES = ("images", "cbis-ddsm-index", "scratch")

_MAGIC = b"MAMMOCLF-ENTRY-1"
_KEY = "__key__"
_DIGEST_BYTES = 16
_LENGTH = struct.Struct("<Q")
# Backup and sync tools skip a folder holding this file (bford.info/cachedir).
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by mammoclf.\n"
    "# Delete it with `mammoclf compare --clear-cache` or "
    "mammoclf.preprocessing.clear_cache().\n"
)


class DamagedEntryError(ValueError):
    """A cache entry that is truncated, altered or not a mammoclf entry."""


def default_cache_dir():
    """Where mammoclf caches by default.

    ``$MAMMOCLF_CACHE_DIR`` when set; otherwise ``mammoclf`` under the
    platform's user cache directory: ``$XDG_CACHE_HOME`` or ``~/.cache`` on
    Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows.
    """
    configured = os.environ.get("MAMMOCLF_CACHE_DIR")
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
        return os.path.join(base, "mammoclf", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/mammoclf")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "mammoclf")


def cache_subdirectory(root, name):
    """``root/name``, created, with the root tagged as a cache directory."""
    if name not in CACHE_SUBDIRECTORIES:
        raise ValueError(f"unknown cache folder {name!r}")
    root = os.fspath(root)
    directory = os.path.join(root, name)
    os.makedirs(directory, exist_ok=True)
    tag = os.path.join(root, "CACHEDIR.TAG")
    if not os.path.exists(tag):
        with contextlib.suppress(OSError):
            write_bytes(tag, _CACHEDIR_TAG.encode("ascii"))
    return directory


def write_entry(path, meta, payload, *, key=None):
    """Write ``payload`` (bytes-like) with its JSON-able ``meta`` header, atomically.

    ``key`` (a string) is stored in the header; :func:`read_entry` with the
    same key checks it.
    """
    if key is not None:
        meta = {**meta, _KEY: key}
    header = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")
    digest = _digest(header, payload)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_bytes(path, _MAGIC, _LENGTH.pack(len(header)), header, digest, payload)


def read_entry(path, *, key=None):
    """Return ``(meta, payload)`` of the entry at ``path``, checked.

    Parameters
    ----------
    path : str or path-like
    key : str, default=None
        The key the entry must have been written with; None skips that check.

    Raises
    ------
    FileNotFoundError
        When there is no entry.
    DamagedEntryError
        When the file is not a complete, unaltered entry of ``key``; the
        message says what was wrong.
    """
    if os.path.isdir(path):
        raise DamagedEntryError("a folder, not an entry file")
    with open(path, "rb") as handle:
        # A bytearray: arrays built on the payload are writable, with no copy.
        data = bytearray(os.fstat(handle.fileno()).st_size)
        del data[handle.readinto(data) :]  # a file shrunk meanwhile
    prefix = len(_MAGIC) + _LENGTH.size
    if len(data) < prefix or not data.startswith(_MAGIC):
        raise DamagedEntryError("not a mammoclf cache entry (bad or missing header)")
    (header_length,) = _LENGTH.unpack_from(data, len(_MAGIC))
    payload_start = prefix + header_length + _DIGEST_BYTES
    if payload_start > len(data):
        raise DamagedEntryError("truncated entry header")
    header = data[prefix : prefix + header_length]
    stored = data[prefix + header_length : payload_start]
    payload = memoryview(data)[payload_start:]
    if _digest(header, payload) != stored:
        raise DamagedEntryError("checksum mismatch (a truncated or altered entry)")
    try:
        meta = json.loads(header)
    except ValueError as exc:
        raise DamagedEntryError(f"unreadable entry header ({exc})") from None
    if not isinstance(meta, dict):
        raise DamagedEntryError("unreadable entry header (not a JSON object)")
    stored_key = meta.pop(_KEY, None)
    if key is not None and stored_key != key:
        raise DamagedEntryError(
            f"holds the entry of another key ({str(stored_key)[:12]}..., expected "
            f"{key[:12]}...): a file copied or renamed over it"
        )
    return meta, payload


def clear_cache_directory(root):
    """Delete mammoclf's folders under ``root``; return ``(files, bytes)`` removed.

    Only the folders mammoclf creates (:data:`CACHE_SUBDIRECTORIES`) and its
    tag file are removed, so a mistyped root never loses anything else.
    """
    root = os.fspath(root)
    files, size = _count(root)
    for name in CACHE_SUBDIRECTORIES:
        shutil.rmtree(os.path.join(root, name), ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(root, "CACHEDIR.TAG"))
    with contextlib.suppress(OSError):
        os.rmdir(root)  # only if nothing else is left in it
    return files, size


def cache_size_bytes(root, name=None):
    """Bytes held by the cache under ``root`` (one folder of it with ``name``)."""
    folders = CACHE_SUBDIRECTORIES if name is None else (name,)
    return _count(os.fspath(root), folders)[1]


def _count(root, folders=CACHE_SUBDIRECTORIES):
    files = size = 0
    for name in folders:
        for directory, _, entries in os.walk(os.path.join(root, name)):
            for entry in entries:
                with contextlib.suppress(OSError):
                    size += os.stat(os.path.join(directory, entry)).st_size
                    files += 1
    return files, size


def _digest(header, payload):
    digest = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    digest.update(_LENGTH.pack(len(header)))
    digest.update(header)
    digest.update(payload)
    return digest.digest()
