"""Drawing synthetic mammograms: breast outline, tissue texture and masses.

Images are drawn directly at the requested size (no full-resolution
rendering), so a few hundred take seconds. Intensities are in ``[0, 1]``,
bright meaning dense, chest wall on the left (callers flip right breasts).

The class signal is the lesion's *shape*: benign masses are circumscribed
round or oval (slightly lobulated at high difficulty), malignant masses have
irregular ill-defined margins and radiating spicules. Lesion area and
contrast are drawn from the same distributions for both classes (malignant
cores are shrunk so that core plus spicules cover the same area), so
neither brightness nor size gives the class away.
"""

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Lesion",
    "density_category",
    "draw_breast",
    "draw_lesion_shape",
    "lesion_subtlety",
    "mass_descriptors",
    "sample_lesion",
]

# Lesion radius range as a fraction of the image size.
_RADIUS_RANGE = (0.1, 0.16)


@dataclass(frozen=True)
class Lesion:
    """Parameters of one mass, shared by the CC and MLO views of a breast."""

    malignant: bool
    radius: float  # of the core, in pixels
    axis_ratio: float  # benign ellipse: minor / major axis
    harmonics: tuple  # (order, amplitude, phase) triples modulating the margin
    margin_width: float  # pixels over which the margin fades
    spicules: tuple  # (angle, length in core radii, strength) triples
    spicule_width: float  # pixels
    contrast: float  # added density at the lesion's core


def sample_lesion(rng, malignant, size, difficulty):
    """Draw a lesion's parameters; ``difficulty`` in [0, 1] blurs the classes."""
    target_radius = rng.uniform(*_RADIUS_RANGE) * size
    contrast = rng.uniform(0.15, 0.28) * (1.0 - 0.5 * difficulty)
    if malignant:
        irregularity = 0.22 * (1.0 - 0.55 * difficulty)
        orders = rng.choice(np.arange(3, 9), size=4, replace=False)
        harmonics = tuple(
            (int(k), rng.uniform(0.3, 1.0) * irregularity, rng.uniform(0, 2 * np.pi))
            for k in orders
        )
        n_spicules = round(rng.uniform(16, 24) * (1.0 - 0.4 * difficulty))
        strength = 1.0 - 0.4 * difficulty
        spicules = tuple(
            (
                rng.uniform(0, 2 * np.pi),
                rng.uniform(2.0, 4.0),
                rng.uniform(0.7, 1.0) * strength,
            )
            for _ in range(n_spicules)
        )
        lesion = Lesion(
            malignant=True,
            radius=target_radius,
            axis_ratio=1.0,
            harmonics=harmonics,
            margin_width=max(0.5, 0.008 * size),
            spicules=spicules,
            spicule_width=max(1.2, 0.015 * size),
            contrast=contrast,
        )
        # Shrink the core so core + spicules cover the area a benign mass of
        # target_radius would: size must not reveal the class.
        # Spicule widths are absolute, so the area is not quadratic in the
        # radius: a few fixed-point steps converge.
        goal = np.pi * target_radius**2
        for _ in range(3):
            area = float((draw_lesion_shape(lesion, 0.0) > 0.5).sum())
            lesion = _replace(
                lesion, radius=lesion.radius * np.sqrt(goal / max(area, 1.0))
            )
        return lesion
    lobulation = 0.06 * difficulty
    harmonics = tuple(
        (int(k), rng.uniform(0.5, 1.0) * lobulation, rng.uniform(0, 2 * np.pi))
        for k in (2, 3)
    )
    return Lesion(
        malignant=False,
        radius=target_radius,
        axis_ratio=rng.uniform(0.6, 1.0),
        harmonics=harmonics,
        margin_width=max(0.35, 0.004 * size),
        spicules=(),
        spicule_width=0.0,
        contrast=contrast,
    )


def _replace(lesion, **changes):
    values = {**lesion.__dict__, **changes}
    return Lesion(**values)


def draw_lesion_shape(lesion, rotation, patch=None):
    """The lesion's density profile (peak 1) on a square patch centred on it.

    Parameters
    ----------
    lesion : Lesion
    rotation : float
        Radians; the other view sees the same mass from another angle.
    patch : int, default=None
        Patch side in pixels; large enough for the spicules by default.
    """
    reach = (
        lesion.radius * (1.0 + max((s[1] for s in lesion.spicules), default=0.3)) + 3
    )
    half = int(np.ceil(reach if patch is None else patch / 2))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    distance = np.hypot(yy, xx)
    theta = np.arctan2(yy, xx) - rotation
    # Radius of the margin in each direction: an ellipse, then harmonics.
    major = lesion.radius / np.sqrt(lesion.axis_ratio)
    minor = lesion.radius * np.sqrt(lesion.axis_ratio)
    margin = (
        major
        * minor
        / np.sqrt((minor * np.cos(theta)) ** 2 + (major * np.sin(theta)) ** 2)
    )
    for order, amplitude, phase in lesion.harmonics:
        margin = margin * (1.0 + amplitude * np.cos(order * theta + phase))
    core = 1.0 / (1.0 + np.exp((distance - margin) / lesion.margin_width))
    shape = core
    for angle, length, strength in lesion.spicules:
        direction = np.array([np.sin(angle + rotation), np.cos(angle + rotation)])
        along = yy * direction[0] + xx * direction[1]
        across = np.abs(-yy * direction[1] + xx * direction[0])
        start, stop = 0.6 * lesion.radius, lesion.radius * (1.0 + length)
        fraction = np.clip((along - start) / (stop - start), 0.0, 1.0)
        inside = (along > start) & (along < stop)
        line = (
            np.exp(-((across / lesion.spicule_width) ** 2)) * (1.0 - fraction) * inside
        )
        shape = np.maximum(shape, strength * line)
    return shape


def power_law_noise(rng, shape, exponent=3.0):
    """Zero-mean, unit-variance noise with power spectrum ``1 / f**exponent``.

    Mammographic parenchyma has a power-law spectrum with an exponent of
    about 3 (Burgess et al., Med. Phys. 2001), which is what makes lesions
    hard to see in it.
    """
    white = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, np.newaxis]
    fx = np.fft.rfftfreq(shape[1])[np.newaxis, :]
    frequency = np.hypot(fy, fx)
    frequency[0, 0] = 1.0
    spectrum = np.fft.rfft2(white) / frequency ** (exponent / 2.0)
    spectrum[0, 0] = 0.0
    noise = np.fft.irfft2(spectrum, s=shape)
    return (noise - noise.mean()) / noise.std()


def draw_breast(rng, size, view, density, difficulty):
    """A breast without lesion, chest wall on the left.

    Returns
    -------
    image : ndarray of shape (size, size), float64 in about [0, 1]
    thickness : ndarray of shape (size, size)
        Relative tissue thickness (0 outside the breast); lesions are scaled
        by it so they fade at the skin line like real tissue.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    if view == "CC":
        centre_y = rng.uniform(0.45, 0.55)
        depth, half_height = rng.uniform(0.6, 0.82), rng.uniform(0.36, 0.46)
        radius = np.hypot(xx / depth, (yy - centre_y) / half_height)
    else:
        centre_y = rng.uniform(0.35, 0.45)
        depth, half_height = rng.uniform(0.62, 0.85), rng.uniform(0.45, 0.55)
        tilt = rng.uniform(0.15, 0.35)
        radius = np.hypot(xx / depth, (yy - centre_y - tilt * xx) / half_height)
    thickness = np.clip((1.0 - radius) / 0.22, 0.0, 1.0) ** 0.6
    glandular = 1.0 / (
        1.0
        + np.exp(
            -(
                power_law_noise(rng, (size, size), 3.5) * 1.2
                + 3.0 * (density - 0.5)
                + 2.0 * (0.6 - radius)
            )
        )
    )
    texture = power_law_noise(rng, (size, size), 3.0)
    clutter = _clutter(density, difficulty)
    tissue = 0.35 + clutter * (0.22 * (glandular - 0.5) + 0.06 * texture)
    image = 0.03 + thickness * tissue
    if view == "MLO":
        # The pectoral muscle: a bright band along the chest wall at the top.
        width, height = rng.uniform(0.18, 0.32), rng.uniform(0.45, 0.7)
        muscle = np.clip((1.0 - xx / width - yy / height) / 0.08, 0.0, 1.0)
        image = image * (1.0 - muscle) + muscle * (0.66 + 0.04 * texture)
    return image, thickness


def _clutter(density, difficulty):
    """Amplitude of the tissue texture: denser breasts and higher difficulty hide more."""
    return (0.15 + 0.85 * difficulty) * (0.6 + 0.8 * density)


# Contrast-to-clutter ratios separating the subtlety ratings 1|2|3|4|5.
_SUBTLETY_EDGES = (0.5, 1.0, 2.0, 4.0)


def lesion_subtlety(lesion, density, difficulty):
    """CBIS-DDSM-style subtlety rating, 1 (subtle) to 5 (obvious).

    The lesion's contrast relative to the glandular texture of its breast
    (the ``0.22 * clutter`` amplitude of :func:`draw_breast`), cut at fixed
    ratios so a rating means the same at every difficulty.
    """
    ratio = lesion.contrast / (0.22 * _clutter(density, difficulty))
    return 1 + int(np.searchsorted(_SUBTLETY_EDGES, ratio, side="right"))


def density_category(density):
    """BI-RADS density category 1-4 (fatty to extremely dense) of a density in [0, 1]."""
    return min(int(density * 4.0) + 1, 4)


def mass_descriptors(lesion):
    """The BI-RADS mass shape and margin, in CBIS-DDSM's vocabulary."""
    if lesion.malignant:
        return "IRREGULAR", "SPICULATED"
    shape = "ROUND" if lesion.axis_ratio >= 0.85 else "OVAL"
    return shape, "CIRCUMSCRIBED"
