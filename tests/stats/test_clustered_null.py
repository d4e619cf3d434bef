"""A small run of the null simulation in benchmarks/sim_clustered_tests.py.

The full run (4,000 data sets, numbers in docs/user_guide/evaluation.md)
shows the clustered tests rejecting a true null at about 0.05 and the
image-level ones at about 0.09. Here 100 data sets of 60-100 patients keep
it to a few seconds; a rejection rate from 100 data sets has a Monte Carlo
error of about 0.02, so the check rests mainly on the mean chi-square
statistic, which is 1 for a test whose variance is right.
"""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "sim_clustered_tests.py"


@pytest.fixture(scope="module")
def simulation():
    spec = importlib.util.spec_from_file_location("sim_clustered_tests", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simulated_null_data_have_the_stated_design(simulation):
    import numpy as np

    rng = np.random.default_rng(1)
    y, scores, predictions, groups = simulation.simulate_null_data(rng, n_patients=300)
    sizes = np.bincount(groups)
    assert sizes.min() == 2 and sizes.max() == 4 and sizes.size == 300
    # Given the label, two images of one patient correlate at about rho = 0.5.
    residual = scores[0] - 1.5 * y
    first = np.array([residual[groups == p][0] for p in range(300)])
    second = np.array([residual[groups == p][1] for p in range(300)])
    assert 0.35 < np.corrcoef(first, second)[0, 1] < 0.65
    assert set(np.unique(predictions[1])) == {0, 1}


def test_clustered_tests_keep_their_level_where_image_level_ones_do_not(
    simulation,
):
    result = simulation.run(100, seed=0, min_patients=60, max_patients=100)
    print(simulation.describe(result))  # shown with pytest -s
    rates, chi2 = result["rates"], result["mean_chi2"]
    for test in ("delong", "mcnemar"):
        clustered, image = chi2[f"{test}_clustered"], chi2[f"{test}_image"]
        assert 0.7 < clustered < 1.3, (test, chi2)
        assert image > 1.2 * clustered, (test, chi2)
        assert rates[f"{test}_clustered"] <= 0.1, (test, rates)
        assert rates[f"{test}_image"] > rates[f"{test}_clustered"], (test, rates)
