"""The demo's synthetic DICOM files are reused by a rerun, so the image cache hits."""

import argparse
import os

from mammoclf.cli._data import _synthetic


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
