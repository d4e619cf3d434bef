"""Validation and display of sequences of image file paths (``X`` given as paths)."""

import os

import numpy as np

from mammoclf.exceptions import InvalidImageError

__all__ = ["check_paths", "format_path_list"]

# How many offending paths an error message spells out before summarising.
_SHOWN_PATHS = 10


def check_paths(paths, caller, *, must_exist):
    """Return ``paths`` as a tuple of ``str``.

    Parameters
    ----------
    paths : sequence of str or path-like
        A list, tuple, 1-D array or pandas Series of paths.
    caller : str
        Named in error messages.
    must_exist : bool
        Whether to raise one ``FileNotFoundError`` listing every missing file.

    Raises
    ------
    InvalidImageError
        For a single string, a non-1-D array or an empty sequence.
    TypeError
        For elements that are not paths.
    FileNotFoundError
        When ``must_exist`` and some files do not exist.
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise InvalidImageError(
            f"{caller} expects a sequence of file paths, got a single path "
            f"{os.fspath(paths)!r}; wrap it in a list."
        )
    if hasattr(paths, "ndim") and paths.ndim != 1:
        raise InvalidImageError(
            f"{caller} expects a 1-D sequence of file paths; got an array of shape "
            f"{np.shape(paths)}. Image arrays go to Resizer or a classifier directly."
        )
    try:
        items = list(paths)
    except TypeError as exc:
        raise TypeError(
            f"{caller} expects a sequence of file paths; got {type(paths).__name__}."
        ) from exc
    if not items:
        raise InvalidImageError(f"{caller} got an empty sequence of paths.")
    bad = [
        i for i, item in enumerate(items) if not isinstance(item, (str, os.PathLike))
    ]
    if bad:
        raise TypeError(
            f"{caller} expects file paths (str or path-like); element {bad[0]} is "
            f"{type(items[bad[0]]).__name__}. Image arrays go to Resizer or a "
            "classifier directly."
        )
    result = tuple(os.fspath(item) for item in items)
    if must_exist:
        missing = [path for path in result if not os.path.exists(path)]
        if missing:
            raise FileNotFoundError(
                f"{caller}: {len(missing)} of {len(result)} files do not exist: "
                f"{format_path_list(missing)}"
            )
    return result


def format_path_list(paths):
    """The first few paths, one per line, and how many more there are."""
    shown = "\n  ".join(str(p) for p in paths[:_SHOWN_PATHS])
    more = len(paths) - _SHOWN_PATHS
    return "\n  " + shown + (f"\n  ... and {more} more" if more > 0 else "")
