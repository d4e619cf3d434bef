"""The persistent image cache: resume, damage, keys, atomic writes, privacy, memory maps."""

import gc
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from mammoclf import DicomLoader, Resizer
from mammoclf.preprocessing import _sequence, clear_cache, get_cache_dir
from mammoclf.preprocessing._image_cache import ImageCache, file_identity
from mammoclf.storage import TEMPORARY_SUFFIX, read_entry, write_entry


def breast_like(rng):
    """A noisy bright half-disc on a dark background (crop and flip find it)."""
    rows, columns = np.mgrid[:30, :24]
    inside = (rows - 15) ** 2 + columns**2 < 14**2
    return np.where(inside, rng.integers(2000, 4096, (30, 24)), 50).astype(np.uint16)


@pytest.fixture
def files(write_dicom):
    rng = np.random.default_rng(1)
    return [
        write_dicom(
            breast_like(rng),
            f"case{i}.dcm",
            PatientName="DOE^JANE",
            PatientID=f"PID-SECRET-{i}",
        )
        for i in range(5)
    ]


def resized(paths, cache, **loader):
    sequence = DicomLoader(cache_dir=cache, **loader).transform(paths)
    return Resizer(size=12).fit_transform(sequence), sequence.last_run


def entry_files(cache):
    return sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(os.path.join(cache, "images"))
        for name in names
        if name.endswith(".entry")
    )


def test_second_run_decodes_nothing_and_returns_the_same_images(
    files, tmp_path, decode_counter
):
    first, report = resized(files, tmp_path)
    assert report == {"decoded": 5, "from_cache": 0, "damaged_entries": 0}
    again, report = resized(files, tmp_path)
    assert report == {"decoded": 0, "from_cache": 5, "damaged_entries": 0}
    assert len(decode_counter) == 5
    np.testing.assert_array_equal(again, first)
    assert again.dtype == np.float32 and again.flags.writeable


def test_an_interrupted_decode_resumes_with_what_was_cached(
    files, tmp_path, monkeypatch
):
    decoded = []
    original = _sequence.read_image

    def interrupted_at_the_fourth(path, spec):
        if len(decoded) == 3:
            raise KeyboardInterrupt
        decoded.append(path)
        return original(path, spec)

    monkeypatch.setattr(_sequence, "read_image", interrupted_at_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        resized(files, tmp_path)
    assert len(entry_files(tmp_path)) == 3
    monkeypatch.setattr(_sequence, "read_image", original)
    images, report = resized(files, tmp_path)
    assert report == {"decoded": 2, "from_cache": 3, "damaged_entries": 0}
    np.testing.assert_array_equal(images, resized(files, None)[0])


def _flip_last_byte(path):
    with open(path, "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))


def _truncate(path):
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)


def _wrong_shape(path):
    # A valid checksum around a shape that is not the resizer's.
    meta, payload = read_entry(path)
    write_entry(path, {**meta, "shape": [6, 24, 1]}, payload)


def _wrong_dtype(path):
    meta, payload = read_entry(path)
    write_entry(path, {**meta, "dtype": "<i4"}, payload)


def _not_an_entry(path):
    with open(path, "wb") as handle:
        handle.write(b"\x93NUMPY garbage")


@pytest.mark.parametrize(
    "damage", [_flip_last_byte, _truncate, _wrong_shape, _wrong_dtype, _not_an_entry]
)
def test_a_damaged_entry_is_decoded_again_not_trusted(
    files, tmp_path, decode_counter, damage
):
    expected, _ = resized(files, tmp_path)
    entries = entry_files(tmp_path)
    damage(entries[2])
    with pytest.warns(UserWarning, match="1 cache entries .* failed their check"):
        images, report = resized(files, tmp_path)
    assert report == {"decoded": 1, "from_cache": 4, "damaged_entries": 1}
    np.testing.assert_array_equal(images, expected)
    # Rewritten: the next run trusts it again.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resized(files, tmp_path)[1]["decoded"] == 0
    assert len(decode_counter) == 6


def test_key_follows_the_file_not_its_path(files, tmp_path, decode_counter):
    resized(files, tmp_path / "cache")
    moved = tmp_path / "moved"
    moved.mkdir()
    copies = [
        shutil.copy2(path, moved / f"renamed{i}.dcm") for i, path in enumerate(files)
    ]
    assert resized(copies, tmp_path / "cache")[1]["decoded"] == 0
    assert len(decode_counter) == 5


def test_same_size_and_mtime_but_other_content_is_a_new_entry(files, tmp_path):
    # What an archive extraction with fixed times produces: only the bytes differ.
    # The copy keeps the header byte for byte (generated UIDs vary in length)
    # and changes pixels at the end of the uncompressed pixel data.
    other = tmp_path / "other.dcm"
    data = bytearray(Path(files[0]).read_bytes())
    data[-200:] = bytes(255 - b for b in data[-200:])
    other.write_bytes(bytes(data))
    status = os.stat(files[0])
    os.utime(other, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert os.path.getsize(other) == status.st_size
    assert file_identity(other) != file_identity(files[0])
    resized(files[:1], tmp_path / "cache")
    images, report = resized([other], tmp_path / "cache")
    assert report["decoded"] == 1
    assert not np.array_equal(images[0], resized(files[:1], None)[0][0])


@pytest.mark.parametrize(
    "loader, resizer",
    [
        ({"window": (2000.0, 3000.0)}, {}),
        ({"clip_percentiles": (1.0, 99.0)}, {}),
        ({"crop_breast": True}, {}),
        ({"chest_wall_side": "left"}, {}),
        ({}, {"size": 10}),
        ({}, {"aspect": "stretch"}),
        ({}, {"pad_value": 0.5}),
        ({}, {"interpolation": "area"}),
    ],
)
def test_every_pixel_setting_is_part_of_the_key(files, tmp_path, loader, resizer):
    def run(loader, resizer):
        sequence = DicomLoader(cache_dir=tmp_path, **loader).transform(files[:2])
        Resizer(**{"size": 12, **resizer}).fit_transform(sequence)
        return sequence.last_run["decoded"]

    assert run({}, {}) == 2
    assert run(loader, resizer) == 2
    assert run(loader, resizer) == 0
    assert run({}, {}) == 0


def test_settings_that_do_not_change_pixels_share_entries(files, tmp_path):
    resized(files, tmp_path)
    _, report = resized(files, tmp_path, n_jobs=2, memory_limit=0, verbose=1)
    assert report["decoded"] == 0


def test_cache_holds_no_path_or_patient_identifier(files, tmp_path):
    cache = tmp_path / "cache"
    resized(files, cache)
    stored = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(cache)
        for name in names
    ]
    assert len(entry_files(cache)) == 5
    for path in stored:
        with open(path, "rb") as handle:
            content = handle.read()
        for secret in (b"DOE", b"PID-SECRET", b"case", b".dcm", os.fsencode(tmp_path)):
            assert secret not in content
            assert secret.decode() not in os.path.relpath(path, cache)


def test_failed_write_leaves_no_entry_and_partial_files_are_ignored(
    files, tmp_path, monkeypatch
):
    cache = ImageCache(tmp_path)
    key = cache.key(files[0], DicomLoader()._read_spec(), "token")

    def crash(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        cache.store(key, np.ones((4, 4, 1), np.float32))
    monkeypatch.undo()
    assert entry_files(tmp_path) == []
    leftovers = [n for _, _, names in os.walk(tmp_path) for n in names]
    assert not any(name.endswith(TEMPORARY_SUFFIX) for name in leftovers)
    # A partial file left by a hard kill is never read as an entry.
    partial = cache.entry_path(key) + ".x" + TEMPORARY_SUFFIX
    with open(partial, "wb") as handle:
        handle.write(b"half")
    assert cache.load(key) == (None, None)


def test_two_writers_of_one_entry_leave_one_complete_entry(tmp_path):
    from joblib import Parallel, delayed

    cache = ImageCache(tmp_path)
    image = np.arange(64 * 64, dtype=np.float32).reshape(64, 64, 1)
    # Threads race on the rename as processes would (and start in no time).
    Parallel(n_jobs=4, backend="threading")(
        delayed(cache.store)("ab" * 32, image) for _ in range(16)
    )
    loaded, damaged = cache.load("ab" * 32, (64, 64, 1))
    assert not damaged
    np.testing.assert_array_equal(loaded, image)
    assert len(entry_files(tmp_path)) == 1


def test_large_data_sets_are_memory_mapped_in_the_cache_scratch_folder(files, tmp_path):
    in_memory, _ = resized(files, None)
    mapped, _ = resized(files, tmp_path, memory_limit=1000)
    assert isinstance(mapped, np.memmap) and not isinstance(in_memory, np.memmap)
    assert os.path.dirname(mapped.filename) == str(tmp_path / "scratch")
    np.testing.assert_array_equal(mapped, in_memory)
    filename = mapped.filename
    del mapped
    gc.collect()
    assert not os.path.exists(filename)


def test_clear_cache_removes_only_what_mammoclf_wrote(files, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "notes.txt").write_text("keep me")
    resized(files, cache, memory_limit=0)
    assert clear_cache(cache) > 0
    assert sorted(os.listdir(cache)) == ["notes.txt"]
    assert clear_cache(cache) == 0


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MAMMOCLF_CACHE_DIR", str(tmp_path / "mine"))
    assert get_cache_dir() == str(tmp_path / "mine")
    monkeypatch.delenv("MAMMOCLF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert get_cache_dir() == str(tmp_path / "xdg" / "mammoclf")


def test_an_unwritable_cache_warns_and_the_run_goes_on(files, tmp_path, monkeypatch):
    def full_disk(self, key, image):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ImageCache, "store", full_disk)
    with pytest.warns(UserWarning, match="5 processed images could not be written"):
        images, report = resized(files, tmp_path)
    assert report["decoded"] == 5 and images.shape == (5, 12, 12, 1)
