"""ROC operating points against a slow direct search over every threshold."""

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from mammoclf.metrics import (
    OperatingPoint,
    roc_operating_point,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
)


def _slow_operating_point(positive, scores, *, fixed, target):
    """Try every threshold (each distinct score, and +inf) and keep the best.

    Rates come from counting, with fractions compared exactly through
    integers, so the reference shares no code or rounding with the library.
    """
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    best = None
    for threshold in [np.inf, *np.unique(scores)]:
        called = scores >= threshold
        tp = int(np.sum(called & positive))
        tn = int(np.sum(~called & ~positive))
        sens, spec = tp / n_pos, tn / n_neg
        if fixed == "specificity":
            if tn < target * n_neg - 1e-9:
                continue
            key = (tp, tn)  # most sensitive, then most specific
        else:
            if tp < target * n_pos - 1e-9:
                continue
            key = (tn, tp)
        if best is None or key > best[0]:
            best = (key, OperatingPoint(float(threshold), sens, spec))
    return best[1]


@pytest.mark.parametrize("seed", range(12))
def test_matches_slow_search_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 40))
    positive = rng.random(n) < 0.4
    positive[:2] = [True, False]  # both classes
    # Few distinct scores: ties everywhere, also across classes.
    scores = rng.integers(0, 6, n) + 0.5 * positive * rng.integers(0, 2, n)
    labels = np.where(positive, "MALIGNANT", "BENIGN")
    n_pos, n_neg = positive.sum(), (~positive).sum()
    targets = {0.0, 0.5, 0.8, 0.9, 0.95, 1.0, 1 / 3}
    for fixed, count in (("specificity", n_neg), ("sensitivity", n_pos)):
        # Targets equal to attainable fractions test the ">=" at equality.
        for target in sorted(targets | {k / count for k in range(count + 1)}):
            expected = _slow_operating_point(
                positive, scores, fixed=fixed, target=target
            )
            got = roc_operating_point(labels, scores, **{f"min_{fixed}": target})
            assert got == pytest.approx(expected), (fixed, target)


def test_points_lie_on_scikit_learns_roc_curve():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    scores = np.round(y + rng.normal(size=60), 1)
    fpr, tpr, thresholds = roc_curve(y, scores, drop_intermediate=False)
    for target in (0.8, 0.9, 0.95):
        point = roc_operating_point(y, scores, min_specificity=target)
        index = np.flatnonzero(thresholds == point.threshold)[0]
        assert point.sensitivity == pytest.approx(tpr[index])
        assert point.specificity == pytest.approx(1 - fpr[index])


def test_exact_fraction_targets_are_attained_not_overshot():
    # 20 benign cases: specificity 18/20 must count as reaching 0.9.
    y = np.repeat(["BENIGN", "MALIGNANT"], [20, 10])
    scores = np.concatenate([np.arange(20), np.arange(10) + 17.5])
    point = roc_operating_point(y, scores, min_specificity=0.9)
    assert point.specificity == 0.9
    assert point.threshold == 17.5
    assert point.sensitivity == 1.0


def test_helpers_return_the_free_rate():
    y = ["BENIGN"] * 5 + ["MALIGNANT"] * 5
    scores = [0.1, 0.2, 0.3, 0.4, 0.7, 0.5, 0.6, 0.8, 0.9, 0.95]
    assert sensitivity_at_specificity(y, scores, specificity=0.8) == 1.0
    assert sensitivity_at_specificity(y, scores, specificity=0.9) == 0.6
    assert specificity_at_sensitivity(y, scores, sensitivity=0.9) == 0.8
    assert specificity_at_sensitivity(y, scores, sensitivity=0.5) == 1.0


def test_extreme_targets():
    y = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    # Any specificity will do: full sensitivity, at the most specific threshold
    # that has it (0.35), not at the lowest score.
    assert roc_operating_point(y, scores, min_specificity=0.0) == (0.35, 1.0, 0.5)
    # Perfect specificity: only scores above every benign one.
    assert roc_operating_point(y, scores, min_specificity=1.0) == (0.8, 0.5, 1.0)
    assert roc_operating_point(y, scores, min_sensitivity=1.0) == (0.35, 1.0, 0.5)


def test_constant_scores_leave_two_points():
    y = np.array([0, 1, 0, 1])
    scores = np.full(4, 0.5)
    assert roc_operating_point(y, scores, min_specificity=0.5) == (np.inf, 0.0, 1.0)
    assert roc_operating_point(y, scores, min_sensitivity=0.5) == (0.5, 1.0, 0.0)


def test_single_class_is_an_error():
    with pytest.raises(ValueError, match="single class"):
        sensitivity_at_specificity([1, 1, 1], [0.2, 0.4, 0.6])
    with pytest.raises(ValueError, match="single class"):
        specificity_at_sensitivity(
            ["MALIGNANT"] * 3, [0.2, 0.4, 0.6], sensitivity=0.5, pos_label="MALIGNANT"
        )


def test_exactly_one_constraint():
    with pytest.raises(ValueError, match="exactly one"):
        roc_operating_point([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match="exactly one"):
        roc_operating_point(
            [0, 1], [0.2, 0.8], min_specificity=0.5, min_sensitivity=0.5
        )


@pytest.mark.parametrize("target", [-0.1, 1.5])
def test_targets_outside_unit_interval_are_refused(target):
    with pytest.raises(ValueError, match="specificity"):
        sensitivity_at_specificity([0, 1], [0.2, 0.8], specificity=target)


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="non-finite"):
        sensitivity_at_specificity([0, 1, 1], [0.2, np.nan, 0.8])
    with pytest.raises(ValueError, match="1-D"):
        sensitivity_at_specificity([0, 1], [[0.2, 0.8], [0.3, 0.7]])


def test_explicit_positive_class():
    y = np.array(["healthy", "sick", "healthy", "sick"])
    scores = np.array([0.1, 0.9, 0.6, 0.4])
    point = roc_operating_point(y, scores, min_specificity=0.5, pos_label="sick")
    assert point == (0.4, 1.0, 0.5)
