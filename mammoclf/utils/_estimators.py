"""Reaching the estimator that learns inside pipelines and searches."""

__all__ = ["final_estimator"]


def final_estimator(estimator):
    """The estimator that does the learning inside pipelines and searches.

    Follows ``best_estimator_`` of fitted searches and the last step of
    (scikit-learn or imbalanced-learn) pipelines; any other estimator is
    returned as it is.

    Parameters
    ----------
    estimator : estimator
        A (fitted) estimator, pipeline or search.

    Returns
    -------
    final : estimator
    """
    while True:
        if hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
            continue
        steps = getattr(estimator, "steps", None)
        if isinstance(steps, list) and steps:
            estimator = steps[-1][1]
            continue
        return estimator
