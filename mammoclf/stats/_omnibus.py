"""Omnibus tests of several models' fold scores: ANOVAs and Friedman's test.

Each function takes a table of scores with one row per fold (the blocks, or
"subjects") and one column per model, e.g. ``result.fold_scores("roc_auc")``
from :func:`mammoclf.compare_models`.
"""

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats as _st

from mammoclf.stats._numerics import as_real, is_round_off, snap_to_tolerance
from mammoclf.stats._results import HypothesisTestResult
from mammoclf.utils._validation import WRAPPER_FRAMES, validate_params

__all__ = ["anova_oneway", "anova_repeated_measures", "friedman_test"]


def _score_table(scores, *, min_models=2):
    """Return ``(values, model_names)`` from a 2-D array or a DataFrame."""
    if isinstance(scores, pd.DataFrame):
        names = [str(c) for c in scores.columns]
        values = as_real(scores.to_numpy(), "scores")
    elif isinstance(scores, Mapping):
        raise TypeError(
            "scores must be a DataFrame (one column per model) or a 2-D array "
            "(folds x models), not a dict; pandas.DataFrame(scores) makes one."
        )
    else:
        values = as_real(scores, "scores")
        names = (
            [f"model {j}" for j in range(values.shape[1])] if values.ndim == 2 else []
        )
    if values.ndim != 2:
        raise ValueError(
            "Expected a 2-D table of scores (folds x models); got shape "
            f"{values.shape}."
        )
    n_folds, n_models = values.shape
    if n_models < min_models or n_folds < 2:
        raise ValueError(
            f"Need at least {min_models} models (columns) and 2 folds (rows); got "
            f"{n_models} models and {n_folds} folds."
        )
    if not np.all(np.isfinite(values)):
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"Non-finite score for {names[col]!r} in fold row {row}.")
    return values, names


# A DataFrame (one column per model) or a 2-D array; _score_table checks the shape.
_SCORE_TABLE = {"scores": ["array-like"], "metric": [str]}


def _compared(names, metric, n_folds):
    return f"{metric}: {', '.join(repr(n) for n in names)} ({n_folds} folds)"


def _describe_degenerate(values):
    """Say in words why a table of scores leaves nothing to test against."""
    spread = np.sqrt(((values - values.mean()) ** 2).mean())
    if is_round_off(spread, values):
        return f"all {values.size} scores are equal ({values.flat[0]:.4g})"
    rows_constant = is_round_off(values.std(axis=1).max(), values)
    columns_constant = is_round_off(values.std(axis=0).max(), values)
    if rows_constant:
        return (
            "every model has the same score within each fold: the scores vary "
            "only between folds, so there is no difference between models at all"
        )
    if columns_constant:
        return (
            "every model has the same score in every fold: the models differ, "
            "but by exactly the same amounts in each fold, so there is no "
            "fold-to-fold variation to judge the differences against"
        )
    return (
        "the differences between models are exactly the same in every fold "
        "(fold and model effects add up without residual), so there is no "
        "fold-to-fold variation to judge them against"
    )


def _undefined(test, names, metric, values, df, effect_name, reason):
    warnings.warn(
        f"{test} is undefined (statistic and p-value are NaN): {reason}.",
        RuntimeWarning,
        stacklevel=3 + WRAPPER_FRAMES,
    )
    return HypothesisTestResult(
        test=test,
        compared=_compared(names, metric, values.shape[0]),
        statistic=np.nan,
        pvalue=np.nan,
        statistic_name="chi2" if test == "Friedman test" else "F",
        df=df,
        effect_size=np.nan,
        effect_size_name=effect_name,
        details={"undefined": reason},
    )


@validate_params(_SCORE_TABLE, prefer_skip_nested_validation=True)
def anova_oneway(scores, *, metric="score"):
    """One-way ANOVA of fold scores across models, as the study reported it.

    :func:`scipy.stats.f_oneway` on the columns. **It treats the models'
    fold scores as independent samples**, ignoring that every model was
    evaluated on the same folds; fold-to-fold variation then inflates the
    error term and costs power, and CV fold scores are not independent
    anyway. Prefer :func:`anova_repeated_measures` or
    :func:`friedman_test`; this one is kept to reproduce published analyses.
    Assumes normal scores with equal variances.

    Parameters
    ----------
    scores : array-like or DataFrame of shape (n_folds, n_models)
        Fold scores, one column per model (DataFrame columns name them).
    metric : str, default="score"
        Name of the metric, for the result's ``compared``.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is eta squared, ``SS_between / SS_total``.

    Examples
    --------
    >>> from mammoclf.stats import anova_oneway
    >>> r = anova_oneway([[0.80, 0.85, 0.90], [0.82, 0.86, 0.93], [0.79, 0.88, 0.91]])
    >>> r.df, round(r.statistic, 1)
    ((2.0, 6.0), 39.0)
    """
    values, names = _score_table(scores)
    test = "One-way ANOVA (ignores the pairing of folds)"
    n_models, n_total = values.shape[1], values.size
    df = (float(n_models - 1), float(n_total - n_models))
    grand = values.mean()
    ss_total = ((values - grand) ** 2).sum()
    # "ss_total > 0" is beaten by round-off (1e-33 of all-equal 0.8s gave an
    # eta squared of 1.0): compare the spread with the shared tolerance.
    if is_round_off(np.sqrt(ss_total / n_total), values):
        reason = f"all {n_total} scores are equal ({values.flat[0]:.4g})"
        return _undefined(test, names, metric, values, df, "eta squared", reason)
    result = _st.f_oneway(*values.T)
    ss_between = (values.shape[0] * (values.mean(axis=0) - grand) ** 2).sum()
    return HypothesisTestResult(
        test=test,
        compared=_compared(names, metric, values.shape[0]),
        statistic=float(result.statistic),
        pvalue=float(result.pvalue),
        statistic_name="F",
        df=df,
        effect_size=float(ss_between / ss_total),
        effect_size_name="eta squared",
    )


@validate_params(_SCORE_TABLE, prefer_skip_nested_validation=True)
def anova_repeated_measures(scores, *, metric="score"):
    """Repeated-measures ANOVA of fold scores, folds as subjects.

    statsmodels' :class:`~statsmodels.stats.anova.AnovaRM` with the model as
    the within-subject factor and each fold (train/test split) as a subject:
    the right ANOVA when every model is evaluated on the same folds, because
    fold-to-fold variation is removed from the error term.

    Assumptions and caveats: normal residuals and sphericity (equal variances
    of all pairwise differences); no Greenhouse-Geisser correction is
    applied, so with three or more models and unequal difference variances
    the test is liberal. The folds are treated as independent subjects,
    which CV folds are not (their training sets overlap), so p-values are
    optimistic in the same way as the naive paired t-test.

    Parameters
    ----------
    scores : array-like or DataFrame of shape (n_folds, n_models)
        Fold scores, one column per model.
    metric : str, default="score"
        Name of the metric.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is partial eta squared,
        ``SS_model / (SS_model + SS_error)``.

    Examples
    --------
    >>> from mammoclf.stats import anova_repeated_measures
    >>> r = anova_repeated_measures([[0.80, 0.85, 0.90], [0.82, 0.86, 0.93],
    ...                              [0.79, 0.88, 0.91]])
    >>> r.df, round(r.statistic, 1)
    ((2.0, 4.0), 45.5)
    """
    from statsmodels.stats.anova import AnovaRM

    values, names = _score_table(scores)
    n_folds, n_models = values.shape
    long = pd.DataFrame(
        {
            "score": values.ravel(),
            "fold": np.repeat(np.arange(n_folds), n_models),
            "model": np.tile(np.arange(n_models), n_folds),
        }
    )
    residuals = (
        values
        - values.mean(axis=1, keepdims=True)
        - values.mean(axis=0, keepdims=True)
        + values.mean()
    )
    if is_round_off(np.abs(residuals).max(), values):
        # No within-fold variation left: F = x/0. AnovaRM would print a
        # rounding artefact (even a negative F) or numpy's "invalid value".
        return _undefined(
            "Repeated-measures ANOVA (folds as subjects)",
            names,
            metric,
            values,
            (float(n_models - 1), float((n_models - 1) * (n_folds - 1))),
            "partial eta squared",
            _describe_degenerate(values),
        )
    table = (
        AnovaRM(long, depvar="score", subject="fold", within=["model"])
        .fit()
        .anova_table
    )
    row = table.loc["model"]
    f, df1, df2 = float(row["F Value"]), float(row["Num DF"]), float(row["Den DF"])
    return HypothesisTestResult(
        test="Repeated-measures ANOVA (folds as subjects)",
        compared=_compared(names, metric, n_folds),
        statistic=f,
        pvalue=float(row["Pr > F"]),
        statistic_name="F",
        df=(df1, df2),
        effect_size=float(f * df1 / (f * df1 + df2)) if np.isfinite(f) else np.nan,
        effect_size_name="partial eta squared",
    )


@validate_params(_SCORE_TABLE, prefer_skip_nested_validation=True)
def friedman_test(scores, *, metric="score"):
    """Friedman's rank test of fold scores across three or more models.

    :func:`scipy.stats.friedmanchisquare`: models are ranked within each
    fold and the mean ranks compared (Demsar 2006 recommends it for
    comparing classifiers). Non-parametric, so no normality or sphericity
    assumption, but, like every test here, it treats folds as independent
    blocks. The chi-square approximation is rough for few folds.

    Parameters
    ----------
    scores : array-like or DataFrame of shape (n_folds, n_models)
        Fold scores, one column per model; at least three models.
    metric : str, default="score"
        Name of the metric.

    Returns
    -------
    result : HypothesisTestResult
        ``effect_size`` is Kendall's W, ``chi2 / (n_folds (n_models - 1))``,
        from 0 (no agreement between folds) to 1 (the same ranking in every
        fold); ``details["mean_ranks"]`` maps models to mean ranks (1 =
        lowest score).

    Examples
    --------
    >>> from mammoclf.stats import friedman_test
    >>> r = friedman_test([[0.80, 0.85, 0.90], [0.82, 0.86, 0.93], [0.79, 0.88, 0.91]])
    >>> round(r.statistic, 2), round(r.effect_size, 2)
    (6.0, 1.0)
    """
    values, names = _score_table(scores, min_models=3)
    n_folds, n_models = values.shape
    # Scores equal up to round-off must tie, as in wilcoxon_test.
    snapped = snap_to_tolerance(values)
    if np.all(snapped == snapped[:, :1]):
        reason = (
            f"all {values.size} scores are equal ({values.flat[0]:.4g})"
            if np.all(snapped == snapped.flat[0])
            else "every fold gives all models the same score"
        )
        return _undefined(
            "Friedman test",
            names,
            metric,
            values,
            float(n_models - 1),
            "Kendall's W",
            reason + ", so all ranks are tied",
        )
    result = _st.friedmanchisquare(*snapped.T)
    ranks = _st.rankdata(snapped, axis=1).mean(axis=0)
    return HypothesisTestResult(
        test="Friedman test",
        compared=_compared(names, metric, n_folds),
        statistic=float(result.statistic),
        pvalue=float(result.pvalue),
        statistic_name="chi2",
        df=float(n_models - 1),
        effect_size=float(result.statistic / (n_folds * (n_models - 1))),
        effect_size_name="Kendall's W",
        details={"mean_ranks": dict(zip(names, ranks.tolist()))},
    )
