"""Calibration of predicted probabilities: Brier score, Cox's intercept and slope.

A model is calibrated when, among images given a malignancy probability of
0.3, about 30 % are malignant. Discrimination (AUC) says nothing about it: any
increasing transformation of the scores keeps the AUC and can ruin the
probabilities. CLAIM 2024 and TRIPOD+AI ask for both.

The logistic recalibration of Cox (1958) regresses the outcome on the logit
of the predicted probability, ``logit P(y = 1) = a + b * logit(p)``:

* the **calibration slope** is ``b`` of that model (1 is ideal; below 1 the
  predictions are too extreme, as from an overfitted model; above 1 too
  modest);
* the **calibration intercept** here is *calibration-in-the-large*: ``a`` of
  the same model with the slope fixed at 1 (``logit(p)`` as an offset). It
  is 0 when the average predicted risk matches the observed one, negative
  when the risks are too high. This is the definition of Van Calster et al.
  (2016, 2019) and Steyerberg's textbook; Cox's own ``a`` (fitted together
  with ``b``) depends on ``b`` and is not reported, because it cannot be read
  on its own.

Both are maximum-likelihood estimates, computed by Newton-Raphson here (the
tests check them against statsmodels' GLM).

References
----------
Cox DR. Two further applications of a model for binary regression.
*Biometrika* 1958;45:562-565.
Van Calster B, Nieboer D, Vergouwe Y, et al. A calibration hierarchy for risk
models was defined: from utopia to empirical data. *J Clin Epidemiol*
2016;74:167-176.
Van Calster B, McLernon DJ, van Smeden M, et al. Calibration: the Achilles
heel of predictive analytics. *BMC Medicine* 2019;17:230.
"""

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.calibration import calibration_curve
from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.metrics._labels import check_targets, resolve_pos_label
from mammoclf.utils._validation import validate_params

__all__ = [
    "brier_score",
    "calibration_intercept",
    "calibration_slope",
    "reliability_curve",
]

# The largest logit a float64 probability below 1 can express (p = 1 - 2**-53).
# A probability of exactly 0 or 1 (a saturated sigmoid) has an infinite
# logit; it is taken at this bound, the most extreme value the data type can
# tell apart, and a warning says how many were.
LOGIT_BOUND = float(logit(np.nextafter(1.0, 0.0)))
_MAX_NEWTON_STEPS = 100


def check_probabilities(y_true, y_prob, pos_label, *, caller):
    """Validate labels and probabilities; return a boolean outcome and ``y_prob``.

    Returns
    -------
    positive : ndarray of bool, shape (n_samples,)
        Whether each image is of ``pos_label``.
    y_prob : ndarray of float64, shape (n_samples,)
    """
    if np.ndim(y_prob) != 1:
        raise ValueError(
            f"y_prob must be 1-D probabilities of the positive class; got shape "
            f"{np.shape(y_prob)}. Pass predict_proba(X)[:, column of pos_label]."
        )
    y_true, y_prob = check_targets(
        y_true, y_prob, response="score", names=("y_prob",), caller=caller
    )
    y_prob = y_prob.astype(np.float64)
    if y_prob.min() < 0 or y_prob.max() > 1:
        raise ValueError(
            "y_prob must hold probabilities in [0, 1]; scores such as "
            "decision_function logits have no calibration to assess."
        )
    pos_label = resolve_pos_label(y_true, pos_label)
    return y_true == pos_label, y_prob


def _logits(y_prob):
    with np.errstate(divide="ignore"):
        values = logit(y_prob)
    outside = np.abs(values) > LOGIT_BOUND
    if outside.any():
        warnings.warn(
            f"{int(outside.sum())} predicted probabilities are 0 or 1 (or within "
            f"float64 rounding of them); their logits are taken as +-{LOGIT_BOUND:.1f}, "
            "the largest a float64 probability below 1 can express. The calibration "
            "intercept and slope depend on that choice.",
            RuntimeWarning,
            stacklevel=5,
        )
    return np.clip(values, -LOGIT_BOUND, LOGIT_BOUND)


def _log_likelihood(eta, outcome):
    return float(np.sum(outcome * eta - np.logaddexp(0.0, eta)))


def logistic_fit(design, outcome, offset):
    """Maximum-likelihood coefficients of ``logit P(y) = offset + design @ beta``.

    Newton-Raphson with step halving, from ``beta = 0``. The callers
    guarantee that the estimate exists (both classes, no separation), so the
    log-likelihood is strictly concave and the iteration converges.
    """
    beta = np.zeros(design.shape[1])
    current = _log_likelihood(offset, outcome)
    for _ in range(_MAX_NEWTON_STEPS):
        probability = expit(offset + design @ beta)
        gradient = design.T @ (outcome - probability)
        information = design.T @ (design * (probability * (1 - probability))[:, None])
        step = np.linalg.solve(information, gradient)
        # Half the Newton decrement: the most another step could still gain.
        # Stopping on it, rather than on the step size alone, ends the
        # iteration when rounding makes tiny steps oscillate.
        if gradient @ step / 2 <= 1e-13 * (1 + abs(current)):
            return beta + step
        for _halving in range(60):
            candidate = _log_likelihood(offset + design @ (beta + step), outcome)
            if candidate >= current - 1e-12 * abs(current):
                break
            step = step / 2
        beta, current = beta + step, candidate
        if np.max(np.abs(step)) < 1e-10 * (1 + np.max(np.abs(beta))):
            return beta
    raise ValueError(  # pragma: no cover - needs near-separated data
        "The logistic recalibration did not converge in "
        f"{_MAX_NEWTON_STEPS} Newton steps; the data are nearly separated."
    )


def _require_both_classes(positive, what):
    if positive.all() or not positive.any():
        raise ValueError(
            f"The {what} is undefined when y_true holds a single class: a "
            "calibration model needs malignant and benign cases."
        )


_COMMON = {
    "y_true": ["array-like"],
    "y_prob": ["array-like"],
    "pos_label": "no_validation",  # checked by resolve_pos_label
}


@validate_params(_COMMON, prefer_skip_nested_validation=True)
def brier_score(y_true, y_prob, *, pos_label="auto"):
    """Brier score: mean squared difference between probability and outcome.

    ``mean((p_i - y_i) ** 2)`` with ``y_i = 1`` for the positive (malignant)
    class; 0 is perfect, and a constant prediction of the prevalence ``pi``
    scores ``pi * (1 - pi)``. It mixes discrimination and calibration, so
    read it with the AUC and :func:`calibration_slope`. Defined for a single
    class. It equals :func:`sklearn.metrics.brier_score_loss` (the tests
    check), computed directly because bootstrap intervals call it thousands
    of times and scikit-learn's input checks dominate its cost.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; at most two classes.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities of ``pos_label``, in [0, 1].
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.

    Returns
    -------
    score : float
        In [0, 1]; lower is better.

    Examples
    --------
    >>> from mammoclf.metrics import brier_score
    >>> brier_score(["BENIGN", "MALIGNANT", "MALIGNANT"], [0.0, 1.0, 0.5])
    0.08333333333333333
    """
    positive, y_prob = check_probabilities(
        y_true, y_prob, pos_label, caller="brier_score"
    )
    return float(np.mean((y_prob - positive) ** 2))


@validate_params(_COMMON, prefer_skip_nested_validation=True)
def calibration_intercept(y_true, y_prob, *, pos_label="auto"):
    """Calibration-in-the-large: the intercept of the recalibration with slope 1.

    The maximum-likelihood ``a`` of ``logit P(y = 1) = a + logit(p)``
    (``logit(p)`` is an offset). 0 means the predicted risks are right on
    average; ``a < 0`` means they are too high, ``a > 0`` too low. It is the
    intercept of Van Calster et al. (2016), not Cox's intercept fitted
    together with the slope; see the module docstring.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; exactly two classes.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities of ``pos_label``, in [0, 1]. Probabilities
        of exactly 0 or 1 are taken at the logit bound ``+-36.7`` with a
        warning.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.

    Returns
    -------
    intercept : float
        0 for predictions right on average.

    Raises
    ------
    ValueError
        When ``y_true`` holds a single class: the intercept is then
        infinite.

    Examples
    --------
    >>> from mammoclf.metrics import calibration_intercept
    >>> y = ["BENIGN", "MALIGNANT"] * 2
    >>> round(calibration_intercept(y, [0.5, 0.5, 0.5, 0.5]), 6)   # right on average
    0.0
    >>> calibration_intercept(y, [0.8, 0.8, 0.8, 0.8]) < 0         # risks too high
    True
    """
    positive, y_prob = check_probabilities(
        y_true, y_prob, pos_label, caller="calibration_intercept"
    )
    return _calibration_intercept(positive, y_prob)


def _calibration_intercept(positive, y_prob):
    _require_both_classes(positive, "calibration intercept")
    offset = _logits(y_prob)
    design = np.ones((positive.shape[0], 1))
    return float(logistic_fit(design, positive.astype(np.float64), offset)[0])


@validate_params(_COMMON, prefer_skip_nested_validation=True)
def calibration_slope(y_true, y_prob, *, pos_label="auto"):
    """Calibration slope of Cox (1958): the slope on ``logit(p)`` of the outcome.

    The maximum-likelihood ``b`` of ``logit P(y = 1) = a + b * logit(p)``.
    1 is ideal; ``b < 1`` means the predictions are too extreme (the usual
    sign of overfitting), ``b > 1`` that they are too close to the average,
    ``b < 0`` that they point the wrong way.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; exactly two classes.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities of ``pos_label``, in [0, 1]. Probabilities
        of exactly 0 or 1 are taken at the logit bound ``+-36.7`` with a
        warning.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.

    Returns
    -------
    slope : float
        1 for predictions neither too extreme nor too modest.

    Raises
    ------
    ValueError
        When the slope has no finite estimate: a single class in
        ``y_true``, all probabilities equal, or probabilities that separate
        the classes (every malignant case above, or at, every benign one;
        the maximum-likelihood slope is then infinite).

    Examples
    --------
    >>> from mammoclf.metrics import calibration_slope
    >>> y = ["BENIGN", "MALIGNANT", "BENIGN", "MALIGNANT", "MALIGNANT", "BENIGN"]
    >>> p = [0.05, 0.95, 0.7, 0.3, 0.85, 0.2]
    >>> round(calibration_slope(y, p), 4)     # < 1: too extreme
    0.8318
    """
    positive, y_prob = check_probabilities(
        y_true, y_prob, pos_label, caller="calibration_slope"
    )
    return _calibration_slope(positive, y_prob)


def _calibration_slope(positive, y_prob):
    _require_both_classes(positive, "calibration slope")
    logits = _logits(y_prob)
    if np.ptp(logits) == 0:
        raise ValueError(
            "The calibration slope is undefined when every predicted probability is "
            "the same: there is nothing to regress the outcome on."
        )
    # A logistic model with an intercept and one covariate has a finite
    # maximum-likelihood estimate exactly when the classes overlap strictly
    # (Albert & Anderson 1984): otherwise the slope runs off to infinity.
    if logits[~positive].max() <= logits[positive].min() or (
        logits[positive].max() <= logits[~positive].min()
    ):
        raise ValueError(
            "The calibration slope is undefined: the predicted probabilities separate "
            "the classes (every malignant case scores at or above every benign one, "
            "or the reverse), so the maximum-likelihood slope is infinite."
        )
    design = np.column_stack([np.ones_like(logits), logits])
    zero = np.zeros_like(logits)
    return float(logistic_fit(design, positive.astype(np.float64), zero)[1])


@validate_params(
    {
        **_COMMON,
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
        "return_bins": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def reliability_curve(
    y_true,
    y_prob,
    *,
    n_bins=10,
    strategy="uniform",
    pos_label="auto",
    return_bins=False,
):
    """The data of a reliability diagram: observed against predicted risk per bin.

    :func:`sklearn.calibration.calibration_curve`'s points, with the number
    of images in each bin (a bin of three images says little). Empty bins
    are left out, as scikit-learn does. Plot it with
    :class:`sklearn.calibration.CalibrationDisplay` (see
    :func:`mammoclf.evaluation.evaluate_calibration`, whose result has a
    ``plot`` method).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; at most two classes.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities of ``pos_label``, in [0, 1].
    n_bins : int, default=10
        Number of bins of [0, 1].
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins, or bins holding equal numbers of images.
    pos_label : "auto" or label, default="auto"
        The positive class, see :func:`resolve_pos_label`.
    return_bins : bool, default=False
        Also return the row of ``curve`` each image falls in.

    Returns
    -------
    curve : pandas.DataFrame
        One row per non-empty bin: ``bin_low``, ``bin_high`` (its edges; a
        bin holds the probabilities above its low edge up to and including
        its high edge, the first bin also its low edge, as in scikit-learn),
        ``n_images``, ``mean_predicted`` and ``fraction_positive``.
    row_of_image : ndarray of int, shape (n_samples,)
        Only with ``return_bins=True``: the row of ``curve`` of each image.

    Examples
    --------
    >>> from mammoclf.metrics import reliability_curve
    >>> y = ["BENIGN", "BENIGN", "MALIGNANT", "BENIGN", "MALIGNANT", "MALIGNANT"]
    >>> curve = reliability_curve(y, [0.1, 0.2, 0.3, 0.6, 0.7, 0.9], n_bins=2)
    >>> curve[["n_images", "mean_predicted", "fraction_positive"]].round(3)
       n_images  mean_predicted  fraction_positive
    0         3           0.200              0.333
    1         3           0.733              0.667
    """
    positive, y_prob = check_probabilities(
        y_true, y_prob, pos_label, caller="reliability_curve"
    )
    fraction_positive, mean_predicted = calibration_curve(
        positive, y_prob, n_bins=n_bins, strategy=strategy, pos_label=True
    )
    # The bin edges and assignment of calibration_curve, for the counts and
    # edges it does not return.
    if strategy == "quantile":
        edges = np.percentile(y_prob, np.linspace(0, 100, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_of = np.searchsorted(edges[1:-1], y_prob)
    counts = np.bincount(bin_of, minlength=n_bins)
    filled = np.flatnonzero(counts)
    curve = pd.DataFrame(
        {
            "bin_low": edges[filled],
            "bin_high": edges[filled + 1],
            "n_images": counts[filled],
            "mean_predicted": mean_predicted,
            "fraction_positive": fraction_positive,
        }
    )
    if return_bins:
        return curve, np.searchsorted(filled, bin_of)
    return curve
