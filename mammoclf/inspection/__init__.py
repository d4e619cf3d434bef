"""Explaining predictions: Grad-CAM heatmaps and their overlays."""

from mammoclf.inspection._display import GradCAMDisplay
from mammoclf.inspection._grad_cam import grad_cam

__all__ = ["GradCAMDisplay", "grad_cam"]
