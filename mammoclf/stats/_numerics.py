"""When two floats differ only by round-off: one tolerance for every test.

Scores such as 0.9 - 0.8 and 0.7 - 0.8 are 0.1 and -0.1 on paper but differ
by about 1e-17 in binary floating point. Ranking them then breaks a tie,
and a "spread" of 1e-17 divides a mean into a t statistic of 1e15. Every
test in :mod:`mammoclf.stats` decides "equal" and "zero spread" with the
same relative tolerance, so they agree on which data are degenerate.
"""

from numbers import Real

import numpy as np

__all__ = [
    "RELATIVE_TOLERANCE",
    "TooFewCasesError",
    "as_real",
    "is_round_off",
    "snap_to_tolerance",
]

#: Differences smaller than this fraction of the data's scale (at least 1)
#: are treated as round-off. About 4500 times the float64 machine epsilon:
#: far above the error of a few arithmetic steps on scores in [0, 1], far
#: below any difference between models that a test could detect.
RELATIVE_TOLERANCE = 1e-12


def as_real(values, name):
    """``values`` as float64, refusing strings and other non-numbers.

    ``np.asarray(["0.8", "0.7"], dtype=float)`` parses the strings; a test
    fed labels or text by mistake must say so rather than test the parse.
    """
    array = np.asarray(values)
    numeric = array.dtype.kind in "biuf" or (
        array.dtype.kind == "O"
        and all(isinstance(v, Real) for v in array.ravel().tolist())
    )
    if not numeric and array.size:
        raise ValueError(
            f"{name} must hold numbers; got values of type {array.dtype} "
            f"(e.g. {array.ravel().tolist()[0]!r})."
        )
    return array.astype(np.float64)


def _scale(*arrays):
    largest = max((float(np.max(np.abs(a))) for a in arrays if np.size(a)), default=0)
    return max(1.0, largest)


def is_round_off(spread, *scale_of):
    """Whether ``spread`` (a standard deviation or error) is round-off only.

    Parameters
    ----------
    spread : float
        A non-negative spread on the scale of the data.
    *scale_of : array-like
        The data (or location) that set the scale; the scale is their
        largest absolute value, and at least 1.
    """
    return bool(spread <= RELATIVE_TOLERANCE * _scale(*scale_of))


def snap_to_tolerance(values, *scale_of):
    """Round ``values`` to a grid of ``RELATIVE_TOLERANCE * scale``.

    Values that differ by round-off only land on the same grid point (and
    ``x`` and ``-x`` keep equal magnitudes), so ranks tie where they should
    and differences within the tolerance of zero become exactly zero.
    """
    values = np.asarray(values, dtype=np.float64)
    step = RELATIVE_TOLERANCE * _scale(values, *scale_of)
    return np.round(values / step) * step


class TooFewCasesError(ValueError):
    """The data hold too few cases or patients for a test's variance.

    A ValueError like any bad input; :func:`mammoclf.evaluation.pairwise_tests`
    turns it into a NaN row with a warning, so that one impossible pair does
    not stop a whole summary table.
    """
