"""The example scripts run as a user would run them.

The fast ones run in the default suite; the slower ones are marked ``slow``.
Each asserts on what the script prints, not only on its exit status.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# What TensorFlow, CUDA probes and Dask print on their own, which an example
# must not show: abseil's C++ log lines ("E0000 00:00:... cuda_executor.cc:..."),
# "failed call to cuInit", "This TensorFlow binary is optimized", and Dask
# killing a worker that did not stop in time.
FRAMEWORK_NOISE = re.compile(
    r"^[EWIF]\d{4} \d\d:\d\d|\.cc:\d+\]|cuInit|cuda_|TensorFlow binary|oneDNN"
    r"|still alive after|distributed\.\w+ - (WARNING|ERROR)",
    re.MULTILINE,
)


def run_example(name, *args, cwd=None, tmpdir=None):
    # As a user runs it: without the TF_CPP_MIN_LOG_LEVEL the test session sets.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["MPLBACKEND"] = "Agg"
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    noise = FRAMEWORK_NOISE.findall(result.stderr)
    assert not noise, result.stderr[-3000:]
    return result.stdout


def test_every_example_is_listed_here():
    covered = {
        "quickstart.py",
        "grad_cam.py",
        "compare_models.py",
        "grid_search_unfreeze_depth.py",
        "reproduce_study_cbis_ddsm.py",
        "dask_search.py",
    }
    assert {p.name for p in EXAMPLES.glob("*.py")} == covered


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_examples_are_gallery_pages_that_leave_logging_to_mammoclf(path):
    source = path.read_text(encoding="utf-8")
    # Until 0.2 every example set it, which turns mammoclf's silencing of
    # TensorFlow's start-up lines off (see mammoclf/utils/_quiet.py).
    assert "TF_CPP_MIN_LOG_LEVEL" not in source
    # sphinx-gallery takes the page title from the docstring's first line.
    title, underline = source.split("\n")[:2]
    assert title.startswith('"""') and underline == "=" * (len(title) - 3)


def test_framework_noise_is_recognised():
    seen = [
        "E0000 00:00:1765101234.123 12 cuda_executor.cc:1309] failed call to cuInit",
        "2026-12-07 14:00:00.1: I tensorflow/core/util/port.cc:153] oneDNN custom",
        (
            "2026-12-07 - distributed.nanny - WARNING - Worker process still alive "
            "after 4.0 seconds, killing"
        ),
    ]
    assert all(FRAMEWORK_NOISE.search(line) for line in seen)
    ours = "[   3.2s] fit 2/6 done, 0:00:41 left\n(80, 48, 48) {'BENIGN': 40}"
    assert not FRAMEWORK_NOISE.search(ours)


# ~55 s (a fresh interpreter, 60 DICOM files, 3 DenseNet folds): the README's
# quickstart runs in tests/test_docs_snippets.py, and the DICOM pipeline this
# script chains in tests/test_input_pipeline.py.
@pytest.mark.slow
def test_quickstart(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    out = run_example("quickstart.py", cwd=tmp_path, tmpdir=temporary)
    assert "60 DICOM files of 30 patients" in out
    for metric in ("roc_auc", "sensitivity", "specificity"):
        assert f"{metric}:" in out and "over 3 folds" in out
    # Until 0.1: a mammoclf-* folder of 60 DICOM files left in the temp dir.
    assert not list(temporary.glob("mammoclf-*"))


@pytest.mark.slow  # 60 epochs: the model must learn before its maps mean anything
def test_grad_cam(tmp_path):
    target = tmp_path / "overlays.png"
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    out = run_example("grad_cam.py", str(target), tmpdir=temporary)
    assert not list(temporary.glob("mammoclf-*"))
    assert "heatmaps: (4, 64, 64)" in out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Maps of a model that learned the task (until 0.1: 0.68 held out), and
    # no argmax of an all-zero map reported as a place: until 0.1 "(0, 0)".
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.75
    peaks = re.search(r"strongest evidence at \(row, col\): (\[.*\])", out).group(1)
    assert "(0, 0)" not in peaks


def test_cbis_ddsm_reproduction_explains_itself_without_data():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "reproduce_study_cbis_ddsm.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert (
        "python examples/reproduce_study_cbis_ddsm.py /data/CBIS-DDSM" in result.stderr
    )


@pytest.mark.slow
def test_compare_models_example(tmp_path):
    out = run_example("compare_models.py", cwd=tmp_path)
    assert "corrected" in out.lower()


@pytest.mark.slow
def test_grid_search_example(tmp_path):
    out = run_example("grid_search_unfreeze_depth.py", cwd=tmp_path)
    assert "freeze_schedule" in out
    # The printed search is the grouped one the example runs, with the
    # weights it ran with (until 0.1: cv=3, and weights=None from an earlier
    # set_params on the shared estimator where the code said "imagenet").
    printed = out[out.rindex("GridSearchCV(") :]
    assert "cv=StratifiedGroupKFold(n_splits=2" in printed
    offline = ">>> Continuing WITHOUT pretrained weights" in out
    assert ("weights=None" in printed) == offline


@pytest.mark.slow
def test_dask_search_example(tmp_path):
    pytest.importorskip("distributed")
    out = run_example("dask_search.py", cwd=tmp_path)
    assert "workers: 2" in out
    assert "frozen" in out and "conv5" in out
    assert "Statistical comparison: pairwise tests" in out
