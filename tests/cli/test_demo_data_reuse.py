"""The demo's synthetic DICOM files are reused by a rerun, so the image cache hits."""

import argparse
import os

import pytest

from mammoclf.cli._data import _synthetic
from mammoclf.cli._main import EXIT_OK, main


def _args(n_samples=6, difficulty=0.5, random_state=0):
    return argparse.Namespace(
        n_samples=n_samples, difficulty=difficulty, random_state=random_state
    )


def test_a_rerun_reuses_unchanged_demo_files_and_replaces_others(tmp_path):
    logged = []
    first = _synthetic(_args(), 32, tmp_path, logged.append)
    stamps = [os.stat(p).st_mtime_ns for p in first.paths]
    assert "generating 6 synthetic mammograms" in logged[-1]
    second = _synthetic(_args(), 32, tmp_path, logged.append)
    assert "reusing the 6 synthetic mammograms" in logged[-1]
    assert [os.stat(p).st_mtime_ns for p in second.paths] == stamps
    assert list(second.paths) == list(first.paths)
    assert all(os.path.isfile(m) for m in second.metadata["mask"])
    # Other settings: the old demo data are replaced, not mixed in.
    third = _synthetic(_args(n_samples=4), 32, tmp_path, logged.append)
    assert "generating 4 synthetic mammograms" in logged[-1]
    names = sorted(os.listdir(tmp_path / "synthetic-data"))
    assert len([n for n in names if n.endswith(".dcm")]) == len(third.paths) == 4


@pytest.mark.slow
def test_a_rerun_of_the_demo_into_the_same_folder_decodes_nothing(tmp_path, capsys):
    command = [
        "compare",
        "--models",
        "scratch",
        "--n-samples",
        "16",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--cv",
        "2",
        "--no-refit",
        "--n-resamples",
        "20",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(command) == EXIT_OK
    assert "16 decoded, 0 from the cache" in capsys.readouterr().err
    assert main(command) == EXIT_OK
    err = capsys.readouterr().err
    assert "reusing the 16 synthetic mammograms" in err
    assert "0 decoded, 16 from the cache" in err
