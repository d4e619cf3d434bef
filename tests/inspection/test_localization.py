"""Pointing game and in-lesion heat share, against a slow direct implementation."""

import math

import numpy as np
import pytest

from mammoclf.inspection import (
    LocalizationResult,
    lesion_heat_shares,
    localization_scores,
    pointing_game_hits,
)
from mammoclf.stats import bootstrap_ci


def slow_pointing_game(heatmap, mask, tolerance=0.0):
    """Pixel by pixel: the share of maximal pixels within ``tolerance`` of the lesion."""
    height, width = heatmap.shape
    peak = max(heatmap[r][c] for r in range(height) for c in range(width))
    if peak <= 0:
        return math.nan
    lesion = [(r, c) for r in range(height) for c in range(width) if mask[r][c]]
    maxima = [
        (r, c) for r in range(height) for c in range(width) if heatmap[r][c] == peak
    ]
    near = [
        any(math.hypot(r - lr, c - lc) <= tolerance for lr, lc in lesion)
        for r, c in maxima
    ]
    return sum(near) / len(maxima)


def slow_heat_share(heatmap, mask):
    inside = total = 0.0
    for row, mask_row in zip(heatmap, mask):
        for value, in_lesion in zip(row, mask_row):
            heat = value if value > 0 else 0.0
            total += heat
            inside += heat if in_lesion else 0.0
    return inside / total if total > 0 else math.nan


def random_cases(seed, n=12, size=9):
    """Maps with plateaus, ties, negatives and empty maps; one blob lesion each."""
    rng = np.random.default_rng(seed)
    heatmaps = np.round(rng.normal(size=(n, size, size)), 1)  # rounding makes ties
    heatmaps[0] = 0.0  # empty
    heatmaps[1] = -np.abs(heatmaps[1])  # no positive heat: empty too
    heatmaps[2] = 0.5  # one flat plateau: every pixel ties
    masks = np.zeros((n, size, size), dtype=bool)
    for index in range(n):
        row, col = rng.integers(0, size - 2, size=2)
        masks[index, row : row + rng.integers(1, 4), col : col + rng.integers(1, 4)] = (
            True
        )
    return heatmaps, masks


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tolerance", [0, 1, 2.5])
def test_pointing_game_matches_the_slow_reference(seed, tolerance):
    heatmaps, masks = random_cases(seed)
    expected = [slow_pointing_game(h, m, tolerance) for h, m in zip(heatmaps, masks)]
    got = pointing_game_hits(heatmaps, masks, tolerance=tolerance)
    np.testing.assert_allclose(got, expected, equal_nan=True)
    assert np.isnan(got[:2]).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heat_share_matches_the_slow_reference(seed):
    heatmaps, masks = random_cases(seed)
    expected = [slow_heat_share(h, m) for h, m in zip(heatmaps, masks)]
    got = lesion_heat_shares(heatmaps, masks)
    np.testing.assert_allclose(got, expected, equal_nan=True)
    # A flat map spreads its heat evenly: the share is the lesion's area share.
    assert got[2] == pytest.approx(masks[2].mean())


def test_hand_made_cases():
    masks = np.zeros((4, 3, 3), dtype=bool)
    masks[:, 0, 0] = True
    heatmaps = np.zeros((4, 3, 3))
    heatmaps[0, 0, 0] = 1.0  # hit
    heatmaps[1, 2, 2] = 1.0  # miss
    heatmaps[2, 0, 0] = heatmaps[2, 2, 2] = 1.0  # a tie, half on the lesion
    # heatmaps[3] is all zero: no maximum, and not the argmax pixel (0, 0).
    assert np.array_equal(
        pointing_game_hits(heatmaps, masks), [1.0, 0.0, 0.5, np.nan], equal_nan=True
    )
    assert np.array_equal(
        lesion_heat_shares(heatmaps, masks), [1.0, 0.0, 0.5, np.nan], equal_nan=True
    )
    # (2, 2) is sqrt(8) = 2.83 px from the lesion.
    assert pointing_game_hits(heatmaps[1:2], masks[1:2], tolerance=2.8)[0] == 0.0
    assert pointing_game_hits(heatmaps[1:2], masks[1:2], tolerance=2.9)[0] == 1.0


def test_channel_axis_and_integer_masks_are_accepted():
    heatmaps = np.zeros((1, 2, 2, 1))
    heatmaps[0, 1, 1, 0] = 3.0
    masks = np.array([[[0, 0], [0, 1]]], dtype=np.uint8)
    assert pointing_game_hits(heatmaps, masks).tolist() == [1.0]
    assert lesion_heat_shares(heatmaps, masks[..., np.newaxis]).tolist() == [1.0]


@pytest.mark.parametrize(
    "heatmaps,masks,message",
    [
        (np.ones((2, 4, 4)), np.ones((2, 4, 5), bool), "differ in shape"),
        (np.ones((4, 4)), np.ones((4, 4), bool), "shape"),
        (np.ones((1, 2, 2)), np.full((1, 2, 2), 0.5), "threshold"),
        (np.ones((1, 2, 2)), np.zeros((1, 2, 2), bool), "no lesion pixel"),
        (np.full((1, 2, 2), np.nan), np.ones((1, 2, 2), bool), "NaN"),
    ],
)
def test_bad_input_is_refused(heatmaps, masks, message):
    with pytest.raises(ValueError, match=message):
        pointing_game_hits(heatmaps, masks)
    with pytest.raises(ValueError, match=message):
        localization_scores(heatmaps, masks)


def test_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="tolerance"):
        pointing_game_hits(np.ones((1, 2, 2)), np.ones((1, 2, 2), bool), tolerance=-1)


@pytest.fixture
def scored_cases():
    heatmaps, masks = random_cases(3, n=30)
    groups = np.repeat(np.arange(15), 2)  # two views per patient
    return heatmaps, masks, groups


def test_scores_and_intervals_match_bootstrap_ci_on_the_slow_values(scored_cases):
    heatmaps, masks, groups = scored_cases
    result = localization_scores(
        heatmaps, masks, groups=groups, n_resamples=300, random_state=7
    )
    assert isinstance(result, LocalizationResult)
    hits = np.array([slow_pointing_game(h, m) for h, m in zip(heatmaps, masks)])
    shares = np.array([slow_heat_share(h, m) for h, m in zip(heatmaps, masks)])
    assert result.n_empty == 2 and result.n_images == 30 and result.empty_maps == "miss"
    # Empty maps count as misses: 0 on both numbers.
    for bootstrap, values in (
        (result.pointing_game, hits),
        (result.heat_in_lesion, shares),
    ):
        values = np.nan_to_num(values, nan=0.0)
        assert bootstrap.estimate == pytest.approx(values.mean())
        reference = bootstrap_ci(
            lambda a, _: np.mean(a),
            values,
            values,
            groups=groups,
            n_resamples=300,
            random_state=7,
        )
        assert bootstrap.ci == pytest.approx(reference.ci)
        assert bootstrap.n_clusters == 15 and bootstrap.clustered
    assert result.heat_in_lesion_chance == pytest.approx(masks.mean())
    assert "pointing game" in repr(result) and "15 patients" in repr(result)


def test_empty_maps_can_be_excluded_or_refused(scored_cases):
    heatmaps, masks, groups = scored_cases
    excluded = localization_scores(
        heatmaps, masks, groups=groups, empty_maps="exclude", n_resamples=50
    )
    hits = np.array([slow_pointing_game(h, m) for h, m in zip(heatmaps, masks)])
    assert excluded.n_images == 28 and excluded.n_empty == 2
    assert excluded.pointing_game.estimate == pytest.approx(np.nanmean(hits))
    assert excluded.heat_in_lesion_chance == pytest.approx(masks[2:].mean())
    assert excluded.hits.shape == (30,)  # per-image scores keep every input
    with pytest.raises(ValueError, match="no positive heat"):
        localization_scores(heatmaps, masks, empty_maps="raise")
    with pytest.raises(ValueError, match="nothing to score"):
        localization_scores(
            np.zeros((2, 3, 3)), masks[:2, :3, :3] | True, empty_maps="exclude"
        )


def test_perfect_maps_have_a_zero_width_interval():
    masks = np.zeros((6, 5, 5), dtype=bool)
    masks[:, 1:3, 1:3] = True
    heatmaps = masks.astype(float)
    result = localization_scores(
        heatmaps, masks, groups=[0, 0, 1, 1, 2, 2], n_resamples=50, random_state=0
    )
    assert result.pointing_game.ci == (1.0, 1.0)
    assert result.heat_in_lesion.ci == (1.0, 1.0)
    assert result.pointing_game_chance == pytest.approx(4 / 25)
    with_tolerance = localization_scores(heatmaps, masks, tolerance=1, n_resamples=50)
    assert with_tolerance.pointing_game_chance == pytest.approx(12 / 25)


def test_groups_must_match_the_maps(scored_cases):
    heatmaps, masks, groups = scored_cases
    with pytest.raises(ValueError, match="one patient id per heatmap"):
        localization_scores(heatmaps, masks, groups=groups[:-1], n_resamples=50)
