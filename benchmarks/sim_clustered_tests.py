"""Null simulation: do DeLong's and McNemar's tests keep their level with patients?

Each simulated data set is a comparison of two models that are equally good
(the null hypothesis is true) on 60-200 patients with 2-4 mammograms each:

* a patient has one breast imaged in two views (2 images), or both breasts,
  one in two views and one in one view (3), or both in two views (4);
* each breast is malignant with probability 0.4; its views share the label;
* each model's score of an image is ``signal * label + u + e`` with a
  patient effect ``u ~ N(0, rho)`` of that model and image noise
  ``e ~ N(0, 1 - rho)``: given the labels, two images of one patient have
  score correlation ``rho`` (0.5 by default). The two models have the same
  score distribution, so equal AUCs and accuracies;
* predicted labels are ``score > signal / 2``.

For every data set it runs the image-level tests (which assume independent
images) and the clustered ones (``groups`` = patient ids: Obuchowski 1997
for DeLong, Obuchowski 1998 for McNemar), and counts rejections at
``alpha``. A test that keeps its level rejects in about ``alpha`` of the
data sets. Durkalski et al. (2003)'s clustered McNemar statistic, the other
candidate, is computed alongside for comparison (it is not in mammoclf).

Run: ``python benchmarks/sim_clustered_tests.py`` (about a minute; ``--help``
for the sizes). Appends a row to RESULTS.md unless ``--no-record``.
"""

import argparse
import time
import warnings

import numpy as np
from scipy import stats

from mammoclf.stats import delong_test, mcnemar_test

IMAGES_PER_BREAST = {2: (2,), 3: (2, 1), 4: (2, 2)}


def simulate_null_data(rng, *, n_patients, rho=0.5, signal=1.5, prevalence=0.4):
    """One null data set: labels, two models' scores and predictions, patient ids."""
    labels, patients = [], []
    for patient in range(n_patients):
        n_images = int(rng.integers(2, 5))
        for views in IMAGES_PER_BREAST[n_images]:
            malignant = int(rng.random() < prevalence)
            labels += [malignant] * views
            patients += [patient] * views
    y = np.asarray(labels)
    groups = np.asarray(patients)
    scores = []
    for _ in range(2):
        patient_effect = rng.normal(scale=np.sqrt(rho), size=n_patients)[groups]
        noise = rng.normal(scale=np.sqrt(1 - rho), size=y.size)
        scores.append(signal * y + patient_effect + noise)
    predictions = [(s > signal / 2).astype(int) for s in scores]
    return y, scores, predictions, groups


def durkalski_pvalue(y, pred_a, pred_b, groups):
    """Durkalski et al. (2003): per-patient proportions (b_k - c_k) / n_k."""
    diff = (pred_a == y).astype(float) - (pred_b == y).astype(float)
    n_k = np.bincount(groups)
    d_k = np.bincount(groups, weights=diff) / n_k
    denominator = np.sum(d_k**2)
    if denominator == 0:
        return np.nan
    return stats.chi2(1).sf(np.sum(d_k) ** 2 / denominator)


def run(n_datasets, *, seed=0, rho=0.5, min_patients=60, max_patients=200, alpha=0.05):
    """Rejection rates of every test over ``n_datasets`` null data sets."""
    rng = np.random.default_rng(seed)
    pvalues = {
        key: []
        for key in (
            "delong_image",
            "delong_clustered",
            "mcnemar_image",
            "mcnemar_clustered",
            "mcnemar_durkalski",
        )
    }
    sizes = []
    for _ in range(n_datasets):
        n_patients = int(rng.integers(min_patients, max_patients + 1))
        y, (a, b), (pa, pb), groups = simulate_null_data(
            rng, n_patients=n_patients, rho=rho
        )
        sizes.append(y.size)
        with warnings.catch_warnings():
            # A data set where the models never disagree gives an undefined
            # (NaN) p-value; it is counted as "not rejected".
            warnings.simplefilter("ignore", RuntimeWarning)
            pvalues["delong_image"].append(delong_test(y, a, b).pvalue)
            pvalues["delong_clustered"].append(
                delong_test(y, a, b, groups=groups).pvalue
            )
            pvalues["mcnemar_image"].append(
                mcnemar_test(y, pa, pb, exact=False, correction=False).pvalue
            )
            pvalues["mcnemar_clustered"].append(
                mcnemar_test(y, pa, pb, groups=groups).pvalue
            )
            pvalues["mcnemar_durkalski"].append(durkalski_pvalue(y, pa, pb, groups))
    pvalues = {key: np.nan_to_num(np.asarray(p), nan=1.0) for key, p in pvalues.items()}
    rates = {key: float(np.mean(p < alpha)) for key, p in pvalues.items()}
    # Each p-value as the chi-square (1 df) statistic it came from (z^2 for
    # DeLong): its mean is 1 for a test with the right variance, and it
    # varies far less between runs than a rejection rate.
    mean_chi2 = {
        key: float(np.mean(stats.chi2.isf(p, 1))) for key, p in pvalues.items()
    }
    return {
        "rates": rates,
        "mean_chi2": mean_chi2,
        "n_datasets": n_datasets,
        "alpha": alpha,
        "rho": rho,
        "patients": (min_patients, max_patients),
        "mean_images": float(np.mean(sizes)),
        "monte_carlo_se": float(np.sqrt(alpha * (1 - alpha) / n_datasets)),
    }


def describe(result):
    """The rejection rates as printed and recorded."""
    r, c = result["rates"], result["mean_chi2"]
    low, high = result["patients"]
    return (
        f"{result['n_datasets']} null data sets of {low}-{high} patients x 2-4 images "
        f"(mean {result['mean_images']:.0f} images), within-patient score "
        f"correlation {result['rho']}, alpha {result['alpha']} (Monte Carlo SE "
        f"{result['monte_carlo_se']:.4f}): rejection rate DeLong image-level "
        f"{r['delong_image']:.4f} vs clustered (Obuchowski 1997) "
        f"{r['delong_clustered']:.4f}; McNemar image-level (chi-square, no "
        f"correction) {r['mcnemar_image']:.4f} vs clustered (Obuchowski 1998) "
        f"{r['mcnemar_clustered']:.4f}; Durkalski 2003 for comparison "
        f"{r['mcnemar_durkalski']:.4f}. Mean chi-square (z^2), nominal 1: DeLong "
        f"{c['delong_image']:.2f} vs {c['delong_clustered']:.2f}, McNemar "
        f"{c['mcnemar_image']:.2f} vs {c['mcnemar_clustered']:.2f}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args.datasets, seed=args.seed, rho=args.rho)
    text = describe(result)
    print(text)
    print(f"({time.perf_counter() - started:.0f} s)")
    if not args.no_record:
        from _results import append_row

        append_row("clustered tests (null)", text, backend="none (no Keras)")


if __name__ == "__main__":
    main()
