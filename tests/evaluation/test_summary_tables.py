"""Every table a report renders is an entry of SUMMARY_TABLES, training and
localisation included, even though they read inputs a result does not hold."""

import numpy as np
import pandas as pd
import pytest

from mammoclf import DicomLoader, Resizer, ScratchCNNClassifier
from mammoclf.evaluation import SummaryOptions, summarize, training_table
from mammoclf.evaluation._report import Report, section_links
from mammoclf.evaluation._report_localization import (
    LocalizationMaps,
    localization_section,
    scored_localization,
)
from mammoclf.evaluation._report_sections import add_summary_tables
from mammoclf.evaluation._summary_tables import SUMMARY_TABLES
from mammoclf.inspection import localization_scores
from mammoclf.model_selection import ComparisonResult
from tests.evaluation.fake_results import fake_comparison, fake_holdout, summary_of
from tests.evaluation.test_training_details import _fitted, _stage


def _cnn(epochs_run):
    return _fitted(
        ScratchCNNClassifier(filters=(4,), dense_units=8, epochs=3, random_state=0),
        [_stage(1e-3, 3, epochs_run)],
    )


def _with_fold_models():
    result = fake_comparison()
    fold_models = {m: (_cnn(3), _cnn(2)) for m in result.model_names}
    return ComparisonResult(**{**result.__dict__, "estimators": fold_models})


def _maps(n_patients=8, size=8):
    rng = np.random.default_rng(0)
    masks = np.zeros((2 * n_patients, size, size), dtype=bool)
    masks[:, 2:4, 2:4] = True
    heatmaps = {m: rng.random((2 * n_patients, size, size)) for m in ("good", "weak")}
    groups = np.repeat(np.arange(n_patients), 2)
    return LocalizationMaps(heatmaps, masks, groups, n_without_mask=3)


def test_the_training_table_is_the_first_entry_read_off_the_fitted_models():
    result = _with_fold_models()
    preprocessing = [DicomLoader(), Resizer(size=32)]
    summary = summary_of(
        result,
        breast_level=None,
        subgroups=(),
        training=True,
        preprocessing=preprocessing,
    )
    assert next(iter(SUMMARY_TABLES)) == "training"
    assert summary.tables[0].key == "training"
    direct = training_table(result.estimators, preprocessing=preprocessing)
    pd.testing.assert_frame_equal(summary.table("training").display, direct.display)
    assert summary.table("training").notes == direct.notes
    # Read off every fold model: they ran different numbers of epochs.
    assert summary.table("training").data.loc["epochs run per stage", "good"] == (
        "fit 1: 3 of 3 planned; fit 2: 2 of 3 planned"
    )
    without = summary_of(result, breast_level=None, subgroups=())
    assert "training" not in [t.key for t in without.tables]


def test_the_training_table_needs_the_models_the_result_kept():
    with pytest.raises(ValueError, match="return_estimators=True"):
        summarize(fake_comparison(), SummaryOptions(training=True))
    with pytest.raises(ValueError, match="return_estimators=True"):
        summarize(fake_holdout(), SummaryOptions(training=True))


def test_the_checklist_names_the_training_section_once():
    summary = summary_of(
        _with_fold_models(),
        breast_level=None,
        subgroups=(),
        training=True,
        checklist=True,
        report_sections=section_links(["training"]),
    )
    answered = summary.table("checklist").data.set_index("item")["answered in"]
    links = [text for text in answered if "#training" in text]
    assert links, "no item points to the training table"
    assert all(
        text.count("[Training and preprocessing](#training)") == 1 for text in links
    )
    alone = summary_of(
        _with_fold_models(),
        breast_level=None,
        subgroups=(),
        training=True,
        checklist=True,
    )
    answered = alone.table("checklist").data.set_index("item")["answered in"]
    assert any(text == "Training and preprocessing" for text in answered)


def test_the_localization_table_is_an_entry_scored_at_the_summary_level():
    maps = _maps()
    summary = summary_of(
        fake_comparison(),
        n_resamples=40,
        breast_level=None,
        subgroups=(),
        confidence_level=0.8,
        localization=maps,
    )
    table = summary.table("localization")
    assert table.key == "localization"
    assert "pointing game [80% CI]" in table.display.columns
    direct = localization_scores(
        maps.heatmaps["weak"],
        maps.masks,
        groups=maps.groups,
        n_resamples=40,
        confidence_level=0.8,
        random_state=0,
    )
    row = table.data.set_index("model").loc["weak"]
    assert row["pointing_game"] == direct.pointing_game.estimate
    assert (row["heat_in_lesion_ci_low"], row["heat_in_lesion_ci_high"]) == (
        direct.heat_in_lesion.ci
    )
    assert any(
        note.startswith("3 image(s) have no lesion mask") for note in table.notes
    )
    same = scored_localization(
        maps, n_resamples=40, confidence_level=0.8, random_state=0
    )
    pd.testing.assert_frame_equal(table.data, same.data)


def test_the_report_shows_the_localization_table_under_grad_cam_only(tmp_path):
    summary = summary_of(
        fake_comparison(), breast_level=None, subgroups=(), localization=_maps()
    )
    (tmp_path / "tables").mkdir()
    report = Report("r")
    add_summary_tables(report, summary, tmp_path)
    shown = [content for kind, content in report.blocks if kind == "table"]
    assert summary.table("localization").caption not in [c for _, c in shown]
    localization_section(summary)(report, tmp_path)
    assert report.blocks[-3] == ("paragraph", summary.table("localization").caption)
    assert (tmp_path / "tables" / "localization.csv").is_file()
    plain = summary_of(fake_comparison(), breast_level=None, subgroups=())
    before = len(report.blocks)
    localization_section(plain)(report, tmp_path)
    assert len(report.blocks) == before
