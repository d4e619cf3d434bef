"""Whether Grad-CAM falls on the lesion: the localisation table of a report.

Where the data know each lesion's extent (the synthetic demo's masks, a
CSV's ``mask`` column, CBIS-DDSM's ROI masks), the report scores every model's Grad-CAM maps with
:func:`mammoclf.inspection.localization_scores`: the pointing game (is the
map's maximum inside the lesion?) and the share of positive heat inside
it, each with a patient-bootstrap interval and the score of a map that
knows nothing. Each image is explained by a model that never saw its
patient (its fold's model in cross-validation), for its true class.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mammoclf.evaluation._report import write_csv
from mammoclf.evaluation._summary import SummaryTable
from mammoclf.utils._formatting import format_estimate_interval, format_number

__all__ = [
    "LocalizationMaps",
    "add_localization",
    "lesion_masks",
    "localization_maps",
    "localization_section",
    "localization_summary_table",
    "localization_table",
    "scored_localization",
]

LOCALIZATION_COLUMNS = [
    "model",
    "n_images",
    "n_patients",
    "pointing_game",
    "pointing_game_ci_low",
    "pointing_game_ci_high",
    "pointing_game_chance",
    "heat_in_lesion",
    "heat_in_lesion_ci_low",
    "heat_in_lesion_ci_high",
    "heat_in_lesion_chance",
    "n_empty_maps",
]


def lesion_masks(mask_paths, image_size):
    """Lesion masks resized as the images were, and which images have one.

    Masks are read like images (DICOM or PNG/JPEG/TIFF), resized by the
    same :class:`~mammoclf.Resizer` (so padding matches) and thresholded at
    half their range. An image's entry is a path, a sequence of paths whose
    masks are joined (CBIS-DDSM: one mask per abnormality), or None. An
    image without a mask, or whose mask keeps no pixel at this size, is
    left out and counted.

    Returns
    -------
    masks : ndarray of shape (n_with_mask, image_size, image_size), bool
    with_mask : ndarray of shape (n_images,), bool
    """
    from mammoclf import DicomLoader, Resizer

    entries = [_mask_entry(p) for p in mask_paths]
    with_mask = np.array([bool(e) for e in entries], dtype=bool)
    if not with_mask.any():
        return np.zeros((0, image_size, image_size), dtype=bool), with_mask
    chosen = sorted({p for entry in entries for p in entry})
    missing = [p for p in chosen if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} lesion mask file(s) do not exist, e.g. {missing[0]}"
        )
    loaded = DicomLoader().fit_transform(chosen)
    resized = np.asarray(Resizer(size=image_size).fit_transform(loaded))
    if resized.ndim == 4:
        resized = resized.max(axis=-1)
    row = {path: index for index, path in enumerate(chosen)}
    masks = np.stack(
        [
            (resized[[row[p] for p in entry]] > 0.5).any(axis=0)
            for entry in entries
            if entry
        ]
    )
    kept = masks.any(axis=(1, 2))
    with_mask[np.flatnonzero(with_mask)[~kept]] = False
    return masks[kept], with_mask


def _mask_entry(value):
    """An image's mask paths as a tuple (empty: none)."""
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    return tuple(p for p in value if isinstance(p, str) and p.strip())


def localization_table(
    heatmaps_by_model, masks, groups, *, n_resamples, seed, confidence_level=0.95
):
    """One row per model: pointing game and heat in lesion, with intervals."""
    from mammoclf.inspection import localization_scores

    rows = []
    for name, heatmaps in heatmaps_by_model.items():
        result = localization_scores(
            heatmaps,
            masks,
            groups=groups,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            random_state=seed,
        )
        rows.append(
            [
                name,
                result.n_images,
                result.pointing_game.n_clusters,
                result.pointing_game.estimate,
                *result.pointing_game.ci,
                result.pointing_game_chance,
                result.heat_in_lesion.estimate,
                *result.heat_in_lesion.ci,
                result.heat_in_lesion_chance,
                result.n_empty,
            ]
        )
    return pd.DataFrame(rows, columns=LOCALIZATION_COLUMNS)


def true_class_heatmaps(explain, rows, y_true):
    """Grad-CAM of images ``rows`` for their true class: ``explain(rows, label)``."""
    heatmaps = None
    for label in np.unique(y_true[rows]):
        chosen = np.flatnonzero(y_true[rows] == label)
        maps = explain(rows[chosen], label)
        if heatmaps is None:
            heatmaps = np.zeros((rows.size, *maps.shape[1:]), dtype=np.float32)
        heatmaps[chosen] = maps
    return heatmaps


@dataclass(frozen=True, eq=False)
class LocalizationMaps:
    """Grad-CAM maps of the images with a lesion mask, to score against the masks.

    What :data:`~mammoclf.evaluation.SUMMARY_TABLES`' localisation table
    reads (``SummaryOptions(localization=...)``); made by
    :func:`localization_maps`.

    Attributes
    ----------
    heatmaps : dict of str to ndarray of shape (n_images, height, width)
        Per model, the map of each image for its true class.
    masks : ndarray of bool, shape (n_images, height, width)
        Each image's lesion.
    groups : ndarray of shape (n_images,)
        Each image's patient (the bootstrap resamples patients).
    n_without_mask : int, default=0
        Images left out: no mask, or none that keeps a pixel at this size.
    n_masks_dropped : int, default=0
        Masks dropped for an aspect ratio unlike their image's.
    """

    heatmaps: dict
    masks: np.ndarray
    groups: np.ndarray
    n_without_mask: int = 0
    n_masks_dropped: int = 0


def localization_maps(explainers, images, y_true, groups, metadata, *, log):
    """The :class:`LocalizationMaps` of every model, or None without lesion masks.

    ``explainers`` maps a model name to ``explain(rows, label)`` (see
    ``_report_grad_cam``); the masks are ``metadata``'s ``mask`` column, one
    path (or tuple of paths) per image. None when there is no ``mask``
    column or no image has a mask.
    """
    if metadata is None or "mask" not in metadata.columns:
        return None
    masks, with_mask = lesion_masks(list(metadata["mask"]), images.shape[1])
    if not with_mask.any():
        return None
    rows = np.flatnonzero(with_mask)
    log(f"scoring Grad-CAM against the lesion masks of {rows.size} images ...")
    y_true = np.asarray(y_true)
    groups = np.arange(y_true.size) if groups is None else np.asarray(groups)
    return LocalizationMaps(
        heatmaps={
            name: true_class_heatmaps(explain, rows, y_true)
            for name, explain in explainers.items()
        },
        masks=masks,
        groups=groups[rows],
        n_without_mask=int((~with_mask).sum()),
        n_masks_dropped=(
            int(metadata["n_masks_dropped"].sum())
            if "n_masks_dropped" in metadata.columns
            else 0
        ),
    )


def scored_localization(maps, *, n_resamples, confidence_level, random_state):
    """The localisation :class:`SummaryTable` of :class:`LocalizationMaps` ``maps``."""
    table = localization_table(
        maps.heatmaps,
        maps.masks,
        maps.groups,
        n_resamples=n_resamples,
        seed=random_state,
        confidence_level=confidence_level,
    )
    return localization_summary_table(
        table,
        confidence_level=confidence_level,
        n_without_mask=maps.n_without_mask,
        n_masks_dropped=maps.n_masks_dropped,
    )


def add_localization(report, explainers, images, y_true, groups, metadata, **options):
    """Score each model's maps against the lesion masks; add table and CSV.

    :func:`localization_maps`, :func:`scored_localization` (patient seed 0)
    and :func:`write_localization_section` in one call. The keyword
    ``options`` are ``n_resamples``, ``out_dir``, ``log`` and
    ``confidence_level`` (default 0.95). Nothing is added, and None
    returned, when no image has a mask; else the table's numbers.
    """
    maps = localization_maps(
        explainers, images, y_true, groups, metadata, log=options["log"]
    )
    if maps is None:
        return None
    table = scored_localization(
        maps,
        n_resamples=options["n_resamples"],
        confidence_level=options.get("confidence_level", 0.95),
        random_state=0,
    )
    write_localization_section(report, table, out_dir=options["out_dir"])
    return table.data


def localization_section(summary):
    """The summary's localisation table, if it has one, under the Grad-CAM figures."""

    def section(report, out_dir):
        if "localization" in [table.key for table in summary.tables]:
            write_localization_section(
                report, summary.table("localization"), out_dir=out_dir
            )

    return section


def localization_summary_table(
    table, *, confidence_level, n_without_mask=0, n_masks_dropped=0
):
    """The localisation table as a :class:`SummaryTable` (key ``localization``).

    ``table`` has :data:`LOCALIZATION_COLUMNS`, one row per model; its
    intervals are at ``confidence_level``, as the headers say. The notes
    count the images without a usable mask and the masks dropped.
    """
    level = f"{100 * confidence_level:g}%"
    display = pd.DataFrame(
        {
            "model": table["model"],
            "images (patients)": [
                f"{n} ({p})" for n, p in zip(table["n_images"], table["n_patients"])
            ],
            f"pointing game [{level} CI]": _with_interval(table, "pointing_game"),
            "chance": table["pointing_game_chance"].map(format_number),
            f"heat in lesion [{level} CI]": _with_interval(table, "heat_in_lesion"),
            "chance ": table["heat_in_lesion_chance"].map(format_number),
            "empty maps": table["n_empty_maps"],
        }
    )
    notes = []
    if n_without_mask:
        notes.append(
            f"{n_without_mask} image(s) have no lesion mask (or a mask that keeps "
            "no pixel at this image size) and are not scored."
        )
    if n_masks_dropped:
        notes.append(
            f"{n_masks_dropped} lesion mask(s) were dropped because their aspect "
            "ratio differs from their image's by more than 1 % (a known CBIS-DDSM "
            "defect: they would be misplaced); masks of another size but the same "
            "aspect ratio are rescaled with their image."
        )
    return SummaryTable(
        title="Localisation of the Grad-CAM maps",
        caption=(
            "Do the maps point at the lesion? For every image with a known lesion, "
            "Grad-CAM for its true class from a model that never saw its patient. "
            "Pointing game: the share of maps whose maximum lies inside the lesion. "
            "Heat in lesion: the mean share of each map's positive heat inside the "
            "lesion. Intervals resample patients. 'chance' is the score of a map "
            "that knows nothing (its maximum anywhere, its heat spread evenly): the "
            "lesion's share of the image. A map without positive heat counts as a miss."
        ),
        data=table,
        display=display,
        notes=tuple(notes),
        key="localization",
    )


def write_localization_section(report, table, *, out_dir):
    """The localisation :class:`SummaryTable` under the Grad-CAM heading, and its CSV."""
    report.paragraph(table.caption)
    report.table(table.display)
    for note in table.notes:
        report.paragraph(note)
    write_csv(table.csv_frame(), Path(out_dir) / "tables" / f"{table.key}.csv")


def _with_interval(table, name):
    return [
        format_estimate_interval(estimate, low, high)
        for estimate, low, high in zip(
            table[name], table[f"{name}_ci_low"], table[f"{name}_ci_high"]
        )
    ]
