"""Replace a set of files and folders as one: build the new set beside the old, then swap.

A report is many files (``report.md``, tables, figures, models). It is
built in a staging folder beside the previous one; :func:`swap_in` then
moves the previous entries into a backup folder, the new ones into place,
and deletes the backup. Each move is a rename within one file system. A
process killed in the middle leaves the backup folder behind, and
:func:`recover_swap`, called before anything else touches the folder,
finishes the swap when the new set is complete in place, or puts the
previous set back otherwise. So the folder always holds one complete set:
the previous one or the new one.
"""

import contextlib
import os
import shutil

from mammoclf.storage._atomic import fsync_directory

__all__ = ["recover_swap", "swap_in"]


def swap_in(target, staging, backup, names):
    """Make the entries of ``staging`` those of ``target`` named in ``names``.

    Parameters
    ----------
    target, staging, backup : path-like
        ``staging`` and ``backup`` are folders inside ``target``.
    names : iterable of str
        Every name the set consists of: previous entries of these names that
        the new set lacks are removed too.
    """
    target, staging, backup = map(os.fspath, (target, staging, backup))
    shutil.rmtree(backup, ignore_errors=True)
    os.makedirs(backup)
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.rename(os.path.join(target, name), os.path.join(backup, name))
    fsync_directory(backup)
    fsync_directory(target)
    for name in sorted(os.listdir(staging)):
        os.rename(os.path.join(staging, name), os.path.join(target, name))
    fsync_directory(target)
    os.rmdir(staging)
    shutil.rmtree(backup)
    fsync_directory(target)


def recover_swap(target, staging, backup):
    """Finish or undo a :func:`swap_in` that was cut short; remove a stale staging folder.

    Returns
    -------
    outcome : {"none", "finished", "restored"}
    """
    target, staging, backup = map(os.fspath, (target, staging, backup))
    outcome = "none"
    if os.path.isdir(backup):
        pending = os.listdir(staging) if os.path.isdir(staging) else []
        if pending:  # the new set is not all in place: put the previous back
            for name in os.listdir(backup):
                destination = os.path.join(target, name)
                if os.path.isdir(destination) and not os.path.islink(destination):
                    shutil.rmtree(destination)
                elif os.path.lexists(destination):
                    os.remove(destination)
                os.rename(os.path.join(backup, name), destination)
            outcome = "restored"
        else:
            outcome = "finished"
        shutil.rmtree(backup)
    shutil.rmtree(staging, ignore_errors=True)
    fsync_directory(target)
    return outcome
