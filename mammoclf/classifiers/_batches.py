"""Seeded mini-batches of arrays, for the training feeds mammoclf builds itself.

Keras shuffles NumPy inputs itself; these batches are for the two feeds that
do not go through that path: activations streamed from memory-mapped files
(the disk-backed frozen-prefix cache) and batches padded to split evenly
across devices (``distribution="data_parallel"``). Both must visit the
samples in an order drawn from the fit's seed, so that a fit is reproducible.
"""

import math

import numpy as np

__all__ = ["SeededBatches"]


class SeededBatches:
    """``(x, y, sample_weight)`` batches in an order drawn anew every epoch.

    Has the ``__len__`` / ``__getitem__`` / ``on_epoch_end`` protocol of
    ``keras.utils.PyDataset``, which a subclass may also inherit from.

    Parameters
    ----------
    X, y, sample_weight : array-like
        Indexable by integer arrays along the first axis (NumPy arrays or
        memory maps).
    batch_size : int
    shuffle : bool
        Draw a new sample order from ``seed`` every epoch; otherwise the
        samples come in their stored order.
    seed : int
    rows_in_file_order : bool, default=False
        Read the rows of each batch in increasing index order, which turns
        the random reads of a memory-mapped file into forward ones.
    """

    def __init__(
        self,
        X,
        y,
        sample_weight,
        *,
        batch_size,
        shuffle,
        seed,
        rows_in_file_order=False,
    ):
        self._X, self._y, self._w = X, y, sample_weight
        self._batch_size = int(batch_size)
        self._shuffle = shuffle
        self._rows_in_file_order = rows_in_file_order
        self._rng = np.random.default_rng(seed)
        self._order = self._draw_order()

    def _draw_order(self):
        n_samples = self._X.shape[0]
        return (
            self._rng.permutation(n_samples) if self._shuffle else np.arange(n_samples)
        )

    def __len__(self):
        return math.ceil(self._X.shape[0] / self._batch_size)

    def __getitem__(self, index):
        start = index * self._batch_size
        rows = self._order[start : start + self._batch_size]
        if self._rows_in_file_order:
            rows = np.sort(rows)
        return np.asarray(self._X[rows]), self._y[rows], self._w[rows]

    def on_epoch_end(self):
        self._order = self._draw_order()
