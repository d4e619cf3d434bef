"""Find the files of CBIS-DDSM table rows in the Kaggle JPEG release.

The release (``cbis-ddsm-breast-cancer-image-dataset``) holds ``csv/`` (the
four description tables, ``dicom_info.csv``, ``meta.csv``) and
``jpeg/<SeriesInstanceUID>/1-N.jpg``. A table path
``<case>/<StudyInstanceUID>/<SeriesInstanceUID>/000000.dcm`` names its
series folder in its third component; ``dicom_info.csv`` says which file of
the folder is what (one row per image: ``image_path``, ``PatientID`` -- the
table path's first component --, ``SeriesInstanceUID`` and
``SeriesDescription``: ``full mammogram images``, ``cropped images``, ``ROI
mask images``, blank on some rows). One folder can hold the crop and the
mask of one abnormality. The rules, each checked by a test on the fixture
of ``tests/datasets/cbis_jpeg_fixture.py``:

- a full mammogram's file has ``PatientID`` equal to the row's case and
  ``SeriesDescription`` ``full mammogram images``, or blank and then it
  must be full-field sized (at least a quarter of the median pixel count of
  the labelled full mammograms) and not binary;
- a mask's file has ``ROI mask images``, or blank and a binary image;
- a crop's file has ``cropped images``, or blank, not binary and smaller
  than full-field;
- without ``dicom_info.csv``, a full mammogram's series folder must hold
  exactly one JPEG, a mask is the one binary image of its folder, a crop
  the one other image;
- two candidates, or a file whose ``PatientID`` contradicts its row, are
  refused: one :class:`~mammoclf.exceptions.DatasetError` lists every such
  row with its candidate files.
"""

import os

import numpy as np

from mammoclf.exceptions import DatasetError
from mammoclf.utils._paths import format_path_list

__all__ = ["DICOM_INFO", "JpegLocator", "is_binary_image"]

DICOM_INFO = "dicom_info.csv"
_FULL, _CROP, _MASK = "full mammogram images", "cropped images", "roi mask images"
# A JPEG-compressed mask rings at its edges: "binary" allows 1 % of pixels
# between the two levels (more than a mask's edge, far less than any tissue).
_MID_GREY = (32, 223)
_MAX_MID_GREY_SHARE = 0.01
# Full-field: at least this share of the median labelled full mammogram.
_FULL_FIELD_SHARE = 0.25
_REFERENCE_SAMPLE = 51
_DICOM_INFO_COLUMNS = ("image_path", "PatientID", "SeriesInstanceUID")


def is_binary_image(path):
    """Whether the 8-bit image at ``path`` is a mask: black and white only.

    JPEG compression leaves grey pixels along a mask's edges, so up to 1 %
    of pixels may lie between 32 and 223.
    """
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
    low, high = _MID_GREY
    grey = np.count_nonzero((pixels >= low) & (pixels <= high))
    return grey <= _MAX_MID_GREY_SHARE * pixels.size


def _pixel_count(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.size[0] * image.size[1]


class _Entry:
    """One ``dicom_info.csv`` row: its file, PatientID and description."""

    __slots__ = ("description", "path", "patient")

    def __init__(self, path, patient, description):
        self.path, self.patient, self.description = path, patient, description


class JpegLocator:
    """Map CBIS-DDSM table paths to files of the Kaggle JPEG release.

    Parameters
    ----------
    root : str
        The folder holding ``jpeg/`` (and usually ``csv/``).
    dicom_info : str or None
        Path of ``dicom_info.csv``; None applies the rules for its absence.
    """

    def __init__(self, root, dicom_info):
        self.root = root
        self.dicom_info = dicom_info
        self.unreadable = []  # the TCIA locator's field: JPEG headers are not read
        self._series = (
            None if dicom_info is None else _read_dicom_info(dicom_info, root)
        )
        self._reference = None
        self._binary = {}

    @property
    def description(self):
        return (
            "Kaggle JPEG release, files checked against dicom_info.csv"
            if self._series is not None
            else "Kaggle JPEG release without dicom_info.csv"
        )

    def locate_all(self, pairs, *, roi, names):
        """``(paths, missing)`` for ``(relative, full_relative)`` pairs.

        ``names`` name each pair's table row in errors. Every ambiguous row is
        refused together in one :class:`DatasetError`.
        """
        kind = "crop" if roi else "full"
        located, missing, refused = [], [], []
        for (relative, _full), name in zip(pairs, names):
            try:
                located.append(self.locate(relative, kind))
            except FileNotFoundError as exc:
                located.append(None)
                missing.append(str(exc))
            except _Refused as exc:
                located.append(None)
                refused.append(f"{name}: {exc}")
        _raise_refused(refused)
        return located, missing

    def locate_masks(self, pairs, names):
        """Per ``(mask paths, full path)`` pair, the tuple of its mask files.

        None where no mask was found. Returns the tuples and the number of
        masks not found.
        """
        masks, refused, n_missing = [], [], 0
        for (relatives, _full), name in zip(pairs, names):
            found = []
            for relative in filter(None, relatives):
                try:
                    found.append(self.locate(relative, "mask"))
                except FileNotFoundError:
                    n_missing += 1
                except _Refused as exc:
                    refused.append(f"{name}: {exc}")
            masks.append(tuple(dict.fromkeys(found)) or None)
        _raise_refused(refused)
        return masks, n_missing

    def locate(self, relative, kind):
        """The file of table path ``relative``, a ``kind`` of "full", "crop" or "mask"."""
        parts = relative.replace("\\", "/").split("/")
        if len(parts) != 4:
            raise FileNotFoundError(
                f"{relative} (not a <case>/<study>/<series>/<file> table path)"
            )
        case, _study, series, _name = parts
        if self._series is None:
            candidates = self._folder_candidates(relative, series, kind)
        else:
            candidates = self._listed_candidates(relative, case, series, kind)
        if len(candidates) > 1:
            raise _Refused(
                f"{relative}: {len(candidates)} candidate {kind} files"
                f"{format_path_list(candidates)}"
            )
        if not candidates:
            raise FileNotFoundError(f"{relative} (no {kind} image in series {series})")
        return candidates[0]

    # -------------------------------------------------- with dicom_info.csv
    def _listed_candidates(self, relative, case, series, kind):
        entries = self._series.get(series)
        if not entries:
            raise FileNotFoundError(f"{relative} (series not in dicom_info.csv)")
        candidates, absent = [], []
        for entry in entries:
            if entry.description not in ("", _FULL, _CROP, _MASK):
                raise _Refused(
                    f"{relative}: {entry.path} has the unknown SeriesDescription "
                    f"{entry.description!r}"
                )
            wanted = {"full": _FULL, "crop": _CROP, "mask": _MASK}[kind]
            if entry.description not in (wanted, ""):
                continue
            if not os.path.isfile(entry.path):
                absent.append(entry.path)
                continue
            if entry.description == "" and not self._looks_like(entry.path, kind):
                continue
            if entry.patient != case:
                raise _Refused(
                    f"{relative}: {entry.path} is listed in dicom_info.csv under "
                    f"PatientID {entry.patient!r}, not the row's {case!r}"
                )
            candidates.append(entry.path)
        if not candidates and absent:
            raise FileNotFoundError(f"{relative} (listed file {absent[0]} not found)")
        return candidates

    def _looks_like(self, path, kind):
        """The rules for a blank SeriesDescription: size and binariness."""
        if kind == "mask":
            return self._is_binary(path)
        if self._is_binary(path):
            return False
        full_field = _pixel_count(path) >= _FULL_FIELD_SHARE * self._reference_pixels()
        return full_field if kind == "full" else not full_field

    def _reference_pixels(self):
        """The median pixel count of the labelled full mammograms (a sample)."""
        if self._reference is None:
            labelled = sorted(
                entry.path
                for entries in self._series.values()
                for entry in entries
                if entry.description == _FULL and os.path.isfile(entry.path)
            )
            if not labelled:
                raise _Refused(
                    "dicom_info.csv labels no full mammogram, so an image with a "
                    "blank SeriesDescription cannot be told full-field or not"
                )
            step = max(1, len(labelled) // _REFERENCE_SAMPLE)
            self._reference = float(
                np.median([_pixel_count(p) for p in labelled[::step]])
            )
        return self._reference

    # ----------------------------------------------- without dicom_info.csv
    def _folder_candidates(self, relative, series, kind):
        folder = os.path.join(self.root, "jpeg", series)
        files = (
            sorted(
                os.path.join(folder, name)
                for name in os.listdir(folder)
                if name.lower().endswith((".jpg", ".jpeg"))
            )
            if os.path.isdir(folder)
            else []
        )
        if not files:
            raise FileNotFoundError(f"{relative} (no JPEG in {folder})")
        if kind == "full":
            return files
        binary = [path for path in files if self._is_binary(path)]
        chosen = binary if kind == "mask" else sorted(set(files) - set(binary))
        if not chosen:
            raise FileNotFoundError(
                f"{relative} (no {'binary' if kind == 'mask' else 'non-binary'} "
                f"image in {folder})"
            )
        return chosen

    def _is_binary(self, path):
        if path not in self._binary:
            self._binary[path] = is_binary_image(path)
        return self._binary[path]


class _Refused(Exception):
    """A row whose file cannot be chosen unambiguously."""


def _raise_refused(refused):
    if refused:
        raise DatasetError(
            f"{len(refused)} CBIS-DDSM rows cannot be mapped to one JPEG file "
            "unambiguously (see docs/user_guide/data.md, 'The Kaggle JPEG release'):"
            + "".join(f"\n  {line}" for line in refused[:20])
            + (f"\n  and {len(refused) - 20} more" if len(refused) > 20 else "")
        )


def _read_dicom_info(path, root):
    """``{series UID: [_Entry]}`` from ``dicom_info.csv``; files under ``root/jpeg``."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path!r} cannot be parsed: {exc}") from exc
    absent = [c for c in _DICOM_INFO_COLUMNS if c not in table.columns]
    if absent:
        raise DatasetError(f"{path!r} lacks the columns {absent}.")
    descriptions = (
        table["SeriesDescription"].str.strip().str.lower()
        if "SeriesDescription" in table.columns
        else pd.Series("", index=table.index)
    )
    series = {}
    for number, (image_path, patient, uid, description) in enumerate(
        zip(
            table["image_path"],
            table["PatientID"].str.strip(),
            table["SeriesInstanceUID"].str.strip(),
            descriptions,
        )
    ):
        parts = image_path.strip().replace("\\", "/").split("/")
        if "jpeg" not in parts[:-2]:
            raise DatasetError(
                f"{path!r}, data row {number + 1}: image_path {image_path!r} is not "
                "a .../jpeg/<SeriesInstanceUID>/<file> path."
            )
        local = os.path.join(root, "jpeg", *parts[parts.index("jpeg") + 1 :])
        series.setdefault(uid, []).append(_Entry(local, patient, description))
    return series
