"""What the evaluation tables of a report need from the command line and the data.

Shared by ``mammoclf compare`` and ``mammoclf evaluate``: the options of the
evaluation tables (subgroup columns, breast-level rule, bootstrap
resamples), the metadata of the images (laterality for breast level, the
subgroup columns, a lesion-mask column), and CBIS-DDSM's official split.

CSV columns besides ``path,label,patient`` (all optional, names in any case):

- ``laterality``: ``L``/``R`` (or ``left``/``right``) per image; adds
  breast-level results;
- ``mask``: path of a lesion mask per image (relative to the CSV), for
  checking Grad-CAM against the lesion;
- any column named by ``--subgroup-columns a,b``: metrics per value.

For CBIS-DDSM the subgroups are breast density, abnormality type (mass or
calcification) and subtlety, and laterality comes from its tables.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CBIS_SUBGROUPS",
    "add_evaluation_table_options",
    "official_split",
    "source_metadata",
]

CBIS_SUBGROUPS = ("breast_density", "abnormality_type", "subtlety")
_CBIS_COLUMNS = ("laterality", *CBIS_SUBGROUPS, "split", "mask", "n_masks_dropped")


def _column_list(text):
    columns = [c.strip().lower() for c in text.split(",") if c.strip()]
    if not columns:
        raise argparse.ArgumentTypeError("give at least one column name")
    return tuple(columns)


def _resamples(text):
    from mammoclf.cli._common import whole_number

    value = whole_number(text, "a whole number of resamples, at least 10")
    if value < 10:
        raise argparse.ArgumentTypeError(f"needs at least 10 resamples, got {text!r}")
    return value


def add_evaluation_table_options(group):
    """``--subgroup-columns``, ``--breast-level`` and ``--n-resamples``."""
    group.add_argument(
        "--subgroup-columns",
        type=_column_list,
        default=(),
        metavar="A,B",
        help="--csv: extra columns whose values get their own metrics with "
        "intervals and counts (CBIS-DDSM: breast density, abnormality type and "
        "subtlety always)",
    )
    group.add_argument(
        "--breast-level",
        choices=("mean", "max", "none"),
        default="mean",
        help="how the views of one breast are combined for the breast-level "
        "table, when laterality is known (default: mean)",
    )
    group.add_argument(
        "--n-resamples",
        type=_resamples,
        default=1000,
        help="patient-bootstrap resamples of every interval of the evaluation "
        "tables (default: 1000)",
    )


def _usage_error(message):
    from mammoclf.cli._common import UsageError

    return UsageError(message)


def _csv_metadata(csv_path, subgroup_columns, n_images):
    table = pd.read_csv(
        csv_path, dtype=str, encoding="utf-8-sig", keep_default_na=False
    )
    table.columns = [str(c).strip().lower() for c in table.columns]
    if len(table) != n_images:  # _csv read the same rows: a guard, not a check
        raise _usage_error(f"{csv_path}: rows changed while reading.")
    missing = [c for c in subgroup_columns if c not in table.columns]
    if missing:
        raise _usage_error(
            f"--subgroup-columns: {csv_path} has no column(s) {', '.join(missing)} "
            f"(its columns: {', '.join(table.columns)})."
        )
    metadata = pd.DataFrame(index=range(n_images))
    if "laterality" in table.columns:
        from mammoclf.metrics import laterality_from_metadata

        try:
            metadata["laterality"] = laterality_from_metadata(
                table.replace("", None), column="laterality"
            )
        except ValueError as exc:
            raise _usage_error(f"{csv_path}: {exc}") from None
    for column in subgroup_columns:
        values = table[column].str.strip()
        metadata[column] = values.where(values != "", None)
    if "mask" in table.columns:
        base = Path(csv_path).parent
        metadata["mask"] = [
            None
            if not m.strip()
            else str(Path(m) if Path(m).is_absolute() else base / m)
            for m in table["mask"]
        ]
    return metadata


def source_metadata(args, source):
    """The metadata of ``source``'s images and the subgroup columns to report.

    Returns
    -------
    metadata : pandas.DataFrame or None
        One row per image: ``laterality`` when known, the subgroup columns,
        ``mask`` (a CSV's lesion masks) and, for CBIS-DDSM, ``split``.
    subgroups : tuple of str
        The metadata columns whose values get their own metrics.
    """
    raw = getattr(source, "metadata", None)
    if getattr(args, "csv", None):
        metadata = _csv_metadata(args.csv, args.subgroup_columns, len(source.paths))
        return (metadata if len(metadata.columns) else None), tuple(
            args.subgroup_columns
        )
    if raw is None:
        return None, ()
    raw = raw.reset_index(drop=True)
    if getattr(args, "cbis_ddsm", None):
        metadata = raw[[c for c in _CBIS_COLUMNS if c in raw.columns]].copy()
        return metadata, tuple(c for c in CBIS_SUBGROUPS if c in metadata.columns)
    keep = [c for c in ("laterality", "mask") if c in raw.columns]
    return (raw[keep].copy() if keep else None), ()


def official_split(metadata, groups):
    """Boolean masks of CBIS-DDSM's official train and test images.

    Raises a usage error when a patient has images in both (the CBIS-DDSM
    mass and calcification tables were split separately), since a held-out
    test set must not share patients with the training data.
    """
    if metadata is None or "split" not in metadata.columns:
        raise _usage_error("--official-test-split needs --cbis-ddsm.")
    split = metadata["split"].to_numpy()
    train, test = split == "train", split == "test"
    if not train.any() or not test.any():
        raise _usage_error(
            "--official-test-split: the CBIS-DDSM tables found have no "
            f"{'train' if not train.any() else 'test'} images."
        )
    shared = np.intersect1d(groups[train], groups[test])
    if shared.size:
        raise _usage_error(
            f"--official-test-split: {shared.size} patient(s) have images in both the "
            "official train and test splits (the mass and calcification tables were "
            "split separately); use --subset mass or --subset calc."
        )
    return train, test
