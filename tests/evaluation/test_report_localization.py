"""The report's localisation table: masks read like images, maps for the true class."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mammoclf.evaluation._report_localization import (
    add_localization,
    lesion_masks,
    localization_table,
)
from mammoclf.inspection import localization_scores


class _Report:
    def __init__(self):
        self.parts = []

    def paragraph(self, text):
        self.parts.append(text)

    def table(self, frame):
        self.parts.append(frame)


def _write_mask(path, size, box):
    mask = np.zeros((size, size), dtype=np.uint8)
    top, bottom, left, right = box
    mask[top:bottom, left:right] = 255
    Image.fromarray(mask).save(path)
    return str(path)


def test_masks_are_resized_like_the_images_and_unusable_ones_counted(tmp_path):
    paths = [
        _write_mask(tmp_path / "a.png", 64, (8, 24, 8, 24)),
        None,  # no mask for this image
        _write_mask(
            tmp_path / "c.png", 64, (40, 41, 40, 41)
        ),  # one pixel: lost at 16 px
        _write_mask(tmp_path / "d.png", 64, (32, 64, 0, 32)),
    ]
    masks, with_mask = lesion_masks(paths, 16)
    assert with_mask.tolist() == [True, False, False, True]
    assert masks.shape == (2, 16, 16) and masks.dtype == bool
    assert masks[0, 2:6, 2:6].all() and masks[0].sum() == 16
    assert masks[1, 8:, :8].all() and masks[1].sum() == 64


def test_a_missing_mask_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.png"):
        lesion_masks([str(tmp_path / "gone.png")], 16)


def test_table_rows_are_localization_scores_of_true_class_maps(tmp_path):
    rng = np.random.default_rng(0)
    n, size = 12, 16
    paths = [_write_mask(tmp_path / f"{i}.png", size, (4, 8, 4, 8)) for i in range(n)]
    y_true = np.array(["BENIGN", "MALIGNANT"] * (n // 2))
    groups = np.arange(n) // 2
    images = rng.random((n, size, size, 1)).astype(np.float32)
    asked = []

    def explain(rows, label):
        asked.append((rows.tolist(), label))
        maps = rng.random((rows.size, size, size)).astype(np.float32)
        if label == "MALIGNANT":  # the malignant evidence peaks on the lesion
            maps[:, 5, 5] = 2.0
        return maps

    (tmp_path / "tables").mkdir()
    table = add_localization(
        _Report(),
        {"model": explain},
        images,
        y_true,
        groups,
        pd.DataFrame({"mask": paths}),
        n_resamples=50,
        out_dir=tmp_path,
        log=lambda message: None,
    )
    # Each image explained once, for its own true class.
    assert sorted(label for _, label in asked) == ["BENIGN", "MALIGNANT"]
    for rows, label in asked:
        assert set(y_true[rows]) == {label}
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "tables" / "localization.csv"), table
    )
    row = table.iloc[0]
    assert row["n_images"] == n and row["n_patients"] == n // 2
    assert row["pointing_game_ci_low"] <= row["pointing_game"]
    assert row["pointing_game"] <= row["pointing_game_ci_high"]
    # Malignant maps hit (6 of 12); benign ones hit only by chance.
    assert 0.5 <= row["pointing_game"] < 0.75
    assert row["pointing_game_chance"] == pytest.approx(16 / 256)


def test_localization_table_equals_direct_calls():
    rng = np.random.default_rng(1)
    masks = np.zeros((10, 8, 8), dtype=bool)
    masks[:, 2:4, 2:4] = True
    maps = rng.random((10, 8, 8))
    groups = np.arange(10) // 2
    table = localization_table({"m": maps}, masks, groups, n_resamples=100, seed=3)
    direct = localization_scores(
        maps, masks, groups=groups, n_resamples=100, random_state=3
    )
    row = table.iloc[0]
    assert row["pointing_game"] == direct.pointing_game.estimate
    assert (row["heat_in_lesion_ci_low"], row["heat_in_lesion_ci_high"]) == (
        direct.heat_in_lesion.ci
    )
    assert row["heat_in_lesion_chance"] == direct.heat_in_lesion_chance
    assert isinstance(table, pd.DataFrame)


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        pd.DataFrame({"laterality": ["L", "R"]}),
        pd.DataFrame({"mask": [None, ""]}),
    ],
    ids=["no metadata", "no mask column", "no mask path"],
)
def test_nothing_is_added_without_masks(tmp_path, metadata):
    report = _Report()

    def explain(rows, label):
        raise AssertionError("no image has a mask: nothing to explain")

    table = add_localization(
        report,
        {"model": explain},
        np.zeros((2, 8, 8, 1), dtype=np.float32),
        np.array(["BENIGN", "MALIGNANT"]),
        None,
        metadata,
        n_resamples=10,
        out_dir=tmp_path,
        log=lambda message: None,
    )
    assert table is None and report.parts == []
    assert not (tmp_path / "tables").exists()


def test_an_image_with_several_masks_gets_their_union(tmp_path):
    # CBIS-DDSM: one ROI mask per abnormality, given as a tuple of paths.
    upper = _write_mask(tmp_path / "upper.png", 64, (0, 16, 0, 16))
    lower = _write_mask(tmp_path / "lower.png", 64, (48, 64, 48, 64))
    half = _write_mask(tmp_path / "half.png", 32, (8, 16, 8, 16))  # same aspect
    masks, with_mask = lesion_masks([(upper, lower), None, (half,), upper], 16)
    assert with_mask.tolist() == [True, False, True, True]
    expected = np.zeros((16, 16), dtype=bool)
    expected[:4, :4] = expected[12:, 12:] = True
    np.testing.assert_array_equal(masks[0], expected)
    np.testing.assert_array_equal(masks[0], masks[0] | masks[2])
    assert masks[1][4:8, 4:8].all() and masks[1].sum() == 16  # rescaled like it


def test_dropped_masks_are_counted_under_the_table(tmp_path):
    paths = [_write_mask(tmp_path / f"{i}.png", 16, (4, 8, 4, 8)) for i in range(4)]
    report = _Report()
    (tmp_path / "tables").mkdir()
    add_localization(
        report,
        {"model": lambda rows, label: np.ones((rows.size, 16, 16), np.float32)},
        np.zeros((4, 16, 16, 1), dtype=np.float32),
        np.array(["BENIGN", "MALIGNANT"] * 2),
        np.arange(4),
        pd.DataFrame({"mask": [(p,) for p in paths], "n_masks_dropped": [0, 2, 0, 1]}),
        n_resamples=10,
        out_dir=tmp_path,
        log=lambda message: None,
    )
    text = [part for part in report.parts if isinstance(part, str)]
    assert any(t.startswith("3 lesion mask(s) were dropped") for t in text)


def test_the_table_states_and_uses_the_summary_confidence_level(tmp_path):
    """Not a hard-coded 95%: the header and the intervals follow the level given."""
    n, size = 10, 8
    paths = [_write_mask(tmp_path / f"{i}.png", size, (2, 4, 2, 4)) for i in range(n)]
    maps = np.random.default_rng(2).random((n, size, size)).astype(np.float32)
    report = _Report()
    (tmp_path / "tables").mkdir()
    table = add_localization(
        report,
        {"model": lambda rows, label: maps[rows]},
        np.zeros((n, size, size, 1), dtype=np.float32),
        np.array(["BENIGN", "MALIGNANT"] * (n // 2)),
        np.arange(n) // 2,
        pd.DataFrame({"mask": paths}),
        n_resamples=100,
        confidence_level=0.8,
        out_dir=tmp_path,
        log=lambda message: None,
    )
    shown = next(part for part in report.parts if isinstance(part, pd.DataFrame))
    assert "pointing game [80% CI]" in shown.columns
    assert not any("95%" in column for column in shown.columns)
    masks, _ = lesion_masks(paths, size)
    direct = localization_scores(
        maps,
        masks,
        groups=np.arange(n) // 2,
        n_resamples=100,
        confidence_level=0.8,
        random_state=0,
    )
    row = table.iloc[0]
    assert (row["pointing_game_ci_low"], row["pointing_game_ci_high"]) == (
        direct.pointing_game.ci
    )
