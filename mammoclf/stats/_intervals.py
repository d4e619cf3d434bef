"""Confidence intervals that stay inside the range of what they estimate."""

import numpy as np
from scipy import stats as _st

__all__ = ["bounded_difference_ci"]


def bounded_difference_ci(difference, standard_error, confidence_level):
    """Wald interval of a difference in ``[-1, 1]``, built on the atanh scale.

    A difference of two AUCs or of two accuracies lies in ``[-1, 1]``, but
    ``difference +/- z * SE`` can leave it (e.g. ``0.8 +/- 0.35``). Here the
    interval is ``tanh(atanh(d) +/- z * SE / (1 - d^2))``: the normal
    interval on the Fisher z (atanh) scale, with the standard error carried
    over by the delta method, mapped back. It lies inside ``(-1, 1)``, is
    asymmetric towards the nearer bound, and is the Wald interval to first
    order when ``d`` is near 0. As it is not symmetric about ``d``, near
    ``p = 0.05`` it can include 0 while the (untransformed) z test rejects;
    it never excludes 0 while the test does not reject.

    Parameters
    ----------
    difference : float
        The estimate, in ``[-1, 1]``.
    standard_error : float
        Its standard error on the original scale.
    confidence_level : float
        Level of the interval.

    Returns
    -------
    ci : tuple of (float, float)
        ``(nan, nan)`` when the standard error is zero or not finite, or
        ``|difference| = 1``: no interval is defined there, and a zero-width
        one would claim certainty the data do not give.
    """
    if not (np.isfinite(standard_error) and standard_error > 0) or abs(difference) >= 1:
        return (np.nan, np.nan)
    z = _st.norm.ppf(0.5 + confidence_level / 2)
    center = np.arctanh(difference)
    half = z * standard_error / (1 - difference**2)
    return (float(np.tanh(center - half)), float(np.tanh(center + half)))
