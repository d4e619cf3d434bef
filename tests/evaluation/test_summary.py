"""One summary model: the report, ``summary().to_markdown()`` and the CSVs agree."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from mammoclf.evaluation import (
    ComparisonSummary,
    SummaryOptions,
    SummaryTable,
    summarize,
)
from mammoclf.evaluation._report import Report
from mammoclf.evaluation._report_sections import add_summary_tables
from mammoclf.evaluation._summary_tables import SUMMARY_TABLES
from mammoclf.metrics import METRIC_DISPLAY_NAMES
from mammoclf.model_selection import compare_models

_NUMBER = re.compile(r"-?\d+\.\d+|nan")
_PAIRWISE = ("corrected_t", "delong", "mcnemar", "paired_t", "wilcoxon")


@pytest.fixture(scope="module")
def comparison():
    """Three cheap models on 60 images of 30 patients, 3 grouped folds."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = np.where(X[:, 0] + 0.7 * rng.normal(size=60) > 0, "MALIGNANT", "BENIGN")
    models = {
        "logreg": LogisticRegression(),
        "nb": GaussianNB(),
        "prior": DummyClassifier(strategy="stratified", random_state=0),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return compare_models(
            models, X, y, groups=np.arange(60) // 2, cv=3, random_state=0
        )


@pytest.fixture(scope="module")
def summary(comparison):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return summarize(
            comparison,
            SummaryOptions(tests=_PAIRWISE, omnibus=("rm_anova", "friedman", "anova")),
        )


def _markdown_tables(markdown):
    """Every pipe table of a Markdown document, as lists of cell rows."""
    tables, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([c.strip() for c in line.strip("|").split(" | ")])
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _numbers(cell):
    return [float(v) for v in _NUMBER.findall(cell)]


def _close(shown, value, digits):
    if np.isnan(value):
        return np.isnan(shown)
    return abs(shown - value) <= 0.5 * 10.0**-digits + 1e-12


def test_report_markdown_and_csv_are_views_of_one_summary(summary, tmp_path):
    report = Report("test")
    (tmp_path / "tables").mkdir()
    add_summary_tables(report, summary, tmp_path)
    report_markdown = report.to_markdown()

    # The same tables, cell for cell, in the report and in to_markdown().
    assert _markdown_tables(report_markdown) == _markdown_tables(summary.to_markdown())
    keys = [table.key for table in summary.tables]
    assert keys == [
        "metrics",
        "pairwise_tests",
        "omnibus_tests",
        "thresholds",
        "compute",
    ]
    assert sorted(p.stem for p in (tmp_path / "tables").iterdir()) == sorted(keys)
    # Every note sits in both documents.
    for note in summary.notes:
        assert note in report_markdown and note in summary.to_markdown()

    tables = dict(zip(keys, _markdown_tables(report_markdown)))
    # Table 1: every cell's mean, sd and bounds are the CSV's numbers.
    metrics = pd.read_csv(tmp_path / "tables" / "metrics.csv")
    header, *rows = tables["metrics"]
    shown = {(row[0], model): row[i] for row in rows for i, model in enumerate(header)}
    assert len(metrics) == len(rows) * (len(header) - 1)
    for record in metrics.itertuples():  # the CSV keeps the metric keys
        cell = _numbers(shown[(METRIC_DISPLAY_NAMES[record.metric], record.model)])
        expected = [record.mean, record.sd, record.ci_low, record.ci_high]
        assert all(_close(a, b, 3) for a, b in zip(cell, expected, strict=True))

    # Pairwise tests: the same set of (test, pair) rows, same p-values.
    tests = pd.read_csv(tmp_path / "tables" / "pairwise_tests.csv")
    header, *rows = tables["pairwise_tests"]
    assert len(rows) == len(tests) == len(_PAIRWISE) * 3
    names = {"corrected_t": "corrected t", "delong": "DeLong", "mcnemar": "McNemar"}
    names |= {"paired_t": "paired t", "wilcoxon": "Wilcoxon"}
    for row, record in zip(rows, tests.itertuples(), strict=True):
        cells = dict(zip(header, row))
        assert (cells["model A"], cells["model B"]) == (record.model_a, record.model_b)
        # The comparison has patient groups: DeLong and McNemar are clustered.
        clustered = " (clustered)" if record.test.startswith("Clustered") else ""
        assert cells["test"] == names[record.test_key] + clustered
        assert bool(clustered) == (record.test_key in ("delong", "mcnemar"))
        for column, value in (
            ("p", record.pvalue),
            ("p (holm)", record.pvalue_adjusted),
        ):
            if cells[column] == "<0.0001":
                assert value < 1e-4
            else:
                assert _close(float(cells[column]), value, 4)
        assert _close(
            _numbers(cells["statistic"].split("=")[-1])[0], record.statistic, 3
        )

    # Tests across all models: the same tests, statistics and p-values.
    omnibus = pd.read_csv(tmp_path / "tables" / "omnibus_tests.csv")
    header, *rows = tables["omnibus_tests"]
    assert [row[0] for row in rows] == omnibus["test"].tolist()
    for row, record in zip(rows, omnibus.itertuples(), strict=True):
        assert _close(_numbers(row[1].split("=")[-1])[0], record.statistic, 3)
        assert row[2] == "<0.0001" or _close(float(row[2]), record.pvalue, 4)

    # Compute: the CSV's per-model numbers, rounded as the columns say.
    compute = pd.read_csv(tmp_path / "tables" / "compute.csv").set_index("model")
    header, *rows = tables["compute"]
    for row in rows:
        cells = dict(zip(header, row))
        record = compute.loc[cells["model"]]
        assert _close(float(cells["fit time / split (s)"]), record.fit_time_mean, 1)
        assert _close(float(cells["peak RSS (MB)"]), record.peak_memory_mb, 0)


def test_summary_tables_come_from_the_registry(summary):
    assert isinstance(summary, ComparisonSummary)
    keys = [t.key for t in summary.tables]
    # The tables that apply, in the registry's order (the evaluation tables
    # need options or metadata this summary does not have).
    assert keys == [key for key in SUMMARY_TABLES if key in keys]
    assert keys == [
        "metrics",
        "pairwise_tests",
        "omnibus_tests",
        "thresholds",
        "compute",
    ]
    for table in summary.tables:
        assert isinstance(table, SummaryTable)
        assert table.title and table.caption
        # One display row per data row, except Table 1: one per metric, and
        # the thresholds: one per model (the data have one per split).
        n_rows = table.data.shape[0]
        if table.key == "metrics":
            n_rows //= len(summary.model_names)
        if table.key == "thresholds":
            n_rows = len(summary.model_names)
        assert len(table.display) == n_rows
    assert summary.table("metrics").data is summary.scores
    assert [r.test for r in summary.omnibus] == summary.table("omnibus_tests").data[
        "test"
    ].tolist()
    with pytest.raises(KeyError, match="No table 'calibration'"):
        summary.table("calibration")


def test_notes_sit_next_to_the_table_they_concern(comparison, summary):
    # The default intervals (Korn-Graubard) stay in [0, 1]...
    scores = summary.scores
    assert ((scores["ci_low"] >= 0) & (scores["ci_high"] <= 1)).all()
    assert "Korn-Graubard interval" in summary.table("metrics").caption
    assert not summary.table("metrics").notes
    # ... the corrected t interval on the original scale, still an option,
    # does not, and says so next to Table 1.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        summary = summarize(
            comparison, SummaryOptions(tests=_PAIRWISE, ci_method="corrected_t")
        )
    scores = summary.scores
    assert ((scores["ci_low"] < 0) | (scores["ci_high"] > 1)).any()
    beyond = summary.table("metrics").notes
    assert len(beyond) == 1 and "beyond [0, 1]" in beyond[0]
    text = summary.to_text()
    # The note follows Table 1 and comes before the pairwise tests.
    assert text.index("Table 1") < text.index(beyond[0]) < text.index("pairwise tests")
    pairwise_notes = " ".join(summary.table("pairwise_tests").notes)
    assert "anti-conservative" in pairwise_notes  # paired_t was run
    assert "cannot reach p < 0.05 with 3 splits" in pairwise_notes  # Wilcoxon


def test_two_models_have_no_omnibus_table_and_labels_apply(comparison):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = compare_models(
            {"logreg": LogisticRegression(), "nb": GaussianNB()},
            np.asarray(comparison.y_true == "MALIGNANT", float)[:, None]
            + np.random.default_rng(1).normal(size=(60, 1)),
            comparison.y_true,
            groups=comparison.groups,
            cv=3,
            random_state=0,
        )
        summary = summarize(
            result, SummaryOptions(metric_labels={"roc_auc": "ROC AUC"})
        )
    assert [t.key for t in summary.tables] == [
        "metrics",
        "pairwise_tests",
        "thresholds",
        "compute",
    ]
    assert summary.omnibus == ()
    assert "ROC AUC" in summary.table("metrics").display["metric"].tolist()
    assert summary.scores.index.get_level_values("metric").str.contains("roc_auc").any()


@pytest.mark.parametrize("ci_method", ["corrected_t", "t"])
def test_table_one_intervals_match_scipy_t_intervals(comparison, ci_method):
    from scipy import stats as st

    frame = comparison.summary_frame(ci_method=ci_method, confidence_level=0.9)
    ratio = comparison.n_test.mean() / comparison.n_train.mean()
    for model in comparison.model_names:
        folds = comparison.fold_scores("accuracy")[model].to_numpy()
        n = folds.size
        variance = (1 / n + (ratio if ci_method == "corrected_t" else 0)) * folds.var(
            ddof=1
        )
        low, high = st.t.interval(0.9, n - 1, loc=folds.mean(), scale=np.sqrt(variance))
        row = frame.loc[("accuracy", model)]
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))


def test_bootstrap_intervals_resample_patients_of_the_pooled_predictions(comparison):
    from mammoclf.stats import bootstrap_ci

    frame = comparison.summary_frame(
        metrics=["roc_auc", "sensitivity"], ci_method="bootstrap", n_resamples=50
    )
    oof = comparison.out_of_fold("nb")
    for metric, column in (("roc_auc", "y_score"), ("sensitivity", "y_pred")):
        expected = bootstrap_ci(
            metric,
            oof["y_true"].to_numpy(),
            oof[column].to_numpy(),
            groups=oof["group"].to_numpy(),
            n_resamples=50,
            pos_label="MALIGNANT",
            random_state=0,
        ).ci
        got = frame.loc[(metric, "nb"), ["ci_low", "ci_high"]].tolist()
        assert got == pytest.approx(list(expected))
    assert ((frame["ci_low"] >= 0) & (frame["ci_high"] <= 1)).all()


def test_undefined_folds_are_counted_not_zero():
    # A model that never calls malignant: its PPV is undefined in every fold;
    # one that rarely does: undefined in some. Neither counts as 0.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=60) > 0.3, "MALIGNANT", "BENIGN")
    models = {
        "never": DummyClassifier(strategy="constant", constant="BENIGN"),
        "logreg": LogisticRegression(C=0.1),  # calls malignant in 2 of 5 folds
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compare_models(
            models, X, y, groups=np.arange(60) // 3, cv=5, random_state=0
        )
        summary = summarize(
            result, SummaryOptions(metrics=["ppv", "sensitivity", "roc_auc"])
        )
    folds = result.fold_scores("ppv")
    assert folds["never"].isna().all()
    scores = summary.scores
    for model in result.model_names:
        defined = folds[model].dropna()
        row = scores.loc[("ppv", model)]
        assert row["n_defined"] == len(defined) and row["n_splits"] == 5
        if len(defined):
            assert row["mean"] == pytest.approx(defined.mean())
    cells = summary.table("metrics").display.set_index("metric")
    ppv, sensitivity = "precision (PPV)", "sensitivity (recall)"  # display names
    assert cells.loc[ppv, "never"].endswith("(0 of 5 folds)")
    assert cells.loc[ppv, "logreg"].endswith("(2 of 5 folds)")
    assert "never counted as 0" in " ".join(summary.table("metrics").notes)
    assert "(0 of 5" not in cells.loc[sensitivity, "never"]


def test_default_table_one_interval_is_korn_graubard(comparison):
    from mammoclf.stats import fold_mean_ci

    frame = comparison.summary_frame(confidence_level=0.9)
    for model in comparison.model_names:
        folds = comparison.fold_scores("sensitivity")[model]
        expected = fold_mean_ci(
            folds,
            n_train=comparison.n_train,
            n_test=comparison.n_test,
            method="korn_graubard",
            confidence_level=0.9,
        )
        row = frame.loc[("sensitivity", model)]
        assert (row["ci_low"], row["ci_high"]) == (expected.ci_low, expected.ci_high)
    assert ((frame["ci_low"] >= 0) & (frame["ci_high"] <= 1)).all()


def test_logit_t_table_one_interval_is_the_corrected_t_on_the_logit_scale(comparison):
    from scipy import special
    from scipy import stats as st

    frame = comparison.summary_frame(ci_method="logit_t", confidence_level=0.9)
    ratio = comparison.n_test.mean() / comparison.n_train.mean()
    for model in comparison.model_names:
        folds = comparison.fold_scores("sensitivity")[model].dropna().to_numpy()
        n, m = folds.size, folds.mean()
        se = np.sqrt((1 / n + ratio) * folds.var(ddof=1))
        half = st.t.ppf(0.95, n - 1) * se / (m * (1 - m))
        expected = special.expit(special.logit(m) + np.array([-half, half]))
        row = frame.loc[("sensitivity", model)]
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(expected))
    assert ((frame["ci_low"] >= 0) & (frame["ci_high"] <= 1)).all()


def test_wilcoxon_effect_size_is_not_shown_as_a_difference(summary):
    """The rank-biserial correlation has a column of its own, not 'A - B [CI]'."""
    table = summary.table("pairwise_tests")
    display = table.display
    wilcoxon = display["test"] == "Wilcoxon"
    assert wilcoxon.sum() == 3
    assert (display.loc[wilcoxon, "A - B [CI]"] == "").all()
    data = table.data[table.data["test_key"] == "wilcoxon"]
    for cell, value in zip(
        display.loc[wilcoxon, "other effect size"], data.effect_size
    ):
        assert cell.startswith("rank-biserial correlation = ")
        assert _close(_numbers(cell)[0], value, 3)
    # The differences keep their column, and nothing else shows there.
    others = display.loc[~wilcoxon]
    assert (others["other effect size"] == "").all()
    assert (others["A - B [CI]"] != "").all()


def test_one_display_name_per_metric_whatever_the_path(comparison, summary):
    """The API's tables name metrics as the reports do (not ``ppv`` in one and
    ``precision (PPV)`` in the other); a user's label still wins."""
    shown = summary.table("metrics").display["metric"].tolist()
    assert shown == [METRIC_DISPLAY_NAMES[m] for m in comparison.metric_names]
    assert "precision (PPV)" in shown and "ppv" not in shown
    assert "| precision (PPV) |" in summary.to_markdown()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        relabelled = summarize(
            comparison, SummaryOptions(tests=(), metric_labels={"ppv": "PPV"})
        )
    assert "PPV" in relabelled.table("metrics").display["metric"].tolist()


def test_the_brief_text_is_table_one_and_the_primary_test(summary):
    """The console's short summary: Table 1 and the first pairwise test only."""
    brief = summary.to_brief_text()
    assert brief.startswith("Table 1: classification performance")
    assert "Primary test (pairwise, ROC AUC)" in brief
    tests = summary.table("pairwise_tests").display["test"]
    assert brief.count("corrected t") == 3  # 3 pairs of the 3 models
    assert "DeLong" not in brief and "Wilcoxon" not in brief
    assert "Table 2" not in brief and "Table 2" in summary.to_text()
    assert len(brief.splitlines()) < len(summary.to_text().splitlines()) / 2
    assert set(tests) > {"corrected t"}
