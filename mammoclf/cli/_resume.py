"""Finished fits of a ``mammoclf compare`` run, kept so that a rerun resumes after Ctrl-C.

A study can train for hours. Each fold model that finishes is saved, in
mammoclf's code-free format, under ``fit-cache/`` of the report folder,
named by a digest of everything that determines it: the pipeline's
parameters, the training images and labels, and the mammoclf and Keras
versions. A rerun of the same command after an interruption or a failure
loads those fits instead of training them again. The fits are seeded, so a
loaded fit is the fit the rerun would have trained, and the report equals
that of an uninterrupted run (the fit times of loaded fits are the time
taken to load them). The folder is removed once the report is written.
"""

import hashlib
from pathlib import Path

import numpy as np

from mammoclf.pipeline import Pipeline

__all__ = ["FIT_CACHE", "ResumablePipeline", "fit_digest", "open_fit_cache"]

FIT_CACHE = "fit-cache"
# Top-level pipeline parameters that do not change what is fitted.
_NOT_IDENTIFYING = ("steps", "cache_dir", "memory", "verbose")
_ABOUT = (
    "Fold models of an unfinished `mammoclf compare` run. Rerunning the same "
    "command resumes from them; the folder is deleted when the report is done.\n"
)


def open_fit_cache(out_dir):
    """Create ``out_dir/fit-cache`` (it marks the folder as a mammoclf run's)."""
    cache = Path(out_dir) / FIT_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    about = cache / "ABOUT.txt"
    if not about.exists():
        about.write_text(_ABOUT, encoding="utf-8")
    return cache


def fit_digest(pipeline, X, y):
    """SHA-256 of what determines a fit: parameters, training data, versions."""
    from mammoclf._version import __version__
    from mammoclf.utils._keras import import_keras

    keras = import_keras()
    digest = hashlib.sha256()
    params = pipeline.get_params(deep=True)
    for name in sorted(params):
        value = params[name]
        if name in _NOT_IDENTIFYING or hasattr(value, "get_params"):
            continue  # nested estimators are covered by their own parameters
        digest.update(f"{name}={value!r};".encode())
    digest.update(f"{type(pipeline[-1]).__qualname__};".encode())
    for array in (np.asarray(X), np.asarray(y)):
        if array.dtype.kind in "OUS":  # labels: hash their text, not object pointers
            array = array.astype(str)
            data = array.tobytes()
        else:
            array = np.ascontiguousarray(array)
            data = memoryview(array).cast("B")
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(data)
    digest.update(
        f"{__version__};{keras.__version__};{keras.backend.backend()}".encode()
    )
    return digest.hexdigest()


class ResumablePipeline(Pipeline):
    """A :class:`mammoclf.pipeline.Pipeline` whose finished fits survive interruption.

    ``fit`` loads the fit from ``cache_dir`` when an earlier run saved it,
    and otherwise fits and saves it there. ``cache_dir=None`` fits as usual.
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
        from mammoclf.persistence import load, save

        path = Path(self.cache_dir) / f"{fit_digest(self, X, y)}.mammoclf"
        if path.is_file():
            self.steps = load(path).steps
            self.resumed_ = True
            return self
        super().fit(X, y)
        save(Pipeline(self.steps), path)
        self.resumed_ = False
        return self
