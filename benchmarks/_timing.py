"""Timing helpers shared by the Keras benchmarks.

Both sides of every comparison are timed by the same :class:`EpochTimer`
callback, so whatever it costs is paid equally. It records wall time and the
process's CPU time, and reads the epoch's loss as a Python float before
stopping the clocks: on JAX (and any asynchronous
backend) an epoch's steps may still be running when ``on_epoch_end`` is
called, and reading a value computed from the last step waits for them.
"""

import functools
import statistics
import time


@functools.cache
def epoch_timer_class(keras):
    """The ``EpochTimer`` callback class for this ``keras`` module."""

    class EpochTimer(keras.callbacks.Callback):
        """Seconds of every epoch, one list per ``model.fit`` call.

        ``fits`` holds wall-clock seconds; ``cpu_fits`` the CPU seconds of
        the whole process (all its threads) in the same epochs, which other
        processes competing for the cores inflate far less than wall time.
        """

        def __init__(self):
            super().__init__()
            self.fits = []
            self.cpu_fits = []

        def on_train_begin(self, logs=None):
            self.fits.append([])
            self.cpu_fits.append([])

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.perf_counter()
            self._cpu_started = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            float((logs or {}).get("loss", 0.0))  # wait for the epoch's last step
            self.fits[-1].append(time.perf_counter() - self._started)
            self.cpu_fits[-1].append(time.process_time() - self._cpu_started)

    return EpochTimer


def epoch_timer(keras):
    """A fresh ``EpochTimer`` callback."""
    return epoch_timer_class(keras)()


def steady_epochs(epoch_seconds):
    """Epoch times without the first epoch, which includes tracing/compilation."""
    if len(epoch_seconds) < 2:
        raise ValueError(
            "need at least 2 epochs per fit to exclude the first (tracing) epoch; "
            f"got {len(epoch_seconds)}"
        )
    return list(epoch_seconds[1:])


def median(values):
    return statistics.median(values)


def interleaved(n_repeats, names):
    """Run order ``A B B A A B ...``: neither side always goes first.

    On a shared machine the load drifts; alternating which side runs first in
    each repeat spreads that drift over both sides.
    """
    order = []
    for repeat in range(n_repeats):
        order.extend(names if repeat % 2 == 0 else names[::-1])
    return order
