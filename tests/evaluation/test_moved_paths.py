"""The names that moved to mammoclf.evaluation still work at their old paths, with a warning."""

import importlib

import pytest

import mammoclf.evaluation

MOVED = [
    ("mammoclf.model_selection", name)
    for name in (
        "CalibrationResult",
        "ComparisonSummary",
        "SummaryOptions",
        "SummaryTable",
        "evaluate_calibration",
        "evaluate_operating_points",
        "evaluate_predictions",
        "evaluate_subgroups",
        "reporting_checklist",
    )
] + [
    ("mammoclf.stats", name)
    for name in ("PAIRWISE_TESTS", "omnibus_test", "pairwise_tests")
]


@pytest.mark.parametrize(("old_module", "name"), MOVED)
def test_old_path_is_the_new_object_with_a_future_warning(old_module, name):
    module = importlib.import_module(old_module)
    with pytest.warns(FutureWarning, match=rf"mammoclf\.evaluation\.{name}"):
        value = getattr(module, name)
    assert value is getattr(mammoclf.evaluation, name)


@pytest.mark.parametrize("old_module", ["mammoclf.model_selection", "mammoclf.stats"])
def test_unknown_names_still_raise_attribute_error(old_module):
    module = importlib.import_module(old_module)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018


def test_moved_names_are_no_longer_listed_at_the_old_path():
    import mammoclf.model_selection
    import mammoclf.stats

    for old_module, name in MOVED:
        assert name not in importlib.import_module(old_module).__all__
        assert name in mammoclf.evaluation.__all__
