"""Small frozen result objects returned by the tests of :mod:`mammoclf.stats`."""

from dataclasses import dataclass, field

import numpy as np

from mammoclf.utils._formatting import format_df, format_pvalue

__all__ = ["BootstrapResult", "HypothesisTestResult", "PValueAdjustment"]


@dataclass(frozen=True, repr=False)
class HypothesisTestResult:
    """The outcome of one statistical test.

    Attributes
    ----------
    test : str
        Name of the test, e.g. ``"Nadeau-Bengio corrected resampled t-test"``.
    compared : str
        What was compared, e.g. ``"roc_auc: 'cnn' vs 'densenet' (10 paired
        folds)"``.
    statistic : float
        The test statistic (NaN when undefined, with a warning at creation).
    pvalue : float
        The p-value for ``alternative`` (NaN when undefined).
    statistic_name : str
        Symbol of the statistic: ``"t"``, ``"F"``, ``"z"``, ``"chi2"``, ...
    df : float, tuple of float or None
        Degrees of freedom of the reference distribution, if any.
    effect_size : float or None
        The effect, in the units named by ``effect_size_name`` (e.g. the mean
        difference of fold scores ``A - B``).
    effect_size_name : str or None
        What ``effect_size`` is.
    ci : tuple of (float, float) or None
        Confidence interval of ``effect_size``.
    confidence_level : float or None
        Level of ``ci``.
    alternative : str
        ``"two-sided"``, ``"greater"`` (A > B) or ``"less"`` (A < B).
    details : dict
        Test-specific extras (AUCs of DeLong's test, discordant counts of
        McNemar's test, ...).
    """

    test: str
    compared: str
    statistic: float
    pvalue: float
    statistic_name: str = "statistic"
    df: object = None
    effect_size: float | None = None
    effect_size_name: str | None = None
    ci: tuple | None = None
    confidence_level: float | None = None
    alternative: str = "two-sided"
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        # Copy so later changes to a caller's dict cannot alter a frozen result.
        object.__setattr__(self, "details", dict(self.details))

    def _lines(self):
        lines = [f"{self.test}: {self.compared}"]
        stat = f"{self.statistic_name}{format_df(self.df)} = {self.statistic:.4g}"
        sided = "" if self.alternative == "two-sided" else f" ({self.alternative})"
        lines.append(f"  {stat}, {format_pvalue(self.pvalue)}{sided}")
        if self.effect_size is not None:
            effect = f"  {self.effect_size_name} = {self.effect_size:.4g}"
            if self.ci is not None:
                level = round(100 * self.confidence_level)
                effect += f", {level}% CI [{self.ci[0]:.4g}, {self.ci[1]:.4g}]"
            lines.append(effect)
        return lines

    def __repr__(self):
        return "<" + "\n".join(self._lines()) + ">"

    def __str__(self):
        return "\n".join(self._lines())


@dataclass(frozen=True, repr=False)
class BootstrapResult:
    """A bootstrap confidence interval of a metric.

    Attributes
    ----------
    metric : str
        Name of the metric.
    estimate : float
        The metric on the original (not resampled) data.
    ci : tuple of (float, float)
        Percentile confidence interval.
    confidence_level : float
        Level of ``ci``.
    standard_error : float
        Standard deviation of the bootstrap distribution.
    n_resamples : int
        Resamples drawn.
    n_failed : int
        Resamples on which the metric was undefined (e.g. an AUC of a
        resample with a single class); excluded from ``ci``.
    n_clusters : int
        Independent units resampled: patients with ``groups``, else images.
    clustered : bool
        Whether ``groups`` were resampled (a cluster bootstrap).
    distribution : ndarray of shape (n_resamples - n_failed,)
        The bootstrap replicates.
    """

    metric: str
    estimate: float
    ci: tuple
    confidence_level: float
    standard_error: float
    n_resamples: int
    n_failed: int
    n_clusters: int
    clustered: bool
    distribution: np.ndarray = field(compare=False)

    def __repr__(self):
        level = round(100 * self.confidence_level)
        unit = "clusters" if self.clustered else "samples"
        failed = f", {self.n_failed} undefined" if self.n_failed else ""
        return (
            f"<BootstrapResult {self.metric} = {self.estimate:.4g}, {level}% CI "
            f"[{self.ci[0]:.4g}, {self.ci[1]:.4g}] (percentile, {self.n_resamples} "
            f"resamples of {self.n_clusters} {unit}{failed})>"
        )


@dataclass(frozen=True, repr=False)
class PValueAdjustment:
    """p-values adjusted for multiple comparisons.

    Attributes
    ----------
    method : str
        ``"holm"``, ``"bonferroni"`` or ``"none"``.
    pvalues : ndarray
        The raw p-values, in input order.
    pvalues_adjusted : ndarray
        Adjusted p-values (capped at 1); NaN where the raw p-value is NaN.
    reject : ndarray of bool
        Whether each null hypothesis is rejected at family-wise level
        ``alpha``.
    alpha : float
        Family-wise error rate.
    n_tests : int
        Size of the family: the number of finite p-values.
    """

    method: str
    pvalues: np.ndarray
    pvalues_adjusted: np.ndarray
    reject: np.ndarray
    alpha: float
    n_tests: int

    def __repr__(self):
        pairs = ", ".join(
            f"{p:.4g}->{q:.4g}" for p, q in zip(self.pvalues, self.pvalues_adjusted)
        )
        return (
            f"<PValueAdjustment {self.method} over {self.n_tests} tests at "
            f"alpha={self.alpha}: {pairs}; reject={self.reject.tolist()}>"
        )
