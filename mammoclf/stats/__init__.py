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

:func:`pairwise_tests` and :func:`omnibus_test` run them on a
:class:`~mammoclf.model_selection.ComparisonResult`.
"""

from mammoclf.stats._bootstrap import adjust_pvalues, bootstrap_ci
from mammoclf.stats._delong import delong_roc_covariance, delong_test
from mammoclf.stats._intervals import FoldMeanInterval, fold_mean_ci
from mammoclf.stats._omnibus import anova_oneway, anova_repeated_measures, friedman_test
from mammoclf.stats._paired import (
    corrected_resampled_ttest,
    corrected_variance_factor,
    f_test_5x2cv,
    paired_ttest,
    paired_ttest_5x2cv,
    wilcoxon_test,
)
from mammoclf.stats._pairwise import PAIRWISE_TESTS, omnibus_test, pairwise_tests
from mammoclf.stats._predictions import mcnemar_test
from mammoclf.stats._results import (
    BootstrapResult,
    HypothesisTestResult,
    PValueAdjustment,
)

__all__ = [
    "PAIRWISE_TESTS",
    "BootstrapResult",
    "FoldMeanInterval",
    "HypothesisTestResult",
    "PValueAdjustment",
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
    "omnibus_test",
    "paired_ttest",
    "paired_ttest_5x2cv",
    "pairwise_tests",
    "wilcoxon_test",
]
