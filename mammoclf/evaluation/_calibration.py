"""Calibration of one model's probabilities, with patient-bootstrap intervals.

The metrics (Brier score, Cox's intercept and slope, the reliability curve)
are :mod:`mammoclf.metrics`'s; this module adds their intervals and the
reliability diagram, drawn by scikit-learn's ``CalibrationDisplay``, and
:func:`calibration_table`, the summary's calibration table (a builder of
:data:`~mammoclf.evaluation.SUMMARY_TABLES`) of the out-of-fold or the
held-out predictions.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.evaluation._evaluation import (
    BOOTSTRAP_PARAMS,
    INTERVAL_COLUMNS,
    check_lengths,
    metric_with_interval,
    table_seed,
    warn_failed_resamples,
)
from mammoclf.evaluation._prediction_sets import (
    bootstrap_options,
    interval_cell,
    interval_words,
    set_description,
    set_title,
)
from mammoclf.evaluation._summary import SummaryTable
from mammoclf.metrics import (
    brier_score,
    calibration_intercept,
    calibration_slope,
    reliability_curve,
    resolve_pos_label,
)
from mammoclf.utils._validation import validate_params

__all__ = ["CalibrationResult", "calibration_table", "evaluate_calibration"]


@dataclass(frozen=True, repr=False, eq=False)
class CalibrationResult:
    """Calibration of one model's probabilities, from :func:`evaluate_calibration`.

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``metric`` (``brier_score``, ``calibration_intercept``,
        ``calibration_slope``); columns ``estimate``, ``ci_low``,
        ``ci_high``, ``n_failed`` and ``note``.
    curve : pandas.DataFrame
        The reliability diagram's bins, from
        :func:`mammoclf.metrics.reliability_curve`, with ``ci_low`` and
        ``ci_high`` of each bin's ``fraction_positive`` (a bootstrap over
        the patients of the bin).
    y_true : ndarray of shape (n_samples,)
        The labels.
    y_prob : ndarray of shape (n_samples,)
        The probabilities of ``pos_label``.
    pos_label : label
        The positive class.
    n_images : int
        Number of images.
    n_patients : int or None
        Number of patients (None without ``groups``).
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    y_true: np.ndarray
    y_prob: np.ndarray
    pos_label: object
    n_images: int
    n_patients: int | None

    def __repr__(self):
        return f"CalibrationResult(n_images={self.n_images})\n{self.table.round(4)}"

    def plot(self, *, ax=None, name=None, ref_line=True):
        """Draw the reliability diagram with scikit-learn's ``CalibrationDisplay``.

        Each point carries the interval of its bin's observed risk.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None makes a new figure.
        name : str, default=None
            Legend label (e.g. the model's name).
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.

        Returns
        -------
        display : sklearn.calibration.CalibrationDisplay
            The drawn display (``display.ax_``, ``display.figure_``).
        """
        from sklearn.calibration import CalibrationDisplay

        curve = self.curve
        display = CalibrationDisplay(
            curve["fraction_positive"].to_numpy(),
            curve["mean_predicted"].to_numpy(),
            self.y_prob,
            estimator_name=name,
            pos_label=self.pos_label,
        )
        display.plot(ax=ax, ref_line=ref_line)
        # Interval bars of the observed risk, in the line's colour.
        display.ax_.errorbar(
            curve["mean_predicted"],
            curve["fraction_positive"],
            yerr=[
                curve["fraction_positive"] - curve["ci_low"],
                curve["ci_high"] - curve["fraction_positive"],
            ],
            fmt="none",
            ecolor=display.line_.get_color(),
            capsize=2,
        )
        return display


# "| BOOTSTRAP_PARAMS", not "**BOOTSTRAP_PARAMS" inside the literal: Sphinx 9
# cannot parse a module with a {**...} decorator argument, and autosummary
# then loses CalibrationResult's attributes (the docs build fails).
@validate_params(
    {
        "y_true": ["array-like"],
        "y_prob": ["array-like"],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
    }
    | BOOTSTRAP_PARAMS,
    prefer_skip_nested_validation=True,
)
def evaluate_calibration(
    y_true,
    y_prob,
    *,
    groups=None,
    n_bins=10,
    strategy="uniform",
    n_resamples=2000,
    confidence_level=0.95,
    pos_label="auto",
    random_state=None,
):
    """Brier score, calibration intercept and slope with intervals, and the diagram.

    The metrics are :func:`mammoclf.metrics.brier_score`,
    :func:`~mammoclf.metrics.calibration_intercept` (calibration-in-the-large,
    slope fixed at 1) and :func:`~mammoclf.metrics.calibration_slope` (Cox
    1958); their intervals are patient-bootstrap percentile intervals, the
    same resamples for all three. A resample whose probabilities separate
    the classes has no finite slope and is left out (counted in
    ``n_failed``), so with a nearly perfect model the slope's interval
    describes the resamples where it exists.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities of ``pos_label`` (a ``predict_proba``
        column), in [0, 1].
    groups : array-like of shape (n_samples,), default=None
        Patient id of each image; None resamples images.
    n_bins : int, default=10
        Bins of the reliability diagram.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins, or bins of equal numbers of images.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence_level : float, default=0.95
        Level of the intervals.
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.

    Returns
    -------
    result : CalibrationResult
        ``table``, ``curve`` and ``plot()``.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.evaluation import evaluate_calibration
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.95, 300)
    >>> y = np.where(rng.uniform(size=300) < p, "MALIGNANT", "BENIGN")
    >>> result = evaluate_calibration(y, p, groups=np.arange(300) // 2,
    ...                               n_resamples=200, random_state=0)
    >>> slope = result.table.loc["calibration_slope"]
    >>> bool(slope["ci_low"] < 1 < slope["ci_high"])       # calibrated by design
    True
    """
    y_true, groups, (y_prob,) = check_lengths(y_true, groups, y_prob)
    pos_label = resolve_pos_label(y_true, pos_label)
    curve, row_of_image = reliability_curve(
        y_true,
        y_prob,
        n_bins=n_bins,
        strategy=strategy,
        pos_label=pos_label,
        return_bins=True,
    )
    y_prob = y_prob.astype(np.float64)
    seed = table_seed(random_state)
    curve = _with_bin_intervals(
        curve,
        row_of_image,
        y_true,
        y_prob,
        groups=groups,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        pos_label=pos_label,
        seed=seed,
    )
    metrics = {
        "brier_score": brier_score,
        "calibration_intercept": calibration_intercept,
        "calibration_slope": calibration_slope,
    }
    rows = [
        metric_with_interval(
            metric,
            y_true,
            y_prob,
            groups=groups,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            pos_label=pos_label,
            seed=seed,
        )
        for metric in metrics.values()
    ]
    table = pd.DataFrame(rows, index=pd.Index(list(metrics), name="metric"))
    table.columns = INTERVAL_COLUMNS
    warn_failed_resamples(table, "evaluate_calibration")
    return CalibrationResult(
        table=table,
        curve=curve,
        y_true=y_true,
        y_prob=y_prob,
        pos_label=pos_label,
        n_images=int(y_true.shape[0]),
        n_patients=None if groups is None else int(np.unique(groups).size),
    )


def _fraction_positive(y_true, y_prob, pos_label):
    return float(np.mean(y_true == pos_label))


def _with_bin_intervals(curve, row_of_image, y_true, y_prob, **bootstrap):
    """The reliability curve with an interval for each bin's fraction positive.

    Each bin's interval resamples the patients of that bin (their images in
    it), as a binomial interval per bin would resample images: it describes
    the uncertainty of the observed risk given which images fell in the bin.
    """
    rows = []
    for row in range(len(curve)):
        members = row_of_image == row
        groups = bootstrap["groups"]
        rows.append(
            metric_with_interval(
                _fraction_positive,
                y_true[members],
                y_prob[members],
                **{**bootstrap, "groups": None if groups is None else groups[members]},
            )[1:3]
        )
    intervals = np.array(rows, dtype=np.float64).reshape(len(curve), 2)
    return curve.assign(ci_low=intervals[:, 0], ci_high=intervals[:, 1])


def calibration_table(which):
    """Builder of the calibration table of the ``which`` predictions."""

    def build(inputs, options):
        predictions = inputs.predictions(which)
        if not options.calibration or predictions is None:
            return None
        models = predictions.probability_models
        if not models:
            return None
        frames, display = [], []
        for model in models:
            calibration = evaluate_calibration(
                predictions.y_true,
                predictions.y_score[model],
                groups=predictions.groups,
                pos_label=predictions.pos_label,
                **bootstrap_options(options),
            )
            frames.append(calibration.table.assign(result=calibration))
            cells = {
                metric: interval_cell(row)
                for metric, row in calibration.table.iterrows()
            }
            display.append(
                {
                    "model": model,
                    "Brier score": cells["brier_score"],
                    "calibration intercept": cells["calibration_intercept"],
                    "calibration slope": cells["calibration_slope"],
                }
            )
        skipped = [m for m in predictions.model_names if m not in models]
        notes = [
            (
                "Intercept 0 and slope 1 mean calibrated (Cox 1958: logistic "
                "recalibration of the logit); a slope below 1 means too extreme "
                "probabilities, an intercept below 0 too high ones on average. "
                "The Brier score is the mean squared error of the probabilities."
            )
        ]
        if skipped:
            notes.append(
                f"Not calibrated: {', '.join(skipped)} (no predict_proba; "
                "decision-function scores are not probabilities)."
            )
        return SummaryTable(
            title=set_title(which, "Calibration"),
            caption=(
                f"Brier score, calibration intercept and slope of the probabilities of "
                f"{str(predictions.pos_label)!r}, on {set_description(predictions)} "
                f"{interval_words(options, predictions)}."
            ),
            data=pd.concat(frames, keys=models, names=["model", "metric"]),
            display=pd.DataFrame(display),
            notes=tuple(notes),
        )

    return build
