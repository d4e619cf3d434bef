"""Golden check of the two reports: every CSV cell of ``compare`` and ``evaluate``.

Runs a tiny ``mammoclf compare`` (the CNN and the shallow DenseNet, frozen,
on a CSV with laterality, a subgroup column and lesion masks) and a
``mammoclf evaluate`` of its saved models on a second CSV, with whichever
``mammoclf`` is importable, and compares the CSV tables of two such runs
cell by cell (timing and memory columns excluded, as they are not
reproducible). Used by ``test_golden_reports.py`` against the code of a
fixed commit; also a command line::

    python -m tests.cli.golden_reports run OUT
    python -m tests.cli.golden_reports diff OUT_A OUT_B
"""

import csv
import math
import re
import sys
from pathlib import Path

import numpy as np

#: Columns whose values depend on the machine's speed or memory, not the data.
_UNREPRODUCIBLE = re.compile(r"time|seconds|memory|peak_|activations_shared")

_COMPARE = ["--models", "scratch,frozen", "--image-size", "32", "--epochs", "1"]
_COMPARE += [
    "--cv",
    "2",
    "--batch-size",
    "16",
    "--random-state",
    "0",
    "--weights",
    "none",
]
_COMMON = ["--n-resamples", "30", "--subgroup-columns", "density", "--quiet"]


def write_data(folder):
    """Two labelled CSVs of PNG images with lesion masks: development and external."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, first, count in (("development", 0, 12), ("external", 100, 10)):
        rows = _png_rows(folder, first, count)
        with open(folder / f"{name}.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (folder / "salt").write_text("golden-report-salt\n")
    return folder


def _png_rows(folder, first_patient, n_patients):
    from PIL import Image

    rng = np.random.default_rng(first_patient)
    rows = []
    for patient in range(first_patient, first_patient + n_patients):
        label = "MALIGNANT" if patient % 2 else "BENIGN"
        views = [("L", "CC"), ("L", "MLO")] if patient % 3 else [("R", "CC")]
        for side, view in views:
            pixels = (rng.random((40, 40)) * 120).astype(np.uint8)
            mask = np.zeros((40, 40), dtype=np.uint8)
            top = int(rng.integers(4, 24))
            mask[top : top + 12, top : top + 12] = 255
            if label == "MALIGNANT":
                pixels[mask > 0] = 250
            name = f"case{patient}_{side}{view}.png"
            Image.fromarray(pixels).save(folder / name)
            Image.fromarray(mask).save(folder / f"{name}.mask.png")
            rows.append(
                {
                    "path": name,
                    "label": label,
                    "patient": f"PAT{patient}",
                    "laterality": side,
                    "density": str(1 + patient % 2),
                    "mask": f"{name}.mask.png",
                }
            )
    return rows


def run_reports(out):
    """``compare`` then ``evaluate`` of its models into ``out/compare`` and ``out/evaluate``."""
    from mammoclf.cli._main import main
    from tests.shallow_densenet import shallow_densenet121

    out = Path(out)
    data = write_data(out / "data")
    salt = ["--salt-file", str(data / "salt")]
    with shallow_densenet121():
        status = main(
            ["compare", "--csv", str(data / "development.csv"), *_COMPARE]
            + [*_COMMON, *salt, "--out", str(out / "compare")]
        )
        if status != 0:
            raise SystemExit(f"compare exited {status}")
        models = sorted(str(p) for p in (out / "compare" / "models").iterdir())
        status = main(
            ["evaluate", *models, "--csv", str(data / "external.csv")]
            + [*_COMMON, *salt, "--out", str(out / "evaluate")]
        )
        if status != 0:
            raise SystemExit(f"evaluate exited {status}")
    return out


def compare_tables(baseline, candidate):
    """Compare every CSV cell of two runs' reports.

    Returns
    -------
    n_cells : int
        Cells compared (timing and memory columns excluded).
    differences : list of str
        One line per difference: a missing or extra table, another shape or
        header, or a cell whose values differ (numbers: beyond 1e-9 relative).
    """
    import pandas as pd

    baseline, candidate = Path(baseline), Path(candidate)
    n_cells, differences = 0, []
    names = {
        str(p.relative_to(root))
        for root in (baseline, candidate)
        for p in root.glob("*/tables/*.csv")
    }
    for name in sorted(names):
        if not (baseline / name).is_file() or not (candidate / name).is_file():
            side = "baseline" if not (baseline / name).is_file() else "candidate"
            differences.append(f"{name}: missing in the {side}")
            continue
        a = pd.read_csv(baseline / name, dtype=str, keep_default_na=False)
        b = pd.read_csv(candidate / name, dtype=str, keep_default_na=False)
        if list(a.columns) != list(b.columns) or a.shape != b.shape:
            differences.append(
                f"{name}: columns/shape {list(a.columns)} {a.shape} != "
                f"{list(b.columns)} {b.shape}"
            )
            continue
        for column in a.columns:
            if _UNREPRODUCIBLE.search(column) or _timing_row_table(name, a):
                continue
            for row, (x, y) in enumerate(zip(a[column], b[column])):
                n_cells += 1
                if not _same(x, y):
                    differences.append(f"{name}[{row}, {column}]: {x!r} != {y!r}")
    return n_cells, differences


def _timing_row_table(name, frame):
    """Table 2 (computational cost) holds timings in its rows, not its columns."""
    return False


def _same(x, y):
    if x == y:
        return True
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        return False
    if math.isnan(fx) and math.isnan(fy):
        return True
    return math.isclose(fx, fy, rel_tol=1e-9, abs_tol=1e-12)


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run_reports(sys.argv[2])
    elif sys.argv[1] == "diff":
        cells, found = compare_tables(sys.argv[2], sys.argv[3])
        print(f"{cells} cells compared, {len(found)} difference(s)")
        for line in found:
            print(f"  {line}")
        sys.exit(1 if found else 0)
    else:
        raise SystemExit(__doc__)
