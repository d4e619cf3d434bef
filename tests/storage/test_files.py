"""The storage layer: keyed, checked entries; atomic writes; the lock; the report swap."""

import errno
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mammoclf.storage import (
    LOCK_FILE,
    TEMPORARY_SUFFIX,
    DamagedEntryError,
    RunFolderLock,
    RunFolderLockedError,
    activation_dtype,
    atomic_write,
    content_digest,
    create_exclusive,
    read_entry,
    recover_swap,
    swap_in,
    write_entry,
)


# --------------------------------------------------------------- entries
def test_an_entry_copied_over_another_key_is_refused(tmp_path):
    write_entry(tmp_path / "a.entry", {"x": 1}, b"payload-a", key="a" * 64)
    write_entry(tmp_path / "b.entry", {"x": 2}, b"payload-b", key="b" * 64)
    assert read_entry(tmp_path / "a.entry", key="a" * 64) == ({"x": 1}, b"payload-a")
    shutil.copyfile(tmp_path / "a.entry", tmp_path / "b.entry")
    # The checksum is intact: only the key tells the swap.
    assert read_entry(tmp_path / "b.entry")[1] == b"payload-a"
    with pytest.raises(DamagedEntryError, match="another key"):
        read_entry(tmp_path / "b.entry", key="b" * 64)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: b"", "not a mammoclf cache entry"),
        (lambda data: data[: len(data) - 3], "checksum mismatch"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]), "checksum mismatch"),
        (lambda data: data[:30], "truncated entry header"),
    ],
    ids=["empty", "truncated", "flipped-byte", "cut-in-header"],
)
def test_a_damaged_entry_says_what_is_wrong(tmp_path, damage, message):
    path = tmp_path / "e.entry"
    write_entry(path, {"x": 1}, b"0123456789" * 10, key="k")
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DamagedEntryError, match=message):
        read_entry(path, key="k")


def test_a_folder_in_place_of_an_entry_is_one_damaged_entry(tmp_path):
    (tmp_path / "e.entry").mkdir()
    with pytest.raises(DamagedEntryError, match="a folder"):
        read_entry(tmp_path / "e.entry", key="k")


# ------------------------------------------------------------ atomic writes
def test_a_failed_write_leaves_the_previous_file_and_no_partial(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("previous")
    with pytest.raises(OSError, match="No space"), atomic_write(path, "w") as handle:
        handle.write("half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    assert path.read_text() == "previous"
    assert not list(tmp_path.glob(f"*{TEMPORARY_SUFFIX}"))


def test_create_exclusive_keeps_the_first_file(tmp_path):
    path = tmp_path / "salt"
    assert create_exclusive(path, b"first", mode=0o600)
    assert not create_exclusive(path, b"second", mode=0o600)
    assert path.read_bytes() == b"first"
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["salt"]


# ------------------------------------------------------------------ hashing
def test_content_digest_covers_dtype_shape_and_text():
    labels = np.array(["BENIGN", "MALIGNANT"], dtype=object)
    assert content_digest(labels) == content_digest(labels.astype(str))
    assert content_digest(np.zeros((2, 3))) != content_digest(np.zeros((3, 2)))
    assert content_digest("ab", "c") == content_digest("abc")
    assert activation_dtype("float16") is np.float16
    assert activation_dtype("bfloat16") is np.float32


# --------------------------------------------------------------------- lock
def test_a_live_lock_is_refused_naming_its_process(tmp_path):
    with RunFolderLock(tmp_path):
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(RunFolderLockedError, match=f"process {os.getpid()} "):
            RunFolderLock(tmp_path).__enter__()
    assert not (tmp_path / LOCK_FILE).exists()  # released


def test_a_lock_held_by_another_process_is_refused(tmp_path):
    code = (
        "import sys, time; from mammoclf.storage import RunFolderLock\n"
        "with RunFolderLock(sys.argv[1]):\n"
        "    print('held', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderLockedError, match=f"process {holder.pid} "):
            RunFolderLock(tmp_path).__enter__()
    finally:
        holder.kill()
        holder.wait()
    # Killed with SIGKILL: the lock file stays, and is taken over.
    assert (tmp_path / LOCK_FILE).exists()
    with RunFolderLock(tmp_path) as lock:
        assert lock.taken_over["pid"] == holder.pid


# --------------------------------------------------------------------- swap
def _folder(root, **files):
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)


def test_swap_replaces_the_whole_set(tmp_path):
    _folder(tmp_path, **{"report.md": "old", "run.json": "old", "keep.txt": "k"})
    _folder(tmp_path / "next", **{"report.md": "new"})
    swap_in(tmp_path, tmp_path / "next", tmp_path / "prev", ["report.md", "run.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "report.md"]
    assert (tmp_path / "report.md").read_text() == "new"


def test_an_interrupted_swap_is_undone_or_finished(tmp_path):
    # Killed after one of two new entries moved in: the previous set returns.
    _folder(tmp_path, **{"report.md": "new"})
    _folder(tmp_path / "prev", **{"report.md": "old", "run.json": "old"})
    _folder(tmp_path / "next", **{"run.json": "new"})
    assert recover_swap(tmp_path, tmp_path / "next", tmp_path / "prev") == "restored"
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "report.md": "old",
        "run.json": "old",
    }
    # Killed after every new entry moved in: the new set stays.
    _folder(tmp_path / "prev", **{"report.md": "older"})
    (tmp_path / "next").mkdir()
    assert recover_swap(tmp_path, tmp_path / "next", tmp_path / "prev") == "finished"
    assert (tmp_path / "report.md").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "run.json"]
