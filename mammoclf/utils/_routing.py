"""Fitting with patient groups routed to the estimators that ask for them.

scikit-learn passes ``groups`` to a nested splitter (e.g.
``TunedThresholdClassifierCV(cv=StratifiedGroupKFold())``) only through
metadata routing. :func:`fit_with_groups` is the one place mammoclf does
that: ``compare_models`` per training fold, ``evaluate_holdout`` and the
command line's final refits.
"""

from sklearn import config_context
from sklearn.utils.metadata_routing import get_routing_for_object

__all__ = ["fit_with_groups"]


def fit_with_groups(estimator, X, y, groups):
    """Fit, routing ``groups`` to estimators that ask for it (a grouped inner CV).

    Estimators whose ``fit`` consumes ``groups`` get them, with metadata
    routing enabled for this fit alone; the others are fitted on ``X, y``.

    Parameters
    ----------
    estimator : estimator
        The estimator to fit (fitted in place).
    X, y : array-like
        Training inputs and labels.
    groups : array-like or None
        Patient id of each training input.

    Returns
    -------
    estimator : estimator
        The fitted estimator.
    """
    if groups is not None and "groups" in get_routing_for_object(estimator).consumes(
        "fit", {"groups"}
    ):
        with config_context(enable_metadata_routing=True):
            return estimator.fit(X, y, groups=groups)
    return estimator.fit(X, y)
