"""A run folder you can trust: checked fits, the lock, the report swap, one-line
environment errors, SIGTERM, workers that end with their parent, atomic writes.

One test (or a few) per point of issue 25; each fails on the code before it.
The crash-at-random-moments harness is in test_crash_recovery.py.
"""

import errno
import io
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mammoclf import ScratchCNNClassifier
from mammoclf.cli._main import EXIT_INPUT, EXIT_INTERRUPTED, main
from mammoclf.cli._resume import ResumablePipeline, valid_fits
from mammoclf.evaluation import SummaryOptions, summarize
from mammoclf.storage import RunFolderLock

PACKAGE = Path(__file__).resolve().parents[2] / "mammoclf"
# A run that reads nothing from (or into) a cache, decoding in this process.
SMALL_OPTIONS = ("--decode-jobs", "1", "--no-cache")


def _pipeline(cache_dir):
    classifier = ScratchCNNClassifier(
        filters=(4,), epochs=1, batch_size=16, random_state=0
    )
    return ResumablePipeline(
        [("scratchcnnclassifier", classifier)], cache_dir=str(cache_dir)
    )


@pytest.fixture(scope="module")
def two_fits(tmp_path_factory):
    """Two fits saved in one fit cache: ``(cache, [(X, y, file, probabilities)])``."""
    cache = tmp_path_factory.mktemp("fit-cache")
    rng = np.random.default_rng(0)
    y = np.array(["BENIGN", "MALIGNANT"] * 8)
    fits = []
    for _ in range(2):
        X = rng.random((16, 16, 16, 1), dtype=np.float32)
        before = set(cache.iterdir())
        fitted = _pipeline(cache).fit(X, y)
        (path,) = set(cache.iterdir()) - before
        fits.append((X, y, path, fitted.predict_proba(X)))
    return cache, fits


def test_a_loaded_fit_keeps_its_original_fit_time(two_fits):
    """The fit record holds the fit's time; a loaded fit reports it (issue 24, 7)."""
    from mammoclf.persistence import read_development

    cache, [(X, y, path, _), _] = two_fits
    recorded = read_development(path)["fit_seconds"]
    assert recorded > 0
    loaded = _pipeline(cache).fit(X, y)
    assert loaded.resumed_ and loaded.original_fit_time_ == recorded


def test_table_two_shows_the_original_fit_time_of_resumed_fits():
    """A resumed fit's Table 2 time is its recorded fit time, and it is marked."""
    from sklearn.linear_model import LogisticRegression

    from mammoclf.cli._resume import restore_fit_times
    from mammoclf.model_selection import compare_models

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 2))
    y = np.where(X[:, 0] > 0, "MALIGNANT", "BENIGN")
    result = compare_models(
        {"logreg": LogisticRegression()},
        X,
        y,
        groups=np.arange(24) // 2,
        cv=2,
        random_state=0,
        return_estimators=True,
    )
    first, _ = result.estimators["logreg"]
    first.resumed_, first.original_fit_time_ = True, 12.5
    restored = restore_fit_times(result)
    times = restored.compute["fit_time"].tolist()
    assert times == [12.5, result.compute["fit_time"].iloc[1]]
    assert restored.compute["resumed"].tolist() == [True, False]
    table = summarize(restored, SummaryOptions(tests=())).table("compute")
    assert table.display["fits resumed"].tolist() == ["1"]
    assert float(table.display["total fit time (s)"][0]) == round(sum(times), 1)
    assert any(note.startswith("Fits resumed: 1 fold models") for note in table.notes)
    unresumed = summarize(result, SummaryOptions(tests=())).table("compute")
    assert "fits resumed" not in unresumed.display


# ---------------------------------------------------------- 1. swapped fit
def test_a_swapped_fit_is_discarded_and_redone(two_fits, tmp_path):
    source, fits = two_fits
    cache = tmp_path / "fit-cache"
    shutil.copytree(source, cache)
    (_, _, file_a, _), (X_b, y, file_b, expected) = fits
    shutil.copyfile(cache / file_a.name, cache / file_b.name)
    assert valid_fits(tmp_path) == 1
    with pytest.warns(UserWarning) as caught:
        refit = _pipeline(cache).fit(X_b, y)
    (warning,) = [w for w in caught if "fit-cache entry" in str(w.message)]
    assert file_b.name in str(warning.message)
    assert "holds another fit" in str(warning.message)
    assert refit.resumed_ is False
    np.testing.assert_allclose(refit.predict_proba(X_b), expected, rtol=1e-6)
    assert valid_fits(tmp_path) == 2  # rewritten under its key


# ------------------------------------------------------ 3. damaged fit
def _flip_compressed_bytes(data):
    """Eight flipped bytes inside the deflate stream of the network."""
    start = data.index(b"models/") + 200
    return (
        data[:start]
        + bytes(b ^ 0x5A for b in data[start : start + 8])
        + data[start + 8 :]
    )


def _break_crc(data):
    """A wrong CRC-32 for metadata.json in the zip's central directory."""
    name = data.rindex(b"metadata.json")
    record = data.rindex(b"PK\x01\x02", 0, name)
    offset = record + 16  # the central directory's CRC-32 of the member
    return (
        data[:offset]
        + bytes(b ^ 0xFF for b in data[offset : offset + 4])
        + data[offset + 4 :]
    )


# Two kinds run by default (each refits a network); all four under -m slow.
@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"", id="empty", marks=pytest.mark.slow),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(_break_crc, id="crc-broken", marks=pytest.mark.slow),
        pytest.param(_flip_compressed_bytes, id="flipped-bytes"),
    ],
)
def test_a_damaged_fit_is_redone_not_blocking(two_fits, tmp_path, damage):
    X, y, file, expected = two_fits[1][0]
    cache = tmp_path / "fit-cache"
    cache.mkdir()
    (cache / file.name).write_bytes(damage(file.read_bytes()))
    with pytest.warns(UserWarning, match=f"fit-cache entry {file.name} was unusable"):
        refit = _pipeline(cache).fit(X, y)
    assert refit.resumed_ is False
    np.testing.assert_allclose(refit.predict_proba(X), expected, rtol=1e-6)
    assert valid_fits(tmp_path) == 1


# ---------------------------------------- 2. swapped image-cache entry
def test_a_swapped_image_cache_entry_is_discarded_with_its_name(tmp_path):
    from mammoclf.preprocessing._image_cache import ImageCache

    cache = ImageCache(tmp_path)
    key_a, key_b = "a" * 64, "b" * 64
    cache.store(key_a, np.zeros((4, 4, 1), np.float32))
    cache.store(key_b, np.ones((4, 4, 1), np.float32))
    shutil.copyfile(cache.entry_path(key_a), cache.entry_path(key_b))
    image, problem = cache.load(key_b, (4, 4, 1))
    assert image is None
    assert problem.startswith(f"{key_b}.entry: holds the entry of another key")
    assert not os.path.exists(cache.entry_path(key_b))  # discarded: decoded again


# ------------------------------------- 4. the lock; 9. the report swap
def test_a_second_run_into_a_held_out_folder_is_refused(tmp_path, capsys, small_run):
    out = tmp_path / "out"
    with RunFolderLock(out):
        assert main(small_run(*SMALL_OPTIONS, "--out", str(out))) == EXIT_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"process {os.getpid()} " in err[0], err
    assert sorted(p.name for p in out.iterdir()) == []  # nothing was written


def test_an_interrupted_rerun_keeps_the_previous_report(
    tmp_path, capsys, monkeypatch, small_run
):
    from mammoclf import model_selection

    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    previous = {"report.md": "previous", "run.json": "{}", "tables/t.csv": "a\n1\n"}
    for name, text in previous.items():
        (out / name).write_text(text)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(model_selection, "compare_models", interrupted)
    assert main(small_run(*SMALL_OPTIONS, "--out", str(out))) == EXIT_INTERRUPTED
    for name, text in previous.items():
        assert (out / name).read_text() == text
    # No fit was saved: no promise to resume.
    assert "resumes" not in capsys.readouterr().err


# -------------------------------------------- 5. environment errors
def _failing_writes(monkeypatch, error_number):
    """Every storage write fails as a full disk or a read-only location would."""
    import mammoclf.storage._atomic as atomic

    def refuse(*args, dir=None, **kwargs):
        raise OSError(error_number, os.strerror(error_number), dir)

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)


@pytest.mark.parametrize("error_number", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_an_unwritable_out_folder_is_one_line(
    tmp_path, capsys, monkeypatch, error_number, small_run
):
    _failing_writes(monkeypatch, error_number)
    out = tmp_path / "out"
    assert main(small_run(*SMALL_OPTIONS, "--out", str(out))) == EXIT_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert os.strerror(error_number) in err[0] and str(out) in err[0]


def test_an_unwritable_salt_file_is_one_line(tmp_path, capsys, monkeypatch, two_fits):
    _failing_writes(monkeypatch, errno.EROFS)
    model = tmp_path / "model.mammoclf"
    model.write_bytes(b"unused")
    salt = tmp_path / "read-only" / "salt"
    argv = ["predict", str(model), str(model), "--salt-file", str(salt)]
    assert main(argv) == EXIT_INPUT
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "Read-only file system" in line and str(salt) in line


def _edit_metadata(data, edit):
    import io
    import json

    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "metadata.json":
                content = edit(json.loads(content))
            target.writestr(item.filename, content)
    return buffer.getvalue()


def _without_estimator_class(metadata):
    del metadata["estimator"]["class"]
    return __import__("json").dumps(metadata)


def _steps_as_text(metadata):
    metadata["estimator"] = "a pipeline"
    return __import__("json").dumps(metadata)


@pytest.mark.parametrize(
    "damage",
    [
        _flip_compressed_bytes,
        lambda data: data[: len(data) - 100],
        lambda data: _edit_metadata(data, lambda m: b"{not json"),
        lambda data: _edit_metadata(data, _without_estimator_class),
        lambda data: _edit_metadata(data, _steps_as_text),
    ],
    ids=["zlib-error", "truncated", "json-error", "key-error", "attribute-error"],
)
def test_a_damaged_model_given_to_predict_is_one_line(
    tmp_path, capsys, two_fits, damage
):
    (_, fits) = two_fits
    model = tmp_path / "model.mammoclf"
    model.write_bytes(damage(fits[0][2].read_bytes()))
    # predict reads its input files before the model (to fail fast on them),
    # so the input must be a readable image for the model's damage to show.
    image = tmp_path / "image.png"
    Image.fromarray(np.full((16, 16), 128, dtype=np.uint8)).save(image)
    assert main(["predict", str(model), str(image)]) == EXIT_INPUT
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert str(model) in line and "mammoclf model archive" in line


# ------------------------------------------------------------ 6. SIGTERM
def test_sigterm_stops_like_ctrl_c_with_exit_143(tmp_path, small_run):
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        import mammoclf.cli._compare as compare
        from mammoclf.cli._main import main

        def run(args):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)

        compare.run_compare = run
        sys.exit(main(sys.argv[1:]))
        """
    )
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            *small_run(*SMALL_OPTIONS, "--out", str(tmp_path / "out")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 143, completed.stderr[-2000:]
    assert completed.stderr.strip() == "mammoclf: stopped by SIGTERM"


# ----------------------------------------------------- 7. orphan workers
def test_decoding_workers_end_with_their_killed_parent(tmp_path):
    psutil = pytest.importorskip("psutil")
    script = textwrap.dedent(
        """
        import sys, time, psutil
        from mammoclf import DicomLoader, Resizer
        from mammoclf.datasets import make_synthetic_mammograms

        data = make_synthetic_mammograms(
            4, image_size=32, random_state=0, directory=sys.argv[1])
        Resizer(size=16).fit_transform(DicomLoader(n_jobs=2).fit_transform(data.paths))
        workers = [c.pid for c in psutil.Process().children(recursive=True)]
        print(*workers, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
    finally:
        parent.kill()
        parent.wait()
    assert workers, "the decoding ran in no worker process"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = [
            pid
            for pid in workers
            if psutil.pid_exists(pid)
            and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        ]
        if not alive:
            break
        time.sleep(0.2)
    assert not alive, f"workers {alive} outlived their killed parent"


# --------------------------------------------------- 8. in-place writes
# A write into a run folder or cache that is not the storage layer's: an
# open for writing, a rename, or a library saving straight to a path.
_DIRECT_WRITE = re.compile(
    r"open\([^)]*['\"][wax]b?['\"]"
    r"|os\.(replace|rename|link)\("
    r"|\.write_(text|bytes)\("
    r"|shutil\.(copy\w*|move)\("
    r"|np\.savez?\((?!handle)(?=\S)"
    r"|\.(save|save_as|savefig|to_csv)\((path|out|str\(|os\.path)"
)
# utils/_keras.py writes a network into a private temporary directory.
_ALLOWED = {"mammoclf/utils/_keras.py"}


def test_only_the_storage_layer_writes_files():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE.parent).as_posix()
        if name.startswith("mammoclf/storage/") or name in _ALLOWED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if _DIRECT_WRITE.search(code) and ">>>" not in line:
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "write through mammoclf.storage:\n" + "\n".join(found)


# ------------------------------------------- 10b. a resumed fit's optimizer
def _network_variables(archive_path):
    """``{variable path: bytes}`` of every network weight in a saved model archive."""
    import h5py

    variables = {}
    with zipfile.ZipFile(archive_path) as archive:
        networks = [n for n in archive.namelist() if n.endswith(".keras")]
        for name in networks:
            with zipfile.ZipFile(io.BytesIO(archive.read(name))) as network:
                weights = io.BytesIO(network.read("model.weights.h5"))
            with h5py.File(weights, "r") as store:
                store.visititems(
                    lambda path, item, name=name: (
                        variables.__setitem__(f"{name}:{path}", item[()].tobytes())
                        if isinstance(item, h5py.Dataset)
                        else None
                    )
                )
    return variables


def test_a_fit_loaded_from_the_fit_cache_saves_its_optimizer_state(two_fits, tmp_path):
    # compare saves its final refit from the pipeline the fit cache gives back;
    # a resumed run must save what the uninterrupted one did, optimizer included.
    from mammoclf.persistence import save
    from mammoclf.pipeline import Pipeline

    cache, ((X, y, file, _), _) = two_fits
    resumed = _pipeline(cache).fit(X, y)
    assert resumed.resumed_ is True
    save(Pipeline(resumed.steps), tmp_path / "resumed.mammoclf")
    uninterrupted = _network_variables(file)
    assert any("optimizer/vars" in name for name in uninterrupted)
    assert _network_variables(tmp_path / "resumed.mammoclf") == uninterrupted
