"""``mammoclf evaluate`` on a model saved by ``compare``, and ``--official-test-split``."""

import csv
import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammoclf.cli._main import EXIT_INPUT, EXIT_OK, main
from mammoclf.persistence import read_development

_FAST = ["--models", "scratch", "--image-size", "32", "--epochs", "1", "--cv", "2"]


def _png_rows(folder, first_patient, n_patients, lower_case=False):
    """Two views per patient (one per breast for odd patients), a bright square if malignant."""
    rng = np.random.default_rng(first_patient)
    rows = []
    for patient in range(first_patient, first_patient + n_patients):
        label = "MALIGNANT" if patient % 2 else "BENIGN"
        views = [("L", "CC"), ("L", "MLO")] if patient % 3 else [("R", "CC")]
        for side, view in views:
            pixels = (rng.random((40, 40)) * 120).astype(np.uint8)
            if label == "MALIGNANT":
                pixels[14:26, 14:26] = 250
            name = f"case{patient}_{side}{view}.png"
            Image.fromarray(pixels).save(folder / name)
            rows.append(
                {
                    "path": name,
                    "label": label.lower() if lower_case else label,
                    "patient": f"PAT{patient}",
                    "laterality": side,
                    "density": str(1 + patient % 2),
                }
            )
    return rows


def _write(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def developed(tmp_path_factory):
    """compare on one CSV (saving the model), then evaluate on another."""
    folder = tmp_path_factory.mktemp("external")
    _write(folder / "development.csv", _png_rows(folder, 0, 12))
    _write(folder / "external.csv", _png_rows(folder, 100, 10, lower_case=True))
    compare_out = folder / "compare-report"
    argv = ["compare", "--csv", str(folder / "development.csv"), *_FAST]
    argv += ["--n-resamples", "20", "--subgroup-columns", "density"]
    assert main([*argv, "--out", str(compare_out), "--quiet"]) == EXIT_OK
    evaluate_out = folder / "evaluation"
    status = main(
        [
            "evaluate",
            str(compare_out / "models" / "scratch.mammoclf"),
            "--csv",
            str(folder / "external.csv"),
            "--subgroup-columns",
            "density",
            "--n-resamples",
            "20",
            "--out",
            str(evaluate_out),
            "--quiet",
        ]
    )
    assert status == EXIT_OK
    return compare_out, evaluate_out


def test_compare_stores_what_an_external_evaluation_needs(developed):
    compare_out, _ = developed
    record = read_development(compare_out / "models" / "scratch.mammoclf")
    assert record["n_images"] == 20 and record["n_patients"] == 12
    assert record["prevalence"] == pytest.approx(10 / 20)
    assert record["image_size"] == 32
    assert record["threshold"]["value"] == 0.5
    assert record["threshold"]["response"] == "predict_proba"
    report = (compare_out / "report.md").read_text()
    for key in ("calibration", "operating_points", "breast", "subgroups", "checklist"):
        assert f'<a id="{key}"></a>' in report
    oof = pd.read_csv(compare_out / "tables" / "out_of_fold_predictions.csv")
    assert oof["path"].str.match(r"^anon-[0-9a-f]{16}$").all()
    assert not oof.astype(str).apply(lambda c: c.str.contains("case")).any().any()


def test_evaluate_writes_the_evaluation_report(developed):
    _, out = developed
    report = (out / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", report, flags=re.MULTILINE)
    assert headings[0] == "What was compared, and how"
    assert headings[-1].startswith("Reporting checklist")
    for title in (
        "Decision thresholds of the binary metrics",
        "Held-out test set: classification performance",
        "Calibration (held-out test set)",
        "Operating points (held-out test set)",
        "Image and breast level (held-out test set)",
        "Subgroups (held-out test set)",
        "Grad-CAM: where the models looked",
    ):
        assert title in headings
    # Development data and the stored threshold are stated.
    assert "developed on 20 images of 12 patients" in report
    assert "fixed on the development data" in report
    for figure in (
        "roc_curves",
        "confusion_matrices",
        "reliability_holdout_calibration",
    ):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 0
    predictions = pd.read_csv(out / "tables" / "predictions.csv")
    assert len(predictions) == len(pd.read_csv(out.parent / "external.csv"))
    # Lower-case labels were matched to the model's classes.
    assert set(predictions["y_true"]) == {"BENIGN", "MALIGNANT"}
    assert "PAT1" not in report  # pseudonyms only
    # The paths are pseudonymised as the patients are (no raw file name).
    assert predictions["path"].str.match(r"^anon-[0-9a-f]{16}$").all()
    assert predictions["path"].nunique() == len(predictions)
    # Metrics carry the names compare's report gives them.
    assert "| precision (PPV) |" in report and "| ppv |" not in report
    scores = pd.read_csv(out / "tables" / "holdout.csv")
    assert set(scores["metric"]) >= {"roc_auc", "sensitivity", "specificity"}
    breast = pd.read_csv(out / "tables" / "holdout_breast.csv")
    assert set(breast["level"]) == {"image", "breast"}


def test_evaluate_refuses_labels_the_model_does_not_know(developed, tmp_path, capsys):
    compare_out, _ = developed
    rows = _png_rows(tmp_path, 200, 4)
    rows[0]["label"] = "NORMAL"
    _write(tmp_path / "odd.csv", rows)
    status = main(
        [
            "evaluate",
            str(compare_out / "models" / "scratch.mammoclf"),
            "--csv",
            str(tmp_path / "odd.csv"),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    assert status == EXIT_INPUT
    assert "NORMAL" in capsys.readouterr().err


_CBIS_COLUMNS = [
    "patient_id",
    "breast_density",
    "left or right breast",
    "image view",
    "abnormality id",
    "abnormality type",
    "mass shape",
    "mass margins",
    "assessment",
    "pathology",
    "subtlety",
    "image file path",
    "cropped image file path",
    "ROI mask file path",
]


def _cbis_layout(root, n_patients=16, n_test_patients=6):
    """A CBIS-DDSM root of synthetic mammograms in the tables' own layout."""
    from mammoclf.datasets import make_synthetic_mammograms

    data = make_synthetic_mammograms(
        2 * n_patients,
        image_size=48,
        random_state=0,
        directory=os.path.join(root, "_synthetic"),
    )
    meta = data.metadata.reset_index(drop=True)
    patients = list(dict.fromkeys(meta["patient_id"]))
    rows = {"train": [], "test": []}
    for k, (path, label) in enumerate(zip(data.paths, data.labels)):
        number = patients.index(meta.loc[k, "patient_id"])
        split = "test" if number >= len(patients) - n_test_patients else "train"
        side = "LEFT" if meta.loc[k, "laterality"] == "L" else "RIGHT"
        case = (
            f"Mass-{'Test' if split == 'test' else 'Training'}_P_{number + 1:05d}_"
            f"{side}_{meta.loc[k, 'view']}"
        )
        relative = f"{case}/1.2.826.0.{k}/1.2.826.1.{k}/000000.dcm"
        os.makedirs(os.path.join(root, os.path.dirname(relative)), exist_ok=True)
        shutil.copyfile(path, os.path.join(root, relative))
        rows[split].append(
            [f"P_{number + 1:05d}", 1 + number % 4, side, meta.loc[k, "view"], 1]
            + ["mass", "OVAL", "CIRCUMSCRIBED", 3, str(label).upper(), 1 + number % 5]
            + [relative, f"{case}_1/a/b/000000.dcm", f"{case}_1/a/b/000001.dcm"]
        )
    shutil.rmtree(os.path.join(root, "_synthetic"))
    for split, table in rows.items():
        pd.DataFrame(table, columns=_CBIS_COLUMNS).to_csv(
            os.path.join(root, f"mass_case_description_{split}_set.csv"), index=False
        )
    return root


def test_official_split_masks_and_the_shared_patient_refusal():
    from mammoclf.cli._evaluation_data import official_split
    from mammoclf.cli._main import UsageError

    metadata = pd.DataFrame({"split": ["train", "train", "test", "test", "train"]})
    groups = np.array([0, 1, 2, 3, 4])
    train, test = official_split(metadata, groups)
    assert train.tolist() == [True, True, False, False, True]
    assert test.tolist() == [False, False, True, True, False]
    assert not set(groups[train]) & set(groups[test])
    with pytest.raises(UsageError, match="1 patient.*both the official train and test"):
        official_split(metadata, np.array([0, 1, 2, 1, 4]))
    with pytest.raises(UsageError, match="needs --cbis-ddsm"):
        official_split(None, groups)


@pytest.mark.slow  # a whole compare run on a CBIS-DDSM layout: about a minute
def test_official_test_split_keeps_cross_validation_and_test_apart(tmp_path):
    root = _cbis_layout(tmp_path / "CBIS-DDSM")
    out = tmp_path / "report"
    status = main(
        [
            "compare",
            "--cbis-ddsm",
            str(root),
            "--subset",
            "mass",
            "--official-test-split",
            "--weights",
            "none",
            *_FAST,
            "--n-resamples",
            "20",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert status == EXIT_OK
    # No patient crosses the boundary: the cross-validated images are the
    # official train split, the held-out ones the test split.
    folds = pd.read_csv(out / "tables" / "out_of_fold_predictions.csv")
    assert len(folds) == 2 * (16 - 6)
    tables = json.loads((out / "run.json").read_text())
    assert tables["official_test_split"] is True
    report = (out / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", report, flags=re.MULTILINE)
    held_out = headings.index("Held-out test set: classification performance")
    assert headings.index("Table 1: classification performance") < held_out
    assert headings.index("Subgroups (cross-validation)") < held_out
    assert all("held-out" in h.lower() for h in headings[held_out : held_out + 5])
    holdout = pd.read_csv(out / "tables" / "holdout.csv")
    assert len(holdout) > 0 and holdout["estimate"].notna().any()
    assert "No patient of the test set is in the development data (checked)." in report
    subgroups = pd.read_csv(out / "tables" / "holdout_subgroups.csv")
    assert set(subgroups["variable"]) == {
        "breast_density",
        "abnormality_type",
        "subtlety",
    }
    record = read_development(out / "models" / "scratch.mammoclf")
    assert record["n_patients"] == 10  # the train split only
    # What the saved pipeline drops, for evaluate's training section.
    assert record["training"]["augmentation"].startswith("Augmenter: 1 extra copy")
    # With a held-out test set, its table answers Partitioning too.
    from tests.evaluation.test_checklist import assert_checklist_links_answer

    assert assert_checklist_links_answer(report) >= 10
    assert "](#holdout)" in report.split("## Reporting checklist")[1]


def _evaluate_on(compare_out, csv_path, out, *extra):
    model = compare_out / "models" / "scratch.mammoclf"
    argv = ["evaluate", str(model), "--csv", str(csv_path), "--out", str(out)]
    return main([*argv, "--n-resamples", "10", "--quiet", *extra])


def test_evaluate_refuses_the_model_s_own_development_data(developed, capsys):
    compare_out, _ = developed
    development = compare_out.parent / "development.csv"
    out = compare_out.parent / "own-data"
    assert _evaluate_on(compare_out, development, out) == EXIT_INPUT
    message = capsys.readouterr().err
    assert "evaluate refuses test data the model was developed on" in message
    assert "20 of the 20 test images and 12 of the 12 test patients" in message
    assert "--allow-overlap" in message
    assert not (out / "report.md").exists()
    # evaluate fits nothing: no fit cache (nor a staging folder) is left behind,
    # and the folder it leaves is accepted by the next run.
    assert sorted(entry.name for entry in out.iterdir()) == []
    assert _evaluate_on(compare_out, development, out) == EXIT_INPUT


def test_evaluate_makes_no_fit_cache(developed):
    _, evaluate_out = developed
    assert not (evaluate_out / "fit-cache").exists()
    assert (evaluate_out / "report.md").is_file()


def test_overlap_is_found_by_content_and_patient_not_by_name(developed, tmp_path):
    compare_out, _ = developed
    folder = compare_out.parent
    rows = pd.read_csv(folder / "development.csv", dtype=str).head(3).to_dict("records")
    copied = []
    for k, row in enumerate(rows):  # the same images under new names and patients
        shutil.copyfile(folder / row["path"], tmp_path / f"renamed{k}.png")
        copied.append({**row, "path": f"renamed{k}.png", "patient": f"NEW{k}"})
    fresh = _png_rows(tmp_path, 300, 4)
    fresh[0]["patient"] = "PAT1"  # an unseen image of a development patient
    _write(tmp_path / "copies.csv", copied + fresh)
    _write(tmp_path / "patient.csv", fresh)
    assert _evaluate_on(compare_out, tmp_path / "copies.csv", tmp_path / "a") == 2
    assert _evaluate_on(compare_out, tmp_path / "patient.csv", tmp_path / "b") == 2


def test_allow_overlap_evaluates_and_the_report_says_the_data_are_not_unseen(
    developed, capsys
):
    compare_out, _ = developed
    development = compare_out.parent / "development.csv"
    out = compare_out.parent / "allowed"
    assert _evaluate_on(compare_out, development, out, "--allow-overlap") == EXIT_OK
    report = (out / "report.md").read_text()
    assert "NOT unseen" in report and "None of them was used" not in report
    assert "NOT unseen" in capsys.readouterr().err


def test_the_report_of_unseen_data_says_how_it_was_checked(developed):
    _, evaluate_out = developed
    report = (evaluate_out / "report.md").read_text()
    assert "checked by file content digests and patient pseudonyms" in report


def _numpy_reprs(folder):
    """``(file, line)`` of each ``np.`` in a text file written under ``folder``."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in {".md", ".html", ".csv", ".json", ".txt"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [(str(path), line) for line in text.splitlines() if "np." in line]
    return found


def test_no_numpy_repr_and_the_announced_warning_is_shown(developed, tmp_path, capsys):
    """Labels are words (no ``np.str_('MALIGNANT')``) in every file and console line;
    the few-patients warning that is announced is printed and in the report."""
    compare_out, evaluate_out = developed
    assert _numpy_reprs(compare_out) == []
    assert _numpy_reprs(evaluate_out) == []
    # The console of an evaluation (3 patients a class), and of a refused one.
    _write(tmp_path / "few.csv", _png_rows(tmp_path, 600, 6))
    model = str(compare_out / "models" / "scratch.mammoclf")
    argv = ["evaluate", model, "--n-resamples", "10", "--out", str(tmp_path / "a")]
    assert main([*argv, "--csv", str(tmp_path / "few.csv")]) == EXIT_OK
    rows = _png_rows(tmp_path, 400, 4)
    rows[0]["label"] = "NORMAL"
    _write(tmp_path / "odd.csv", rows)
    argv[-1] = str(tmp_path / "b")
    assert main([*argv, "--csv", str(tmp_path / "odd.csv")]) == EXIT_INPUT
    console = capsys.readouterr()
    # The console is short (the held-out metrics, where the report is), not the
    # whole report; --verbose prints everything.
    assert "Reporting checklist" not in console.out
    assert "Held-out test set: classification performance" in console.out
    assert "report: " in console.out and len(console.out.splitlines()) < 40
    assert "MALIGNANT" in console.out + console.err
    assert "np." not in console.out + console.err
    assert _numpy_reprs(tmp_path / "a") == []
    announced = console.err.split("see the warnings at the end")[1]
    assert "with fewer than about 5 patients per class" in announced
    report = (tmp_path / "a" / "report.md").read_text()
    assert "Note: Only" in report
    assert "with fewer than about 5 patients per class" in report


def test_evaluate_errors_name_evaluate_not_compare(developed, tmp_path, capsys):
    compare_out, _ = developed
    rows = [row for row in _png_rows(tmp_path, 500, 6) if row["label"] == "BENIGN"]
    _write(tmp_path / "benign.csv", rows)
    assert _evaluate_on(compare_out, tmp_path / "benign.csv", tmp_path / "o") == 2
    message = capsys.readouterr().err
    assert "evaluate needs exactly two classes" in message
    assert "compare" not in message
    assert not (tmp_path / "o" / "fit-cache").exists()


def test_every_checklist_link_of_both_reports_holds_its_answer(developed):
    """Training, Preprocessing and Model point to the training section, which
    states them from the fitted models (the saved one's Augmenter from its record)."""
    from tests.evaluation.test_checklist import (
        assert_checklist_links_answer,
        report_sections,
    )

    for out in developed:
        markdown = (out / "report.md").read_text()
        assert assert_checklist_links_answer(markdown) >= 10
        training = report_sections(markdown)["training"]
        assert "| optimiser | Adam |" in training
        assert "| epochs run per stage | 1 of 1 planned |" in training
        assert "Augmenter: 1 extra copy of every training image" in training
        assert "global max pooling" in training
    compare, evaluate = (out / "report.md" for out in developed)
    # evaluate cross-validates nothing: no cross-validated table is linked.
    assert "(#metrics)" in compare.read_text()
    assert "(#metrics)" not in evaluate.read_text()
    assert "(#compute)" not in evaluate.read_text()
