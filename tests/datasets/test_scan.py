"""scan: every unreadable file of a data set in one pass, with its exception."""

from pathlib import Path

import numpy as np
import pydicom
import pytest

from mammoclf import DicomLoader
from mammoclf.datasets import scan
from mammoclf.exceptions import DatasetError


@pytest.fixture
def corpus(synthetic, tmp_path):
    """Six good files plus one bad file of each kind, and one missing path."""
    good = list(synthetic.paths[:6])
    original = Path(good[0]).read_bytes()
    bad = {}
    bad["truncated"] = tmp_path / "truncated.dcm"
    bad["truncated"].write_bytes(original[: len(original) // 2])
    bad["noise"] = tmp_path / "noise.dcm"
    bad["noise"].write_bytes(np.random.default_rng(0).bytes(1000))
    no_pixels = pydicom.dcmread(good[1])
    del no_pixels.PixelData
    bad["no_pixels"] = tmp_path / "no_pixels.dcm"
    no_pixels.save_as(bad["no_pixels"], enforce_file_format=True)
    blank = pydicom.dcmread(good[2])
    blank.PixelData = np.zeros((64, 64), np.uint16).tobytes()
    bad["blank"] = tmp_path / "blank.dcm"
    blank.save_as(bad["blank"], enforce_file_format=True)
    bad["missing"] = tmp_path / "missing.dcm"
    paths = (
        good[:3]
        + [str(bad["truncated"]), str(bad["noise"])]
        + good[3:]
        + [str(bad["no_pixels"]), str(bad["missing"]), str(bad["blank"])]
    )
    return paths, {name: str(path) for name, path in bad.items()}


def test_reports_every_bad_file_with_its_exception(corpus):
    paths, bad = corpus
    report = scan(paths, n_jobs=2)
    assert not report.ok and report.n_files == 11
    problems = report.problems.set_index("path")
    assert list(problems.index) == [
        bad[k] for k in ("truncated", "noise", "no_pixels", "missing", "blank")
    ]
    assert problems.loc[bad["missing"], "error"] == "FileNotFoundError"
    assert set(problems.drop(bad["missing"])["error"]) == {"ImageFileError"}
    assert "neither a DICOM file" in problems.loc[bad["noise"], "message"]
    assert "no pixel data" in problems.loc[bad["no_pixels"], "message"]
    assert "blank" in problems.loc[bad["blank"], "message"]
    assert (
        str(report)
        == "5 of 11 files are unreadable (4 ImageFileError, 1 FileNotFoundError)."
    )


def test_raise_if_problems_lists_them_all(corpus):
    paths, bad = corpus
    with pytest.raises(DatasetError, match="5 of 11 files cannot be read") as info:
        scan(paths).raise_if_problems()
    assert all(path in str(info.value) for path in bad.values())


def test_clean_data_set_and_loader_settings(synthetic):
    report = scan(synthetic.paths)
    assert report.ok and str(report) == "All 12 files are readable."
    report.raise_if_problems()
    # The loader's settings are part of "readable": no window in these headers.
    strict = scan(synthetic.paths[:2], loader=DicomLoader(window="header"))
    assert len(strict.problems) == 2 and "WindowCenter" in strict.problems["message"][0]


def test_scan_shows_progress(synthetic, capsys):
    from mammoclf.datasets import scan

    report = scan(synthetic.paths[:3], verbose=1)
    assert report.ok
    assert "[scan] 3 files in" in capsys.readouterr().err
