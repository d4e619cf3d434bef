"""Coverage of Table 1's fold-mean intervals near the bounds of [0, 1].

Each simulated run is one 5-fold cross-validation, split by patient, of a
classifier whose expected accuracy is ``p``:

* 50 patients with 1, 2 or 3 images each (about 100 images, so about 80
  training and 20 test images per fold);
* image ``i`` of patient ``k`` is classified correctly when ``u_k + e_i +
  m_j < q``, with a patient difficulty ``u_k ~ N(0, 0.5)`` shared by the
  patient's images, image noise ``e_i ~ N(0, 0.5)`` and a fold model effect
  ``m_j = 0.3 (sqrt(0.5) s + sqrt(0.5) f_j)``: ``s ~ N(0, 1)`` is shared by
  the five models of one run (their training sets overlap), ``f_j ~ N(0,
  1)`` is each model's own. ``q`` makes the expected accuracy ``p``;
* the fold scores are the accuracies of the five test folds.

The intervals, from :func:`mammoclf.stats.fold_mean_ci` with the run's
training and test sizes: the naive t interval, the Nadeau-Bengio corrected
t interval, the corrected t on the logit scale with Wilson's interval where
the folds agree (``method="logit_t"``), and Korn and Graubard's (1998)
interval at the effective sample size ``n* = m (1 - m) / var``, capped at
the number of test images whose binomial variance equals the corrected
variance, with the ``t_{J-1}`` critical value: Wilson's score interval
(``method="korn_graubard"``, Table 1's default). Computed here by
:func:`korn_graubard`, whose Wilson interval ``tests/test_benchmarks.py``
checks equal to the package's: the Clopper-Pearson interval at the same
``n*`` (Korn and Graubard's own choice, with ``n*`` scaled by ``(z /
t_{J-1})^2``) and the Wilson interval without the cap (to see its effect).
Coverage counts an undefined (NaN) interval as not covering.

Run from the repository root: ``python benchmarks/sim_fold_mean_ci.py``
(about a minute). Appends a row to RESULTS.md unless ``--no-record``.
"""

import argparse
import time

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from mammoclf.stats import fold_mean_ci

PROPORTIONS = (0.5, 0.9, 0.95, 0.98)
N_PATIENTS, N_FOLDS = 50, 5
MODEL_SD, SHARED = 0.3, 0.5


def simulate_folds(rng, p):
    """Fold accuracies of one cross-validation run, and train/test sizes."""
    images = rng.integers(1, 4, size=N_PATIENTS)
    patient = np.repeat(np.arange(N_PATIENTS), images)
    fold_of_patient = rng.permutation(np.arange(N_PATIENTS) % N_FOLDS)
    fold = fold_of_patient[patient]
    difficulty = rng.normal(scale=np.sqrt(0.5), size=N_PATIENTS)[patient]
    difficulty += rng.normal(scale=np.sqrt(0.5), size=patient.size)
    shared = rng.normal()
    model = MODEL_SD * (
        np.sqrt(SHARED) * shared + np.sqrt(1 - SHARED) * rng.normal(size=N_FOLDS)
    )
    threshold = stats.norm.ppf(p) * np.sqrt(1 + MODEL_SD**2)
    correct = difficulty + model[fold] < threshold
    scores = np.array([correct[fold == j].mean() for j in range(N_FOLDS)])
    n_test = np.bincount(fold, minlength=N_FOLDS)
    return scores, patient.size - n_test, n_test


def korn_graubard(scores, n_train, n_test, kind, *, cap=True, level=0.95):
    """Korn and Graubard's (1998) interval of a mean of fold proportions.

    The effective sample size ``n* = m (1 - m) / var``, from the
    Nadeau-Bengio corrected variance of the mean, capped at ``n_test / (1 /
    J + n_test / n_train)`` (its value for binomial folds; also ``n*`` when
    the folds agree), scaled by ``(z / t_{J-1})^2``, then the Wilson or
    Clopper-Pearson interval of a proportion ``m`` of ``n*`` cases.
    ``cap=False`` drops the cap where the folds differ (to see its effect).
    """
    mean, n = float(np.mean(scores)), len(scores)
    factor = 1 / n + np.mean(n_test) / np.mean(n_train)
    n_cap = np.mean(n_test) / factor
    variance = factor * np.var(scores, ddof=1)
    if variance < 1e-15:
        n_star = n_cap
    else:
        n_star = mean * (1 - mean) / variance
        n_star = min(n_star, n_cap) if cap else n_star
    alpha = 1 - level
    n_star *= (stats.norm.ppf(1 - alpha / 2) / stats.t.ppf(1 - alpha / 2, n - 1)) ** 2
    x = mean * n_star
    if kind == "wilson":
        return proportion_confint(x, n_star, alpha=alpha, method="wilson")
    low = 0.0 if x == 0 else stats.beta.ppf(alpha / 2, x, n_star - x + 1)
    high = 1.0 if x == n_star else stats.beta.ppf(1 - alpha / 2, x + 1, n_star - x)
    return float(low), float(high)


def intervals(scores, n_train, n_test):
    """``{name: (low, high)}`` of every interval compared."""
    sizes = {"n_train": n_train, "n_test": n_test}
    naive = fold_mean_ci(scores, scale="identity")
    corrected = fold_mean_ci(scores, **sizes, scale="identity")
    logit_t = fold_mean_ci(scores, **sizes, method="logit_t")
    default = fold_mean_ci(scores, **sizes, method="korn_graubard")
    return {
        "t": (naive.ci_low, naive.ci_high),
        "corrected t": (corrected.ci_low, corrected.ci_high),
        "logit_t": (logit_t.ci_low, logit_t.ci_high),
        "Korn-Graubard Wilson (default)": (default.ci_low, default.ci_high),
        "Korn-Graubard CP": korn_graubard(scores, n_train, n_test, "cp"),
        "Korn-Graubard Wilson, no cap": korn_graubard(
            scores, n_train, n_test, "wilson", cap=False
        ),
    }, "Wilson" in logit_t.method


def run(n_runs, *, seed=0):
    rng = np.random.default_rng(seed)
    rows = {}
    for p in PROPORTIONS:
        covered, width, undefined, n_fallback = {}, {}, {}, 0
        for _ in range(n_runs):
            found, fallback = intervals(*simulate_folds(rng, p))
            n_fallback += fallback
            for name, (low, high) in found.items():
                ok = bool(low <= p <= high)  # NaN compares False: not covered
                covered[name] = covered.get(name, 0) + ok
                if np.isfinite(low):
                    width.setdefault(name, []).append(high - low)
                undefined[name] = undefined.get(name, 0) + (not np.isfinite(low))
        rows[p] = {
            name: (
                covered[name] / n_runs,
                float(np.median(width[name])),
                float(np.mean(width[name])),
                undefined[name] / n_runs,
            )
            for name in covered
        }
        rows[p]["_fallback"] = n_fallback / n_runs
    return rows


def table(rows, n_runs):
    names = [n for n in next(iter(rows.values())) if not n.startswith("_")]
    lines = [
        (
            f"Coverage of the 95% interval of the mean of 5 fold accuracies "
            f"({n_runs} runs per p; median / mean width of the defined ones; "
            "NaN = share of runs without an interval; folds agree = share of "
            "runs whose 5 fold scores are equal)"
        ),
        "",
        "| p | folds agree | " + " | ".join(names) + " |",
        "|---:|---:|" + "---:|" * len(names),
    ]
    for p, row in rows.items():
        cells = [
            f"{row[n][0]:.3f} ({row[n][1]:.3f} / {row[n][2]:.3f}"
            + (f", NaN {row[n][3]:.2f})" if row[n][3] else ")")
            for n in names
        ]
        lines.append(f"| {p} | {row['_fallback']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = run(args.runs, seed=args.seed)
    text = table(rows, args.runs)
    print(text)
    print(f"({time.perf_counter() - started:.0f} s)")
    if not args.no_record:
        from _results import append_row

        summary = "; ".join(
            f"p={p}: "
            + ", ".join(
                f"{n} {v[0]:.3f} (mean w {v[2]:.3f})"
                for n, v in row.items()
                if n[0] != "_"
            )
            for p, row in rows.items()
        )
        append_row(
            "fold-mean CI coverage",
            f"coverage over {args.runs} simulated 5-fold runs per p: {summary}",
            backend="none (no Keras)",
        )


if __name__ == "__main__":
    main()
