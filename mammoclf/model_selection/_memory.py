"""Peak resident memory of the process while one model is fitted.

A background thread samples the resident set size (RSS) of the current
process every ``interval`` seconds while the fit runs. This is what "peak
RAM" in the compute table means, with these limits:

* it is the RSS of the **whole process** (Python, the loaded frameworks, the
  data held by the process), not of the model alone; the increase over the
  RSS just before the fit is reported separately;
* spikes shorter than the sampling interval can be missed, so it is a lower
  bound of the true peak;
* with joblib's threading backend several fits share one process and their
  memory is counted together; with process-based backends (loky, Dask
  workers) each worker measures its own fits;
* allocators (and TensorFlow's) keep freed memory, so a worker's later fits
  start from a higher baseline and show smaller increases;
* accelerator (GPU) memory is not included.
"""

import threading

__all__ = ["PeakMemorySampler"]


def _import_psutil():
    try:
        import psutil
    except ImportError as exc:  # pragma: no cover - psutil is a dependency
        raise ImportError(
            "Measuring peak memory needs psutil: `pip install psutil`, or pass "
            "measure_memory=False."
        ) from exc
    return psutil


class PeakMemorySampler:
    """Context manager recording the peak RSS of this process while it is open.

    Parameters
    ----------
    interval : float, default=0.02
        Seconds between samples.

    Attributes
    ----------
    baseline_bytes : int
        RSS when the context was entered.
    peak_bytes : int
        Largest RSS sampled, including at entry and exit.

    Examples
    --------
    >>> import time
    >>> import numpy as np
    >>> from mammoclf.model_selection._memory import PeakMemorySampler
    >>> with PeakMemorySampler(interval=0.005) as sampler:
    ...     block = np.ones(20_000_000)  # 160 MB, touched, then freed
    ...     time.sleep(0.05)
    ...     del block
    >>> sampler.peak_bytes - sampler.baseline_bytes > 100e6
    True
    """

    def __init__(self, *, interval=0.02):
        if not interval > 0:
            raise ValueError(f"interval must be positive; got {interval!r}.")
        self.interval = interval

    def __enter__(self):
        self._process = _import_psutil().Process()
        self.baseline_bytes = self._rss()
        self.peak_bytes = self.baseline_bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._sample, name="mammoclf-rss", daemon=True
        )
        self._thread.start()
        return self

    def _rss(self):
        return int(self._process.memory_info().rss)

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, self._rss())

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._rss())
        return False
