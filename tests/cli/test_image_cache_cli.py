"""The command line's image cache: a rerun decodes nothing; options to steer it."""

import argparse
import csv

import numpy as np
import pytest
from PIL import Image

from mammoclf.cli._data import _memory_size, prepare_cache
from mammoclf.cli._main import EXIT_OK, build_parser, main


@pytest.fixture
def png_csv(tmp_path):
    """16 PNG images of 8 patients and their CSV."""
    rng = np.random.default_rng(0)
    rows = []
    for patient in range(8):
        label = "MALIGNANT" if patient % 2 else "BENIGN"
        for view in ("CC", "MLO"):
            pixels = (rng.random((40, 40)) * 120).astype(np.uint8)
            if label == "MALIGNANT":
                pixels[14:26, 14:26] = 250
            name = f"case{patient}_{view}.png"
            Image.fromarray(pixels).save(tmp_path / name)
            rows.append({"path": name, "label": label, "patient": f"PAT{patient}"})
    path = tmp_path / "data.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "patient"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_second_compare_run_decodes_no_image(
    png_csv, tmp_path, decode_counter, capsys
):
    cache = tmp_path / "cache"
    command = [
        "compare",
        "--csv",
        str(png_csv),
        "--models",
        "scratch",
        "--image-size",
        "32",
        "--epochs",
        "1",
        "--cv",
        "2",
        "--no-refit",
        "--n-resamples",
        "50",
        # In this process, where decode_counter sees every decode.
        "--decode-jobs",
        "1",
        "--cache-dir",
        str(cache),
    ]
    assert main([*command, "--out", str(tmp_path / "first")]) == EXIT_OK
    assert len(decode_counter) == 16
    assert "16 decoded, 0 from the cache" in capsys.readouterr().err
    # The rerun, here with a 1 kB memory limit: the images come from the
    # cache into a memory-mapped file, and training streams from it.
    second = [*command, "--memory-limit", "1K", "--out", str(tmp_path / "second")]
    assert main(second) == EXIT_OK
    assert len(decode_counter) == 16  # nothing decoded again
    err = capsys.readouterr().err
    assert "0 decoded, 16 from the cache" in err and "memory-mapped file" in err
    assert "[decoding]" in err


def test_cache_options(tmp_path, capsys):
    cache = tmp_path / "cache"
    (cache / "images" / "ab").mkdir(parents=True)
    (cache / "images" / "ab" / "x.entry").write_bytes(b"0" * 2048)
    parser = build_parser()
    args = parser.parse_args(["predict", "m", "f.dcm", "--cache-dir", str(cache)])
    assert prepare_cache(args, print) == str(cache) and args.memory_limit == "auto"
    args = parser.parse_args(
        ["predict", "m", "f.dcm", "--cache-dir", str(cache), "--no-cache"]
    )
    assert prepare_cache(args, print) is None
    assert (cache / "images" / "ab" / "x.entry").exists()
    args.clear_cache = True
    assert prepare_cache(args, print) is None
    assert not (cache / "images").exists()
    assert "cleared the cache" in capsys.readouterr().out


def test_clear_cache_command(tmp_path, capsys):
    cache = tmp_path / "cache"
    (cache / "scratch").mkdir(parents=True)
    (cache / "scratch" / "left-over.npy").write_bytes(b"0" * 4096)
    assert main(["clear-cache", "--cache-dir", str(cache)]) == EXIT_OK
    assert "MiB freed" in capsys.readouterr().out and not cache.exists()


@pytest.mark.parametrize(
    "text, expected",
    [("auto", "auto"), ("1000", 1000), ("1K", 1024), ("1.5g", 3 * 2**29), ("0", 0)],
)
def test_memory_limit_sizes(text, expected):
    assert _memory_size(text) == expected


@pytest.mark.parametrize("text", ["-1G", "lots", "G", "nanM"])
def test_bad_memory_limit_sizes(text):
    with pytest.raises(argparse.ArgumentTypeError, match="such as 8G"):
        _memory_size(text)


def test_all_cores_only_as_far_as_memory_allows(monkeypatch):
    import os

    import psutil

    from mammoclf.cli import _data

    assert _data.decoding_processes(1) == 1
    assert (
        _data.decoding_processes(-1)
        == min(os.cpu_count(), psutil.virtual_memory().available // 2**30)
        or _data.decoding_processes(-1) == 1
    )

    class Tight:
        available = 2**30 // 2

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tight)
    assert _data.decoding_processes(-1) == 1
