"""The result of :func:`mammoclf.compare_models`."""

from dataclasses import dataclass
from numbers import Real
from typing import ClassVar

import numpy as np
import pandas as pd

from mammoclf.utils._deprecation import deprecated_alias_module

__all__ = ["ComparisonResult", "SummaryAlias"]

#: ``ci_method`` values that are ``fold_mean_ci`` methods for bounded metrics.
_BOUNDED_CI_METHODS = ("korn_graubard", "logit_t")
#: Every ``ci_method`` of :meth:`ComparisonResult.summary_frame`; the
#: evaluation layer describes each in Table 1's caption (a test checks that
#: the two lists agree).
CI_METHODS = (*_BOUNDED_CI_METHODS, "corrected_t", "t", "bootstrap")


class SummaryAlias:
    """The deprecated ``summary(**options)`` of :class:`ComparisonResult` and
    :class:`~mammoclf.model_selection.HoldoutResult`."""

    def summary(self, **options):
        """Deprecated: ``summarize(result, SummaryOptions(**options))``.

        Use :func:`mammoclf.evaluation.summarize` with a
        :class:`~mammoclf.evaluation.SummaryOptions`, which documents
        every option; this alias is removed in the next release.

        Parameters
        ----------
        **options
            The parameters of :class:`~mammoclf.evaluation.SummaryOptions`.

        Returns
        -------
        summary : ComparisonSummary
        """
        # Imported by name when called: evaluation sits above model_selection.
        evaluation = deprecated_alias_module(
            f"{type(self).__name__}.summary(**options)",
            "mammoclf.evaluation.summarize(result, SummaryOptions(**options))",
            "mammoclf.evaluation",
        )
        return evaluation.summarize(self, evaluation.SummaryOptions(**options))


@dataclass(frozen=True, repr=False, eq=False)
class ComparisonResult(SummaryAlias):
    """Everything :func:`~mammoclf.compare_models` measured, per model and split.

    Attributes
    ----------
    model_names : tuple of str
        The compared models, in input order.
    metric_names : tuple of str
        The scored metrics (columns of :attr:`scores`).
    classes : ndarray of shape (2,)
        The labels of ``y``.
    pos_label : label
        The positive (malignant) class used by every metric.
    y_true : ndarray of shape (n_samples,)
        The labels.
    groups : ndarray of shape (n_samples,) or None
        Patient ids, when given.
    splits : tuple of Split
        Every split (``repeat``, ``fold``, ``train``, ``test`` indices), the
        same for every model.
    cv_description : str
        How the splits were made.
    scores : pandas.DataFrame
        Index (model, repeat, fold); one column per metric. Scores are
        computed from the out-of-fold predictions of each split.
    compute : pandas.DataFrame
        Index (model, repeat, fold); columns ``fit_time`` (wall seconds of
        ``fit``, including any preprocessing in a pipeline), ``train_time``
        (the final estimator's own ``fit_time_``, NaN if it has none),
        ``predict_time`` (``predict`` plus ``predict_proba`` or
        ``decision_function``), ``n_epochs``, ``time_per_epoch``
        (``train_time`` / ``n_epochs``, or ``fit_time`` / ``n_epochs`` when
        there is no ``train_time``; NaN for non-epoch estimators),
        ``peak_memory_mb`` (peak RSS of the fitting process during ``fit``),
        ``memory_increase_mb`` (that peak minus the RSS before ``fit``) and
        ``activations_shared`` (the fraction of the fit's frozen-backbone
        activations read from the study's shared store rather than computed
        by this fit, which is charged the passes it ran; NaN for fits that
        cache none). See :mod:`mammoclf.model_selection._memory` for what
        RSS sampling can and cannot see.
    y_pred : dict of str to ndarray of shape (n_repeats, n_samples)
        Out-of-fold predicted labels per repeat (object arrays; ``None``
        where an image was in no test fold of that repeat).
    y_score : dict of str to ndarray of shape (n_repeats, n_samples)
        Out-of-fold scores of ``pos_label`` (its ``predict_proba`` column,
        else the oriented ``decision_function``); NaN where not tested or
        where the model has neither method.
    score_method : dict of str to str or None
        ``"predict_proba"``, ``"decision_function"`` or None per model.
    histories : dict of str to tuple
        Per split, the final estimator's ``history_`` (dict of per-epoch
        lists) or None.
    stages : dict of str to tuple
        Per split, the final estimator's ``stages_`` or None.
    estimators : dict of str to tuple, or None
        Per split, the fitted estimators (``return_estimators=True`` only).
    thresholds : dict of str to tuple, or None
        Per split, the :class:`~mammoclf.model_selection.DecisionThreshold`
        behind the fold model's ``predict`` (what the label metrics used).
    metadata : pandas.DataFrame or None
        ``compare_models(metadata=...)``, one row per image: ``laterality``
        for breast-level scores, other columns for subgroups.
    holdout : HoldoutResult or None
        The same models refitted on all of these data and evaluated once on
        a separate test set, attached with :meth:`with_holdout`; its summary
        reports it apart from the cross-validation.
    kind : str
        ``"comparison"``, for every ComparisonResult: what
        :mod:`mammoclf.evaluation` reads to tell it from a
        :class:`HoldoutResult` (``"holdout"``).
    """

    kind: ClassVar[str] = "comparison"

    model_names: tuple
    metric_names: tuple
    classes: np.ndarray
    pos_label: object
    y_true: np.ndarray
    groups: np.ndarray | None
    splits: tuple
    cv_description: str
    scores: pd.DataFrame
    compute: pd.DataFrame
    y_pred: dict
    y_score: dict
    score_method: dict
    histories: dict
    stages: dict
    estimators: dict | None
    thresholds: dict | None = None
    metadata: pd.DataFrame | None = None
    holdout: object = None

    # ----------------------------------------------------------- structure
    @property
    def n_repeats(self):
        """Number of repeats (partitions of the images into test folds)."""
        return max(split.repeat for split in self.splits) + 1

    @property
    def n_splits(self):
        """Total number of train/test splits over all repeats."""
        return len(self.splits)

    @property
    def n_train(self):
        """Training-set size of each split, ndarray of shape (n_splits,)."""
        return np.array([split.train.size for split in self.splits])

    @property
    def n_test(self):
        """Test-set size of each split, ndarray of shape (n_splits,)."""
        return np.array([split.test.size for split in self.splits])

    @property
    def fold_ids(self):
        """Test fold of each image per repeat, shape (n_repeats, n_samples).

        -1 marks an image that is in no test fold of that repeat.
        """
        ids = np.full((self.n_repeats, self.y_true.shape[0]), -1)
        for split in self.splits:
            ids[split.repeat, split.test] = split.fold
        return ids

    def __repr__(self):
        return (
            f"<ComparisonResult of {len(self.model_names)} models "
            f"{list(self.model_names)} on {self.y_true.shape[0]} images, "
            f"{self.n_splits} splits ({self.cv_description}); metrics "
            f"{list(self.metric_names)}>"
        )

    # ------------------------------------------------------------- access
    def _check_model(self, model):
        if model not in self.model_names:
            raise KeyError(
                f"No model {model!r}; the models are {list(self.model_names)}."
            )

    def fold_scores(self, metric):
        """Scores of one metric, one row per split and one column per model.

        Parameters
        ----------
        metric : str
            One of :attr:`metric_names`.

        Returns
        -------
        table : pandas.DataFrame
            Index (repeat, fold), columns the models: the paired layout the
            tests of :mod:`mammoclf.stats` take.
        """
        if metric not in self.metric_names:
            raise KeyError(f"No metric {metric!r}; scored: {list(self.metric_names)}.")
        table = self.scores[metric].unstack("model")
        return table[list(self.model_names)]

    def out_of_fold(self, model, *, repeat=0):
        """Out-of-fold predictions of one model in one repeat.

        Parameters
        ----------
        model : str
            One of :attr:`model_names`.
        repeat : int, default=0
            Which repeat.

        Returns
        -------
        table : pandas.DataFrame
            One row per image tested in that repeat, indexed by sample
            index: ``fold``, ``y_true``, ``y_pred``, ``y_score`` and
            ``group`` (when groups were given).
        """
        self._check_model(model)
        if not 0 <= repeat < self.n_repeats:
            raise IndexError(f"repeat must be in [0, {self.n_repeats}); got {repeat}.")
        folds = self.fold_ids[repeat]
        tested = np.flatnonzero(folds >= 0)
        table = pd.DataFrame(
            {
                "fold": folds[tested],
                "y_true": self.y_true[tested],
                "y_pred": self.y_pred[model][repeat, tested].tolist(),
                "y_score": self.y_score[model][repeat, tested],
            },
            index=pd.Index(tested, name="sample"),
        )
        if self.groups is not None:
            table["group"] = self.groups[tested]
        return table

    # ------------------------------------------------------------ summaries
    def summary_frame(
        self,
        *,
        metrics=None,
        ci_method="korn_graubard",
        confidence_level=0.95,
        n_resamples=1000,
        random_state=0,
    ):
        """Mean, standard deviation and CI of every metric for every model.

        A split in which a metric is undefined (NaN: PPV without malignant
        calls, AUC of a single-class test fold, ...) is left out of that
        metric's mean, standard deviation and t interval, never counted as
        0; ``n_defined`` says how many splits remained.

        Parameters
        ----------
        metrics : sequence of str, default=None
            Subset of :attr:`metric_names`; None means all.
        ci_method : {"korn_graubard", "logit_t", "corrected_t", "t", \
"bootstrap"}, default="korn_graubard"
            ``"korn_graubard"``: for the clinical metrics, which are bounded
            by [0, 1], Wilson's score interval at Korn and Graubard's
            effective number of test images, from the Nadeau-Bengio
            corrected variance; it stays inside [0, 1] and informative near
            a bound. ``"logit_t"``: the ``"corrected_t"`` interval built on
            the logit scale (delta method), also inside [0, 1] but wide near
            a bound. Other metrics get ``"corrected_t"`` with either. See
            :func:`mammoclf.stats.fold_mean_ci`.
            ``"corrected_t"``: interval for the mean fold score with the
            Nadeau-Bengio corrected variance ``(1/J + n_test/n_train) s^2``
            and ``J - 1`` degrees of freedom (widens for the overlap of
            training sets); it can leave [0, 1] near a bound. ``"t"``: the
            naive interval ``s / sqrt(J)``, too narrow on CV folds.
            ``"bootstrap"``: percentile interval of the metric on the pooled
            out-of-fold predictions of repeat 0, resampling patients
            (``groups``) or images; note that it is then an interval for the
            pooled metric, not for the fold mean.
        confidence_level : float, default=0.95
            Level of the intervals.
        n_resamples : int, default=1000
            Bootstrap resamples (``ci_method="bootstrap"`` only).
        random_state : int, RandomState instance or None, default=0
            Seeds the bootstrap.

        Returns
        -------
        table : pandas.DataFrame
            Index (metric, model); columns ``mean``, ``sd``, ``ci_low``,
            ``ci_high``, ``n_splits`` and ``n_defined`` (splits where the
            metric is defined).
        """
        metrics = list(self.metric_names if metrics is None else metrics)
        unknown = [m for m in metrics if m not in self.metric_names]
        if unknown:
            raise KeyError(f"Not scored: {unknown}; scored: {list(self.metric_names)}.")
        if ci_method not in CI_METHODS:
            raise ValueError(
                f"ci_method must be one of {list(CI_METHODS)}; got {ci_method!r}."
            )
        if not isinstance(confidence_level, Real) or not 0 < confidence_level < 1:
            raise ValueError(
                f"confidence_level must be in (0, 1); got {confidence_level!r}."
            )
        rows = []
        for metric in metrics:
            table = self.fold_scores(metric)
            for model in self.model_names:
                interval = self._fold_interval(
                    table[model].to_numpy(dtype=float),
                    metric,
                    ci_method,
                    confidence_level,
                )
                low, high = interval.ci_low, interval.ci_high
                if ci_method == "bootstrap":
                    low, high = self._bootstrap_ci(
                        model, metric, confidence_level, n_resamples, random_state
                    )
                rows.append(
                    (
                        metric,
                        model,
                        interval.mean,
                        interval.sd,
                        low,
                        high,
                        interval.n_splits,
                        interval.n_defined,
                    )
                )
        frame = pd.DataFrame(
            rows,
            columns=[
                "metric",
                "model",
                "mean",
                "sd",
                "ci_low",
                "ci_high",
                "n_splits",
                "n_defined",
            ],
        )
        return frame.set_index(["metric", "model"])

    def _fold_interval(self, values, metric, ci_method, confidence_level):
        """Mean, sd and t interval of the defined fold scores of one metric."""
        from mammoclf.metrics import CLINICAL_METRICS
        from mammoclf.stats import fold_mean_ci

        bounded = ci_method in _BOUNDED_CI_METHODS and metric in CLINICAL_METRICS
        corrected = ci_method in (*_BOUNDED_CI_METHODS, "corrected_t")
        return fold_mean_ci(
            values,
            n_train=self.n_train if corrected else None,
            n_test=self.n_test if corrected else None,
            scale="logit" if bounded else "identity",
            method=ci_method if bounded else "korn_graubard",
            confidence_level=confidence_level,
        )

    def _bootstrap_ci(self, model, metric, confidence_level, n_resamples, random_state):
        from mammoclf.metrics import CLINICAL_METRICS, make_clinical_scorer
        from mammoclf.stats import bootstrap_ci

        if metric not in CLINICAL_METRICS:
            raise ValueError(
                f"ci_method='bootstrap' supports the clinical metrics only; "
                f"got {metric!r}."
            )
        response = make_clinical_scorer(metric, pos_label=self.pos_label).response
        oof = self.out_of_fold(model, repeat=0)
        values = oof["y_score"] if response == "score" else oof["y_pred"]
        result = bootstrap_ci(
            metric,
            oof["y_true"].to_numpy(),
            values.to_numpy(),
            groups=None if self.groups is None else oof["group"].to_numpy(),
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            pos_label=self.pos_label,
            random_state=random_state,
        )
        return result.ci

    def compute_summary(self):
        """Timing and memory per model, like the study's Table 2.

        Returns
        -------
        table : pandas.DataFrame
            Index model; ``fit_time_mean`` and ``fit_time_total`` (seconds,
            per split and summed over splits), ``train_time_total``,
            ``predict_time_mean``, ``n_epochs_mean``,
            ``time_per_epoch_mean``, ``peak_memory_mb`` (maximum over
            splits), ``memory_increase_mb`` (maximum over splits) and
            ``activations_shared_mean`` (mean fraction of frozen activations
            read from the study's shared store; NaN where no fit cached any).
        """
        grouped = self.compute.groupby(level="model", sort=False)
        table = pd.DataFrame(
            {
                "fit_time_mean": grouped["fit_time"].mean(),
                "fit_time_total": grouped["fit_time"].sum(),
                "train_time_total": grouped["train_time"].sum(min_count=1),
                "predict_time_mean": grouped["predict_time"].mean(),
                "n_epochs_mean": grouped["n_epochs"].mean(),
                "time_per_epoch_mean": grouped["time_per_epoch"].mean(),
                "peak_memory_mb": grouped["peak_memory_mb"].max(),
                "memory_increase_mb": grouped["memory_increase_mb"].max(),
                "activations_shared_mean": grouped["activations_shared"].mean()
                if "activations_shared" in self.compute
                else np.nan,
            }
        )
        return table.loc[list(self.model_names)]

    def pairwise_tests(
        self,
        *,
        test="corrected_t",
        metric=None,
        correction="holm",
        alpha=0.05,
        reference=None,
        repeat=0,
        confidence_level=0.95,
        clustered="auto",
    ):
        """Deprecated: ``mammoclf.evaluation.pairwise_tests(result, ...)``.

        Use :func:`mammoclf.evaluation.pairwise_tests`, with the same
        parameters and result; this alias is removed in the next release.

        Returns
        -------
        table : pandas.DataFrame
            See :func:`mammoclf.evaluation.pairwise_tests`.
        """
        # Imported by name when called: evaluation sits above model_selection.
        evaluation = deprecated_alias_module(
            "ComparisonResult.pairwise_tests(...)",
            "mammoclf.evaluation.pairwise_tests(result, ...)",
            "mammoclf.evaluation",
        )
        return evaluation.pairwise_tests(
            self,
            test=test,
            metric=metric,
            correction=correction,
            alpha=alpha,
            reference=reference,
            repeat=repeat,
            confidence_level=confidence_level,
            clustered=clustered,
        )

    def with_holdout(self, holdout):
        """This comparison with a held-out evaluation attached, for one summary.

        Parameters
        ----------
        holdout : HoldoutResult
            :func:`~mammoclf.model_selection.evaluate_holdout` of (some of)
            these models, refitted on the data of this comparison and
            evaluated on a separate test set.

        Returns
        -------
        result : ComparisonResult
            A copy whose summary (:func:`mammoclf.evaluation.summarize`)
            adds the held-out tables, kept apart from the cross-validated
            ones.

        Raises
        ------
        ValueError
            When the test set shares a patient with these data, or has a
            model this comparison does not, or another positive class.
        """
        from dataclasses import replace

        unknown = [m for m in holdout.model_names if m not in self.model_names]
        if unknown:
            raise ValueError(
                f"The held-out models {unknown} are not in this comparison "
                f"({list(self.model_names)})."
            )
        if holdout.pos_label != self.pos_label:
            raise ValueError(
                f"The held-out positive class {holdout.pos_label!r} differs from "
                f"this comparison's {self.pos_label!r}."
            )
        if self.groups is not None and holdout.groups is not None:
            shared = np.intersect1d(self.groups, holdout.groups)
            if shared.size:
                raise ValueError(
                    f"{shared.size} patient(s) are both in this comparison and in "
                    f"the held-out test set (e.g. {shared[:3].tolist()})."
                )
        return replace(self, holdout=holdout)

    def to_frame(self):
        """Scores and compute costs of every (model, split) in one DataFrame."""
        return self.scores.join(self.compute)
