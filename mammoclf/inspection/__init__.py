"""Explaining predictions: Grad-CAM heatmaps, their overlays, and whether they find the lesion."""

from mammoclf.inspection._display import GradCAMDisplay
from mammoclf.inspection._grad_cam import grad_cam
from mammoclf.inspection._localization import (
    LocalizationResult,
    lesion_heat_shares,
    localization_scores,
    pointing_game_hits,
)

__all__ = [
    "GradCAMDisplay",
    "LocalizationResult",
    "grad_cam",
    "lesion_heat_shares",
    "localization_scores",
    "pointing_game_hits",
]
