import numpy as np
import pytest

from mammoclf.metrics import resolve_pos_label


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["BENIGN", "MALIGNANT"], "MALIGNANT"),
        (["malignant", "benign", "benign"], "malignant"),
        (np.array([" Malignant ", "Benign"]), " Malignant "),
        (["MALIGNANT"], "MALIGNANT"),  # one class present is enough
        ([0, 1, 1], 1),
        (np.array([-1, 1]), 1),
        (np.array([0.0, 1.0]), 1),
        ([False, True], True),
    ],
)
def test_auto_rule(labels, expected):
    assert resolve_pos_label(labels) == expected


@pytest.mark.parametrize(
    "labels, message",
    [
        (["MALIGNANT", "malignant"], "ambiguous"),
        (["BENIGN", "CANCER"], "no label named 'malignant'"),
        (["BENIGN"], "no label named 'malignant'"),
        ([1, 2], "cannot infer"),
        ([0.5, 1.0], "cannot infer"),
        (np.array(["a", None], dtype=object), "cannot infer"),
        (["BENIGN", "MALIGNANT", "BENIGN_WITHOUT_CALLBACK"], "3 classes"),
    ],
)
def test_auto_rule_refuses_to_guess(labels, message):
    with pytest.raises(ValueError, match=message):
        resolve_pos_label(labels)


def test_explicit_pos_label_is_checked_against_two_labels():
    assert resolve_pos_label(["healthy", "sick"], pos_label="healthy") == "healthy"
    with pytest.raises(ValueError, match="not one of the labels"):
        resolve_pos_label(["healthy", "sick"], pos_label="MALIGNANT")
    # A fold with one class only cannot contradict an explicit choice.
    assert resolve_pos_label(["healthy"], pos_label="sick") == "sick"
