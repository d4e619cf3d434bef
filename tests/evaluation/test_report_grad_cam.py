"""The reports' Grad-CAM panels and explainers, with Grad-CAM itself stubbed."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import mammoclf.inspection
from mammoclf.evaluation._report import REPORT_HEADINGS
from mammoclf.evaluation._report_grad_cam import (
    add_grad_cam_section,
    fold_model_explainer,
    grad_cam_cases,
    saved_model_explainer,
)


class _Report:
    def __init__(self):
        self.parts = []

    def heading(self, text, anchor):
        self.parts.append(("heading", text, anchor))

    def paragraph(self, text):
        self.parts.append(("paragraph", text))

    def figure(self, path, caption):
        self.parts.append(("figure", str(path), caption))


def _predictions():
    # Rows 0-3 malignant, 4-7 benign; rows 2, 3 and 6 wrong.
    return pd.DataFrame(
        {
            "y_true": ["M"] * 4 + ["B"] * 4,
            "y_pred": ["M", "M", "B", "B", "B", "B", "M", "B"],
            "y_score": [0.9, 0.7, 0.1, 0.4, 0.2, 0.05, 0.8, 0.3],
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )


def test_cases_are_the_most_confident_hits_then_mistakes():
    correct, chosen = grad_cam_cases(_predictions(), "M", 4)
    # TP by highest score, TN by lowest, FN by lowest, FP by highest.
    assert chosen == [10, 11, 15, 14, 12, 13, 16]
    assert sorted(correct.index) == [10, 11, 14, 15, 17]


def test_one_panel_per_model_with_its_predicted_class_maps(tmp_path):
    (tmp_path / "figures").mkdir()
    images = np.random.default_rng(0).random((8, 16, 16, 1)).astype(np.float32)
    predictions = _predictions().reset_index(drop=True)
    asked = []

    def explain(rows, label=None):
        asked.append((rows.tolist(), label))
        return np.ones((rows.size, 16, 16), dtype=np.float32)

    no_cases = predictions.iloc[:0]
    report = _Report()
    add_grad_cam_section(
        report,
        [("CNN", "cnn", predictions, explain), ("empty", "e", no_cases, explain)],
        intro="Where the models looked.",
        images=images,
        patients=[f"patient-{i}" for i in range(8)],
        pos_label="M",
        out_dir=tmp_path,
        log=lambda message: None,
    )
    assert asked == [([0, 1, 5, 4, 2, 3, 6], None)]
    assert report.parts == [
        ("heading", REPORT_HEADINGS["grad_cam"], "grad_cam"),
        ("paragraph", "Where the models looked."),
        ("figure", "figures/grad_cam_cnn.png", "Grad-CAM of CNN."),
    ]
    assert (tmp_path / "figures" / "grad_cam_cnn.png").stat().st_size > 0
    assert not (tmp_path / "figures" / "grad_cam_e.png").exists()


@pytest.fixture
def recorded_grad_cam(monkeypatch):
    calls = []

    def fake_grad_cam(classifier, X, *, target=None, batch_size=16):
        calls.append((classifier, X[:, 0, 0, 0].tolist(), target))
        return np.full((len(X), *X.shape[1:3]), classifier, dtype=np.float32)

    monkeypatch.setattr(mammoclf.inspection, "grad_cam", fake_grad_cam)
    return calls


def test_each_image_is_explained_by_the_fold_model_that_held_it_out(
    recorded_grad_cam,
):
    images = np.arange(6, dtype=np.float32).reshape(6, 1, 1, 1) * np.ones(
        (6, 4, 4, 1), dtype=np.float32
    )
    # Repeat 0 tests images 0, 2, 4 in fold 0 and 1, 3 in fold 1; image 5 in
    # no fold. A "model" is the number Grad-CAM fills its maps with.
    result = SimpleNamespace(
        fold_ids=np.array([[0, 1, 0, 1, 0, -1]]),
        splits=[
            SimpleNamespace(repeat=0, fold=1),
            SimpleNamespace(repeat=0, fold=0),
        ],
        estimators={"cnn": [11.0, 10.0]},
    )
    explain = fold_model_explainer(result, "cnn", images)
    maps = explain(np.array([3, 0, 4]), "M")
    assert maps[:, 0, 0].tolist() == [11.0, 10.0, 10.0]
    assert sorted(recorded_grad_cam) == [(10.0, [0.0, 4.0], "M"), (11.0, [3.0], "M")]
    with pytest.raises(ValueError, match="1 image.*in no test fold"):
        explain(np.array([5]))


def test_a_saved_pipeline_explains_through_its_classifier(recorded_grad_cam):
    images = np.zeros((3, 4, 4, 1), dtype=np.float32)
    pipeline = SimpleNamespace(steps=[("resize", None), ("cnn", 7.0)])
    maps = saved_model_explainer(pipeline, images)(np.array([2, 0]))
    assert maps.shape == (2, 4, 4) and (maps == 7.0).all()
    assert recorded_grad_cam == [(7.0, [0.0, 0.0], None)]
