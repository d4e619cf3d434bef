"""How mammoclf puts things on disk: one layer, used by every writer.

- :func:`atomic_write` (and :func:`write_bytes`, :func:`write_text`): a
  temporary file in the same folder, fsynced, renamed into place, the
  folder fsynced; a reader sees the old file or the new one, never half.
- :func:`write_entry` / :func:`read_entry`: checked entries that carry their
  key and a BLAKE2b digest, both verified on every read; anything else
  raises :class:`DamagedEntryError`, which the caches turn into a warning
  and a recomputation.
- :func:`allocate` and friends: arrays in memory or memory-mapped, under one
  memory policy (:data:`DEFAULT_MEMORY_FRACTION` of physical memory).
- :func:`content_digest`: the one hash of what a stored thing was computed
  from (a fit's identity, a checkpoint's training data);
  :func:`activation_dtype`: the one dtype rule for stored activations.
- :class:`RunFolderLock`: one run per output folder; :func:`swap_in` and
  :func:`recover_swap`: a report replaced as a whole.

Nothing here imports another part of mammoclf except :mod:`mammoclf.utils`.
"""

from mammoclf.storage._arrays import (
    DEFAULT_MEMORY_FRACTION,
    allocate,
    allocate_like,
    backing_file,
    is_memory_mapped,
    physical_memory_bytes,
    resolve_memory_limit,
    take_rows,
)
from mammoclf.storage._atomic import (
    TEMPORARY_SUFFIX,
    atomic_write,
    create_exclusive,
    fsync_directory,
    move_into_place,
    write_bytes,
    write_text,
)
from mammoclf.storage._entries import (
    CACHE_SUBDIRECTORIES,
    DamagedEntryError,
    cache_size_bytes,
    cache_subdirectory,
    clear_cache_directory,
    default_cache_dir,
    read_entry,
    write_entry,
)
from mammoclf.storage._hashing import activation_dtype, content_digest
from mammoclf.storage._lock import LOCK_FILE, RunFolderLock, RunFolderLockedError
from mammoclf.storage._swap import recover_swap, swap_in

__all__ = [
    "CACHE_SUBDIRECTORIES",
    "DEFAULT_MEMORY_FRACTION",
    "LOCK_FILE",
    "TEMPORARY_SUFFIX",
    "DamagedEntryError",
    "RunFolderLock",
    "RunFolderLockedError",
    "activation_dtype",
    "allocate",
    "allocate_like",
    "atomic_write",
    "backing_file",
    "cache_size_bytes",
    "cache_subdirectory",
    "clear_cache_directory",
    "content_digest",
    "create_exclusive",
    "default_cache_dir",
    "fsync_directory",
    "is_memory_mapped",
    "move_into_place",
    "physical_memory_bytes",
    "read_entry",
    "recover_swap",
    "resolve_memory_limit",
    "swap_in",
    "take_rows",
    "write_bytes",
    "write_entry",
    "write_text",
]
