"""Find the breast in a normalised mammogram: crop to it, and orient its chest wall.

Both work from the image content, not from header tags, so they behave the
same for DICOM and for PNG/JPEG exports (which carry no laterality), and are
not fooled by a wrong or missing ``ImageLaterality``.

The breast is the largest bright connected region after Otsu thresholding a
downsampled copy and a morphological opening. The opening detaches the thin
burned-in labels, film edges and rulers of digitised films, which are then
dropped as smaller regions.
"""

import numpy as np
from scipy import ndimage

from mammoclf.exceptions import ImageFileError

__all__ = ["breast_mask", "crop_to_breast", "orient_chest_wall"]

# The mask is computed at about this many pixels along the longer side:
# enough to outline a breast, cheap even for a 4.5k x 3k image.
_MASK_RESOLUTION = 256
# Margin kept around the breast's bounding box, as a fraction of the image size.
_CROP_MARGIN = 0.02


def breast_mask(image):
    """Boolean mask of the breast at reduced resolution.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        A normalised image where bright means dense tissue.

    Returns
    -------
    mask : ndarray of bool of shape (ceil(H / factor), ceil(W / factor)) or None
        None when no bright region survives the opening (a tiny or empty image).
    factor : int
        The downsampling factor: mask pixel ``(i, j)`` covers image pixels
        ``[i*factor:(i+1)*factor, j*factor:(j+1)*factor]``.
    """
    factor = max(1, max(image.shape) // _MASK_RESOLUTION)
    small = _block_mean(image, factor)
    mask = small > _otsu_threshold(small)
    mask = ndimage.binary_opening(mask, structure=np.ones((3, 3), bool), iterations=2)
    labels, n_regions = ndimage.label(mask)
    if n_regions == 0:
        return None, factor
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n_regions + 1))
    largest = labels == (int(np.argmax(sizes)) + 1)
    return ndimage.binary_fill_holes(largest), factor


def crop_to_breast(image, path):
    """Crop ``image`` to the breast's bounding box plus a small margin."""
    mask, factor = _require_mask(image, path, "crop_breast=False")
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    margin_r = round(_CROP_MARGIN * image.shape[0])
    margin_c = round(_CROP_MARGIN * image.shape[1])
    top = max(0, rows[0] * factor - margin_r)
    bottom = min(image.shape[0], (rows[-1] + 1) * factor + margin_r)
    left = max(0, columns[0] * factor - margin_c)
    right = min(image.shape[1], (columns[-1] + 1) * factor + margin_c)
    # A copy, so the full-resolution image can be freed right away.
    return image[top:bottom, left:right].copy()


def orient_chest_wall(image, side, path):
    """Flip ``image`` left-right if needed so the chest wall is on ``side``.

    The chest wall is on the side of the breast region's centre of mass:
    tissue is thickest there and the breast narrows toward the nipple.
    """
    mask, _ = _require_mask(image, path, "chest_wall_side=None")
    centre = ndimage.center_of_mass(mask)[1]
    on_left = centre < (mask.shape[1] - 1) / 2.0
    if on_left == (side == "left"):
        return image
    return image[:, ::-1]


def _require_mask(image, path, alternative):
    mask, factor = breast_mask(image)
    if mask is None:
        raise ImageFileError(
            path,
            "shows no breast region (no bright area larger than a few pixels); "
            f"check the image or use {alternative}.",
        )
    return mask, factor


def _block_mean(image, factor):
    """Downsample by averaging ``factor x factor`` blocks (edge blocks padded)."""
    if factor == 1:
        return image
    height = -(-image.shape[0] // factor) * factor
    width = -(-image.shape[1] // factor) * factor
    padded = np.pad(
        image, ((0, height - image.shape[0]), (0, width - image.shape[1])), mode="edge"
    )
    return padded.reshape(height // factor, factor, width // factor, factor).mean(
        axis=(1, 3)
    )


def _otsu_threshold(values, bins=256):
    """Otsu's threshold: the cut maximising the between-class variance."""
    histogram, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2.0
    weight_low = np.cumsum(histogram)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(histogram * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = sum_low / weight_low
        mean_high = (sum_low[-1] - sum_low) / weight_high
        between = weight_low * weight_high * (mean_low - mean_high) ** 2
    between = np.nan_to_num(between[:-1], nan=-1.0)
    return centres[int(np.argmax(between))]
