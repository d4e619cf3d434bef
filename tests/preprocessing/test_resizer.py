"""Resizer: sizes, aspect handling, anti-aliasing, ragged input and validation."""

import numpy as np
import pytest

from mammoclf import Resizer
from mammoclf.exceptions import InvalidImageError


def test_output_shape_and_dtype_for_grey_and_channel_input():
    images = np.random.default_rng(0).random((3, 50, 40))
    for X in (images, images[..., None], images.astype(np.uint8)):
        out = Resizer(size=(20, 30)).fit_transform(X)
        assert out.shape == (3, 20, 30, 1) and out.dtype == np.float32


def test_pad_keeps_aspect_and_centres():
    image = np.ones((1, 100, 50))
    out = Resizer(size=40).fit_transform(image)[0, :, :, 0]
    filled = np.flatnonzero(out.max(axis=0) > 0)
    assert (filled[0], filled[-1]) == (10, 29)  # 20 columns wide, centred
    assert np.all(out[:, :10] == 0) and np.all(out[:, 30:] == 0)
    np.testing.assert_allclose(out[:, 10:30], 1.0, atol=1e-6)


def test_pad_value_and_stretch():
    image = np.ones((1, 100, 50))
    padded = Resizer(size=40, pad_value=-1.0).fit_transform(image)
    assert padded.min() == -1.0
    stretched = Resizer(size=40, aspect="stretch").fit_transform(image)
    np.testing.assert_allclose(stretched, 1.0, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["bilinear", "area", "lanczos"])
def test_downsampling_is_anti_aliased(interpolation):
    # A 1-pixel checkerboard: naive subsampling keeps a single phase (all 0
    # or all 1); an anti-aliased filter averages it to a flat 0.5.
    checker = (np.indices((400, 400)).sum(axis=0) % 2).astype(np.float32)
    out = Resizer(size=50, interpolation=interpolation).fit_transform(checker[None])
    np.testing.assert_allclose(out, 0.5, atol=0.02)


def test_bilinear_and_area_stay_within_the_input_range():
    rng = np.random.default_rng(1)
    images = (rng.random((2, 97, 61)) > 0.5).astype(np.float32)
    for interpolation in ("bilinear", "area"):
        out = Resizer(size=32, interpolation=interpolation).fit_transform(images)
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_ragged_list_of_images():
    rng = np.random.default_rng(2)
    images = [rng.random((30, 20)), rng.random((50, 70)), rng.random((8, 8, 1))]
    out = Resizer(size=16).fit_transform(images)
    assert out.shape == (3, 16, 16, 1)
    np.testing.assert_array_equal(
        out[1], Resizer(size=16).fit_transform(images[1][None])[0]
    )


def test_upsampling_a_constant_stays_constant():
    out = Resizer(size=64, aspect="stretch").fit_transform(np.full((1, 4, 4), 0.25))
    np.testing.assert_allclose(out, 0.25, atol=1e-6)


@pytest.mark.parametrize(
    "X,message",
    [
        (np.zeros((0, 8, 8)), "minimum of 1 is required"),
        ([np.ones((4, 4)), np.full((5, 5), np.nan)], "Image 1 contains NaN"),
        (np.array([[[np.inf]]]), "infinity"),
        ([np.ones((4, 4)), np.ones((0, 5))], "Image 1 has zero size"),
    ],
)
def test_invalid_images(X, message):
    with pytest.raises(InvalidImageError, match=message):
        Resizer(size=8).fit_transform(X)


@pytest.mark.parametrize(
    "params",
    [
        {"size": (8,)},
        {"size": (8, 0)},
        {"size": 0},
        {"aspect": "crop"},
        {"interpolation": "cubic"},
    ],
)
def test_invalid_parameters(params):
    with pytest.raises(ValueError):
        Resizer(**params).fit_transform(np.ones((1, 4, 4)))
