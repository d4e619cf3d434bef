"""Progress lines with an estimate of the time left, for long loops.

Locating the files of a data set, decoding thousands of mammograms and
fitting folds take minutes to hours; a silent terminal for that long looks
like a hang. :class:`Progress` prints a line to standard error at most every
few seconds: how many items are done, the rate, and the time left at that
rate.
"""

import sys
import time

__all__ = ["Progress", "format_duration"]


def format_duration(seconds):
    """``"45 s"``, ``"3 min 20 s"`` or ``"2 h 05 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Counts finished items and prints ``done/total, rate, time left`` lines.

    Parameters
    ----------
    total : int
        Items expected.
    what : str
        What the items are, e.g. ``"decoding: images"``: the text before the
        colon names the stage, the word after it the items.
    enabled : bool, default=True
        False prints nothing (the count is still kept).
    interval : float, default=5.0
        Minimum seconds between two lines.
    stream : file, default=None
        Where to print; None means standard error.
    """

    def __init__(self, total, what, *, enabled=True, interval=5.0, stream=None):
        self.total = int(total)
        self.stage, _, self.noun = what.rpartition(": ")
        self.enabled = enabled
        self.interval = interval
        self.stream = stream
        self.done = 0
        self.started = time.perf_counter()
        self._last_line = self.started

    def advance(self, n=1):
        """Count ``n`` more finished items; print a line if one is due."""
        self.done += n
        now = time.perf_counter()
        if self.enabled and now - self._last_line >= self.interval:
            self._last_line = now
            self._print(self._status(now))

    def finish(self, note=""):
        """Print the closing line: items, total time and ``note``."""
        if self.enabled:
            elapsed = time.perf_counter() - self.started
            extra = f" ({note})" if note else ""
            self._print(f"{self.done} {self.noun} in {format_duration(elapsed)}{extra}")

    def _status(self, now):
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        percent = 100.0 * self.done / self.total if self.total else 100.0
        text = f"{self.done}/{self.total} {self.noun} ({percent:.0f}%), {rate:.1f}/s"
        if left is not None:
            text += f", about {format_duration(left)} left"
        return text

    def _print(self, text):
        prefix = f"[{self.stage}] " if self.stage else ""
        print(prefix + text, file=self.stream or sys.stderr, flush=True)
