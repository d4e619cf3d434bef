"""Does a heatmap point at the lesion? The pointing game and the in-lesion heat share.

Grad-CAM shows where a network found its evidence; where the lesion is
known (the synthetic data's masks, CBIS-DDSM's ROI masks), two numbers say
whether it looked there:

* the pointing game (Zhang et al., "Top-down neural attention by excitation
  backprop", ECCV 2016): is the heatmap's maximum inside the lesion?
* the share of the map's positive heat that falls inside the lesion.

Both are averaged over images, with patient-bootstrap intervals from
:func:`mammoclf.stats.bootstrap_ci`.
"""

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.stats import BootstrapResult, bootstrap_ci
from mammoclf.utils._validation import validate_params

__all__ = [
    "LocalizationResult",
    "lesion_heat_shares",
    "localization_scores",
    "pointing_game_hits",
]


def _check_maps_and_masks(heatmaps, masks):
    """Float heatmaps and boolean masks, both (n, H, W); a clear error otherwise."""
    heatmaps = _as_stack(heatmaps, "heatmaps").astype(np.float64, copy=False)
    masks = _as_stack(masks, "masks")
    if heatmaps.shape != masks.shape:
        raise ValueError(
            f"heatmaps {heatmaps.shape} and masks {masks.shape} differ in shape; give "
            "one mask per heatmap at the heatmap's resolution (resize the masks the "
            "way the images were resized, then threshold them)."
        )
    if not np.all(np.isfinite(heatmaps)):
        bad = np.flatnonzero(~np.isfinite(heatmaps).all(axis=(1, 2)))
        raise ValueError(f"heatmaps {bad[:5].tolist()} contain NaN or infinity.")
    if masks.dtype != bool:
        if not np.isin(masks, (0, 1)).all():
            raise ValueError(
                "masks must be boolean or hold only 0 and 1; threshold soft masks "
                "(e.g. resized ones) yourself, so the lesion's extent is your choice."
            )
        masks = masks.astype(bool)
    empty = np.flatnonzero(~masks.any(axis=(1, 2)))
    if empty.size:
        raise ValueError(
            f"masks {empty[:5].tolist()} mark no lesion pixel ({empty.size} in all); "
            "localisation is only defined for images whose lesion is known: leave "
            "those images out."
        )
    return heatmaps, masks


def _as_stack(values, name):
    values = np.asarray(values)
    if values.ndim == 4 and values.shape[-1] == 1:
        values = values[..., 0]  # (n, H, W, 1), as Resizer returns images
    if values.ndim != 3 or values.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty array of shape (n_images, height, width); "
            f"got shape {values.shape}."
        )
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise ValueError(f"{name} must be numeric; got dtype {values.dtype}.")
    return values


def _dilate(masks, tolerance):
    """Masks grown by ``tolerance`` pixels (Euclidean distance to the lesion)."""
    if tolerance == 0:
        return masks
    from scipy import ndimage

    return np.stack(
        [ndimage.distance_transform_edt(~mask) <= tolerance for mask in masks]
    )


@validate_params(
    {
        "heatmaps": ["array-like"],
        "masks": ["array-like"],
        "tolerance": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def pointing_game_hits(heatmaps, masks, *, tolerance=0):
    """Per image: is the heatmap's maximum inside the lesion?

    A hit scores 1, a miss 0. When several pixels share the maximum, the
    score is the share of them inside the lesion: the expected outcome of
    breaking the tie at random, so a flat plateau over lesion and background
    neither wins nor loses outright. A map without positive values (Grad-CAM
    found no evidence for the class) has no maximum to point with: its score
    is NaN, never the ``argmax`` of a flat map (the top-left pixel).

    Parameters
    ----------
    heatmaps : array-like of shape (n_images, H, W)
        Heatmaps, e.g. from :func:`~mammoclf.inspection.grad_cam` (a trailing
        channel axis of size 1 is dropped).
    masks : array-like of shape (n_images, H, W)
        Lesion masks at the heatmaps' resolution: boolean, or 0/1. Each must
        mark at least one pixel.
    tolerance : float, default=0
        Pixels: a maximum within this Euclidean distance of the lesion still
        counts as a hit (Zhang et al. used 15 px at 224 px, allowing for the
        coarse resolution of the maps). 0 asks for the lesion itself.

    Returns
    -------
    hits : ndarray of shape (n_images,), float64
        In ``[0, 1]``; NaN for maps without positive heat.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.inspection import pointing_game_hits
    >>> heatmaps = np.zeros((3, 4, 4))
    >>> heatmaps[0, 1, 1] = 1.0               # peak on the lesion
    >>> heatmaps[1, 3, 3] = 1.0               # peak off the lesion
    >>> masks = np.zeros((3, 4, 4), dtype=bool)
    >>> masks[:, :2, :2] = True
    >>> pointing_game_hits(heatmaps, masks).tolist()  # the third map is empty
    [1.0, 0.0, nan]
    >>> pointing_game_hits(heatmaps, masks, tolerance=3).tolist()
    [1.0, 1.0, nan]
    """
    heatmaps, masks = _check_maps_and_masks(heatmaps, masks)
    targets = _dilate(masks, tolerance)
    peaks = heatmaps.max(axis=(1, 2))
    at_peak = heatmaps == peaks[:, None, None]
    hits = (at_peak & targets).sum(axis=(1, 2)) / at_peak.sum(axis=(1, 2))
    return np.where(peaks > 0, hits, np.nan)


@validate_params(
    {"heatmaps": ["array-like"], "masks": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def lesion_heat_shares(heatmaps, masks):
    """Per image: the share of the heatmap's positive heat inside the lesion.

    ``sum(max(h, 0)[lesion]) / sum(max(h, 0))``: 1 when all evidence lies
    on the lesion, the lesion's share of the image for a map spread evenly.
    Negative values (none in Grad-CAM, whose maps pass a ReLU) count as no
    heat. A map without positive values has no heat to share: NaN.

    Parameters
    ----------
    heatmaps : array-like of shape (n_images, H, W)
        Heatmaps (a trailing channel axis of size 1 is dropped).
    masks : array-like of shape (n_images, H, W)
        Lesion masks at the heatmaps' resolution: boolean, or 0/1. Each must
        mark at least one pixel.

    Returns
    -------
    shares : ndarray of shape (n_images,), float64
        In ``[0, 1]``; NaN for maps without positive heat.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.inspection import lesion_heat_shares
    >>> heatmaps = np.array([[[1.0, 1.0], [2.0, 0.0]]])
    >>> masks = np.array([[[True, False], [False, False]]])
    >>> lesion_heat_shares(heatmaps, masks).tolist()
    [0.25]
    """
    heatmaps, masks = _check_maps_and_masks(heatmaps, masks)
    heat = np.maximum(heatmaps, 0.0)
    total = heat.sum(axis=(1, 2))
    inside = np.where(masks, heat, 0.0).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / total, np.nan)


@dataclass(frozen=True, repr=False)
class LocalizationResult:
    """How often and how much heatmaps fall on the lesion, with intervals.

    Attributes
    ----------
    pointing_game : BootstrapResult
        Hit rate of the pointing game, with its patient-bootstrap interval.
    heat_in_lesion : BootstrapResult
        Mean share of positive heat inside the lesion, with its interval.
    pointing_game_chance : float
        The hit rate of a maximum placed uniformly at random: the mean share
        of the image within ``tolerance`` of the lesion.
    heat_in_lesion_chance : float
        The heat share of a map spread evenly over the image: the mean share
        of the image the lesion covers.
    n_images : int
        Images scored (after ``empty_maps="exclude"`` dropped any).
    n_empty : int
        Maps without positive heat among the input.
    empty_maps : str
        How they were counted: ``"miss"`` or ``"exclude"``.
    tolerance : float
        Pointing-game tolerance in pixels.
    hits : ndarray of shape (n_input_images,)
        Per-image pointing-game scores (NaN for empty maps).
    heat_shares : ndarray of shape (n_input_images,)
        Per-image in-lesion heat shares (NaN for empty maps).
    """

    pointing_game: BootstrapResult
    heat_in_lesion: BootstrapResult
    pointing_game_chance: float
    heat_in_lesion_chance: float
    n_images: int
    n_empty: int
    empty_maps: str
    tolerance: float
    hits: np.ndarray = field(compare=False)
    heat_shares: np.ndarray = field(compare=False)

    def __repr__(self):
        def line(name, result, chance):
            level = round(100 * result.confidence_level)
            return (
                f"  {name}: {result.estimate:.3f}, {level}% CI [{result.ci[0]:.3f}, "
                f"{result.ci[1]:.3f}] (chance {chance:.3f})"
            )

        unit = "patients" if self.pointing_game.clustered else "images"
        empty = (
            f"; {self.n_empty} empty map(s) counted as {self.empty_maps}"
            if self.empty_maps == "miss"
            else f"; {self.n_empty} empty map(s) excluded"
        )
        header = (
            f"<LocalizationResult of {self.n_images} images, "
            f"{self.pointing_game.n_clusters} {unit} resampled{empty}"
        )
        return "\n".join(
            [
                header,
                line("pointing game", self.pointing_game, self.pointing_game_chance),
                line("heat in lesion", self.heat_in_lesion, self.heat_in_lesion_chance)
                + ">",
            ]
        )


def pointing_game_hit_rate(hits, _):
    """Mean pointing-game score: the metric :func:`bootstrap_ci` resamples."""
    return float(np.mean(hits))


def heat_in_lesion_share(shares, _):
    """Mean in-lesion heat share: the metric :func:`bootstrap_ci` resamples."""
    return float(np.mean(shares))


@validate_params(
    {
        "heatmaps": ["array-like"],
        "masks": ["array-like"],
        "groups": ["array-like", None],
        "tolerance": [Interval(Real, 0, None, closed="left")],
        "empty_maps": [StrOptions({"miss", "exclude", "raise"})],
        "n_resamples": [Interval(Integral, 10, None, closed="left")],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def localization_scores(
    heatmaps,
    masks,
    *,
    groups=None,
    tolerance=0,
    empty_maps="miss",
    n_resamples=2000,
    confidence_level=0.95,
    random_state=None,
):
    """Pointing-game hit rate and in-lesion heat share, with patient-bootstrap CIs.

    Scores each image with :func:`pointing_game_hits` and
    :func:`lesion_heat_shares`, averages over images, and resamples
    patients (``groups``) with :func:`mammoclf.stats.bootstrap_ci`: the CC
    and MLO views of one breast see the same lesion, so they are not
    independent evidence. Both numbers come with the score of a map that
    knows nothing (its maximum anywhere, its heat spread evenly), which is
    the lesion's small share of the image, not 0.5.

    Parameters
    ----------
    heatmaps : array-like of shape (n_images, H, W)
        Heatmaps, e.g. from :func:`~mammoclf.inspection.grad_cam` for each
        image's true class.
    masks : array-like of shape (n_images, H, W)
        Lesion masks at the heatmaps' resolution: boolean, or 0/1.
    groups : array-like of shape (n_images,), default=None
        Patient id of each image; None treats images as independent.
    tolerance : float, default=0
        Pointing-game tolerance in pixels (see :func:`pointing_game_hits`).
    empty_maps : {"miss", "exclude", "raise"}, default="miss"
        What a map without positive heat counts as. ``"miss"`` scores it 0
        on both numbers: the model showed no evidence on the lesion.
        ``"exclude"`` leaves it out (the numbers then describe only the maps
        that point somewhere); ``"raise"`` refuses. The count is reported
        either way.
    n_resamples : int, default=2000
        Bootstrap resamples.
    confidence_level : float, default=0.95
        Level of the percentile intervals.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling.

    Returns
    -------
    result : LocalizationResult

    Raises
    ------
    ValueError
        For mismatched shapes, masks without a lesion pixel, non-finite
        heatmaps, empty maps with ``empty_maps="raise"``, or no map left to
        score.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.inspection import localization_scores
    >>> rng = np.random.default_rng(0)
    >>> masks = np.zeros((40, 16, 16), dtype=bool)
    >>> masks[:, 4:8, 4:8] = True
    >>> heatmaps = rng.random((40, 16, 16))
    >>> heatmaps[:30, 5, 5] = 2.0             # 30 of 40 maps peak on the lesion
    >>> result = localization_scores(heatmaps, masks, groups=np.arange(40) // 2,
    ...                              n_resamples=200, random_state=0)
    >>> result.pointing_game.estimate, result.pointing_game_chance
    (0.75, 0.0625)
    >>> result.pointing_game.n_clusters
    20
    """
    hits = pointing_game_hits(heatmaps, masks, tolerance=tolerance)
    shares = lesion_heat_shares(heatmaps, masks)
    _, masks = _check_maps_and_masks(heatmaps, masks)
    empty = np.isnan(hits)
    if empty_maps == "raise" and empty.any():
        raise ValueError(
            f"{empty.sum()} heatmap(s) have no positive heat (e.g. image "
            f"{int(np.flatnonzero(empty)[0])}); pass empty_maps='miss' or 'exclude'."
        )
    keep = ~empty if empty_maps == "exclude" else np.ones_like(empty)
    if not keep.any():
        raise ValueError(
            "every heatmap is empty (no positive heat): there is nothing to score."
        )
    groups = None if groups is None else np.asarray(groups)
    if groups is not None and groups.shape != (hits.shape[0],):
        raise ValueError(
            f"groups has shape {groups.shape}; give one patient id per heatmap "
            f"({hits.shape[0]})."
        )
    scored_hits = np.nan_to_num(hits[keep], nan=0.0)
    scored_shares = np.nan_to_num(shares[keep], nan=0.0)
    scored_groups = None if groups is None else groups[keep]
    intervals = [
        bootstrap_ci(
            metric,
            values,
            values,
            groups=scored_groups,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            # An int seeds both alike, so they resample the same patients.
            random_state=random_state,
        )
        for metric, values in (
            (pointing_game_hit_rate, scored_hits),
            (heat_in_lesion_share, scored_shares),
        )
    ]
    return LocalizationResult(
        pointing_game=intervals[0],
        heat_in_lesion=intervals[1],
        pointing_game_chance=float(_dilate(masks[keep], tolerance).mean()),
        heat_in_lesion_chance=float(masks[keep].mean()),
        n_images=int(keep.sum()),
        n_empty=int(empty.sum()),
        empty_maps="exclude" if empty_maps == "exclude" else "miss",
        tolerance=float(tolerance),
        hits=hits,
        heat_shares=shares,
    )
