"""What a new user hits first: label spellings, bad files, mistyped options."""

import csv

import numpy as np
import pytest
from PIL import Image

from mammoclf.cli._data import _read_labels
from mammoclf.cli._main import EXIT_INPUT, build_parser, main


def _csv_of_pngs(folder, labels, *, corrupt=()):
    """One 24 px PNG per label (a patient each), listed in ``folder/data.csv``.

    The files at the indices in ``corrupt`` hold bytes no decoder reads.
    """
    rng = np.random.default_rng(0)
    rows = []
    for index, label in enumerate(labels):
        path = folder / f"image{index}.png"
        if index in corrupt:
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not the rest of a PNG")
        else:
            Image.fromarray((rng.random((24, 24)) * 255).astype(np.uint8)).save(path)
        rows.append({"path": path.name, "label": label, "patient": f"P{index}"})
    with open(folder / "data.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "patient"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "data.csv"


# ------------------------------------------------------------------ labels
def test_label_spellings_differing_in_case_or_spaces_are_one_label(tmp_path, capsys):
    # Until 0.2: "compare needs exactly two classes ...; the data have 4".
    labels = ["BENIGN", "Benign", " benign", "BENIGN", "malignant", "MALIGNANT "]
    data = _csv_of_pngs(tmp_path, labels)
    # --cv 5 stops the run at the patient check, right after the labels.
    argv = ["compare", "--csv", str(data), "--cv", "5", "--out", str(tmp_path / "r")]
    assert main(argv) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "exactly two classes" not in err
    assert (
        'labels read ignoring case and surrounding spaces: BENIGN (4 rows: "BENIGN" '
        '2, "Benign" 1, "benign" 1), malignant (2 rows: "malignant" 1, "MALIGNANT" 1)'
    ) in err
    assert "--cv 5 needs each class to have at least 5 patients" in err


def test_labels_differing_in_more_than_case_stay_apart(tmp_path, capsys):
    labels = ["benign", "Benign", "benign_without_callback", "malignant"]
    data = _csv_of_pngs(tmp_path, labels)
    assert main(["compare", "--csv", str(data), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "the data have 3: ['benign', 'benign_without_callback', 'malignant']" in err


def test_read_labels_keeps_the_most_frequent_spelling_and_says_nothing_if_one():
    labels, read = _read_labels(["b", "M", "m", "m", "B", "b"])
    assert labels.tolist() == ["b", "m", "m", "m", "b", "b"]
    assert read == (
        'labels read ignoring case and surrounding spaces: b (3 rows: "b" 2, "B" 1), '
        'm (3 rows: "M" 1, "m" 2)'
    )
    labels, read = _read_labels(["BENIGN", "MALIGNANT"])
    assert labels.tolist() == ["BENIGN", "MALIGNANT"] and read is None


# --------------------------------------------------------------- bad files
def test_every_unreadable_file_is_listed_before_any_fit(tmp_path, capsys):
    # Until 0.2: the run stopped at the first bad file, one rerun per file.
    labels = ["BENIGN", "MALIGNANT"] * 4
    data = _csv_of_pngs(tmp_path, labels, corrupt=(1, 4, 6))
    out = tmp_path / "r"
    argv = ["compare", "--csv", str(data), "--models", "scratch", "--decode-jobs", "1"]
    assert (
        main(
            [*argv, "--cv", "2", "--image-size", "32", "--no-cache", "--out", str(out)]
        )
        == 2
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"mammoclf: error: {tmp_path / 'image1.png'}: ")
    assert "And 2 more of the 8 files cannot be read (all files were tried)" in error
    for bad in ("image4.png", "image6.png"):
        assert f"{tmp_path / bad}: cannot be decoded" in error
    assert "image0.png" not in error
    fits = out / "fit-cache"
    assert not fits.exists() or not any(fits.rglob("*.keras*"))


def test_the_list_of_unreadable_files_is_capped(tmp_path):
    from mammoclf import DicomLoader, Resizer
    from mammoclf.exceptions import ImageFileError

    paths = []
    for index in range(14):
        path = tmp_path / f"bad{index}.png"
        path.write_bytes(b"garbage")
        paths.append(str(path))
    images = DicomLoader(n_jobs=None).fit_transform(paths)
    with pytest.raises(ImageFileError) as caught:
        Resizer(size=8).fit_transform(images)
    message = str(caught.value)
    assert caught.value.path == paths[0]
    assert "And 13 more of the 14 files cannot be read" in message
    shown = [path for path in paths if f"{path}: " in message]
    assert shown == paths[:10] and message.endswith("; and 4 more.")


# ------------------------------------------------------- mistyped options
@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["compare", "--epochs", "three"],
            (
                "mammoclf compare: error: --epochs: expected a positive whole number, "
                "got 'three'"
            ),
        ),
        (
            ["compare", "--cv", "five"],
            (
                "mammoclf compare: error: --cv: expected a whole number of folds, at "
                "least 2, got 'five'"
            ),
        ),
        (
            ["compare", "--difficulty", "hard"],
            (
                "mammoclf compare: error: --difficulty: expected a number in [0, 1], "
                "got 'hard'"
            ),
        ),
        (
            ["compare", "--random-state", "x"],
            (
                "mammoclf compare: error: --random-state: expected a whole number in "
                "[0, 2**32 - 1], got 'x'"
            ),
        ),
        (
            ["compare", "--decode-jobs", "all"],
            (
                "mammoclf compare: error: --decode-jobs: expected a positive whole "
                "number or -1 (all cores), got 'all'"
            ),
        ),
        (
            ["compare", "--n-resamples", "1e3"],
            (
                "mammoclf compare: error: --n-resamples: expected a whole number of "
                "resamples, at least 10, got '1e3'"
            ),
        ),
        (
            ["evaluate", "m.mammoclf", "--csv", "x.csv", "--decode-jobs", "0"],
            (
                "mammoclf evaluate: error: --decode-jobs: expected a positive whole "
                "number or -1 (all cores), got '0'"
            ),
        ),
        (
            ["compare", "--memory-limit", "lots"],
            (
                "mammoclf compare: error: --memory-limit: expected 'auto' or a size "
                "such as 8G, 500M or 1000000; got 'lots'"
            ),
        ),
        (["compare", "--typo"], "mammoclf: error: unrecognized arguments: --typo"),
        (
            ["predict"],
            (
                "mammoclf predict: error: the following arguments are required: "
                "MODEL, FILES; see --help"
            ),
        ),
    ],
)
def test_a_mistyped_option_is_one_line_naming_it(argv, message, capsys):
    # Until 0.2: 15 lines of usage and "invalid _positive_int value".
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_INPUT
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(message)


def test_no_type_function_lets_its_name_reach_the_user():
    """Every option converted by a function of ours says what it expects."""
    import argparse

    parser = build_parser()
    commands = next(
        action
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    typed = [
        (name, action)
        for name, command in commands.choices.items()
        for action in command._actions
        if callable(action.type) and action.dest != "subgroup_columns"
    ]
    assert len(typed) > 10
    for name, action in typed:
        with pytest.raises(argparse.ArgumentTypeError, match="got 'x'"):
            action.type("x")


def test_predict_into_a_directory_is_one_line_before_loading(tmp_path, capsys):
    # Until 0.2: "[Errno 21] Is a directory", after predicting every file.
    model = tmp_path / "model.mammoclf"
    model.write_bytes(b"not even read")
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    assert main(["predict", str(model), str(image), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"mammoclf: error: --out: {tmp_path} is a directory; give a file name, "
        f"e.g. {tmp_path / 'scores.csv'}.\n"
    )
    missing = tmp_path / "no" / "scores.csv"
    assert main(["predict", str(model), str(image), "--out", str(missing)]) == 2
    assert "--out: the folder" in capsys.readouterr().err
