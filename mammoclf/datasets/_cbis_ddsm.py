"""load_cbis_ddsm: the official CBIS-DDSM tables joined to TCIA or Kaggle images."""

import os
import warnings

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions

from mammoclf.datasets._kaggle import DICOM_INFO, JpegLocator
from mammoclf.datasets._locate import HeaderIndex, Locator
from mammoclf.exceptions import DatasetError
from mammoclf.storage import default_cache_dir
from mammoclf.utils._paths import format_path_list
from mammoclf.utils._validation import validate_params

__all__ = ["load_cbis_ddsm"]

_TABLES = {
    ("mass", "train"): "mass_case_description_train_set.csv",
    ("mass", "test"): "mass_case_description_test_set.csv",
    ("calc", "train"): "calc_case_description_train_set.csv",
    ("calc", "test"): "calc_case_description_test_set.csv",
}
_REQUIRED_COLUMNS = (
    "patient_id",
    "breast_density",
    "left_or_right_breast",
    "image_view",
    "abnormality_id",
    "abnormality_type",
    "assessment",
    "pathology",
    "subtlety",
    "image_file_path",
    "cropped_image_file_path",
    "roi_mask_file_path",
)
# A mask whose aspect ratio differs more from its image's is dropped.
_ASPECT_TOLERANCE = 0.01
_PATHOLOGIES = ("BENIGN", "BENIGN_WITHOUT_CALLBACK", "MALIGNANT")

_DESCR = """CBIS-DDSM (Curated Breast Imaging Subset of DDSM), read by mammoclf.

Labels come from the official case-description tables: a full image is
MALIGNANT if any of its abnormalities is malignant; BENIGN_WITHOUT_CALLBACK
is benign by default. groups are the tables' patient_id (e.g. "P_00173"),
which links a patient's views and breasts, unlike the DICOM PatientID
("Mass-Test_P_00173_LEFT_CC"), which differs per image.

Licence: CC BY 3.0 (The Cancer Imaging Archive). Cite Sawyer-Lee R, Gimenez
F, Hoogi A, Rubin D. Curated Breast Imaging Subset of DDSM. TCIA 2016.
doi:10.7937/K9/TCIA.2016.7O02S9CY; and Lee RS et al., Scientific Data
4:170177 (2017).
"""


@validate_params(
    {
        "root": [str, os.PathLike],
        "abnormality": [StrOptions({"mass", "calc"}), list, tuple],
        "split": [StrOptions({"all", "train", "test"}), list, tuple],
        "image": [StrOptions({"full", "roi"})],
        "benign_without_callback": [StrOptions({"benign", "exclude", "keep"})],
        "on_missing": [StrOptions({"raise", "warn"})],
        "tables_dir": [str, os.PathLike, None],
        # "auto" is a str: a directory named "auto" is read as the default.
        "cache_dir": [str, os.PathLike, None],
        "masks": ["boolean"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def load_cbis_ddsm(
    root,
    *,
    abnormality=("mass", "calc"),
    split="all",
    image="full",
    benign_without_callback="benign",
    on_missing="raise",
    tables_dir=None,
    cache_dir="auto",
    masks=False,
    verbose=0,
):
    """Load CBIS-DDSM image paths, labels and patient groups from a download.

    Parameters
    ----------
    root : str or path-like
        Either the ``CBIS-DDSM`` folder of a TCIA download, holding the case
        folders (``Mass-Training_P_00001_LEFT_CC``, ...), or the folder of
        the Kaggle JPEG release (``cbis-ddsm-breast-cancer-image-dataset``),
        holding ``csv/`` and ``jpeg/``; a ``jpeg/`` folder selects the
        latter. Both TCIA layouts work: the one of the tables' paths
        (``<case>/<StudyInstanceUID>/<SeriesInstanceUID>/000000.dcm``) and
        NBIA's descriptive one (``<case>/<date>-DDSM-.../1.000000-full
        mammogram images-.../1-1.dcm``), in which files are matched to rows
        by the SeriesInstanceUID in their headers. In the JPEG release a
        row's series folder is ``jpeg/<SeriesInstanceUID>/`` (the third
        component of its path), and ``csv/dicom_info.csv`` says which file
        in it is the full mammogram, the crop or the mask; without it, a
        full mammogram's folder must hold exactly one JPEG and a mask is the
        folder's one binary image. A row whose file is ambiguous (two
        candidates, or a PatientID contradicting the row) is refused. The
        rules and their sources are in the user guide (Data, "The Kaggle
        JPEG release").
    abnormality : {"mass", "calc"} or tuple of them, default=("mass", "calc")
        Which description tables to use.
    split : {"train", "test", "all"}, default="all"
        The official split (``metadata["split"]`` tells them apart).
    image : {"full", "roi"}, default="full"
        ``"full"``: one sample per full mammogram, labelled malignant if any
        of its abnormalities is. ``"roi"``: one sample per abnormality, its
        cropped ROI image. The tables are known to swap the crop and mask
        file names, so the crop is identified by its header: the smaller of
        the files of its series (the mask has the full image's size); in the
        JPEG release by ``dicom_info.csv`` (or by not being binary).
    benign_without_callback : {"benign", "exclude", "keep"}, default="benign"
        ``"benign"`` counts BENIGN_WITHOUT_CALLBACK abnormalities as benign;
        ``"exclude"`` drops them (and full images left without abnormality);
        ``"keep"`` keeps them as a third label, which an image gets only when
        all its abnormalities have it.
    on_missing : {"raise", "warn"}, default="raise"
        Image files not found under ``root`` raise one
        :class:`~mammoclf.exceptions.DatasetError` listing all of them, or
        with ``"warn"`` are skipped with one warning saying how many.
    tables_dir : str or path-like, default=None
        Folder of the four ``*_case_description_*_set.csv`` tables; None
        means ``root`` (``root/csv`` for the JPEG release).
    cache_dir : "auto", str, path-like or None, default="auto"
        Where to keep the index of DICOM headers that the NBIA layout needs
        (reading 10,000 headers takes minutes from a cold disk), so that the
        next call reads only files it has not seen: ``"auto"`` is
        :func:`mammoclf.preprocessing.get_cache_dir`, None keeps no index.
        Each file's entry is keyed on its path, size and modification time
        (the directory listing), so a changed or added file is read again.
        The index stores hashes only: no path, UID or patient identifier.
    masks : bool, default=False
        Also find each full image's lesion masks (``image="full"`` only):
        ``metadata["mask"]`` holds the tuple of its abnormalities' ROI mask
        files (None when none was found), for scoring where a model looks.
        A mask whose aspect ratio differs from its image's by more than
        1 % (a known CBIS-DDSM defect) is dropped and counted in
        ``metadata["n_masks_dropped"]``; one of another size but the same
        aspect ratio is kept, to be rescaled with its image. In a TCIA
        download a mask is the largest file of its series.
    verbose : int, default=0
        Above 0, reading headers prints progress lines with the time left.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``paths`` (str array of files), ``labels`` (``"BENIGN"``,
        ``"MALIGNANT"``, or ``"BENIGN_WITHOUT_CALLBACK"`` with ``"keep"``),
        ``groups`` (patient ids from the tables, for grouped CV),
        ``metadata`` (a DataFrame: ``path``, ``patient_id``, ``laterality``
        ``"L"``/``"R"``, ``view``, ``split``, ``abnormality_type``,
        ``n_abnormalities``, ``pathologies``, ``assessment`` (highest
        BI-RADS), ``subtlety``, ``breast_density``, ``label``,
        ``abnormality_id`` for ROIs, ``mask`` and ``n_masks_dropped`` with
        ``masks=True``), ``layout`` (which layout was found, e.g. ``"Kaggle
        JPEG release, files checked against dicom_info.csv"`` or ``"TCIA
        DICOM download (table paths)"``), ``n_masks_missing`` and
        ``n_masks_dropped`` (0 without ``masks``) and ``DESCR``.

    Raises
    ------
    DatasetError
        For a missing or malformed table (naming the file, row and column),
        missing image files, or rows of the JPEG release whose file is
        ambiguous (naming each row and its candidate files).

    Examples
    --------
    >>> from mammoclf.datasets import load_cbis_ddsm
    >>> data = load_cbis_ddsm("CBIS-DDSM/", abnormality="mass", split="test",
    ...                       on_missing="warn")  # doctest: +SKIP
    >>> data.paths[0], data.labels[0], data.groups[0]  # doctest: +SKIP
    ('CBIS-DDSM/Mass-Test_P_00016_LEFT_CC/.../000000.dcm', 'MALIGNANT', 'P_00016')
    """
    abnormalities, splits = _check_arguments(
        abnormality, split, image, benign_without_callback, on_missing
    )
    if masks and image != "full":
        raise ValueError("masks=True needs image='full': masks outline full images.")
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise DatasetError(f"CBIS-DDSM root {root!r} is not a directory.")
    jpeg = os.path.isdir(os.path.join(root, "jpeg"))
    if tables_dir is None:
        tables_dir = os.path.join(root, "csv") if jpeg else root
    tables_dir = os.fspath(tables_dir)
    rows = _read_rows(tables_dir, abnormalities, splits, benign_without_callback)
    if rows.empty:
        raise DatasetError(
            f"The CBIS-DDSM tables in {tables_dir!r} have no rows for abnormality="
            f"{abnormality!r}, split={split!r}: there is nothing to load. Check that "
            "they are the complete official tables."
        )
    samples = _full_images(rows) if image == "full" else _roi_images(rows)
    locator = _locator(root, tables_dir, jpeg, cache_dir, verbose)
    samples = samples.assign(
        path=_locate_all(locator, samples, roi=image == "roi", on_missing=on_missing)
    )
    samples = samples[samples["path"].notna()].reset_index(drop=True)
    n_masks_missing = 0
    if masks:
        located, n_masks_missing = locator.locate_masks(
            list(zip(samples["mask_relatives"], samples["relative_path"])),
            list(samples["table_row"]),
        )
        samples["mask"], samples["n_masks_dropped"] = _matching_masks(
            samples["path"], located
        )
    metadata = samples.drop(
        columns=[
            c
            for c in ("relative_path", "full_relative", "table_row", "mask_relatives")
            if c in samples.columns
        ]
    )
    metadata = metadata[["path", *[c for c in metadata.columns if c != "path"]]]
    return Bunch(
        paths=metadata["path"].to_numpy(dtype=str),
        labels=metadata["label"].to_numpy(dtype=str),
        groups=metadata["patient_id"].to_numpy(dtype=str),
        metadata=metadata,
        layout=locator.description,
        n_masks_missing=n_masks_missing,
        n_masks_dropped=(int(metadata["n_masks_dropped"].sum()) if masks else 0),
        DESCR=_DESCR,
    )


def _locator(root, tables_dir, jpeg, cache_dir, verbose):
    """The JPEG release's locator when ``root`` has ``jpeg/``, else TCIA's."""
    if jpeg:
        candidates = [os.path.join(root, "csv", DICOM_INFO)]
        candidates.append(os.path.join(tables_dir, DICOM_INFO))
        dicom_info = next((p for p in candidates if os.path.isfile(p)), None)
        return JpegLocator(root, dicom_info)
    index = None if cache_dir is None else HeaderIndex(root, _cache_root(cache_dir))
    return Locator(root, index, verbose=verbose)


def _matching_masks(image_paths, mask_tuples):
    """Keep the masks whose aspect ratio is their image's within 1 %.

    A mask of another size but the same shape is rescaled with its image
    (the Resizer pads both alike); one of another aspect ratio would be
    misplaced, so it is dropped and counted. Reads headers only.
    """
    from mammoclf.preprocessing import read_metadata

    mask_paths = sorted({p for masks in mask_tuples if masks for p in masks})
    if not mask_paths:
        return list(mask_tuples), [0] * len(mask_tuples)
    every = list(image_paths) + mask_paths
    sizes = read_metadata(every, identifiers="keep")[["rows", "columns"]]
    aspect = dict(zip(every, sizes["columns"].astype(float) / sizes["rows"]))
    kept, dropped = [], []
    for image, masks in zip(image_paths, mask_tuples):
        good = tuple(
            m
            for m in masks or ()
            if abs(aspect[m] / aspect[image] - 1.0) <= _ASPECT_TOLERANCE
        )
        kept.append(good or None)
        dropped.append(len(masks or ()) - len(good))
    return kept, dropped


def _check_arguments(abnormality, split, image, benign_without_callback, on_missing):
    """Validate the choices; return the abnormality kinds and splits to read."""
    abnormalities = _check_choice_list(abnormality, ("mass", "calc"), "abnormality")
    splits = (
        ("train", "test")
        if split == "all"
        else _check_choice_list(split, ("train", "test"), "split")
    )
    _check_choice(image, ("full", "roi"), "image")
    _check_choice(
        benign_without_callback,
        ("benign", "exclude", "keep"),
        "benign_without_callback",
    )
    _check_choice(on_missing, ("raise", "warn"), "on_missing")
    return abnormalities, splits


def _read_rows(tables_dir, abnormalities, splits, benign_without_callback):
    """The rows of the chosen tables, BENIGN_WITHOUT_CALLBACK handled as asked."""
    import pandas as pd

    rows = pd.concat(
        [
            _read_table(tables_dir, kind, part)
            for kind in abnormalities
            for part in splits
        ],
        ignore_index=True,
    )
    if benign_without_callback == "exclude":
        rows = rows[rows["pathology"] != "BENIGN_WITHOUT_CALLBACK"]
    elif benign_without_callback == "benign":
        rows = rows.assign(
            pathology=rows["pathology"].replace("BENIGN_WITHOUT_CALLBACK", "BENIGN")
        )
    return rows


def _cache_root(cache_dir):
    if isinstance(cache_dir, str) and cache_dir == "auto":
        return default_cache_dir()
    return os.fspath(cache_dir)


def _locate_all(locator, samples, *, roi, on_missing):
    """The file of every sample (None where missing), missing ones reported together."""
    pairs = list(zip(samples["relative_path"], samples["full_relative"]))
    located, missing = locator.locate_all(
        pairs, roi=roi, names=list(samples["table_row"])
    )
    if missing:
        root = locator.root
        message = (
            f"{len(missing)} of {len(samples)} CBIS-DDSM images were not found under "
            f"{root!r}:{format_path_list(missing)}"
        )
        if locator.unreadable:
            message += (
                f"\n{len(locator.unreadable)} .dcm files there have unreadable headers "
                f"(check them with mammoclf.datasets.scan):"
                f"{format_path_list(locator.unreadable)}"
            )
        if on_missing == "raise":
            raise DatasetError(
                message + "\nCheck root (the folder holding the case folders), or "
                "pass on_missing='warn' to skip them."
            )
        warnings.warn(message + "\nThey are skipped.", UserWarning, stacklevel=3)
    return located


def _check_choice(value, choices, name):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}.")


def _check_choice_list(value, choices, name):
    values = (value,) if isinstance(value, str) else tuple(value)
    if not values:
        raise ValueError(f"{name} must name at least one of {list(choices)}.")
    for item in values:
        _check_choice(item, choices, name)
    return tuple(dict.fromkeys(values))


def _read_table(tables_dir, kind, part):
    """One description table with normalised column names and clean cells."""
    import pandas as pd

    path = os.path.join(tables_dir, _TABLES[kind, part])
    if not os.path.isfile(path):
        raise DatasetError(
            f"CBIS-DDSM table {path!r} does not exist; tables_dir must hold the "
            f"official {', '.join(_TABLES.values())}."
        )
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"CBIS-DDSM table {path!r} cannot be parsed: {exc}") from exc
    # The mass and calc tables spell columns differently ("breast_density" vs
    # "breast density"): normalise to snake case.
    table.columns = [c.strip().lower().replace(" ", "_") for c in table.columns]
    absent = [c for c in _REQUIRED_COLUMNS if c not in table.columns]
    if absent:
        raise DatasetError(f"CBIS-DDSM table {path!r} lacks the columns {absent}.")
    table = table[list(_REQUIRED_COLUMNS)].apply(lambda column: column.str.strip())
    bad = ~table["pathology"].isin(_PATHOLOGIES)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"CBIS-DDSM table {path!r}, data row {row + 1}: pathology "
            f"{table['pathology'].iloc[row]!r} is not one of {list(_PATHOLOGIES)} "
            f"({int(bad.sum())} such rows)."
        )
    for column in ("image_file_path", "cropped_image_file_path", "patient_id"):
        empty = table[column] == ""
        if empty.any():
            raise DatasetError(
                f"CBIS-DDSM table {path!r}, "
                f"data row {int(np.flatnonzero(empty)[0]) + 1}: "
                f"empty {column}."
            )
    laterality = (
        table["left_or_right_breast"].str.upper().map({"LEFT": "L", "RIGHT": "R"})
    )
    if laterality.isna().any():
        row = int(np.flatnonzero(laterality.isna())[0])
        raise DatasetError(
            f"CBIS-DDSM table {path!r}, data row {row + 1}: left_or_right_breast "
            f"{table['left_or_right_breast'].iloc[row]!r} is neither LEFT nor RIGHT."
        )
    return table.assign(
        laterality=laterality,
        split=part,
        abnormality_type=kind,
        table_row=[
            f"{_TABLES[kind, part]} data row {i + 1}" for i in range(len(table))
        ],
    )


def _full_images(rows):
    """One row per full image; label = worst pathology of its abnormalities."""
    rank = {"BENIGN_WITHOUT_CALLBACK": 0, "BENIGN": 1, "MALIGNANT": 2}
    grouped = rows.assign(rank=rows["pathology"].map(rank)).groupby(
        "image_file_path", sort=False
    )
    samples = grouped.agg(
        patient_id=("patient_id", "first"),
        laterality=("laterality", "first"),
        view=("image_view", "first"),
        split=("split", "first"),
        abnormality_type=("abnormality_type", "first"),
        n_abnormalities=("abnormality_id", "size"),
        pathologies=("pathology", lambda p: ";".join(sorted(set(p)))),
        assessment=("assessment", lambda a: max(int(v) for v in a)),
        subtlety=("subtlety", lambda s: min(int(v) for v in s)),
        breast_density=("breast_density", "first"),
        rank=("rank", "max"),
        table_row=("table_row", "first"),
        mask_relatives=("roi_mask_file_path", tuple),
    ).reset_index()
    label_of_rank = {v: k for k, v in rank.items()}
    samples["label"] = samples.pop("rank").map(label_of_rank)
    samples["relative_path"] = samples.pop("image_file_path")
    samples["full_relative"] = samples["relative_path"]
    return samples


def _roi_images(rows):
    """One row per abnormality: its cropped ROI image."""
    return rows.assign(
        view=rows["image_view"],
        n_abnormalities=1,
        pathologies=rows["pathology"],
        label=rows["pathology"],
        relative_path=rows["cropped_image_file_path"],
        full_relative=rows["image_file_path"],
    )[
        [
            "patient_id",
            "laterality",
            "view",
            "split",
            "abnormality_type",
            "abnormality_id",
            "n_abnormalities",
            "pathologies",
            "assessment",
            "subtlety",
            "breast_density",
            "label",
            "relative_path",
            "full_relative",
            "table_row",
        ]
    ].reset_index(drop=True)
