"""Rows of a large array in blocks of bounded size, for copies and checks.

Generic: the storage layer copies memory-mapped rows in these blocks, input
validation checks images in them, and the classifiers stream them, so that
none of them holds a second full copy of a large array in memory.
"""

import numpy as np

__all__ = ["row_blocks"]

# Rows are copied and checked in blocks of about this many bytes.
_BLOCK_BYTES = 64 << 20


def row_blocks(n_rows, like):
    """Slices of about 64 MB of rows of ``like`` (an array or a row shape)."""
    row_bytes = int(np.prod(like.shape[1:], dtype=np.int64)) * like.itemsize
    step = max(1, _BLOCK_BYTES // max(row_bytes, 1))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]
