"""One options object for every summary, and one entry point, ``summarize``.

``SummaryOptions`` replaced the ~20 keyword arguments that
``ComparisonResult.summary`` and ``HoldoutResult.summary`` each took; the old
methods stay for one release as deprecated aliases that must give the very
same tables.
"""

import inspect
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

import mammoclf
from mammoclf.evaluation import SummaryOptions, summarize
from mammoclf.evaluation._prediction_sets import result_parts
from mammoclf.metrics import CLINICAL_METRICS
from tests.evaluation.fake_results import fake_comparison, fake_holdout

#: The keyword defaults of ComparisonResult.summary before SummaryOptions
#: (main at 6c2201e), written out independently of the new code.
OLD_DEFAULTS = {
    "metrics": None,
    "tests": None,
    "test_metric": None,
    "correction": "holm",
    "alpha": 0.05,
    "ci_method": "korn_graubard",
    "confidence_level": 0.95,
    "omnibus": None,
    "metric_labels": None,
    "calibration": False,
    "operating_points": False,
    "specificities": (0.8, 0.9, 0.95),
    "sensitivities": (0.8, 0.9, 0.95),
    "breast_level": "mean",
    "subgroups": None,
    "min_cases": 10,
    "n_resamples": 1000,
    "random_state": 0,
    "checklist": False,
    "report_sections": None,
}
#: Options added since, off by default: the report's own tables as entries.
NEW_DEFAULTS = {
    "training": False,
    "preprocessing": None,
    "training_records": None,
    "localization": None,
}


@pytest.fixture(scope="module")
def comparison():
    return fake_comparison().with_holdout(fake_holdout())


def _quiet(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small subgroups
        return function(*args)


def test_defaults_are_the_old_keyword_defaults():
    assert SummaryOptions().get_params() == {**OLD_DEFAULTS, **NEW_DEFAULTS}
    signature = inspect.signature(SummaryOptions)
    assert all(p.kind is p.KEYWORD_ONLY for p in signature.parameters.values())


def test_parameters_are_stored_untouched_and_never_mutated(comparison):
    metrics, sections = ["roc_auc"], {"grad_cam": "[G](#g)"}
    options = SummaryOptions(
        metrics=metrics,
        report_sections=sections,
        n_resamples=10,
        tests=(),
        subgroups=(),
        breast_level=None,
    )
    assert options.metrics is metrics and options.report_sections is sections
    before = clone(options).get_params()
    summary = _quiet(summarize, comparison, options)
    assert options.get_params() == before
    assert summary.options.metrics == ("roc_auc",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("metrics", "roc_auc"),
        ("metrics", []),
        ("tests", ["t_test"]),
        ("test_metric", 3),
        ("correction", "sidak"),
        ("alpha", 1.5),
        ("ci_method", "wald"),
        ("confidence_level", 1.0),
        ("omnibus", ["kruskal"]),
        ("metric_labels", [("roc_auc", "AUC")]),
        ("calibration", "yes"),
        ("operating_points", 1),
        ("specificities", (0.8, 1.2)),
        ("sensitivities", [float("nan")]),
        ("sensitivities", 0.9),
        ("breast_level", "median"),
        ("subgroups", ["density", 3]),
        ("min_cases", 0),
        ("n_resamples", 3),
        ("n_resamples", 100.0),
        ("random_state", "seed"),
        ("checklist", None),
        ("report_sections", ["grad_cam"]),
    ],
)
def test_a_bad_value_is_refused_with_the_parameters_name(comparison, name, value):
    options = SummaryOptions(**{name: value})  # stored untouched, checked when used
    match = rf"^The '{name}' parameter of SummaryOptions must be .* Got .* instead\.$"
    with pytest.raises(InvalidParameterError, match=match):
        summarize(comparison, options)


def test_summarize_refuses_what_it_cannot_summarize(comparison):
    with pytest.raises(InvalidParameterError, match="'options' parameter of summarize"):
        summarize(comparison, {"tests": ()})
    with pytest.raises(TypeError, match="needs a ComparisonResult .* got DataFrame"):
        summarize(pd.DataFrame())
    with pytest.raises(KeyError, match=r"\['age'\] are not in the metadata"):
        summarize(comparison, SummaryOptions(subgroups=["age"], n_resamples=20))
    # A held-out evaluation alone has no models' folds to test.
    with pytest.raises(ValueError, match="tests and omnibus compare models"):
        summarize(fake_holdout(), SummaryOptions(tests=["delong"], omnibus=["anova"]))
    assert summarize(fake_holdout(), SummaryOptions(tests=(), n_resamples=20)).tables


def _assert_same_summary(old, new):
    assert old.title == new.title and old.general_notes == new.general_notes
    assert [t.key for t in old.tables] == [t.key for t in new.tables]
    for before, after in zip(old.tables, new.tables):
        assert (before.title, before.caption, before.notes) == (
            after.title,
            after.caption,
            after.notes,
        )
        pd.testing.assert_frame_equal(before.csv_frame(), after.csv_frame())
        pd.testing.assert_frame_equal(before.display, after.display)


_FULL = {
    "tests": ("corrected_t",),
    "ci_method": "logit_t",
    "confidence_level": 0.9,
    "calibration": True,
    "operating_points": True,
    "specificities": [0.5],
    "subgroups": "density",
    "breast_level": "max",
    "metric_labels": {"roc_auc": "AUC"},
    "n_resamples": 10,
    "random_state": 3,
    "checklist": True,
    "report_sections": {"grad_cam": "[Grad-CAM](#grad_cam)"},
}


@pytest.mark.parametrize(
    ("which", "options"),
    [
        ("comparison", _FULL),
        ("holdout", {"n_resamples": 10}),
        (
            "holdout",
            {k: v for k, v in _FULL.items() if k not in ("tests", "ci_method")},
        ),
    ],
)
def test_deprecated_summary_is_summarize_with_the_options(comparison, which, options):
    result = comparison if which == "comparison" else comparison.holdout
    name = type(result).__name__
    with pytest.warns(FutureWarning, match=rf"{name}\.summary\(\*\*options\) is depr"):
        old = _quiet(lambda: result.summary(**options))
    _assert_same_summary(old, _quiet(summarize, result, SummaryOptions(**options)))


def test_the_deprecation_warning_points_at_the_callers_line(comparison):
    with pytest.warns(FutureWarning) as caught:
        comparison.summary(tests=(), n_resamples=20, subgroups=())
    assert Path(caught[0].filename).name == Path(__file__).name


def test_result_parts_tell_a_comparison_from_a_holdout_by_declared_kind(comparison):
    holdout = comparison.holdout
    assert result_parts(comparison) == (comparison, holdout)
    assert result_parts(holdout) == (None, holdout)
    alone = fake_comparison()
    assert result_parts(alone) == (alone, None)
    # Something shaped like a result but not one is not taken for one.
    impostor = type("Impostor", (), {"splits": (), "holdout": None})()
    assert result_parts(impostor) == (None, None)


def test_evaluation_never_dispatches_on_the_type_of_a_result():
    """No ``hasattr(result, ...)`` / ``is_cross_validated``: one place reads ``kind``."""
    root = Path(mammoclf.__file__).parent
    pattern = re.compile(r"is_cross_validated\(|hasattr\(result")
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not found, found


def test_the_summary_options_of_an_external_evaluation_are_resolved_for_it():
    summary = summarize(fake_holdout(), SummaryOptions(n_resamples=20))
    assert summary.options.pairwise == () and summary.options.omnibus == ()
    assert summary.options.metrics == tuple(CLINICAL_METRICS)
    assert summary.options.subgroups == ("density",)
    assert np.isclose(summary.options.confidence_level, 0.95)


def test_every_ci_method_of_the_options_is_one_of_summary_frame():
    """The options' ``ci_method`` names and ``summary_frame``'s agree (two layers)."""
    from mammoclf.evaluation._summary_options import CI_METHOD_NAMES

    result = fake_comparison()
    for method in CI_METHOD_NAMES:
        frame = result.summary_frame(
            metrics=["roc_auc"], ci_method=method, n_resamples=10
        )
        assert len(frame) == len(result.model_names), method
    with pytest.raises(ValueError, match="ci_method must be one of"):
        result.summary_frame(ci_method="wald")
    assert set(CI_METHOD_NAMES) == set(
        SummaryOptions._parameter_constraints["ci_method"][0].options
    )


def test_deprecated_pairwise_tests_method_is_the_function(comparison):
    from mammoclf.evaluation import pairwise_tests

    with pytest.warns(FutureWarning, match=r"ComparisonResult\.pairwise_tests"):
        old = comparison.pairwise_tests(test="delong")
    pd.testing.assert_frame_equal(
        old.drop(columns="result"),
        pairwise_tests(comparison, test="delong").drop(columns="result"),
    )


def test_evaluation_options_are_checked(comparison):
    with pytest.raises(KeyError, match="not in the metadata"):
        summarize(comparison, SummaryOptions(subgroups=["age"]))
    with pytest.raises(ValueError, match="breast_level"):
        summarize(comparison, SummaryOptions(breast_level="median"))
    with pytest.raises(ValueError, match="n_resamples"):
        summarize(comparison, SummaryOptions(n_resamples=3))
