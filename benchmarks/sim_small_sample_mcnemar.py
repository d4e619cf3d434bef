"""Size of the clustered McNemar tests with few patients: Obuchowski vs Durkalski.

Null data sets of ``sim_clustered_tests.simulate_null_data`` (two equally
good models; 2, 3 or 4 images per patient, so unequal cluster sizes;
within-patient score correlation 0.5) at 10, 20, 50 and 100 patients. For
each, :func:`mammoclf.stats.mcnemar_test` with ``groups`` and
``method="obuchowski"`` or ``"durkalski"``; the empirical size is the
fraction of data sets rejected at ``alpha``. A data set where the models
agree within every patient has an undefined (NaN) statistic: it counts as
not rejected, and the table says how often that happened.

Run from the repository root: ``python benchmarks/sim_small_sample_mcnemar.py``
(about two minutes on one core; ``--datasets`` to change). Appends a row to
RESULTS.md unless ``--no-record``.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from mammoclf.stats import mcnemar_test

sys.path.insert(0, str(Path(__file__).parent))
from sim_clustered_tests import simulate_null_data

PATIENTS = (10, 20, 50, 100)
METHODS = ("obuchowski", "durkalski")


def run(n_datasets, *, seed=0, alpha=0.05):
    """``{n_patients: {method: size}}`` and the share of undefined data sets."""
    rng = np.random.default_rng(seed)
    sizes, undefined = {}, {}
    for n_patients in PATIENTS:
        pvalues = {method: [] for method in METHODS}
        for _ in range(n_datasets):
            y, _, (pa, pb), groups = simulate_null_data(rng, n_patients=n_patients)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                for method in METHODS:
                    result = mcnemar_test(y, pa, pb, groups=groups, method=method)
                    pvalues[method].append(result.pvalue)
        arrays = {m: np.asarray(p) for m, p in pvalues.items()}
        undefined[n_patients] = float(np.mean(np.isnan(arrays["obuchowski"])))
        sizes[n_patients] = {
            m: float(np.mean(np.nan_to_num(p, nan=1.0) < alpha))
            for m, p in arrays.items()
        }
    return sizes, undefined


def table(sizes, undefined, n_datasets, alpha):
    se = np.sqrt(alpha * (1 - alpha) / n_datasets)
    lines = [
        (
            f"Empirical size at alpha {alpha} ({n_datasets} null data sets per row, "
            f"Monte Carlo SE {se:.4f}; 2-4 images per patient, within-patient "
            "correlation 0.5)"
        ),
        "",
        "| patients | Obuchowski 1998 | Durkalski 2003 | undefined (no discordance) |",
        "|---:|---:|---:|---:|",
    ]
    for n in PATIENTS:
        lines.append(
            f"| {n} | {sizes[n]['obuchowski']:.4f} | {sizes[n]['durkalski']:.4f} "
            f"| {undefined[n]:.4f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    sizes, undefined = run(args.datasets, seed=args.seed)
    text = table(sizes, undefined, args.datasets, 0.05)
    print(text)
    print(f"({time.perf_counter() - started:.0f} s)")
    if not args.no_record:
        from _results import append_row

        row = "; ".join(
            f"{n} patients: Obuchowski {sizes[n]['obuchowski']:.4f}, Durkalski "
            f"{sizes[n]['durkalski']:.4f}"
            for n in PATIENTS
        )
        append_row(
            "clustered McNemar, small samples (null)",
            f"size at alpha 0.05 over {args.datasets} null data sets each "
            f"(2-4 images per patient): {row}",
            backend="none (no Keras)",
        )


if __name__ == "__main__":
    main()
