"""`mammoclf compare` end to end on tiny data, and its one-line errors."""

import csv
import json
import os
import stat
import struct

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammoclf.cli._main import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_WEIGHTS,
    main,
)
from mammoclf.exceptions import DatasetError, WeightsUnavailableError
from tests.shallow_densenet import shallow_densenet121

# Test folds of 12 images fit in one batch of 16: inference then skips
# tracing a predict function for every fold model.
TINY = [
    "--n-samples",
    "24",
    "--image-size",
    "32",
    "--epochs",
    "1",
    "--cv",
    "2",
    "--batch-size",
    "16",
    # The report's patient-bootstrap intervals: enough to fill every table.
    "--n-resamples",
    "50",
    # 24 small files decode in-process faster than a pool of workers starts
    # (about a second per run); test_csv_of_png_files and tests/test_privacy.py
    # decode with the default worker processes.
    "--decode-jobs",
    "1",
]


@pytest.fixture
def offline_imagenet(monkeypatch):
    """ImageNet weights fail as they do on a machine without internet."""
    import mammoclf.classifiers._transfer_network as backbone

    def unavailable(keras, *, description, weights):
        if weights == "imagenet":
            raise WeightsUnavailableError(
                "Could not get the ImageNet weights (offline test)"
            )
        return real(keras, description=description, weights=weights)

    real = backbone.pretrained_backbone
    monkeypatch.setattr(backbone, "pretrained_backbone", unavailable)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The default demo (all three models), shrunk, with ImageNet unavailable.

    The DenseNet rows use the shallow DenseNet (tests/shallow_densenet.py):
    what is tested here is the report around the models.
    """
    import mammoclf.classifiers._transfer_network as backbone

    real = backbone.pretrained_backbone

    def unavailable(keras, *, description, weights):
        if weights == "imagenet":
            raise WeightsUnavailableError(
                "Could not get the ImageNet weights (offline test)"
            )
        return real(keras, description=description, weights=weights)

    out = tmp_path_factory.mktemp("report")
    backbone.pretrained_backbone = unavailable
    try:
        with shallow_densenet121():
            status = main(["compare", *TINY, "--no-refit", "--out", str(out)])
    finally:
        backbone.pretrained_backbone = real
    assert status == EXIT_OK
    return out


def test_report_folder_layout(demo_report):
    for name in ("report.md", "report.html", "run.json"):
        assert (demo_report / name).is_file()
    figures = {p.name for p in (demo_report / "figures").iterdir()}
    assert {
        "roc_curves.png",
        "confusion_matrices.png",
        "fold_scores.png",
        "grad_cam_scratch.png",
        "grad_cam_frozen.png",
        "grad_cam_partial.png",
        "training_partial.png",
    } <= figures
    for png in (demo_report / "figures").iterdir():
        width, height = _png_size(png)
        assert width >= 300 and height >= 200, png.name
    assert not (demo_report / "models").exists()  # --no-refit


def _png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_grad_cam_is_scored_against_the_synthetic_lesions(demo_report):
    import pandas as pd

    table = pd.read_csv(demo_report / "tables" / "localization.csv")
    assert table["model"].tolist() == [
        "CNN from scratch",
        "DenseNet121 frozen",
        "DenseNet121 partially unfrozen",
    ]
    assert (table["n_images"] == 24).all() and (table["n_patients"] == 12).all()
    for name in ("pointing_game", "heat_in_lesion"):
        assert table[name].between(0, 1).all()
        assert (table[f"{name}_ci_low"] <= table[name]).all()
        assert (table[name] <= table[f"{name}_ci_high"]).all()
        assert table[f"{name}_chance"].between(0, 0.5).all()  # a lesion is small
    report = (demo_report / "report.md").read_text()
    section = report.split("## Grad-CAM: where the models looked")[1].split("\n## ")[0]
    assert "Pointing game" in section and "DenseNet121 frozen" in section
    masks = sorted((demo_report / "synthetic-data").glob("*.mask.png"))
    assert len(masks) == 24


def test_report_says_the_transfer_rows_are_not_pretrained(demo_report):
    report = (demo_report / "report.md").read_text()
    assert "NOT pretrained" in report.split("##")[0]  # the banner opens the report
    assert "NOT pretrained" in (demo_report / "report.html").read_text()
    assert json.loads((demo_report / "run.json").read_text())["weights"] == "random"


def test_training_section_states_each_model_and_the_checklist_links_it(demo_report):
    """Preprocessing, Model and Training point to a section stating them,
    read off the fold models (DenseNet: per stage)."""
    from tests.evaluation.test_checklist import (
        assert_checklist_links_answer,
        report_sections,
    )

    markdown = (demo_report / "report.md").read_text()
    assert assert_checklist_links_answer(markdown) >= 10
    training = report_sections(markdown)["training"]
    partial = "DenseNet121 partially unfrozen"
    assert partial in training
    assert "stage 1: 0.001; stage 2: 0.0001" in training
    assert "stage 2: conv5, head" in training
    assert "NOT ImageNet-pretrained" in training
    assert "decoded by DicomLoader" in training
    assert "Resizer to 32 x 32 px" in training
    assert "Augmenter: 1 extra copy" in training


def test_metrics_table_has_every_model_and_metric(demo_report):
    with open(demo_report / "tables" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    models = {row["model"] for row in rows}
    assert models == {
        "CNN from scratch",
        "DenseNet121 frozen",
        "DenseNet121 partially unfrozen",
    }
    metrics = {row["metric"] for row in rows}
    assert {
        "accuracy",
        "sensitivity",
        "specificity",
        "roc_auc",
        "f1_weighted",
    } <= metrics
    for row in rows:
        if int(row["n_defined"]) == 0:
            # e.g. PPV of a model that never predicted malignant: undefined, not 0.
            assert row["mean"] == row["ci_low"] == "", row
        else:
            assert 0.0 <= float(row["mean"]) <= 1.0


def test_statistical_tests_are_reported_with_adjusted_p_values(demo_report):
    import pandas as pd

    tests = pd.read_csv(demo_report / "tables" / "pairwise_tests.csv")
    assert set(tests["test_key"]) == {
        "corrected_t",
        "delong",
        "mcnemar",
        "paired_t",
        "wilcoxon",
    }
    assert len(tests) == 5 * 3  # three model pairs per test
    defined = tests.dropna(subset=["pvalue"])
    assert len(defined) > 0
    # Holm never lowers a p-value; tests undefined on these tiny folds stay NaN.
    assert (defined["pvalue_adjusted"] >= defined["pvalue"] - 1e-12).all()
    assert tests["pvalue"].isna().equals(tests["pvalue_adjusted"].isna())
    assert len(pd.read_csv(demo_report / "tables" / "omnibus_tests.csv")) == 3
    report = (demo_report / "report.md").read_text()
    for heading in (
        "Table 1",
        "Statistical comparison",
        "Table 2: compute",
        "Grad-CAM",
    ):
        assert heading in report


def test_report_shows_each_note_next_to_its_table(demo_report):
    import pandas as pd

    report = (demo_report / "report.md").read_text()
    metrics = pd.read_csv(demo_report / "tables" / "metrics.csv")
    beyond = ((metrics["ci_low"] < 0) | (metrics["ci_high"] > 1)).any()
    table_one = report.split("## Table 1")[1].split("\n## ")[0]
    assert ("Note: Some t intervals extend beyond [0, 1]" in table_one) == beyond
    compute = report.split("## Table 2: compute")[1].split("\n## ")[0]
    assert "Note: GPU memory, peak of the whole run" in compute
    assert "Note: Peak RSS" in compute


def test_out_of_fold_predictions_cover_every_image_once(demo_report):
    with open(demo_report / "tables" / "out_of_fold_predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(int(row["sample"]) for row in rows) == list(range(24))
    assert all(row["patient"].startswith("anon-") for row in rows)


def test_no_patient_identifier_leaves_the_dicom_files(demo_report, capsys):
    """Synthetic files carry PatientID SYNxxxx and a PatientName: neither may leak."""
    import pydicom

    headers = [
        pydicom.dcmread(p, stop_before_pixels=True)
        for p in sorted((demo_report / "synthetic-data").glob("*.dcm"))
    ]
    secrets = {str(h.PatientID) for h in headers} | {
        str(h.PatientName) for h in headers
    }
    assert secrets
    for path in demo_report.rglob("*"):
        if path.is_file() and path.parent.name != "synthetic-data":
            content = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in content, (path, secret)


@pytest.fixture(scope="module")
def scratch_report(tmp_path_factory):
    """A one-model run with the final model refitted and saved."""
    out = tmp_path_factory.mktemp("scratch-report")
    assert main(["compare", *TINY, "--models", "scratch", "--out", str(out)]) == EXIT_OK
    return out


def test_saved_model_predicts_new_files(scratch_report, capsys):
    assert [p.name for p in (scratch_report / "models").iterdir()] == [
        "scratch.mammoclf"
    ]
    files = sorted(str(p) for p in (scratch_report / "synthetic-data").glob("*.dcm"))[
        :3
    ]
    capsys.readouterr()
    status = main(
        ["predict", str(scratch_report / "models" / "scratch.mammoclf"), *files]
    )
    assert status == EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "file,patient,laterality,view,predicted,p_BENIGN,p_MALIGNANT"
    assert len(lines) == 4
    for line in lines[1:]:
        fields = line.split(",")
        assert fields[1].startswith("anon-")
        assert float(fields[5]) + float(fields[6]) == pytest.approx(1.0, abs=1e-5)


def test_predict_reveals_identifiers_only_on_request(scratch_report, capsys):
    import pydicom

    path = min((scratch_report / "synthetic-data").glob("*.dcm"))
    model = str(scratch_report / "models" / "scratch.mammoclf")
    main(["predict", model, str(path), "--reveal-identifiers"])
    patient = pydicom.dcmread(path, stop_before_pixels=True).PatientID
    assert capsys.readouterr().out.splitlines()[1].split(",")[1] == patient


def test_predict_writes_a_csv_file(scratch_report, tmp_path):
    files = sorted(str(p) for p in (scratch_report / "synthetic-data").glob("*.dcm"))[
        :2
    ]
    target = tmp_path / "predictions.csv"
    model = str(scratch_report / "models" / "scratch.mammoclf")
    assert main(["predict", model, *files, "--out", str(target)]) == EXIT_OK
    assert len(target.read_text().splitlines()) == 3


def test_saved_models_hold_no_identifiers(scratch_report):
    import pydicom

    secrets = {
        str(pydicom.dcmread(p, stop_before_pixels=True).PatientID)
        for p in (scratch_report / "synthetic-data").glob("*.dcm")
    }
    for path in (scratch_report / "models").iterdir():
        content = path.read_bytes()
        assert not any(secret.encode() in content for secret in secrets)


def _png_dataset(folder, n_patients=8):
    rng = np.random.default_rng(0)
    rows = []
    for patient in range(n_patients):
        label = "MALIGNANT" if patient % 2 else "BENIGN"
        for view in ("CC", "MLO"):
            pixels = (rng.random((40, 40)) * 120).astype(np.uint8)
            if label == "MALIGNANT":
                pixels[14:26, 14:26] = 250
            name = f"case{patient}_{view}.png"
            Image.fromarray(pixels).save(folder / name)
            rows.append({"path": name, "label": label, "patient": f"PAT{patient}"})
    return rows


def _write_csv(path, rows, columns=("path", "label", "patient")):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_csv_of_png_files(tmp_path, capsys):
    rows = _png_dataset(tmp_path)
    _write_csv(tmp_path / "data.csv", rows)
    out = tmp_path / "report"
    status = main(
        [
            "compare",
            "--csv",
            str(tmp_path / "data.csv"),
            "--models",
            "scratch",
            "--image-size",
            "32",
            "--epochs",
            "1",
            "--cv",
            "2",
            "--out",
            str(out),
        ]
    )
    assert status == EXIT_OK
    with open(out / "tables" / "out_of_fold_predictions.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 16
    report = (out / "report.md").read_text()
    assert "PAT3" not in report
    # 4 patients per class: said in the report, with the reason.
    assert "BENIGN has 4 patients" in report and "smoke test" in report
    assert "fewer than 5 patients in a class" in capsys.readouterr().err


def test_real_data_without_imagenet_weights_stops_with_exit_3(
    tmp_path, capsys, offline_imagenet
):
    _write_csv(tmp_path / "data.csv", _png_dataset(tmp_path))
    csv_file = str(tmp_path / "data.csv")
    status = main(
        ["compare", "--csv", csv_file, "--cv", "2", "--out", str(tmp_path / "r")]
    )
    assert status == EXIT_WEIGHTS
    err = capsys.readouterr().err
    assert "ImageNet weights" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "--csv", "/no/such/file.csv"], "no such file"),
        (["compare", "--cbis-ddsm", "/no/such/root"], "not a directory"),
        (["compare", "--models", "scratch,vgg"], "unknown model"),
        (["predict", "/no/model.mammoclf", "x.dcm"], "no such model file"),
    ],
)
def test_bad_arguments_give_one_line_errors(argv, message, capsys):
    assert main(argv) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("mammoclf: error:") and message in err
    assert len(err.splitlines()) == 1


def test_csv_without_label_column(tmp_path, capsys):
    rows = _png_dataset(tmp_path, n_patients=2)
    _write_csv(tmp_path / "data.csv", rows, columns=("path", "patient"))
    assert main(["compare", "--csv", str(tmp_path / "data.csv")]) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err == (
        f"mammoclf: error: {tmp_path / 'data.csv'}: missing column(s) label; "
        "expected a header with path,label,patient (found: path,patient)."
    )


def test_csv_with_missing_files(tmp_path, capsys):
    _write_csv(
        tmp_path / "data.csv", [{"path": "gone.png", "label": "BENIGN", "patient": "1"}]
    )
    assert main(["compare", "--csv", str(tmp_path / "data.csv")]) == EXIT_INPUT
    assert "1 listed file(s) do not exist" in capsys.readouterr().err


def test_refuses_to_write_into_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "thesis.docx").write_text("precious")
    assert main(["compare", "--out", str(tmp_path)]) == EXIT_INPUT
    assert "not a previous mammoclf report" in capsys.readouterr().err
    assert (tmp_path / "thesis.docx").read_text() == "precious"


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--cv", "1"])
    assert exc.value.code == 2
    assert "at least 2 folds" in capsys.readouterr().err


# ------------------------------------------------- what a new user hits first
@pytest.mark.parametrize(
    "mistake, message",
    [
        (["--weights", "imagnet"], "--weights: imagnet is neither imagenet, none"),
        (["--image-size", "8"], "--image-size 8 is too small for DenseNet121 frozen"),
        (["--difficulty", "2"], None),  # argparse: exits before anything
        (["--n-jobs", "0"], None),
        (["--random-state", "-1"], None),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    mistake, message, tmp_path, capsys
):
    # Until 0.1: 160 synthetic images written to out/ first, then the error,
    # and the folder refused by every later run.
    out = tmp_path / "out"
    if message is None:
        with pytest.raises(SystemExit) as exc:
            main(["compare", *mistake, "--out", str(out)])
        assert exc.value.code == EXIT_INPUT
    else:
        assert main(["compare", *mistake, "--out", str(out)]) == EXIT_INPUT
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_too_few_patients_per_class_exit_2_in_one_line(tmp_path, capsys):
    # Images of 2 patients, one class each. Until 0.1: a traceback, exit 1,
    # and the advice to use "fewer folds or stratified folds".
    _write_csv(tmp_path / "data.csv", _png_dataset(tmp_path, n_patients=2))
    status = main(
        [
            "compare",
            "--csv",
            str(tmp_path / "data.csv"),
            "--cv",
            "2",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert status == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err == (
        "mammoclf: error: --cv 2 needs each class to have at least 2 patients (the "
        "folds are grouped by patient); BENIGN has 1 patient, MALIGNANT has 1 "
        "patient. Use fewer folds (at least 2) or data of more patients."
    )
    assert not (tmp_path / "r").exists()


def test_a_failed_run_leaves_a_folder_the_next_run_may_use(
    tmp_path, capsys, monkeypatch
):
    import mammoclf.cli._compare as compare

    def unreadable(*args, **kwargs):
        raise DatasetError("the images cannot be read (simulated)")

    monkeypatch.setattr(compare, "load_images", unreadable)
    out = tmp_path / "out"
    argv = ["compare", *TINY, "--models", "scratch", "--out", str(out)]
    assert main(argv) == EXIT_INPUT
    assert (out / "synthetic-data").is_dir()
    capsys.readouterr()
    # The rerun gets past the folder check (until 0.1: "out is not empty and
    # is not a previous mammoclf report") to the same simulated failure.
    assert main(argv) == EXIT_INPUT
    assert "cannot be read (simulated)" in capsys.readouterr().err


@pytest.fixture(scope="module")
def resumed_report(scratch_report, tmp_path_factory):
    """``scratch_report``'s command, Ctrl-C'd in its second fit, then rerun; umask 022."""
    from mammoclf import ScratchCNNClassifier

    out = tmp_path_factory.mktemp("resumed") / "report"
    argv = ["compare", *TINY, "--models", "scratch", "--out", str(out)]
    real_fit = ScratchCNNClassifier.fit
    fits = []

    def interrupted_second_fit(self, X, y, sample_weight=None):
        fits.append(len(X))
        if len(fits) == 2 and interrupt:
            raise KeyboardInterrupt
        return real_fit(self, X, y, sample_weight)

    previous_umask = os.umask(0o022)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ScratchCNNClassifier, "fit", interrupted_second_fit)
            interrupt = True
            assert main(argv) == EXIT_INTERRUPTED
            saved_before_rerun = len(list((out / "fit-cache").glob("*.mammoclf")))
            fits.clear()
            interrupt = False
            assert main(argv) == EXIT_OK
    finally:
        os.umask(previous_umask)
    return {"out": out, "saved": saved_before_rerun, "fits_in_rerun": len(fits)}


def test_an_interrupted_run_resumes_and_equals_an_uninterrupted_one(
    resumed_report, scratch_report
):
    out = resumed_report["out"]
    assert resumed_report["saved"] == 1  # the first fold's fit survived Ctrl-C
    assert resumed_report["fits_in_rerun"] == 2  # the second fold and the refit
    for table in ("out_of_fold_predictions.csv", "metrics_per_split.csv"):
        assert (out / "tables" / table).read_text() == (
            scratch_report / "tables" / table
        ).read_text()
    run = json.loads((out / "run.json").read_text())
    assert run["fits_resumed_from_an_interrupted_run"] == 1
    assert not (out / "fit-cache").exists()  # removed once the report is done
    # Table 2 marks the resumed fit and says whose fit time it shows.
    compute = pd.read_csv(out / "tables" / "compute.csv")
    assert compute["fits_resumed"].tolist() == [1]
    report = (out / "report.md").read_text()
    assert "Fits resumed: 1 fold models were loaded from an interrupted run" in report
    assert "fits_resumed" not in pd.read_csv(scratch_report / "tables" / "compute.csv")


def test_report_files_get_the_mode_of_the_users_umask(resumed_report):
    # Until 0.1: models, report.md/html and run.json were 0o600.
    out = resumed_report["out"]
    files = [path for path in out.rglob("*") if path.is_file()]
    assert {"report.md", "report.html", "run.json", "scratch.mammoclf"} <= {
        path.name for path in files
    }
    modes = {path.relative_to(out): stat.S_IMODE(path.stat().st_mode) for path in files}
    assert set(modes.values()) == {0o644}, modes


def test_version_short_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["-V"])
    assert exc.value.code == EXIT_OK
    assert capsys.readouterr().out.startswith("mammoclf ")


def test_banner_note_ends_with_one_period():
    from mammoclf.cli._compare import _note
    from mammoclf.cli._models import resolve_weights

    _, banner = resolve_weights(
        "none", synthetic=True, needed=("densenet121",), log=print
    )
    assert _note(banner) == (
        "NOTE: DenseNet121 rows use random initialisation (--weights none): they are "
        "NOT ImageNet-pretrained transfer learning."
    )


def test_undefined_metrics_and_numpy_warnings_are_said_once_in_words():
    import warnings

    from mammoclf.cli._compare import _distinct_warnings
    from mammoclf.metrics import ppv_score

    y = np.array(["BENIGN", "MALIGNANT", "BENIGN"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            ppv_score(y, np.array(["BENIGN"] * 3), pos_label="MALIGNANT")
        np.float64(0.0) / np.float64(0.0)
        np.log(np.zeros(2))
        warnings.warn("a warning of our own", UserWarning)
    undefined_ppv = (
        "PPV is undefined without positive predictions in 3 split score(s) of the "
        "cross-validation; those scores count as 0.0 in Table 1."
    )
    numerical = (
        "2 numerical warning(s) from numpy/scipy (such as a test of folds with "
        "identical scores): the statistics they concern are undefined on these data "
        "and shown as NaN or left empty."
    )
    assert _distinct_warnings(caught) == [
        undefined_ppv,
        numerical,
        "UserWarning: a warning of our own",
    ]


def test_predict_pseudonyms_are_stable_across_runs_with_a_salt_file(
    scratch_report, tmp_path, capsys, monkeypatch
):
    import mammoclf.preprocessing._metadata as metadata

    image = str(min((scratch_report / "synthetic-data").glob("*.dcm")))
    model = str(scratch_report / "models" / "scratch.mammoclf")
    salt_file = tmp_path / "salt.txt"

    def patient(*options):
        assert main(["predict", model, image, *options]) == EXIT_OK
        return capsys.readouterr().out.splitlines()[1].split(",")[1]

    first = patient("--salt-file", str(salt_file))
    assert stat.S_IMODE(salt_file.stat().st_mode) == 0o600  # the key stays private
    without_salt = patient()
    # A new run draws a new per-process key: simulated here.
    monkeypatch.setattr(metadata, "_PROCESS_SALT", os.urandom(32))
    assert patient() != without_salt
    assert patient("--salt-file", str(salt_file)) == first


def test_minimum_image_sizes_are_what_the_classifiers_refuse():
    from mammoclf import DenseNetTransferClassifier
    from mammoclf.cli._models import STUDY_MODELS
    from mammoclf.exceptions import InvalidImageError

    for spec in STUDY_MODELS:
        if spec.key == "scratch":
            assert spec.min_image_size == 1  # "same" padding takes any size
            continue
        below = spec.min_image_size - 1
        with pytest.raises(InvalidImageError, match=f"at least {spec.min_image_size}x"):
            DenseNetTransferClassifier(weights=None).fit(
                np.zeros((2, below, below)), ["BENIGN", "MALIGNANT"]
            )
