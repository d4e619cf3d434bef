"""Statistical tests for comparing classifiers, with their caveats.

Each test returns a small frozen result (:class:`HypothesisTestResult`,
:class:`BootstrapResult`, :class:`PValueAdjustment`) that names the test,
what was compared, the statistic, the p-value and an effect size with a
confidence interval where one exists.

Which test when (details in ``docs/user_guide/evaluation.md``):

* two models, k-fold (repeated) CV scores: :func:`corrected_resampled_ttest`
  (not :func:`paired_ttest`, which is anti-conservative on CV folds);
* two models, 5x2 CV: :func:`f_test_5x2cv` (or :func:`paired_ttest_5x2cv`);
* three or more models: :func:`friedman_test` or
  :func:`anova_repeated_measures`, then pairwise tests with
  :func:`adjust_pvalues` (Holm);
* the same images' predictions: :func:`delong_test` (AUCs),
  :func:`mcnemar_test` (accuracy), with ``groups`` (patient ids) for the
  clustered versions (Obuchowski 1997 and 1998), which keep their level
  when patients have several correlated images;
* a CI for any metric respecting patients: :func:`bootstrap_ci` with
  ``groups``; a CI of a mean of fold scores inside [0, 1]:
  :func:`fold_mean_ci`.

:func:`mammoclf.evaluation.pairwise_tests` and
:func:`mammoclf.evaluation.omnibus_test` run them on a
:class:`~mammoclf.model_selection.ComparisonResult`; this package works on
arrays only.
"""

from mammoclf.stats._bootstrap import _ADJUST_METHODS as ADJUST_METHODS
from mammoclf.stats._bootstrap import adjust_pvalues, bootstrap_ci
from mammoclf.stats._delong import delong_roc_covariance, delong_test
from mammoclf.stats._intervals import FoldMeanInterval, fold_mean_ci
from mammoclf.stats._numerics import TooFewCasesError
from mammoclf.stats._omnibus import anova_oneway, anova_repeated_measures, friedman_test
from mammoclf.stats._paired import (
    corrected_resampled_ttest,
    corrected_variance_factor,
    f_test_5x2cv,
    paired_ttest,
    paired_ttest_5x2cv,
    wilcoxon_test,
)
from mammoclf.stats._predictions import mcnemar_test
from mammoclf.stats._results import (
    BootstrapResult,
    HypothesisTestResult,
    PValueAdjustment,
)
from mammoclf.utils._deprecation import deprecated_module_getattr

__all__ = [
    "ADJUST_METHODS",
    "BootstrapResult",
    "FoldMeanInterval",
    "HypothesisTestResult",
    "PValueAdjustment",
    "TooFewCasesError",
    "adjust_pvalues",
    "anova_oneway",
    "anova_repeated_measures",
    "bootstrap_ci",
    "corrected_resampled_ttest",
    "corrected_variance_factor",
    "delong_roc_covariance",
    "delong_test",
    "f_test_5x2cv",
    "fold_mean_ci",
    "friedman_test",
    "mcnemar_test",
    "paired_ttest",
    "paired_ttest_5x2cv",
    "wilcoxon_test",
]

# Moved to mammoclf.evaluation (they read a ComparisonResult; stats works on
# arrays only); the old names work, with a FutureWarning, for one release.
__getattr__ = deprecated_module_getattr(
    __name__,
    "mammoclf.evaluation",
    ("PAIRWISE_TESTS", "omnibus_test", "pairwise_tests"),
)
