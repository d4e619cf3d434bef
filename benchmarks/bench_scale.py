"""Scaling benchmark: locate, decode and cache N full-size mammograms, twice.

Writes N synthetic full-field mammograms like CBIS-DDSM's (4,000 x 3,000
pixels, 16-bit, RLE Lossless, about 9 MB each; the real ones are 8-13 MB)
in NBIA's descriptive layout (``<case>/<date>-DDSM-.../1.000000-full
mammogram images-.../1-1.dcm``), for N = 100, 400 and 1,600 (``--max-n``
sets the largest). Four distinct pixel contents are encoded once and
written with each file's own UIDs, so every file is decoded in full and
gets its own cache entry. For every N, two runs, each in a fresh process:

1. **first run**, empty cache: locate every file from its table path (the
   header of every file is read: ``mammoclf.datasets._locate``), then
   ``Resizer(size=224)`` over ``DicomLoader(n_jobs=-1, cache_dir=...)``;
2. **second run**, the same command: the header index and the image cache
   answer.

Before each run the data files and the cache are evicted from the page
cache (``posix_fadvise(DONTNEED)``), so both runs read from the disk as a
run on another day would. Measured: locate time, decode + resize time per
image, peak RSS of the main process and of the largest worker, cache size
on disk. Targets (ratios within one run of this script): per-image time at
the largest N within 1.2x of that at N = 100; peak RSS flat in N; the
second run at least 20x faster than the first. The rows extrapolate
linearly (a fixed cost plus a cost per image, least squares over the N
measured) to the 3,103 full-field images of CBIS-DDSM and to ten times
that.

Disk: the largest N needs about 9 MB per file (14 GB for 1,600) plus
0.2 MB per cached image; the script refuses to start without that much
free space. Files are deleted at the end unless ``--keep``.

Run (appends a row to benchmarks/RESULTS.md)::

    python benchmarks/bench_scale.py            # N = 100, 400, 1600
    python benchmarks/bench_scale.py --max-n 400
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SIZES = (100, 400, 1600)
# CBIS-DDSM's full-field mammograms: about 4,500 x 3,000 (this is 4,000 x 3,000).
FULL_SHAPE = (4000, 3000)
CBIS_DDSM_FULL_IMAGES = 3103
_TEMPLATES = 4
_BYTES_PER_FILE = 9.5 * 2**20
_MAMMOGRAPHY = "1.2.840.10008.5.1.4.1.1.1.2"


# ------------------------------------------------------------------ data
def synthetic_pixels(shape, seed):
    """A mammogram-like 16-bit image: textured breast on a black background."""
    import numpy as np

    rng = np.random.default_rng(seed)
    height, width = shape
    rows = np.arange(height, dtype=np.float32)[:, None]
    columns = np.arange(width, dtype=np.float32)[None, :]
    inside = ((rows - height / 2) / (0.45 * height)) ** 2 + (
        columns / (0.8 * width)
    ) ** 2 < 1
    texture = 2000 + 600 * np.sin(rows / (60 + 10 * seed)) * np.cos(columns / 70)
    texture += rng.normal(0, 40, shape).astype(np.float32)
    return np.where(inside, texture, 0).clip(0, 4095).astype(np.uint16)


def _template(shape, seed):
    """An RLE Lossless dataset around :func:`synthetic_pixels` (encoded once)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless

    pixels = synthetic_pixels(shape, seed)
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = _MAMMOGRAPHY
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = _MAMMOGRAPHY
    dataset.Modality = "MG"
    dataset.Rows, dataset.Columns = shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.PixelData = pixels.tobytes()
    dataset.compress(RLELossless, pixels, encoding_plugin="pylibjpeg")
    return dataset


def write_dataset(root, n, *, shape=FULL_SHAPE):
    """Write ``n`` files in NBIA's layout; return ``[(table path, file path)]``.

    Files already written by an earlier call are kept, so the sets of the
    smaller N are prefixes of the largest one.
    """
    from pydicom.uid import generate_uid

    templates = {}
    pairs = []
    for index in range(n):
        case = f"Mass-Training_P_{index:05d}_LEFT_CC"
        folder = os.path.join(
            root,
            case,
            f"07-20-2016-DDSM-{index:05d}",
            f"1.000000-full mammogram images-{index:05d}",
        )
        path = os.path.join(folder, "1-1.dcm")
        uids_file = os.path.join(folder, "uids.json")
        if not os.path.exists(uids_file):
            seed = index % _TEMPLATES
            if seed not in templates:
                templates[seed] = _template(shape, seed)
            dataset = templates[seed]
            study, series, instance = (generate_uid() for _ in range(3))
            dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series
            dataset.SOPInstanceUID = instance
            dataset.file_meta.MediaStorageSOPInstanceUID = instance
            dataset.PatientID = case
            os.makedirs(folder, exist_ok=True)
            dataset.save_as(path, enforce_file_format=True)
            with open(uids_file, "w") as handle:
                json.dump([study, series], handle)
        with open(uids_file) as handle:
            study, series = json.load(handle)
        pairs.append((f"{case}/{study}/{series}/000000.dcm", path))
    return pairs


def evict(paths):
    """Drop ``paths`` from the page cache, so that the next read hits the disk."""
    for path in paths:
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fdatasync(descriptor)
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def _files_under(folder):
    return [
        os.path.join(directory, name)
        for directory, _, names in os.walk(folder)
        for name in names
    ]


# ------------------------------------------------------------ one run
def run_once(root, pairs, cache_dir, *, n_jobs, image_size):
    """Locate and decode ``pairs`` in this process; return the measurements."""
    from joblib.externals.loky import get_reusable_executor

    from mammoclf import DicomLoader, Resizer
    from mammoclf.datasets._locate import HeaderIndex, Locator
    from mammoclf.storage import cache_size_bytes

    rss_after_imports = _peak_rss_mib()
    started = time.perf_counter()
    locator = Locator(root, HeaderIndex(root, cache_dir))
    paths, missing = locator.locate_all(
        [(table, table) for table, _ in pairs], roi=False
    )
    locate_s = time.perf_counter() - started
    assert not missing and paths == [path for _, path in pairs], missing[:3]
    started = time.perf_counter()
    sequence = DicomLoader(n_jobs=n_jobs, cache_dir=cache_dir).transform(paths)
    images = Resizer(size=image_size).fit_transform(sequence)
    decode_s = time.perf_counter() - started
    assert images.shape == (len(paths), image_size, image_size, 1)
    get_reusable_executor().shutdown(wait=True)
    worker_peak = _peak_rss_mib(resource.RUSAGE_CHILDREN)
    return {
        "n": len(paths),
        "locate_s": locate_s,
        "decode_s": decode_s,
        "decoded": sequence.last_run["decoded"],
        "peak_rss_mib": _peak_rss_mib(),
        # The resized array this process returns grows with N by design.
        "output_mib": images.nbytes / 2**20,
        "rss_after_imports_mib": rss_after_imports,
        "worker_peak_rss_mib": worker_peak or None,
        "cache_bytes": cache_size_bytes(cache_dir, "images"),
        "index_bytes": cache_size_bytes(cache_dir, "cbis-ddsm-index"),
    }


def _peak_rss_mib(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


def _run_in_child(root, n, cache_dir, *, n_jobs, image_size):
    arguments = json.dumps(
        {
            "root": root,
            "n": n,
            "cache_dir": cache_dir,
            "n_jobs": n_jobs,
            "image_size": image_size,
        }
    )
    output = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", arguments],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _child(arguments):
    settings = json.loads(arguments)
    pairs = write_dataset(settings["root"], settings["n"])  # reads the UIDs back
    result = run_once(
        settings["root"],
        pairs,
        settings["cache_dir"],
        n_jobs=settings["n_jobs"],
        image_size=settings["image_size"],
    )
    print(json.dumps(result))


# --------------------------------------------------------------- study
def measure_scale(directory, sizes, *, n_jobs=-1, image_size=224, shape=FULL_SHAPE):
    """First and second run for every N of ``sizes``; returns ``{n: (first, second)}``.

    ``shape`` other than the full size is for the smoke test only: smaller
    images change what is measured.
    """
    root = os.path.join(directory, "CBIS-DDSM")
    started = time.perf_counter()
    pairs = write_dataset(root, max(sizes), shape=shape)
    print(
        f"data: {len(pairs)} files of {shape[0]} x {shape[1]} px ready in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    results = {}
    for n in sorted(sizes):
        cache_dir = os.path.join(directory, f"cache-{n}")
        shutil.rmtree(cache_dir, ignore_errors=True)
        runs = []
        for _ in ("first", "second"):
            evict([path for _, path in pairs[:n]] + _files_under(cache_dir))
            if shape == FULL_SHAPE:
                run = _run_in_child(
                    root, n, cache_dir, n_jobs=n_jobs, image_size=image_size
                )
            else:  # the smoke test: in this process
                run = run_once(
                    root, pairs[:n], cache_dir, n_jobs=n_jobs, image_size=image_size
                )
            runs.append(run)
            print(_describe(run), flush=True)
        results[n] = tuple(runs)
    return results


def _describe(run):
    worker = run["worker_peak_rss_mib"]
    return (
        f"N={run['n']}: locate {run['locate_s']:.2f} s, decode+resize "
        f"{run['decode_s']:.2f} s ({1000 * run['decode_s'] / run['n']:.1f} ms/image, "
        f"{run['decoded']} decoded), peak RSS main {run['peak_rss_mib']:.0f} MiB "
        f"(after imports {run['rss_after_imports_mib']:.0f}, resized array "
        f"{run['output_mib']:.0f}), "
        f"largest worker {'-' if worker is None else f'{worker:.0f} MiB'}, cache "
        f"{run['cache_bytes'] / 2**20:.1f} MiB"
    )


def linear_fit(points):
    """Least-squares ``(fixed, per_item)`` of ``seconds = fixed + per_item * n``."""
    import numpy as np

    n, seconds = np.array(points, dtype=float).T
    if len(n) == 1:
        return 0.0, float(seconds[0] / n[0])
    per_item, fixed = np.polyfit(n, seconds, 1)
    return float(fixed), float(per_item)


def summarise(results, *, n_jobs):
    """The RESULTS.md text: rows per N, the target ratios, the extrapolation."""
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    parts = []
    for n in sizes:
        first, second = results[n]
        total_first = first["locate_s"] + first["decode_s"]
        total_second = second["locate_s"] + second["decode_s"]
        parts.append(
            f"N={n}: first run locate {first['locate_s']:.1f} s + decode/resize "
            f"{first['decode_s']:.1f} s ({1000 * first['decode_s'] / n:.0f} ms/img), "
            f"peak RSS main {first['peak_rss_mib']:.0f} MiB (after imports "
            f"{first['rss_after_imports_mib']:.0f}; the resized array it returns "
            f"{first['output_mib']:.0f} MiB) / largest worker "
            f"{first['worker_peak_rss_mib'] or 0:.0f} MiB; second run locate "
            f"{second['locate_s']:.2f} s + {second['decode_s']:.2f} s "
            f"({1000 * second['decode_s'] / n:.1f} ms/img, {second['decoded']} "
            f"decoded), main {second['peak_rss_mib']:.0f} MiB; x"
            f"{total_first / total_second:.0f} faster; cache "
            f"{first['cache_bytes'] / 2**20:.0f} MiB"
        )
    per_image = {n: results[n][0]["decode_s"] / n for n in sizes}
    rss = {n: results[n][0]["peak_rss_mib"] for n in sizes}
    worker = {n: results[n][0]["worker_peak_rss_mib"] or 0.0 for n in sizes}
    speedups = [
        (r[0]["locate_s"] + r[0]["decode_s"]) / (r[1]["locate_s"] + r[1]["decode_s"])
        for r in results.values()
    ]
    ratios = (
        f"per-image time N={large} / N={small} x{per_image[large] / per_image[small]:.2f}"
        f" (target <= 1.2); peak RSS main x{rss[large] / rss[small]:.2f}, largest "
        f"worker x{worker[large] / max(worker[small], 1e-9):.2f} (target flat); "
        f"second run x{min(speedups):.0f} to x{max(speedups):.0f} faster (target >= 20)"
    )
    first_fit = linear_fit(
        [(n, r[0]["locate_s"] + r[0]["decode_s"]) for n, r in results.items()]
    )
    second_fit = linear_fit(
        [(n, r[1]["locate_s"] + r[1]["decode_s"]) for n, r in results.items()]
    )
    cache_per_image = results[large][0]["cache_bytes"] / large
    extrapolated = []
    for n in (CBIS_DDSM_FULL_IMAGES, 10 * CBIS_DDSM_FULL_IMAGES):
        extrapolated.append(
            f"{n} images: first run ~{_minutes(first_fit, n)}, second "
            f"~{_minutes(second_fit, n)}, cache {cache_per_image * n / 2**30:.1f} GiB, "
            f"peak RSS as measured (flat)"
        )
    return (
        f"synthetic {FULL_SHAPE[0]} x {FULL_SHAPE[1]} 16-bit RLE DICOMs (~9 MB) in "
        f"NBIA layout, to 224 px, n_jobs={n_jobs}, page cache evicted before each "
        f"run: " + "; ".join(parts) + f". Ratios: {ratios}. Linear extrapolation "
        f"(fixed + per image): " + "; ".join(extrapolated)
    )


def _minutes(fit, n):
    seconds = fit[0] + fit[1] * n
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--max-n", type=int, default=max(SIZES), help="largest N (default: 1600)"
    )
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument(
        "--directory",
        default=os.path.join(tempfile.gettempdir(), "mammoclf-bench-scale"),
        help="where the files and caches go (default: $TMPDIR/mammoclf-bench-scale)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="print the results without appending to RESULTS.md",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    sizes = [n for n in SIZES if n < args.max_n] + [args.max_n]
    os.makedirs(args.directory, exist_ok=True)
    needed = args.max_n * (_BYTES_PER_FILE + 0.3 * 2**20) * 1.1
    free = shutil.disk_usage(args.directory).free
    existing = sum(os.path.getsize(p) for p in _files_under(args.directory))
    if free + existing < needed:
        sys.exit(
            f"N={args.max_n} needs about {needed / 2**30:.1f} GiB in {args.directory}; "
            f"{free / 2**30:.1f} GiB are free. Use a smaller --max-n or --directory."
        )
    try:
        results = measure_scale(args.directory, sizes, n_jobs=args.n_jobs)
    finally:
        if not args.keep:
            shutil.rmtree(args.directory, ignore_errors=True)
    numbers = summarise(results, n_jobs=args.n_jobs)
    if args.no_record:
        print(numbers)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _results import append_row

    append_row("scale", numbers, backend="none (no Keras)")


if __name__ == "__main__":
    main()
