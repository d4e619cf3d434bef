"""Validation and Keras helpers shared across mammoclf."""

from mammoclf.utils._validation import check_image_batch

__all__ = ["check_image_batch"]
