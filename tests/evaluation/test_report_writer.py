"""One report writer: sections in order, every file written atomically."""

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mammoclf.evaluation._report_sections as sections_module
from mammoclf.evaluation import Predictions
from mammoclf.evaluation._report_sections import (
    bullets_section,
    csv_section,
    environment_section,
    figures_section,
    predictions_frame,
    write_report,
)
from mammoclf.model_selection import compare_models, evaluate_holdout
from mammoclf.plotting import ConfusionMatricesDisplay, RocCurvesDisplay

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def results():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 3))
    y = np.where(X[:, 0] + 0.7 * rng.normal(size=48) > 0, "MALIGNANT", "BENIGN")
    groups = np.arange(48) // 2
    models = {"lr": LogisticRegression(), "weak": LogisticRegression(C=1e-4)}
    comparison = compare_models(models, X[:32], y[:32], groups=groups[:32], cv=2)
    holdout = evaluate_holdout(
        models,
        X[:32],
        y[:32],
        X[32:],
        y[32:],
        groups_train=groups[:32],
        groups_test=groups[32:],
    )
    return comparison, holdout


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def test_sections_run_in_order_and_run_json_is_written_atomically(
    tmp_path, monkeypatch
):
    atomic = []
    real = sections_module.write_text

    def recording(path, text, **kwargs):
        atomic.append(path.name)
        real(path, text, **kwargs)

    monkeypatch.setattr(sections_module, "write_text", recording)
    run_info = {"command": "mammoclf x", "out": tmp_path}  # a Path: written as text
    write_report(
        tmp_path,
        title="A report",
        sections=[
            bullets_section("First", ["one"], anchor="data"),
            bullets_section("Skipped: no items", []),
            csv_section(pd.DataFrame({"a": [1, 2]}), "a.csv"),
            environment_section(run_info),
        ],
        run_info=run_info,
        banner="Read this first.",
    )
    markdown = (tmp_path / "report.md").read_text()
    assert markdown.index("Read this first.") < markdown.index("## First")
    assert markdown.index("## First") < markdown.index("## Environment")
    assert "Skipped" not in markdown
    assert (tmp_path / "report.html").is_file()
    assert pd.read_csv(tmp_path / "tables" / "a.csv")["a"].tolist() == [1, 2]
    assert atomic == ["run.json"]
    assert json.loads((tmp_path / "run.json").read_text())["out"] == str(tmp_path)


def test_plots_read_a_predictions_object_as_they_read_its_arrays(results):
    comparison, holdout = results
    cv = Predictions.from_comparison(comparison)
    from_object = RocCurvesDisplay.from_predictions(cv)
    from_arrays = RocCurvesDisplay.from_predictions(
        cv.y_true, cv.y_score, fold_ids=cv.fold, pos_label=cv.pos_label
    )
    for model in cv.model_names:
        np.testing.assert_array_equal(
            from_object.fold_aucs[model], from_arrays.fold_aucs[model]
        )
    assert from_object.fold_aucs["lr"].shape == (2,)  # one curve per fold
    held_out = Predictions.from_holdout(holdout)
    display = RocCurvesDisplay.from_predictions(held_out)
    assert display.fold_aucs["lr"].shape == (1,)  # the test set: one curve
    assert display.ax_.get_title() == "ROC"  # no band over folds to speak of
    matrices = ConfusionMatricesDisplay.from_predictions(held_out)
    expected = ConfusionMatricesDisplay.from_predictions(
        holdout.y_true, holdout.y_pred, pos_label=holdout.pos_label
    )
    for model in held_out.model_names:
        np.testing.assert_array_equal(
            matrices.confusion_matrices[model], expected.confusion_matrices[model]
        )
    with pytest.raises(ValueError, match="leave y_scores and fold_ids out"):
        RocCurvesDisplay.from_predictions(cv, cv.y_score)
    with pytest.raises(ValueError, match="leave y_preds out"):
        ConfusionMatricesDisplay.from_predictions(cv, cv.y_pred)


def test_both_reports_draw_the_same_figures_from_predictions(results, tmp_path):
    comparison, holdout = results
    for which, predictions in (
        ("cv", Predictions.from_comparison(comparison)),
        ("holdout", Predictions.from_holdout(holdout)),
    ):
        out = tmp_path / which
        write_report(
            out,
            title=which,
            sections=[
                figures_section(
                    predictions,
                    captions={"roc_curves": "ROC.", "confusion_matrices": "CM."},
                )
            ],
            run_info={},
        )
        assert sorted(p.name for p in (out / "figures").iterdir()) == [
            "confusion_matrices.png",
            "roc_curves.png",
        ]


def test_the_predictions_table_has_one_row_per_image_and_the_patients_shown(results):
    comparison, holdout = results
    patients = np.array([f"anon-{i}" for i in range(32)])
    frame = predictions_frame(
        Predictions.from_comparison(comparison), patients=patients
    )
    assert frame.columns.tolist() == [
        "sample",
        "patient",
        "fold",
        "y_true",
        "lr: y_score",
        "lr: y_pred",
        "weak: y_score",
        "weak: y_pred",
    ]
    assert frame["patient"].tolist() == patients[frame["sample"]].tolist()
    expected = comparison.out_of_fold("lr")
    np.testing.assert_array_equal(frame["lr: y_score"], expected["y_score"])
    held_out = predictions_frame(
        Predictions.from_holdout(holdout, paths=[f"p{i}" for i in range(16)]),
        patients=patients[:16],
    )
    assert held_out.columns[:3].tolist() == ["path", "patient", "y_true"]
    np.testing.assert_array_equal(held_out["weak: y_pred"], holdout.y_pred["weak"])


def test_a_test_set_of_one_class_has_confusion_matrices_and_no_roc(results, tmp_path):
    _, holdout = results
    benign = holdout.y_true == "BENIGN"
    one_class = Predictions.from_holdout(holdout)
    one_class = Predictions(
        **{
            **one_class.__dict__,
            "y_true": one_class.y_true[benign],
            "y_pred": {m: p[benign] for m, p in one_class.y_pred.items()},
            "y_score": {m: s[benign] for m, s in one_class.y_score.items()},
            "groups": None,
            "sample": np.arange(benign.sum()),
        }
    )
    report = write_report(
        tmp_path,
        title="one class",
        sections=[
            figures_section(
                one_class, captions={"roc_curves": "ROC.", "confusion_matrices": "CM."}
            )
        ],
        run_info={},
    )
    assert "No ROC curves" in report.to_markdown()
    assert [p.name for p in (tmp_path / "figures").iterdir()] == [
        "confusion_matrices.png"
    ]
    matrices = ConfusionMatricesDisplay.from_predictions(one_class)
    assert matrices.display_labels == ["BENIGN", "MALIGNANT"]
    assert matrices.confusion_matrices["lr"][1].tolist() == [0, 0]  # no malignant
