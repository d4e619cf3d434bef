"""Process-wide switches of mammoclf, in scikit-learn's ``set_config`` pattern.

``reuse_traces`` (default True): fits reuse the traced training step of an
identical, already compiled network in the same process (see
:mod:`mammoclf.classifiers` and the user guide's scaling page). Turn it off
for Keras models customised in ways the reuse key cannot see.

The settings belong to one process: loky and Dask workers start with the
defaults, so set them in the worker (or leave them at the defaults).
"""

import threading
from contextlib import contextmanager

from mammoclf.utils._validation import validate_params

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS = {"reuse_traces": True}
_config = dict(_DEFAULTS)
_lock = threading.Lock()


def get_config():
    """The current mammoclf settings.

    Returns
    -------
    config : dict
        Keys: ``reuse_traces`` (bool).

    Examples
    --------
    >>> import mammoclf
    >>> mammoclf.get_config()["reuse_traces"]
    True
    """
    with _lock:
        return dict(_config)


@validate_params(
    {"reuse_traces": ["boolean", None]}, prefer_skip_nested_validation=True
)
def set_config(*, reuse_traces=None):
    """Change mammoclf's settings for this process.

    Parameters
    ----------
    reuse_traces : bool, default=None
        Whether a fit may reuse the traced training step of an identical
        network compiled earlier in this process (results are bitwise
        identical either way). None leaves the setting as it is.

    Examples
    --------
    >>> import mammoclf
    >>> mammoclf.set_config(reuse_traces=False)
    >>> mammoclf.get_config()["reuse_traces"]
    False
    >>> mammoclf.set_config(reuse_traces=True)
    """
    if reuse_traces is not None:
        with _lock:
            _config["reuse_traces"] = bool(reuse_traces)


@validate_params(
    {"reuse_traces": ["boolean", None]}, prefer_skip_nested_validation=True
)
@contextmanager
def config_context(*, reuse_traces=None):
    """Change mammoclf's settings inside a ``with`` block only.

    Parameters
    ----------
    reuse_traces : bool, default=None
        As in :func:`set_config`.

    Examples
    --------
    >>> import mammoclf
    >>> with mammoclf.config_context(reuse_traces=False):
    ...     mammoclf.get_config()["reuse_traces"]
    False
    >>> mammoclf.get_config()["reuse_traces"]
    True
    """
    before = get_config()
    set_config(reuse_traces=reuse_traces)
    try:
        yield
    finally:
        set_config(**before)
