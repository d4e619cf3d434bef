"""mann_whitney_auc against a direct count of ordered pairs and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mammoclf.utils._ranking import mann_whitney_auc


def _pairs_auc(counts, is_positive, scores):
    """Slow reference: every (positive, negative) pair, weighted by its counts."""
    correct = total = 0.0
    for i in np.flatnonzero(is_positive):
        for j in np.flatnonzero(~is_positive):
            weight = counts[i] * counts[j]
            total += weight
            if scores[i] > scores[j]:
                correct += weight
            elif scores[i] == scores[j]:
                correct += 0.5 * weight
    return correct / total if total else np.nan


@pytest.mark.parametrize("seed", range(5))
def test_equals_the_pair_count_with_ties_and_repeated_images(seed):
    rng = np.random.default_rng(seed)
    n = 15
    is_positive = rng.random(n) < 0.4
    is_positive[:2] = [True, False]
    scores = rng.integers(0, 5, n).astype(float)  # many ties
    counts = rng.integers(0, 4, (6, n)).astype(float)
    counts[0] = 1.0
    counts[1, :2] = np.maximum(counts[1, :2], 1.0)  # a positive and a negative
    got = mann_whitney_auc(counts, is_positive, scores)
    expected = [_pairs_auc(row, is_positive, scores) for row in counts]
    np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)
    # Each image once: scikit-learn's area under the ROC curve.
    assert got[0] == pytest.approx(roc_auc_score(is_positive, scores), abs=1e-15)
    repeated = np.repeat(np.arange(n), counts[1].astype(int))
    assert got[1] == pytest.approx(
        roc_auc_score(is_positive[repeated], scores[repeated]), abs=1e-12
    )


def test_a_row_without_positives_or_negatives_is_nan():
    is_positive = np.array([True, True, False, False])
    scores = np.array([0.9, 0.2, 0.4, 0.1])
    counts = np.array([[1, 1, 0, 0], [0, 0, 2, 1], [1, 0, 1, 0]], dtype=float)
    got = mann_whitney_auc(counts, is_positive, scores)
    assert np.isnan(got[:2]).all() and got[2] == 1.0


def test_all_scores_tied_is_one_half():
    is_positive = np.array([True, False, True, False])
    got = mann_whitney_auc(np.ones((1, 4)), is_positive, np.zeros(4))
    assert got.tolist() == [0.5]
