"""All resamples at once equal the metric functions on each resample."""

import functools
import warnings

import numpy as np
import pytest

from mammoclf.metrics import make_clinical_scorer
from mammoclf.stats import bootstrap_ci
from mammoclf.stats._resampled_metrics import RESAMPLED_METRICS, resampled_metric


def _direct(name, y_true, values, members, drawn):
    """The slow reference: the named metric called on every resampled set."""
    scorer = make_clinical_scorer(name)
    func = functools.partial(scorer.score_func, **scorer.kwargs)
    takes_pos_label = name not in ("accuracy", "f1_weighted")
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for clusters in drawn:
            index = np.concatenate([members[j] for j in clusters])
            extra = {"pos_label": "M"} if takes_pos_label else {}
            try:
                out.append(func(y_true[index], values[index], **extra))
            except ValueError:
                out.append(np.nan)
    return np.array(out, dtype=np.float64)


def _case(seed, n_patients, tied_scores, one_sided_calls):
    rng = np.random.default_rng(seed)
    per_patient = rng.integers(1, 4, n_patients)
    groups = np.repeat(np.arange(n_patients), per_patient)
    y_true = np.where(rng.random(n_patients) < 0.4, "M", "B")[groups]
    scores = rng.random(groups.size) + (y_true == "M")
    if tied_scores:
        scores = np.round(scores * 2) / 2  # few distinct values: many ties
    calls = np.where(scores > 0.9, "M", "B")
    if one_sided_calls:
        calls[:] = "B"  # PPV undefined in every resample
    members = [np.flatnonzero(groups == g) for g in range(n_patients)]
    drawn = np.random.RandomState(seed).randint(n_patients, size=(300, n_patients))
    return y_true, scores, calls, members, drawn


@pytest.mark.parametrize("name", RESAMPLED_METRICS)
@pytest.mark.parametrize(
    "seed, n_patients, tied_scores, one_sided_calls",
    [
        (0, 30, False, False),
        (1, 5, True, False),
        (2, 3, False, True),
        (3, 12, True, True),
    ],
)
def test_equal_to_the_metric_on_each_resample(
    name, seed, n_patients, tied_scores, one_sided_calls
):
    y_true, scores, calls, members, drawn = _case(
        seed, n_patients, tied_scores, one_sided_calls
    )
    values = scores if name == "roc_auc" else calls
    fast = resampled_metric(
        name,
        y_true == "M",
        scores if name == "roc_auc" else calls == "M",
        members,
        drawn,
    )
    slow = _direct(name, y_true, values, members, drawn)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12, equal_nan=True)
    if one_sided_calls and name == "ppv":  # no malignant call: undefined, not 0
        assert np.isnan(fast).all()
    if n_patients == 3 and name in ("sensitivity", "roc_auc"):
        assert np.isnan(fast).any()  # resamples without a malignant patient


def test_blocks_of_resamples_give_the_same_result(monkeypatch):
    from mammoclf.stats import _resampled_metrics

    y_true, scores, _, members, drawn = _case(4, 20, True, False)
    whole = resampled_metric("roc_auc", y_true == "M", scores, members, drawn)
    monkeypatch.setattr(_resampled_metrics, "_CELLS_PER_BLOCK", 7 * 20)
    blocked = resampled_metric("roc_auc", y_true == "M", scores, members, drawn)
    np.testing.assert_array_equal(whole, blocked)


def test_bootstrap_ci_named_metric_equals_the_same_metric_as_a_callable():
    """The named (vectorised) and callable (one by one) paths agree exactly."""
    y_true, scores, calls, members, _ = _case(5, 25, False, False)
    groups = np.concatenate([[g] * len(m) for g, m in enumerate(members)])
    order = np.concatenate(members)
    y_true, scores, calls = y_true[order], scores[order], calls[order]
    for name, values in (("roc_auc", scores), ("sensitivity", calls)):
        scorer = make_clinical_scorer(name)

        def as_callable(a, b, pos_label, scorer=scorer):
            return scorer.score_func(a, b, pos_label=pos_label, **scorer.kwargs)

        named = bootstrap_ci(
            name,
            y_true,
            values,
            groups=groups,
            pos_label="M",
            n_resamples=400,
            random_state=7,
        )
        called = bootstrap_ci(
            as_callable,
            y_true,
            values,
            groups=groups,
            pos_label="M",
            n_resamples=400,
            random_state=7,
        )
        np.testing.assert_allclose(named.distribution, called.distribution, rtol=1e-12)
        assert named.ci == pytest.approx(called.ci, rel=1e-12)
