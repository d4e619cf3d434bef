"""The bad-input corpus: every kind of bad input, at every public entry point that takes it.

Each case names the exception type mammoclf documents for that kind of
problem (exactly that type, not merely a subclass or a parent) and a
fragment of the message, which must also name the offending file or sample
where there is one. The inputs are generated here: DICOM files written
with pydicom and then damaged, image arrays, labels, parameters, CSVs.

Entry points: ``DicomLoader`` + ``Resizer`` (and a fitted file-to-label
pipeline), ``scan``, ``read_metadata``, ``load_cbis_ddsm``, ``Resizer`` and
``Augmenter`` on arrays, both classifiers, ``compare_models``, the
``mammoclf.stats`` helpers, and the ``mammoclf compare`` / ``predict``
commands (exit status 2 and a one-line error naming the file).
"""

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pydicom.uid import JPEG2000Lossless

from mammoclf import (
    Augmenter,
    DenseNetTransferClassifier,
    DicomLoader,
    Resizer,
    ScratchCNNClassifier,
    make_pipeline,
)
from mammoclf.cli._main import EXIT_INPUT, main
from mammoclf.datasets import load_cbis_ddsm, scan
from mammoclf.exceptions import (
    DatasetError,
    FreezeScheduleError,
    ImageFileError,
    InvalidImageError,
    MissingDecoderError,
)
from mammoclf.model_selection import compare_models
from mammoclf.persistence import save
from mammoclf.preprocessing import read_metadata
from mammoclf.stats import (
    bootstrap_ci,
    delong_test,
    friedman_test,
    mcnemar_test,
    paired_ttest,
)
from tests.preprocessing.conftest import dicom_dataset

FIXTURES = Path(__file__).parent / "fixtures" / "cbis-ddsm"


# ------------------------------------------------------------------ the files
def _write(ds, path):
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def _gradient(rows=40, columns=30):
    return (
        np.linspace(100, 3000, rows * columns).reshape(rows, columns).astype(np.uint16)
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Bad files by case name, plus two good PNG files and one good DICOM."""
    folder = tmp_path_factory.mktemp("corpus")
    files = {"missing": str(folder / "missing.dcm")}
    good = _write(dicom_dataset(_gradient()), folder / "good.dcm")
    data = Path(good).read_bytes()

    files["truncated"] = str(folder / "truncated.dcm")  # cut inside the pixel data
    Path(files["truncated"]).write_bytes(data[:-300])
    files["not_dicom"] = str(folder / "random.dcm")
    Path(files["not_dicom"]).write_bytes(np.random.default_rng(0).bytes(3000))
    files["empty_file"] = str(folder / "empty.dcm")
    Path(files["empty_file"]).write_bytes(b"")

    no_pixels = dicom_dataset(_gradient())
    del no_pixels.PixelData
    files["no_pixel_data"] = _write(no_pixels, folder / "no_pixels.dcm")

    # Real JPEG 2000 data; the plugin's absence is simulated in the tests.
    pixels = (_gradient(48, 40) // 16).astype(np.uint8)  # openjpeg's minimum size
    compressed = dicom_dataset(pixels)
    compressed.compress(JPEG2000Lossless, pixels)
    files["missing_plugin"] = _write(compressed, folder / "jpeg2000.dcm")

    frames = dicom_dataset(np.zeros((24, 8), np.uint16), NumberOfFrames=3)
    frames.Rows = 8
    files["multi_frame"] = _write(frames, folder / "frames.dcm")

    rgb = dicom_dataset(np.zeros((8, 24), np.uint8), photometric="RGB")
    rgb.SamplesPerPixel, rgb.Columns, rgb.PlanarConfiguration = 3, 8, 0
    files["rgb"] = _write(rgb, folder / "rgb.dcm")

    for case, (rows, columns) in {
        "zero_size": (0, 30),
        "absurd_size": (2**15, 2**15),
    }.items():
        ds = dicom_dataset(_gradient())
        ds.Rows, ds.Columns = rows, columns
        files[case] = _write(ds, folder / f"{case}.dcm")

    nan = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    nan[2, 5] = np.nan
    files["nan_pixels"] = str(folder / "nan.tif")
    Image.fromarray(nan, mode="F").save(files["nan_pixels"])

    pngs = []
    for index, label in enumerate(["BENIGN", "MALIGNANT"] * 2):
        pixels = (np.random.default_rng(index).random((40, 40)) * 200).astype(np.uint8)
        pngs.append((str(folder / f"good{index}.png"), label))
        Image.fromarray(pixels).save(pngs[-1][0])
    every_file = [good, *(p for p, _ in pngs), *files.values()]
    digests = {path: _digest(path) for path in every_file if Path(path).exists()}
    return {
        "files": files,
        "good_dicom": good,
        "good_pngs": pngs,
        "folder": folder,
        "digests": digests,
    }


def _digest(path):
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def without_jpeg2000_plugins(monkeypatch):
    """What a user without ``mammoclf[dicom]`` has: no JPEG 2000 decoder plugin."""
    from pydicom.pixels import get_decoder

    decoder = get_decoder(JPEG2000Lossless)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(
        decoder,
        "_unavailable",
        {
            "pylibjpeg": ("numpy", "pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.0"),
            "gdcm": ("numpy", "gdcm>=3.0.10"),
            "pillow": ("numpy", "pillow>=10.0", "jpeg2k"),
        },
    )


# (case, entry point, documented type or exit status, message fragment)
FILE_CASES = [
    ("missing", "loader", FileNotFoundError, "1 of 1 files do not exist"),
    ("missing", "pipeline", FileNotFoundError, "1 of 1 files do not exist"),
    ("missing", "scan", FileNotFoundError, "the file does not exist"),
    ("missing", "read_metadata", FileNotFoundError, "1 of 1 files do not exist"),
    ("missing", "cli_compare", EXIT_INPUT, "1 listed file(s) do not exist"),
    ("missing", "cli_predict", EXIT_INPUT, "1 input file(s) do not exist"),
    ("truncated", "loader", ImageFileError, "cannot be decoded"),
    ("truncated", "pipeline", ImageFileError, "probably truncated or corrupt"),
    ("truncated", "scan", ImageFileError, "cannot be decoded"),
    ("truncated", "cli_compare", EXIT_INPUT, "cannot be decoded"),
    ("truncated", "cli_predict", EXIT_INPUT, "cannot be decoded"),
    ("not_dicom", "loader", ImageFileError, "neither a DICOM file"),
    ("not_dicom", "pipeline", ImageFileError, "neither a DICOM file"),
    ("not_dicom", "scan", ImageFileError, "neither a DICOM file"),
    ("not_dicom", "read_metadata", ImageFileError, "neither a DICOM file"),
    ("not_dicom", "cli_compare", EXIT_INPUT, "neither a DICOM file"),
    ("not_dicom", "cli_predict", EXIT_INPUT, "neither a DICOM file"),
    ("empty_file", "loader", ImageFileError, "neither a DICOM file"),
    ("empty_file", "scan", ImageFileError, "neither a DICOM file"),
    ("empty_file", "read_metadata", ImageFileError, "neither a DICOM file"),
    ("no_pixel_data", "loader", ImageFileError, "has no pixel data"),
    ("no_pixel_data", "pipeline", ImageFileError, "has no pixel data"),
    ("no_pixel_data", "scan", ImageFileError, "has no pixel data"),
    ("no_pixel_data", "cli_compare", EXIT_INPUT, "has no pixel data"),
    ("missing_plugin", "loader", MissingDecoderError, 'pip install "mammoclf[dicom]"'),
    (
        "missing_plugin",
        "pipeline",
        MissingDecoderError,
        "whose decoder is not installed",
    ),
    ("missing_plugin", "scan", MissingDecoderError, "pylibjpeg-openjpeg"),
    ("missing_plugin", "cli_compare", EXIT_INPUT, "whose decoder is not installed"),
    ("missing_plugin", "cli_predict", EXIT_INPUT, "whose decoder is not installed"),
    ("multi_frame", "loader", ImageFileError, "has 3 frames"),
    ("multi_frame", "pipeline", ImageFileError, "extract one frame first"),
    ("multi_frame", "scan", ImageFileError, "has 3 frames"),
    ("multi_frame", "cli_predict", EXIT_INPUT, "has 3 frames"),
    ("rgb", "loader", ImageFileError, "is not a grey image (SamplesPerPixel=3"),
    ("rgb", "pipeline", ImageFileError, "expects one grey"),
    ("rgb", "scan", ImageFileError, "is not a grey image"),
    ("rgb", "cli_compare", EXIT_INPUT, "is not a grey image"),
    ("zero_size", "loader", ImageFileError, "zero or missing image size (0 x 30)"),
    ("zero_size", "scan", ImageFileError, "zero or missing image size"),
    ("zero_size", "cli_predict", EXIT_INPUT, "zero or missing image size"),
    ("absurd_size", "loader", ImageFileError, "32768 x 32768 pixels, more than"),
    ("absurd_size", "pipeline", ImageFileError, "the header is probably corrupt"),
    ("absurd_size", "scan", ImageFileError, "more than mammoclf reads"),
    ("absurd_size", "cli_compare", EXIT_INPUT, "more than mammoclf reads"),
    ("nan_pixels", "loader", ImageFileError, "NaN or infinite pixel values"),
    ("nan_pixels", "pipeline", ImageFileError, "NaN or infinite pixel values"),
    ("nan_pixels", "scan", ImageFileError, "NaN or infinite pixel values"),
    ("nan_pixels", "cli_predict", EXIT_INPUT, "NaN or infinite pixel values"),
]


@pytest.fixture(scope="module")
def fitted_cnn():
    rng = np.random.default_rng(0)
    X = rng.random((16, 32, 32), dtype=np.float32)
    y = np.array(["BENIGN", "MALIGNANT"] * 8)
    return (
        ScratchCNNClassifier(filters=(2,), dense_units=4, epochs=1, random_state=0).fit(
            X, y
        ),
        X,
        y,
    )


@pytest.fixture(scope="module")
def saved_pipeline(fitted_cnn, corpus):
    clf, _, _ = fitted_cnn
    pipeline = make_pipeline(DicomLoader(), Resizer(size=32), clf)
    path = corpus["folder"] / "model.mammoclf"
    save(pipeline, path)
    return pipeline, str(path)


def _outcome(run):
    """``(type, message)`` of what ``run()`` raised; fails if it returned."""
    try:
        run()
    except Exception as exc:  # noqa: BLE001 - the type is what is checked
        return type(exc), str(exc)
    pytest.fail("no exception was raised")


def _run_file_case(entry_point, path, corpus, saved_pipeline, capsys):
    """What ``entry_point`` does with the file ``path``: ``(type or exit, message)``."""
    if entry_point == "loader":
        return _outcome(
            lambda: Resizer(size=16).fit_transform(DicomLoader().fit_transform([path]))
        )
    if entry_point == "pipeline":
        return _outcome(lambda: saved_pipeline[0].predict([path]))
    if entry_point == "read_metadata":
        return _outcome(lambda: read_metadata([path]))
    if entry_point == "scan":
        report = scan([corpus["good_dicom"], path])
        assert report.problems["path"].tolist() == [path]  # the good file is fine
        error, message = report.problems[["error", "message"]].iloc[0]
        return error, f"{path}: {message}"
    capsys.readouterr()
    if entry_point == "cli_compare":
        table = corpus["folder"] / "data.csv"
        with open(table, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label", "patient"])
            for index, (good, label) in enumerate(corpus["good_pngs"]):
                writer.writerow([good, label, f"p{index}"])
            writer.writerow([path, "BENIGN", "p9"])
        out = corpus["folder"] / "report"
        shutil.rmtree(out, ignore_errors=True)
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
                "2",  # 5 patients: 3 benign, 2 malignant
                "--n-resamples",
                "50",
                "--quiet",
                # Decoding in this process: the missing-plugin case patches
                # pydicom here, not in decoding workers.
                "--decode-jobs",
                "1",
                "--out",
                str(out),
            ]
        )
    else:
        status = main(
            [
                "predict",
                saved_pipeline[1],
                corpus["good_dicom"],
                path,
                "--n-jobs",
                "1",
            ]
        )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("mammoclf: error:"), err
    return status, err


@pytest.mark.parametrize(
    "case, entry_point, expected, fragment",
    FILE_CASES,
    ids=[f"{case}-{entry}" for case, entry, _, _ in FILE_CASES],
)
def test_bad_files(
    corpus, saved_pipeline, capsys, request, case, entry_point, expected, fragment
):
    if case == "missing_plugin":
        request.getfixturevalue("without_jpeg2000_plugins")
    path = corpus["files"][case]
    raised, message = _run_file_case(entry_point, path, corpus, saved_pipeline, capsys)
    if isinstance(expected, int):
        assert raised == expected, message
    else:
        name = expected.__name__
        assert raised in (expected, name), (raised, message)
    assert fragment in message, message
    assert path in message  # every message names the file


def test_the_corpus_covers_every_file_case_at_the_loader():
    cases = {case for case, entry, _, _ in FILE_CASES if entry == "loader"}
    assert cases == {
        "missing",
        "truncated",
        "not_dicom",
        "empty_file",
        "no_pixel_data",
        "missing_plugin",
        "multi_frame",
        "rgb",
        "zero_size",
        "absurd_size",
        "nan_pixels",
    }


def test_good_files_pass_every_file_entry_point(corpus, saved_pipeline):
    """The control: the corpus's good files are not refused anywhere."""
    good = [corpus["good_dicom"], *(p for p, _ in corpus["good_pngs"])]
    assert Resizer(size=16).fit_transform(DicomLoader().fit_transform(good)).shape == (
        5,
        16,
        16,
        1,
    )
    assert scan(good).ok
    assert len(read_metadata(good)) == 5
    assert saved_pipeline[0].predict(good).shape == (5,)


def test_header_only_readers_accept_files_whose_pixels_are_bad(corpus):
    """read_metadata reads headers: files bad only in their pixels are fine there."""
    files = corpus["files"]
    paths = [
        files[c]
        for c in (
            "truncated",
            "no_pixel_data",
            "multi_frame",
            "rgb",
            "zero_size",
            "absurd_size",
        )
    ]
    assert len(read_metadata(paths)) == len(paths)


# -------------------------------------------------------- CBIS-DDSM reader
def _cbis_tables(folder, *, empty=False, truncate_columns=False):
    """The verbatim table excerpts of tests/fixtures, optionally damaged."""
    for source in FIXTURES.glob("*.csv"):
        lines = source.read_text().splitlines()
        if empty:
            lines = lines[:1]
        if truncate_columns:
            lines = [",".join(line.split(",")[:5]) for line in lines]
        (folder / source.name).write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize(
    "setup, fragment",
    [
        (lambda tmp: (tmp / "absent", tmp), "is not a directory"),
        (lambda tmp: (tmp, _cbis_tables(tmp)), "were not found under"),
        (lambda tmp: (tmp, _cbis_tables(tmp, empty=True)), "no rows"),
        (
            lambda tmp: (tmp, _cbis_tables(tmp, truncate_columns=True)),
            "lacks the columns",
        ),
        (lambda tmp: (tmp, tmp), "does not exist; tables_dir must hold"),
    ],
    ids=[
        "missing_root",
        "missing_images",
        "empty_tables",
        "malformed_table",
        "missing_tables",
    ],
)
def test_bad_cbis_ddsm_downloads(tmp_path, setup, fragment):
    root, tables = setup(tmp_path)
    with pytest.raises(DatasetError, match=fragment) as info:
        load_cbis_ddsm(root, abnormality="mass", split="test", tables_dir=tables)
    assert type(info.value) is DatasetError


# ---------------------------------------------------------------- the arrays
def _images(n=12, size=32, channels=None):
    X = np.random.default_rng(0).random((n, size, size), dtype=np.float32)
    return X if channels is None else np.repeat(X[..., None], channels, axis=-1)


def _with(value, index=3):
    X = _images()
    X[index, 5, 7] = value
    return X


LABELS = np.array(["BENIGN", "MALIGNANT"] * 6)

ARRAY_CASES = [
    ("nan", lambda: _with(np.nan), "image 3"),
    ("inf", lambda: _with(-np.inf), "image 3"),
    ("empty", lambda: np.zeros((0, 32, 32), np.float32), "0 sample(s)"),
    ("zero_size", lambda: np.zeros((12, 0, 32), np.float32), "non-zero height"),
]


@pytest.fixture(scope="module")
def fitted_densenet():
    return DenseNetTransferClassifier(
        weights=None,
        freeze_schedule="frozen",
        dense_units=4,
        epochs=1,
        batch_size=16,
        random_state=0,
    ).fit(_images(), LABELS)


def _array_entry_points(fitted_cnn, fitted_densenet):
    cnn = fitted_cnn[0]
    tiny = {"dense_units": 4, "epochs": 1, "random_state": 0}
    return {
        "Resizer": lambda X, y: Resizer(size=16).fit_transform(X),
        "Augmenter": lambda X, y: Augmenter(random_state=0).fit_resample(X, y),
        "ScratchCNN.fit": lambda X, y: ScratchCNNClassifier(filters=(2,), **tiny).fit(
            X, y
        ),
        "ScratchCNN.predict": lambda X, y: cnn.predict(X),
        "DenseNet.fit": lambda X, y: DenseNetTransferClassifier(
            weights=None, freeze_schedule="frozen", **tiny
        ).fit(X, y),
        "DenseNet.predict_proba": lambda X, y: fitted_densenet.predict_proba(X),
        "compare_models": lambda X, y: compare_models(
            {"cnn": ScratchCNNClassifier(filters=(2,), **tiny)},
            X,
            y,
            groups=np.arange(len(y)),
            cv=2,
            measure_memory=False,
        ),
    }


@pytest.mark.parametrize(
    "case, make_X, fragment", ARRAY_CASES, ids=[case for case, _, _ in ARRAY_CASES]
)
@pytest.mark.parametrize(
    "entry_point",
    [
        "Resizer",
        "Augmenter",
        "ScratchCNN.fit",
        "ScratchCNN.predict",
        "DenseNet.fit",
        "DenseNet.predict_proba",
        "compare_models",
    ],
)
def test_bad_image_arrays(
    fitted_cnn, fitted_densenet, entry_point, case, make_X, fragment
):
    X = make_X()
    y = LABELS[: len(X)] if len(X) else LABELS[:0]
    run = _array_entry_points(fitted_cnn, fitted_densenet)[entry_point]
    if case == "empty" and entry_point == "compare_models":
        fragment = "0 images"
    raised, message = _outcome(lambda: run(X, y))
    assert raised is InvalidImageError, (raised, message)
    assert fragment in message, message


# --------------------------------------------------------------- the labels
@pytest.mark.parametrize(
    "entry_point, run, fragment",
    [
        (
            "ScratchCNN.fit",
            lambda: ScratchCNNClassifier(epochs=1).fit(_images(), ["BENIGN"] * 12),
            "at least 2 classes",
        ),
        (
            "DenseNet.fit",
            lambda: DenseNetTransferClassifier(weights=None).fit(
                _images(), ["BENIGN"] * 12
            ),
            "at least 2 classes",
        ),
        (
            "compare_models",
            lambda: compare_models(
                {"cnn": ScratchCNNClassifier()},
                _images(),
                ["B"] * 12,
                groups=np.arange(12),
                cv=2,
            ),
            "y has 1 class(es)",
        ),
        (
            "delong_test",
            lambda: delong_test(["BENIGN"] * 6, np.arange(6.0), np.arange(6.0)[::-1]),
            "single class",
        ),
        (
            "bootstrap_ci",
            lambda: bootstrap_ci("roc_auc", ["B"] * 6, np.arange(6.0), random_state=0),
            "single class",
        ),
    ],
    ids=[
        "ScratchCNN.fit",
        "DenseNet.fit",
        "compare_models",
        "delong_test",
        "bootstrap_ci",
    ],
)
def test_a_single_class_in_y(entry_point, run, fragment):
    raised, message = _outcome(run)
    assert raised is ValueError, (raised, message)
    assert fragment in message, message


def test_a_single_class_in_the_cli(corpus, capsys):
    table = corpus["folder"] / "one_class.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "patient"])
        for index, (good, _) in enumerate(corpus["good_pngs"]):
            writer.writerow([good, "BENIGN", f"p{index}"])
    capsys.readouterr()
    assert (
        main(
            [
                "compare",
                "--csv",
                str(table),
                "--quiet",
                "--out",
                str(corpus["folder"] / "r1"),
            ]
        )
        == EXIT_INPUT
    )
    assert "needs exactly two classes" in capsys.readouterr().err


@pytest.mark.parametrize("estimator", ["cnn", "densenet"])
def test_labels_at_score_time_never_seen_in_fit(fitted_cnn, fitted_densenet, estimator):
    clf = fitted_cnn[0] if estimator == "cnn" else fitted_densenet
    y = np.array(["BENIGN", "CANCER"] * 6)
    raised, message = _outcome(lambda: clf.score(_images(), y))
    assert raised is ValueError
    assert "never seen in fit: ['CANCER']" in message


# ------------------------------------------------- images and the networks
@pytest.mark.parametrize(
    "params, size, fragment",
    [
        ({}, 16, "got 16x16 images"),
        ({"resize_to": (16, 16)}, 32, "got resize_to=(16, 16)"),
    ],
)
def test_images_too_small_for_the_backbone(params, size, fragment):
    clf = DenseNetTransferClassifier(weights=None, **params)
    raised, message = _outcome(lambda: clf.fit(_images(size=size), LABELS))
    assert raised is InvalidImageError
    assert fragment in message and "at least 32x32" in message


def test_images_too_small_for_the_backbone_in_the_cli(corpus, capsys):
    table = corpus["folder"] / "small.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "patient"])
        for index, (good, label) in enumerate(corpus["good_pngs"]):
            writer.writerow([good, label, f"p{index}"])
    capsys.readouterr()
    status = main(
        [
            "compare",
            "--csv",
            str(table),
            "--models",
            "frozen",
            "--weights",
            "none",
            "--image-size",
            "16",
            "--cv",
            "2",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            str(corpus["folder"] / "r2"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert status == EXIT_INPUT and "at least 32x32" in err, err


@pytest.mark.parametrize("estimator", ["cnn", "densenet"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_channel_count_unlike_fit(fitted_cnn, fitted_densenet, estimator, method):
    clf = fitted_cnn[0] if estimator == "cnn" else fitted_densenet
    raised, message = _outcome(lambda: getattr(clf, method)(_images(channels=3)))
    assert raised is InvalidImageError
    assert "3-channel images" in message and "fitted on 1-channel" in message


@pytest.mark.parametrize(
    "schedule, fragment",
    [
        ("conv9", "'conv9'"),
        ([{"unfreeze": "conv5"}], "before the new head has trained"),
        ([{"epochs": -1}], "epochs"),
        ([{"epochs": 1, "speed": 2}], "speed"),
        ([], "at least one stage"),
        (42, "freeze_schedule"),
    ],
)
def test_malformed_freeze_schedule(schedule, fragment):
    clf = DenseNetTransferClassifier(weights=None, freeze_schedule=schedule)
    raised, message = _outcome(lambda: clf.fit(_images(), LABELS))
    assert raised is FreezeScheduleError, (raised, message)
    assert fragment in message, message


# ------------------------------------------------------------ the statistics
@pytest.mark.parametrize(
    "run, fragment",
    [
        (
            lambda: paired_ttest([0.8, np.nan, 0.7], [0.7, 0.6, 0.6]),
            "non-finite score at index 1",
        ),
        (lambda: paired_ttest([], []), "at least 2 paired scores"),
        (
            lambda: delong_test(
                ["B", "M"] * 3, [0.1, np.inf, 0.3, 0.4, 0.5, 0.6], np.arange(6.0)
            ),
            "NaN or infinite",
        ),
        (lambda: mcnemar_test([], [], []), "at least one case"),
        (
            lambda: friedman_test(
                pd.DataFrame({"a": [0.8, np.nan], "b": [0.7, 0.6], "c": [0.5, 0.4]})
            ),
            "Non-finite score for 'a' in fold row 1",
        ),
    ],
    ids=[
        "paired_ttest-nan",
        "paired_ttest-empty",
        "delong_test-inf",
        "mcnemar-empty",
        "friedman-nan",
    ],
)
def test_bad_scores_for_the_statistics(run, fragment):
    raised, message = _outcome(run)
    assert raised is ValueError, (raised, message)
    assert fragment in message, message


def test_the_corpus_does_not_touch_its_source_files(corpus):
    """Runs last in this module: every read above left the files' bytes unchanged."""
    assert corpus["digests"]
    assert {path: _digest(path) for path in corpus["digests"]} == corpus["digests"]
