"""What a summary shows: one options object, checked once, resolved per result.

:class:`SummaryOptions` holds what :func:`~mammoclf.evaluation.summarize`
is asked for (metrics, tests, intervals, evaluations, the checklist), as a
scikit-learn estimator holds its parameters: stored untouched by
``__init__``, checked against ``_parameter_constraints`` when used.
:func:`resolve_options` turns it, for one result, into the
:class:`ResolvedSummaryOptions` that every table builder reads, with the
defaults that depend on the result filled in (the scored metrics, the tests
the models' scores allow, the metadata columns).
"""

from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import ClassVar

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from mammoclf.evaluation._pairwise import _OMNIBUS, PAIRWISE_TESTS
from mammoclf.evaluation._report_localization import LocalizationMaps
from mammoclf.metrics import CLINICAL_METRICS, METRIC_DISPLAY_NAMES
from mammoclf.stats import ADJUST_METHODS
from mammoclf.utils._validation import CONFIDENCE_LEVEL

__all__ = ["CI_METHOD_NAMES", "ResolvedSummaryOptions", "SummaryOptions"]

#: The intervals of Table 1 (``ci_method``), as its caption names them.
CI_METHOD_NAMES = {
    "korn_graubard": "Korn-Graubard interval (Wilson score interval at the "
    "effective number of test images m (1 - m) / var, var the Nadeau-Bengio "
    "corrected variance, at most n_test / (1/J + n_test/n_train), so folds "
    "that agree still get an interval), inside [0, 1]",
    "logit_t": "t interval with the Nadeau-Bengio corrected variance on the "
    "logit scale, inside [0, 1]",
    "corrected_t": "t interval with the Nadeau-Bengio corrected variance",
    "t": "naive t interval (assumes independent folds; too narrow)",
    "bootstrap": "patient-level bootstrap of pooled out-of-fold predictions (repeat 0)",
}
_DEFAULT_OMNIBUS = ("friedman", "rm_anova")


class _SequenceOf(HasMethods):
    """Parameter constraint: a tuple or list whose every item passes ``check``.

    scikit-learn has no constraint on the items of a sequence; like
    :class:`mammoclf.utils._validation.PositiveInts` it derives from
    ``HasMethods`` only because ``make_constraint`` accepts scikit-learn's
    own constraint classes alone, and replaces both methods.
    """

    def __init__(self, check, description, *, allow_empty=True):
        super().__init__([])
        self.check = check
        self.description = description
        self.allow_empty = allow_empty

    def is_satisfied_by(self, val):
        return (
            isinstance(val, (tuple, list))
            and (self.allow_empty or len(val) > 0)
            and all(self.check(item) for item in val)
        )

    def __str__(self):
        return self.description


def _is_rate(value):
    return isinstance(value, Real) and not isinstance(value, bool) and 0 <= value <= 1


def _is_name(value):
    return isinstance(value, str)


class SummaryOptions(BaseEstimator):
    """What :func:`~mammoclf.evaluation.summarize` shows: tables, tests, intervals.

    One object for the options of a comparison's and of a held-out
    evaluation's summary. Like a scikit-learn estimator it stores its
    parameters untouched (``get_params``, ``set_params``, ``clone`` work) and
    checks them against ``_parameter_constraints`` when it is used, so a bad
    value is refused with the parameter's name. Defaults that depend on the
    result (the scored metrics, the tests its scores allow, its metadata
    columns) are resolved by :func:`~mammoclf.evaluation.summarize`.

    Parameters
    ----------
    metrics : list or tuple of str, default=None
        Metrics of the scores table (and of the held-out table). None means
        every scored metric of a comparison, every clinical metric of a
        held-out evaluation alone.
    tests : list or tuple of str, default=None
        Pairwise tests (names of :data:`mammoclf.evaluation.PAIRWISE_TESTS`),
        each on every pair of models, p-values adjusted per test; empty for
        none. None means the corrected t-test on ``test_metric``, plus
        DeLong's test when every model has positive-class scores. DeLong's
        and McNemar's tests are the clustered versions (Obuchowski 1997 and
        1998) when the comparison has patient groups, as
        :func:`mammoclf.evaluation.pairwise_tests` does. An explicitly
        requested test that the comparison cannot run (DeLong without
        scores, 5x2cv without 5 x 2 splits, any test for a held-out
        evaluation alone) is an error.
    test_metric : str, default=None
        Metric of the fold-score tests and the omnibus tests; None means
        ``"roc_auc"`` when it was scored, else the first scored metric.
    correction : {"holm", "bonferroni", "none"}, default="holm"
        Multiple-comparison adjustment across the pairs of each test.
    alpha : float, default=0.05
        Family-wise error rate of the ``reject`` column.
    ci_method : {"korn_graubard", "logit_t", "corrected_t", "t", \
"bootstrap"}, default="korn_graubard"
        Interval of the scores table, see
        :meth:`ComparisonResult.summary_frame
        <mammoclf.model_selection.ComparisonResult.summary_frame>`: by
        default Korn and Graubard's interval, inside [0, 1]; ``"logit_t"``
        the corrected t interval on the logit scale; ``"corrected_t"`` gives
        it on the original scale (which can leave [0, 1]). The caption names
        the method.
    confidence_level : float, default=0.95
        Level of all intervals.
    omnibus : list or tuple of str, default=None
        Tests across all models (``"friedman"``, ``"rm_anova"``,
        ``"anova"``, see :func:`mammoclf.evaluation.omnibus_test`) on
        ``test_metric``, run with three or more models. None means
        ``("friedman", "rm_anova")``.
    metric_labels : dict of str to str, default=None
        Names of metrics in the formatted tables, e.g. ``{"roc_auc":
        "ROC AUC"}``, over :data:`mammoclf.metrics.METRIC_DISPLAY_NAMES`;
        None uses those names.
    calibration : bool, default=False
        Add calibration tables: Brier score, calibration intercept and
        slope (Cox 1958) with patient-bootstrap intervals, per model with
        probabilities; each row keeps its
        :class:`~mammoclf.evaluation.CalibrationResult` (``result``
        column) for the reliability diagram.
    operating_points : bool, default=False
        Add sensitivity at fixed specificities and specificity at fixed
        sensitivities, with intervals.
    specificities, sensitivities : list or tuple of float, default=(0.8, 0.9, 0.95)
        The fixed rates of the operating points, each in [0, 1].
    breast_level : {"mean", "max"} or None, default="mean"
        Image- and breast-level metrics when the metadata have a
        ``laterality`` column and patient ids are known: a breast's score
        is the mean (or max) of its images'. None leaves them out.
    subgroups : str, list or tuple of str, default=None
        Metadata columns whose values get their own metrics, counts and
        intervals (too-small subgroups flagged). None means every metadata
        column except ``laterality``; ``()`` none. A column the result's
        metadata lack is an error.
    min_cases : int, default=10
        Fewest malignant and benign patients of a subgroup whose interval
        is worth reading.
    n_resamples : int, default=1000
        Patient-bootstrap resamples of the evaluation tables (at least 10).
    random_state : int, RandomState instance or None, default=0
        Seeds those resamples (the same for every model and table).
    checklist : bool, default=False
        End with the CLAIM 2024 / TRIPOD+AI reporting checklist, pointing to
        the tables that answer each item.
    report_sections : dict of str to str, default=None
        Sections a report adds (checklist key to a Markdown link), for the
        checklist; given, the checklist links to the tables' anchors too.
    training : bool, default=False
        Start with the "Training and preprocessing" table
        (:func:`~mammoclf.evaluation.training_table`), read off the fitted
        models: a comparison's fold models (``compare_models(...,
        return_estimators=True)``), else the held-out evaluation's models.
    preprocessing : list or tuple of transformers, default=None
        For the training table: the loader and resizer that turned files
        into the images the models were given, as ``training_details``
        takes them; None when the models took the images as they are.
    training_records : dict of str to (dict or None), default=None
        For the training table: per model, the details stated when it was
        fitted, for a saved model that no longer holds its training-only
        steps (``training_details``'s ``recorded``).
    localization : LocalizationMaps, default=None
        Grad-CAM maps of the images with a lesion mask
        (``localization_maps``, as the reports make them): adds the
        localisation table, pointing game and heat in lesion with
        patient-bootstrap intervals; None leaves it out.

    See Also
    --------
    mammoclf.evaluation.summarize : The summary these options describe.

    Examples
    --------
    >>> from mammoclf.evaluation import SummaryOptions
    >>> options = SummaryOptions(tests=["corrected_t"], calibration=True)
    >>> options
    SummaryOptions(calibration=True, tests=['corrected_t'])
    >>> options.set_params(n_resamples=200).get_params()["n_resamples"]
    200
    """

    _parameter_constraints: ClassVar[dict] = {
        "metrics": [
            _SequenceOf(_is_name, "a tuple or list of metric names", allow_empty=False),
            None,
        ],
        "tests": [
            _SequenceOf(
                lambda test: test in PAIRWISE_TESTS,
                f"a tuple or list of tests among {list(PAIRWISE_TESTS)}",
            ),
            None,
        ],
        "test_metric": [str, None],
        "correction": [StrOptions(set(ADJUST_METHODS))],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "ci_method": [StrOptions(set(CI_METHOD_NAMES))],
        "confidence_level": CONFIDENCE_LEVEL,
        "omnibus": [
            _SequenceOf(
                lambda test: test in _OMNIBUS,
                f"a tuple or list of tests among {sorted(_OMNIBUS)}",
            ),
            None,
        ],
        "metric_labels": [dict, None],
        "calibration": ["boolean"],
        "operating_points": ["boolean"],
        "specificities": [_SequenceOf(_is_rate, "a tuple or list of rates in [0, 1]")],
        "sensitivities": [_SequenceOf(_is_rate, "a tuple or list of rates in [0, 1]")],
        "breast_level": [StrOptions({"mean", "max"}), None],
        "subgroups": [
            _SequenceOf(_is_name, "a tuple or list of metadata columns"),
            str,
            None,
        ],
        "min_cases": [Interval(Integral, 1, None, closed="left")],
        "n_resamples": [Interval(Integral, 10, None, closed="left")],
        "random_state": ["random_state"],
        "checklist": ["boolean"],
        "report_sections": [dict, None],
        "training": ["boolean"],
        "preprocessing": [list, tuple, None],
        "training_records": [dict, None],
        "localization": [LocalizationMaps, None],
    }

    def __init__(
        self,
        *,
        metrics=None,
        tests=None,
        test_metric=None,
        correction="holm",
        alpha=0.05,
        ci_method="korn_graubard",
        confidence_level=0.95,
        omnibus=None,
        metric_labels=None,
        calibration=False,
        operating_points=False,
        specificities=(0.8, 0.9, 0.95),
        sensitivities=(0.8, 0.9, 0.95),
        breast_level="mean",
        subgroups=None,
        min_cases=10,
        n_resamples=1000,
        random_state=0,
        checklist=False,
        report_sections=None,
        training=False,
        preprocessing=None,
        training_records=None,
        localization=None,
    ):
        self.metrics = metrics
        self.tests = tests
        self.test_metric = test_metric
        self.correction = correction
        self.alpha = alpha
        self.ci_method = ci_method
        self.confidence_level = confidence_level
        self.omnibus = omnibus
        self.metric_labels = metric_labels
        self.calibration = calibration
        self.operating_points = operating_points
        self.specificities = specificities
        self.sensitivities = sensitivities
        self.breast_level = breast_level
        self.subgroups = subgroups
        self.min_cases = min_cases
        self.n_resamples = n_resamples
        self.random_state = random_state
        self.checklist = checklist
        self.report_sections = report_sections
        self.training = training
        self.preprocessing = preprocessing
        self.training_records = training_records
        self.localization = localization


@dataclass(frozen=True, eq=False)
class ResolvedSummaryOptions:
    """The :class:`SummaryOptions` of one summary, defaults resolved for its result.

    :func:`~mammoclf.evaluation.summarize` builds it; every table builder of
    :data:`~mammoclf.evaluation.SUMMARY_TABLES` reads it, and
    :attr:`ComparisonSummary.options` keeps it.

    Attributes
    ----------
    metrics : tuple of str
        Metrics of the scores table.
    pairwise : tuple of str
        Pairwise tests, in the order they are shown.
    omnibus : tuple of str
        Tests across all models (run with three or more models).
    test_metric : str
        Metric of the fold-score tests.
    correction, alpha, ci_method, confidence_level
        As given to :class:`SummaryOptions`.
    metric_labels : dict of str to str
        How metrics are named in formatted tables, over
        :data:`mammoclf.metrics.METRIC_DISPLAY_NAMES` (a metric in neither
        keeps its name).
    calibration, operating_points, breast_level, min_cases, n_resamples, \
random_state, checklist
        As given to :class:`SummaryOptions`.
    specificities, sensitivities : tuple of float
        The fixed rates of the operating-point tables.
    subgroups : tuple of str
        Metadata columns whose values get their own metrics.
    report_sections : dict of str to str
        Sections a report adds around the summary's tables (checklist key,
        e.g. ``"data"`` or ``"grad_cam"``, to its heading or a Markdown
        link to it), for the checklist to point to.
    link_sections : bool
        Whether the checklist points to the summary's tables with Markdown
        links to their anchors (the table keys), as in a report.
    training : bool
        Whether the summary starts with the training table (checked: the
        result keeps its fitted models).
    preprocessing : tuple of transformers
    training_records : dict or None
    localization : LocalizationMaps or None
        As given to :class:`SummaryOptions`.
    previous_tables : tuple of SummaryTable
        The tables built so far, set by the summary for each builder in
        turn (the checklist reads it).
    """

    metrics: tuple
    pairwise: tuple
    omnibus: tuple
    test_metric: str
    correction: str = "holm"
    alpha: float = 0.05
    ci_method: str = "korn_graubard"
    confidence_level: float = 0.95
    metric_labels: dict = field(default_factory=dict)
    calibration: bool = False
    operating_points: bool = False
    specificities: tuple = (0.8, 0.9, 0.95)
    sensitivities: tuple = (0.8, 0.9, 0.95)
    breast_level: str | None = "mean"
    subgroups: tuple = ()
    min_cases: int = 10
    n_resamples: int = 1000
    random_state: object = 0
    checklist: bool = False
    report_sections: dict = field(default_factory=dict)
    link_sections: bool = False
    training: bool = False
    preprocessing: tuple = ()
    training_records: dict | None = None
    localization: object = None
    previous_tables: tuple = ()

    @property
    def level_percent(self):
        """The confidence level in percent, as captions print it."""
        return round(100 * self.confidence_level)

    def label(self, metric):
        """The name of ``metric`` in formatted tables."""
        return self.metric_labels.get(metric, METRIC_DISPLAY_NAMES.get(metric, metric))


def _subgroup_columns(subgroups, metadata_frames):
    """The subgroup columns: all metadata columns but laterality for None."""
    columns = []
    for frame in metadata_frames:
        if frame is not None:
            columns += [c for c in frame.columns if c not in columns]
    if subgroups is None:
        return tuple(c for c in columns if c != "laterality")
    subgroups = (subgroups,) if isinstance(subgroups, str) else tuple(subgroups)
    unknown = [c for c in subgroups if c not in columns]
    if unknown:
        raise KeyError(
            f"Subgroup column(s) {unknown} are not in the metadata (columns: "
            f"{columns}); pass metadata to compare_models or evaluate_holdout."
        )
    return subgroups


def _comparison_defaults(options, comparison):
    """``metrics``, ``pairwise``, ``omnibus`` and ``test_metric`` of a comparison."""
    metric_names = tuple(comparison.metric_names)
    tests = options.tests
    if tests is None:
        scored = all(
            comparison.score_method[m] is not None for m in comparison.model_names
        )
        tests = ("corrected_t", "delong") if scored else ("corrected_t",)
    test_metric = options.test_metric
    if test_metric is None:
        test_metric = "roc_auc" if "roc_auc" in metric_names else metric_names[0]
    return {
        "metrics": metric_names if options.metrics is None else tuple(options.metrics),
        "pairwise": tuple(tests),
        "omnibus": _DEFAULT_OMNIBUS
        if options.omnibus is None
        else tuple(options.omnibus),
        "test_metric": test_metric,
    }


def _holdout_defaults(options):
    """The same for a held-out evaluation alone, which has no test to run."""
    asked = [name for name in ("tests", "omnibus") if getattr(options, name)]
    if asked:
        raise ValueError(
            f"{' and '.join(asked)} compare models on a cross-validation; a held-out "
            "evaluation alone has none (attach it to its comparison with "
            "ComparisonResult.with_holdout to report both)."
        )
    metrics = tuple(CLINICAL_METRICS if options.metrics is None else options.metrics)
    return {
        "metrics": metrics,
        "pairwise": (),
        "omnibus": (),
        "test_metric": metrics[0]
        if options.test_metric is None
        else options.test_metric,
    }


def resolve_options(options, comparison, holdout):
    """Check ``options`` and resolve its defaults for a summary of these results.

    Parameters
    ----------
    options : SummaryOptions
    comparison : ComparisonResult or None
        The cross-validation reported, if any.
    holdout : HoldoutResult or None
        The held-out evaluation reported, if any.

    Returns
    -------
    resolved : ResolvedSummaryOptions
    """
    options._validate_params()
    if comparison is not None:
        defaults = _comparison_defaults(options, comparison)
    else:
        defaults = _holdout_defaults(options)
    frames = [None if r is None else r.metadata for r in (comparison, holdout)]
    sections = options.report_sections
    return ResolvedSummaryOptions(
        **defaults,
        correction=options.correction,
        alpha=options.alpha,
        ci_method=options.ci_method,
        confidence_level=options.confidence_level,
        metric_labels=dict(options.metric_labels or {}),
        calibration=bool(options.calibration),
        operating_points=bool(options.operating_points),
        specificities=tuple(options.specificities),
        sensitivities=tuple(options.sensitivities),
        breast_level=options.breast_level,
        subgroups=_subgroup_columns(options.subgroups, frames),
        min_cases=int(options.min_cases),
        n_resamples=int(options.n_resamples),
        random_state=options.random_state,
        checklist=bool(options.checklist),
        report_sections={} if sections is None else dict(sections),
        link_sections=sections is not None,
        training=_check_training(options, comparison, holdout),
        preprocessing=tuple(options.preprocessing or ()),
        training_records=None
        if options.training_records is None
        else dict(options.training_records),
        localization=options.localization,
    )


def _check_training(options, comparison, holdout):
    """``options.training``, checked: the training table needs the fitted models."""
    if not options.training:
        return False
    estimators = training_estimators(comparison, holdout)
    if estimators is None or any(
        fit is None
        for fits in estimators.values()
        for fit in (fits if isinstance(fits, (list, tuple)) else (fits,))
    ):
        raise ValueError(
            "training=True describes the fitted models, and this result does not "
            "keep them: use compare_models(..., return_estimators=True)."
        )
    return True


def training_estimators(comparison, holdout):
    """The fitted models of the training table: the comparison's fold models, or
    the held-out evaluation's models (``result.estimators``; None if not kept)."""
    return (comparison if comparison is not None else holdout).estimators
