"""The one entry to a summary: :func:`summarize` of a comparison or a held-out evaluation.

It tells what it was given apart once (:class:`SummaryInputs`), resolves
the :class:`~mammoclf.evaluation.SummaryOptions` for it, and runs every
builder of :data:`~mammoclf.evaluation.SUMMARY_TABLES`; the title and the
general notes of the summary are worded here.
"""

from dataclasses import replace

import numpy as np

from mammoclf.evaluation._prediction_sets import SummaryInputs
from mammoclf.evaluation._summary import ComparisonSummary
from mammoclf.evaluation._summary_options import SummaryOptions, resolve_options
from mammoclf.evaluation._summary_tables import SUMMARY_TABLES
from mammoclf.utils._validation import validate_params

__all__ = ["summarize"]


def _general_notes(inputs):
    comparison, holdout = inputs.comparison, inputs.holdout
    if comparison is None:
        notes = [f"Positive class: {str(holdout.pos_label)!r}."]
        if holdout.groups is None:
            notes.append(
                "No patient ids were given: intervals resample images, and nothing "
                "checked that the test patients are new."
            )
        return notes
    notes = [
        (
            f"Positive class: {str(comparison.pos_label)!r}. Scores are computed per "
            "split from out-of-fold predictions; every model used the same splits."
        )
    ]
    if comparison.groups is None:
        notes.append("No patient groups were given: folds were split per image.")
    return notes


def _title(inputs):
    comparison, holdout = inputs.comparison, inputs.holdout
    if comparison is not None:
        return (
            f"Comparison of {len(comparison.model_names)} model(s) on "
            f"{comparison.y_true.shape[0]} images: {comparison.cv_description}, "
            f"{comparison.n_splits} splits"
        )
    patients = (
        ""
        if holdout.groups is None
        else f" of {np.unique(holdout.groups).size} patients"
    )
    return (
        f"Evaluation of {len(holdout.model_names)} model(s) on "
        f"{holdout.y_true.shape[0]} test images{patients} "
        f"(developed on {holdout.training['n_images']} images)"
    )


@validate_params(
    {
        # A ComparisonResult or a HoldoutResult, told apart (TypeError for
        # anything else) by SummaryInputs.from_result.
        "result": "no_validation",
        "options": [SummaryOptions, None],
    },
    prefer_skip_nested_validation=True,
)
def summarize(result, options=None):
    """The tables of a comparison or a held-out evaluation: one summary, every view.

    Runs every builder of :data:`SUMMARY_TABLES`: for a comparison Table 1,
    the pairwise (and omnibus) tests, the decision threshold of every model
    and split, the compute table and, as asked, calibration, operating
    points, breast-level and subgroup results (from the ``metadata`` given
    to :func:`~mammoclf.compare_models`), computed on the pooled
    out-of-fold predictions of repeat 0 with patient-bootstrap intervals. A
    held-out test set attached with :meth:`ComparisonResult.with_holdout
    <mammoclf.model_selection.ComparisonResult.with_holdout>` gets the same
    evaluation tables, kept apart; a :class:`HoldoutResult` alone (an
    external validation) gets those only. ``checklist=True`` ends with the
    CLAIM 2024 / TRIPOD+AI checklist.

    Parameters
    ----------
    result : ComparisonResult or HoldoutResult
        From :func:`~mammoclf.compare_models` (with a held-out evaluation
        attached or not) or :func:`~mammoclf.model_selection.evaluate_holdout`.
    options : SummaryOptions, default=None
        What to show; None means ``SummaryOptions()``. Checked here, a bad
        value raising ``InvalidParameterError`` with the parameter's name.

    Returns
    -------
    summary : ComparisonSummary
        Prints as text; ``summary.to_markdown()`` for reports; its
        ``tables`` hold each table's numbers, formatted cells and notes;
        ``scores``, ``tests`` and ``compute`` are DataFrames.

    Raises
    ------
    TypeError
        When ``result`` is neither a ComparisonResult nor a HoldoutResult.
    KeyError
        When ``subgroups`` names a column that the metadata lack.
    ValueError
        When ``tests`` or ``omnibus`` are asked of a held-out evaluation
        alone, or a requested test cannot run on the comparison.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from mammoclf.evaluation import SummaryOptions, summarize
    >>> from mammoclf.model_selection import evaluate_holdout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 3))
    >>> y = np.where(X[:, 0] + rng.normal(size=80) > 0, "MALIGNANT", "BENIGN")
    >>> patients = np.arange(80)
    >>> result = evaluate_holdout({"logreg": LogisticRegression()},
    ...                           X[:50], y[:50], X[50:], y[50:],
    ...                           groups_train=patients[:50],
    ...                           groups_test=patients[50:])
    >>> summary = summarize(result, SummaryOptions(metrics=["roc_auc"], n_resamples=50))
    >>> [table.key for table in summary.tables]
    ['thresholds', 'holdout']
    """
    inputs = SummaryInputs.from_result(result)
    resolved = resolve_options(
        SummaryOptions() if options is None else options,
        inputs.comparison,
        inputs.holdout,
    )
    tables = []
    for key, builder in SUMMARY_TABLES.items():
        table = builder(inputs, replace(resolved, previous_tables=tuple(tables)))
        if table is not None:
            tables.append(replace(table, key=key))
    return ComparisonSummary(
        title=_title(inputs),
        model_names=tuple(result.model_names),
        tables=tuple(tables),
        general_notes=tuple(_general_notes(inputs)),
        options=resolved,
    )
