"""The shared array store: memory maps that derived arrays follow, and their cleanup."""

import gc
import os

import numpy as np
import pytest
from sklearn.utils import check_array

from mammoclf import Augmenter
from mammoclf.storage import (
    allocate,
    allocate_like,
    backing_file,
    is_memory_mapped,
    resolve_memory_limit,
    take_rows,
)
from mammoclf.utils._progress import Progress, format_duration
from mammoclf.utils._row_blocks import row_blocks
from mammoclf.utils._validation import check_image_batch


@pytest.fixture
def mapped(tmp_path):
    array = allocate((50, 6, 5, 1), np.float32, on_disk=True, directory=tmp_path)
    array[:] = np.random.default_rng(0).random(array.shape, dtype=np.float32)
    return array


def test_allocate_in_memory_or_on_disk(tmp_path):
    assert not is_memory_mapped(allocate((3, 2), np.float32, on_disk=False))
    array = allocate((3, 2), np.float32, on_disk=True, directory=tmp_path)
    path = backing_file(array)
    assert os.path.dirname(path) == str(tmp_path) and np.load(path).shape == (3, 2)
    view = np.asarray(array)[1:]
    del array
    gc.collect()
    assert os.path.exists(path)  # a view keeps the file
    del view
    gc.collect()
    assert not os.path.exists(path)


def test_views_and_validated_batches_stay_memory_mapped(mapped):
    checked = check_image_batch(mapped)
    assert is_memory_mapped(checked) and np.shares_memory(checked, mapped)
    assert is_memory_mapped(check_array(mapped.reshape(50, -1)))
    assert is_memory_mapped(mapped[..., 0])
    assert not is_memory_mapped(np.array(mapped))


def test_take_rows_keeps_order_and_storage(mapped, tmp_path):
    rows = np.array([7, 3, 49, 3, 0])
    subset = take_rows(mapped, rows)
    assert is_memory_mapped(subset)
    assert os.path.dirname(backing_file(subset)) == str(tmp_path)
    np.testing.assert_array_equal(subset, np.asarray(mapped)[rows])
    plain = np.arange(10)
    np.testing.assert_array_equal(take_rows(plain, rows[rows < 10]), [7, 3, 3, 0])
    assert not is_memory_mapped(take_rows(np.array(mapped), rows))


def test_row_blocks_cover_every_row_once():
    like = np.empty((0, 4096, 4096), np.float32)  # 64 MiB per row
    blocks = row_blocks(5, like)
    assert [(b.start, b.stop) for b in blocks] == [(i, i + 1) for i in range(5)]
    small = row_blocks(10, np.empty((0, 2), np.float32))
    assert len(small) == 1 and small[0] == slice(0, 10)


def test_augmented_copies_of_a_memory_map_stay_on_disk(mapped):
    y = np.array(["A", "B"] * 25)
    out_mapped, y_mapped = Augmenter(random_state=0).fit_resample(mapped, y)
    out_memory, y_memory = Augmenter(random_state=0).fit_resample(np.array(mapped), y)
    assert is_memory_mapped(out_mapped) and not is_memory_mapped(out_memory)
    np.testing.assert_array_equal(out_mapped, out_memory)
    np.testing.assert_array_equal(y_mapped, y_memory)


def test_allocate_like_follows_the_source(mapped):
    assert is_memory_mapped(allocate_like(mapped, (2, 3)))
    assert not is_memory_mapped(allocate_like(np.zeros(3), (2, 3)))


def test_memory_limit_values():
    assert resolve_memory_limit("auto") > 0
    assert resolve_memory_limit(0) == 0
    with pytest.raises(ValueError, match=">= 0"):
        resolve_memory_limit(-1)
    with pytest.raises(TypeError, match="'auto' or bytes"):
        resolve_memory_limit(1.5)


def test_progress_lines_say_what_is_left(capsys):
    progress = Progress(4, "decoding: images", interval=0.0)
    progress.advance()
    progress.advance(3)
    progress.finish("4 decoded")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("[decoding] 1/4 images (25%)") and "left" in lines[0]
    assert (
        lines[-1].startswith("[decoding] 4 images in ") and "(4 decoded)" in lines[-1]
    )
    assert format_duration(3725) == "1 h 02 min" and format_duration(75) == "1 min 15 s"
    silent = Progress(2, "x: y", enabled=False, interval=0.0)
    silent.advance(2)
    silent.finish()
    assert capsys.readouterr().err == ""
