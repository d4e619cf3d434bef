"""Finished fits of a ``mammoclf compare`` run, kept so that a rerun resumes after Ctrl-C.

A study can train for hours. Each fold model that finishes is saved, in
mammoclf's code-free format, under ``fit-cache/`` of the report folder,
named by a digest of everything that determines it: the pipeline's
parameters, the training images and labels, and the mammoclf and Keras
versions. A rerun of the same command after an interruption or a failure
loads those fits instead of training them again. The fits are seeded, so a
loaded fit is the fit the rerun would have trained, and the report equals
that of an uninterrupted run. Each fit's record keeps how long the fit
took, and Table 2 shows that original time for a loaded fit (marked as
resumed), not the time taken to load it. The folder is removed once the
report is written.

Every fit is checked when it is loaded: the archive's checksums (a
truncated, empty or altered file fails them) and the key stored inside it,
which must be the digest it is named by (a file copied over another fit's
name fails). A fit that fails is reported in one warning, deleted and
trained again, so a damaged file never blocks a rerun.
"""

import contextlib
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from mammoclf.exceptions import IncompatibleModelError
from mammoclf.pipeline import Pipeline
from mammoclf.storage import content_digest, write_text

__all__ = [
    "FIT_CACHE",
    "ResumablePipeline",
    "fit_digest",
    "open_fit_cache",
    "restore_fit_times",
    "valid_fits",
]

FIT_CACHE = "fit-cache"
# Top-level pipeline parameters that do not change what is fitted.
_NOT_IDENTIFYING = ("steps", "cache_dir", "memory", "verbose")
_ABOUT = (
    "Fold models of an unfinished `mammoclf compare` run. Rerunning the same "
    "command resumes from them; the folder is deleted when the report is done.\n"
)
# The development record of a cached fit holds the key it was saved under.
_KEY = "fit_cache_key"
# ... and how long the fit took, in seconds.
_FIT_SECONDS = "fit_seconds"
_SUFFIX = ".mammoclf"


def open_fit_cache(out_dir):
    """Create ``out_dir/fit-cache`` (it marks the folder as a mammoclf run's)."""
    cache = Path(out_dir) / FIT_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    about = cache / "ABOUT.txt"
    if not about.is_file():
        write_text(about, _ABOUT)
    return cache


def fit_digest(pipeline, X, y):
    """SHA-256 of what determines a fit: parameters, training data, versions."""
    from mammoclf._version import __version__
    from mammoclf.utils._keras import import_keras

    keras = import_keras()
    params = pipeline.get_params(deep=True)
    described = "".join(
        f"{name}={params[name]!r};"
        for name in sorted(params)
        # nested estimators are covered by their own parameters
        if name not in _NOT_IDENTIFYING and not hasattr(params[name], "get_params")
    )
    return content_digest(
        described,
        f"{type(pipeline[-1]).__qualname__};",
        X,
        y,
        f"{__version__};{keras.__version__};{keras.backend.backend()}",
    )


def check_fit(path):
    """Why the cached fit at ``path`` cannot be used, or None when it can.

    Reads only the archive's metadata (its checksum is verified), not the
    networks.
    """
    from mammoclf.persistence import read_development

    path = Path(path)
    try:
        development = read_development(path)
    except (IncompatibleModelError, OSError) as exc:
        return " ".join(str(exc).split()).replace(f"{path}: ", "")
    stored = (development or {}).get(_KEY) if isinstance(development, dict) else None
    if stored != path.name[: -len(_SUFFIX)]:
        return (
            "it holds another fit (the file was copied or renamed over this one's name)"
            if stored
            else "it carries no fit key"
        )
    return None


def valid_fits(out_dir):
    """How many fits in ``out_dir/fit-cache`` pass :func:`check_fit`."""
    cache = Path(out_dir) / FIT_CACHE
    if not cache.is_dir():
        return 0
    return sum(check_fit(path) is None for path in cache.glob(f"*{_SUFFIX}"))


def _discard(path, problem):
    warnings.warn(
        f"fit-cache entry {path.name} was unusable ({problem}); it was deleted and "
        "the fit is trained again.",
        UserWarning,
        stacklevel=3,
    )
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class ResumablePipeline(Pipeline):
    """A :class:`mammoclf.pipeline.Pipeline` whose finished fits survive interruption.

    ``fit`` loads the fit from ``cache_dir`` when an earlier run saved it
    and it passes its checks, and otherwise fits and saves it there.
    ``cache_dir=None`` fits as usual.
    """

    def __init__(
        self, steps, *, cache_dir=None, transform_input=None, memory=None, verbose=False
    ):
        super().__init__(
            steps, transform_input=transform_input, memory=memory, verbose=verbose
        )
        self.cache_dir = cache_dir

    def fit(self, X, y=None, **params):
        if self.cache_dir is None or params:
            return super().fit(X, y, **params)
        from mammoclf.persistence import save

        key = fit_digest(self, X, y)
        path = Path(self.cache_dir) / f"{key}{_SUFFIX}"
        if path.exists() or path.is_symlink():
            loaded = self._load_checked(path)
            if loaded is not None:
                self.steps, self.original_fit_time_ = loaded
                self.resumed_ = True
                return self
        started = time.perf_counter()
        super().fit(X, y)
        self.original_fit_time_ = time.perf_counter() - started
        development = {_KEY: key, _FIT_SECONDS: self.original_fit_time_}
        save(Pipeline(self.steps), path, development=development)
        self.resumed_ = False
        return self

    @staticmethod
    def _load_checked(path):
        """``(steps, fit seconds)`` of the fit saved at ``path`` (seconds None when
        not recorded), or None after discarding a bad file."""
        from mammoclf.persistence import load, read_development

        problem = check_fit(path)
        if problem is None:
            try:
                seconds = (read_development(path) or {}).get(_FIT_SECONDS)
                return load(path).steps, seconds
            except (IncompatibleModelError, OSError) as exc:
                problem = " ".join(str(exc).split()).replace(f"{path}: ", "")
        _discard(path, problem)
        return None


def restore_fit_times(result):
    """``result`` with each resumed fit's original fit time, and a ``resumed`` column.

    A fit loaded from the fit cache was timed as the time to load it; its
    saved record holds how long it took to fit. ``result.compute`` gets
    that time (the loading time stays where none was recorded) and a
    boolean ``resumed`` column, which Table 2 counts and notes.
    """
    compute = result.compute.copy()
    resumed = pd.Series(False, index=compute.index)
    for model, fitted in (result.estimators or {}).items():
        for split, estimator in zip(result.splits, fitted, strict=True):
            if not getattr(estimator, "resumed_", False):
                continue
            row = (model, split.repeat, split.fold)
            resumed[row] = True
            seconds = getattr(estimator, "original_fit_time_", None)
            if seconds is not None and np.isfinite(seconds):
                compute.loc[row, "fit_time"] = float(seconds)
    compute["resumed"] = resumed
    return replace(result, compute=compute)
