"""Patient names and IDs from DICOM headers never leave mammoclf unless asked for.

Grep-style: the tests collect everything a run writes (standard output and
error at the file-descriptor level, log records of every logger at DEBUG,
warnings, every file of the report folder, zip archives and the archives
inside them unpacked) and search it for the identifiers written into the
headers. Each test also shows that its capture would see an identifier (a
positive control), so an empty search means something.

tests/cli/test_compare.py greps the demo's report folder and saved models
for the synthetic data's identifiers; this module covers what it does not:
a run on the user's own DICOM files whose CSV names patients by their
PatientID, the progress output and logs of that run and of ``predict``,
and header values that pydicom itself quotes in its warnings and log.
"""

import csv
import io
import logging
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from mammoclf import DicomLoader, Resizer
from mammoclf.cli._main import EXIT_OK, main
from mammoclf.datasets import scan
from mammoclf.preprocessing import read_metadata
from tests.preprocessing.conftest import dicom_dataset

N_PATIENTS = 6


def patient_name(i):
    return f"Zorrowitz^Henrietta{i}"


def patient_id(i):
    return f"PID-SECRET-{i:03d}"


def study_uid(i):
    # Not a valid UI value (letters): pydicom's validation quotes it.
    return f"1.2.826.0.1.3680043.SECRETSTUDY{i}"


# Fragments of the names, IDs and study UIDs above; they survive partial
# quoting and case changes.
SECRET_FRAGMENTS = [
    "Zorrowitz",
    "zorrowitz",
    "ZORROWITZ",
    "Henrietta",
    "SECRET",
    "secret",
]


def raw(ds, keyword, vr, text):
    """Store ``text`` as written on disk, valid for its VR or not."""
    tag = Tag(pydicom.datadict.tag_for_keyword(keyword))
    value = text.encode("latin-1")
    value += b" " * (len(value) % 2)
    ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)


def write_patient_files(folder):
    """Two views per patient, labelled by a bright square; headers full of identifiers."""
    from pydicom import config

    rows = []
    rng = np.random.default_rng(0)
    for i in range(N_PATIENTS):
        label = "MALIGNANT" if i % 2 else "BENIGN"
        for view in ("CC", "MLO"):
            pixels = (rng.random((48, 48)) * 1500).astype(np.uint16)
            if label == "MALIGNANT":
                pixels[16:32, 16:32] = 4000
            ds = dicom_dataset(
                pixels,
                ViewPosition=view,
                ImageLaterality="L",
                OtherPatientIDs=f"{patient_id(i)}-OLD",
                InstitutionName="St Elsewhere",
            )
            raw(ds, "PatientName", "PN", patient_name(i))
            raw(ds, "PatientID", "LO", patient_id(i))
            raw(ds, "StudyInstanceUID", "UI", study_uid(i))
            path = folder / f"case{i}_{view}.dcm"
            # Writing converts the raw values, which pydicom would validate
            # (and quote): not what is tested here.
            saved = (
                config.settings.reading_validation_mode,
                config.settings.writing_validation_mode,
            )
            config.settings.reading_validation_mode = config.IGNORE
            config.settings.writing_validation_mode = config.IGNORE
            try:
                ds.save_as(path, enforce_file_format=True)
            finally:
                (
                    config.settings.reading_validation_mode,
                    config.settings.writing_validation_mode,
                ) = saved
            rows.append({"path": str(path), "label": label, "patient": patient_id(i)})
    return rows


def texts_of(path):
    """The bytes of ``path``, and of every member of a zip (recursively)."""
    data = path.read_bytes() if hasattr(path, "read_bytes") else path
    yield data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield name.encode()
                yield from texts_of(archive.read(name))


def leaks(chunks):
    """The secret fragments found in any of ``chunks`` (str or bytes)."""
    found = set()
    for chunk in chunks:
        data = chunk if isinstance(chunk, bytes) else chunk.encode("utf-8", "replace")
        found |= {s for s in SECRET_FRAGMENTS if s.encode() in data}
    return found


@pytest.fixture
def capture_everything(caplog):
    """Log records of every logger (pydicom's included) at DEBUG, and all warnings."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pydicom")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield lambda: [caplog.text, *(str(w.message) for w in caught)]


def test_a_cli_run_on_dicom_files_shows_no_identifier(
    tmp_path, capfd, capture_everything
):
    data = tmp_path / "data"
    data.mkdir()
    rows = write_patient_files(data)
    table = tmp_path / "patients.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "patient"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "report"
    capfd.readouterr()
    status = main(
        [
            "compare",
            "--csv",
            str(table),
            "--models",
            "scratch",
            "--epochs",
            "1",
            "--image-size",
            "32",
            "--cv",
            "2",
            "--batch-size",
            "4",
            "--n-resamples",
            "50",
            "--out",
            str(out),
        ]
    )
    compare_out, compare_err = capfd.readouterr()
    assert status == EXIT_OK, compare_err
    assert "report:" in compare_out and "cross-validating" in compare_err  # not quiet

    model = out / "models" / "scratch.mammoclf"
    files = [row["path"] for row in rows]
    assert main(["predict", str(model), *files]) == EXIT_OK
    predict_out, predict_err = capfd.readouterr()
    assert len(predict_out.splitlines()) == len(files) + 1  # header + one per file

    written = [
        chunk
        for path in sorted(out.rglob("*"))
        if path.is_file()
        for chunk in texts_of(path)
    ]
    assert any(b"anon-" in chunk for chunk in written)  # pseudonyms are there instead
    everything = [
        compare_out,
        compare_err,
        predict_out,
        predict_err,
        *capture_everything(),
        *written,
    ]
    assert leaks(everything) == set()

    # The positive control: asked to, predict shows the IDs, and the capture sees them.
    assert main(["predict", str(model), files[0], "--reveal-identifiers"]) == EXIT_OK
    revealed, _ = capfd.readouterr()
    assert "SECRET" in leaks([revealed]) and patient_id(0) in revealed


def test_the_data_layer_silences_pydicom_quoting_header_values(
    tmp_path, capture_everything
):
    """pydicom's validation warns and logs invalid values verbatim, e.g. a UID."""
    rows = write_patient_files(tmp_path)
    paths = [row["path"] for row in rows[:2]]
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(Path(paths[0]).read_bytes()[:-500])
    images = Resizer(size=16).fit_transform(DicomLoader().fit_transform(paths))
    metadata = read_metadata([*paths, broken])
    report = scan([*paths, broken])
    messages = [metadata.to_csv(), report.problems.to_csv(), repr(images.shape)]
    try:
        DicomLoader().fit_transform([broken])[0]
    except ValueError as exc:
        messages.append(str(exc))
    assert not report.ok and len(metadata) == 3
    assert leaks([*messages, *capture_everything()]) == set()

    # The positive control: reading the same header with pydicom directly
    # quotes the study UID in a warning and a log record, which the fixture sees.
    pydicom.dcmread(paths[0]).StudyInstanceUID  # noqa: B018 - the access warns
    assert "SECRET" in "".join(capture_everything())


def test_identifiers_are_read_only_on_request(tmp_path):
    rows = write_patient_files(tmp_path)
    paths = [row["path"] for row in rows[:4]]
    hidden = read_metadata(paths)
    assert leaks([hidden.to_csv()]) == set()
    # Pseudonyms still group: two views of one patient share one.
    assert hidden["patient_id"].nunique() == 2
    kept = read_metadata(paths, identifiers="keep")
    assert kept["patient_id"].tolist() == [patient_id(0)] * 2 + [patient_id(1)] * 2
