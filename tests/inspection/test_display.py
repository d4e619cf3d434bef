"""GradCAMDisplay says "no positive evidence" where a heatmap is all zero."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from mammoclf.inspection import GradCAMDisplay


def test_all_zero_heatmap_is_captioned_and_not_overlaid():
    images = np.random.default_rng(0).random((3, 16, 16))
    heatmaps = np.zeros((3, 16, 16))
    heatmaps[0, 4:8, 4:8] = 1.0
    display = GradCAMDisplay(
        images, heatmaps, titles=["pred MALIGNANT", "pred BENIGN", "pred BENIGN"]
    ).plot()
    first, second, _ = display.axes_
    assert first.get_title() == "pred MALIGNANT"
    assert len(first.get_images()) == 2  # the image and its heatmap
    # Until 0.1: an invisible all-zero overlay and no word about it.
    assert second.get_title() == "pred BENIGN\nno positive evidence"
    assert len(second.get_images()) == 1


def test_no_evidence_caption_without_titles():
    display = GradCAMDisplay(np.ones((1, 8, 8)), np.zeros((1, 8, 8))).plot()
    assert display.axes_[0].get_title() == "no positive evidence"
