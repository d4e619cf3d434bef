"""Small CBIS-DDSM trees, in the Kaggle JPEG and the TCIA DICOM layout, from real rows.

``write_jpeg_tree(root, tables_dir, trap=None)`` writes the layout of the
Kaggle release ``cbis-ddsm-breast-cancer-image-dataset``:

- ``csv/``: the rows of the four official description tables in
  ``tables_dir`` (``tests/fixtures/cbis-ddsm-rows``: 259 rows), or of their
  first ``n_patients`` patients and :data:`PATIENTS`; ``dicom_info.csv`` (one row per image:
  ``image_path``, ``PatientID``, ``StudyInstanceUID``, ``SeriesInstanceUID``,
  ``SeriesDescription``, ``Laterality``, ``Rows``, ``Columns``) and
  ``meta.csv``;
- ``jpeg/<SeriesInstanceUID>/1-N.jpg``: synthetic 8-bit images of realistic
  relative sizes (a full mammogram about 80 x 48, a crop a fifth of that, a
  mask the full image's size), tiny in absolute terms so that tests stay fast.

As in the release, most crops share their series folder with their mask
(in either file order), every seventh ``dicom_info.csv`` row has a blank
``SeriesDescription``, and one mask file is missing. Two masks have the
known CBIS-DDSM size defect: one is half size (same aspect: rescaled), one
is squashed (other aspect: dropped). ``trap`` adds one defect per rule of
:mod:`mammoclf.datasets._kaggle` (see :data:`TRAPS`).

``write_tcia_tree(root, jpeg_root)`` writes the same rows' images as DICOM
files at the tables' own paths, pixel for pixel the decoded JPEGs, so that
both layouts must give the same images, labels and patients.
"""

import os

import numpy as np
import pandas as pd
from PIL import Image

__all__ = ["PATIENTS", "TABLES", "TRAPS", "write_jpeg_tree", "write_tcia_tree"]

TABLES = (
    "mass_case_description_train_set.csv",
    "mass_case_description_test_set.csv",
    "calc_case_description_train_set.csv",
    "calc_case_description_test_set.csv",
)
# The first patients of each table, plus those of the label traps: P_00820
# (right breast benign, left malignant), images with benign and malignant
# abnormalities (P_00969, P_00419, P_00353) and BENIGN_WITHOUT_CALLBACK
# (P_00858).
PATIENTS = ("P_00820", "P_00969", "P_00419", "P_00353", "P_00858")
TRAPS = (
    "blank_full_binary",  # a full image, blank description, binary: not a mammogram
    "blank_full_small",  # a full image, blank description, crop-sized: not full-field
    "two_full",  # two "full mammogram images" in one series: refused
    "patient_mismatch",  # a full image listed under another PatientID: refused
    "two_masks",  # two "ROI mask images" in one series: refused
    "blank_mask_grey",  # a mask, blank description, not binary: no mask
    "missing_full",  # a full image's file deleted
    "no_dicom_info",  # no dicom_info.csv: the folder rules
    "no_dicom_info_two_jpegs",  # ... and a full image's folder with two JPEGs
)
_DESCRIPTION = {
    "full": "full mammogram images",
    "crop": "cropped images",
    "mask": "ROI mask images",
}


def _rows(tables_dir, n_patients):
    """``{table name: rows}``: the chosen patients' rows of each official table."""
    chosen = {}
    for name in TABLES:
        table = pd.read_csv(
            os.path.join(tables_dir, name), dtype=str, keep_default_na=False
        )
        first = sorted(table["patient_id"].unique())[:n_patients]
        if n_patients is None:
            first = list(table["patient_id"])
        keep = table["patient_id"].isin([*first, *PATIENTS])
        chosen[name] = table[keep].reset_index(drop=True)
    return chosen


def _parts(path):
    return path.strip().split("/")


def _full_image(rng, shape):
    """A breast-like 8-bit image: dark background, textured tissue on one side."""
    rows, columns = shape
    y, x = np.mgrid[0:rows, 0:columns]
    breast = (x / columns) ** 2 + ((y - rows / 2) / (rows / 2)) ** 2 < 0.9
    tissue = 90 + 60 * rng.random(shape) + 40 * np.sin(y / 3.0)
    return np.where(breast, tissue, 0).astype(np.uint8)


def _mask(rng, shape):
    mask = np.zeros(shape, dtype=np.uint8)
    top = int(rng.integers(shape[0] // 4, shape[0] // 2))
    left = int(rng.integers(2, shape[1] // 3))
    mask[top : top + max(shape[0] // 5, 2), left : left + max(shape[1] // 4, 2)] = 255
    return mask


def _records(tables_dir, n_patients):
    """The chosen tables and one record per image: table path, kind, file, pixels."""
    rng = np.random.default_rng(0)
    tables, records, full_shapes = _rows(tables_dir, n_patients), [], {}
    for table in tables.values():
        for full, crop, mask in zip(
            table["image file path"].str.strip(),
            table["cropped image file path"].str.strip(),
            table["ROI mask file path"].str.strip(),
        ):
            if full not in full_shapes:
                height = int(rng.integers(72, 97))
                full_shapes[full] = (height, round(height * 0.6))
                records.append(
                    _record(full, "full", _full_image(rng, full_shapes[full]))
                )
            shape = full_shapes[full]
            crop_pixels = _full_image(rng, (shape[0] // 5, shape[1] // 5 + 2)) + 20
            names = ("1-1.jpg", "1-2.jpg")
            if _parts(crop)[2] != _parts(mask)[2]:
                names = ("1-1.jpg", "1-1.jpg")
            elif rng.random() < 0.5:
                names = names[::-1]  # the release's file order is arbitrary
            records.append(_record(crop, "crop", crop_pixels, names[0]))
            records.append(_record(mask, "mask", _mask(rng, shape), names[1]))
    masks = [r for r in records if r["kind"] == "mask"]
    # The known CBIS-DDSM defect: masks not the size of their image.
    for record, factor in ((masks[1], (0.5, 0.5)), (masks[2], (1.0, 0.75))):
        shape = record["pixels"].shape
        shape = (round(shape[0] * factor[0]), round(shape[1] * factor[1]))
        record["pixels"] = _mask(np.random.default_rng(1), shape)
    masks[5]["missing"] = True  # as in a partial download
    return tables, records


def _record(relative, kind, pixels, name="1-1.jpg"):
    case, study, series, _ = _parts(relative)
    return {
        "relative": relative,
        "kind": kind,
        "case": case,
        "study": study,
        "series": series,
        "name": name,
        "pixels": pixels,
        "missing": False,
    }


def _save_jpeg(path, pixels):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=95)


def _info_row(record, number):
    return {
        "image_path": f"CBIS-DDSM/jpeg/{record['series']}/{record['name']}",
        "PatientID": record["case"],
        "StudyInstanceUID": record["study"],
        "SeriesInstanceUID": record["series"],
        # As in the release, some rows have no description.
        "SeriesDescription": "" if number % 7 == 3 else _DESCRIPTION[record["kind"]],
        "Laterality": "L" if "_LEFT_" in record["case"] else "R",
        "Rows": record["pixels"].shape[0],
        "Columns": record["pixels"].shape[1],
    }


def write_jpeg_tree(root, tables_dir, trap=None, n_patients=None):
    """Write the Kaggle-layout tree; return its root (see the module docstring)."""
    if trap is not None and trap not in TRAPS:
        raise ValueError(f"trap must be one of {TRAPS}; got {trap!r}.")
    root = os.fspath(root)
    os.makedirs(os.path.join(root, "csv"))
    tables, records = _records(tables_dir, n_patients)
    for name, table in tables.items():
        table.to_csv(os.path.join(root, "csv", name), index=False)
    info = []
    for number, record in enumerate(records):
        info.append(_info_row(record, number))
        if not record["missing"]:
            _save_jpeg(_local(root, info[-1]["image_path"]), record["pixels"])
    _apply_trap(root, info, trap)
    info = pd.DataFrame(info)
    if not trap or not trap.startswith("no_dicom_info"):
        info.to_csv(os.path.join(root, "csv", "dicom_info.csv"), index=False)
    meta = info[["SeriesInstanceUID", "StudyInstanceUID", "SeriesDescription"]]
    meta.drop_duplicates("SeriesInstanceUID").to_csv(
        os.path.join(root, "csv", "meta.csv"), index=False
    )
    return root


def _local(root, image_path):
    return os.path.join(root, "jpeg", *image_path.split("/")[2:])


def _apply_trap(root, info, trap):
    """Break one rule; the broken row is the fifth listed full image or mask."""
    rng = np.random.default_rng(2)
    fulls = [r for r in info if r["SeriesDescription"] == _DESCRIPTION["full"]]
    masks = [r for r in info if r["SeriesDescription"] == _DESCRIPTION["mask"]]
    full, mask = fulls[4], masks[6]
    shape, mask_shape = (full["Rows"], full["Columns"]), (mask["Rows"], mask["Columns"])
    if trap == "blank_full_binary":
        full["SeriesDescription"] = ""
        _save_jpeg(_local(root, full["image_path"]), _mask(rng, shape))
    elif trap == "blank_full_small":
        full["SeriesDescription"] = ""
        _save_jpeg(_local(root, full["image_path"]), _full_image(rng, (16, 10)))
    elif trap in ("two_full", "no_dicom_info_two_jpegs"):
        extra = dict(full, image_path=full["image_path"].replace("1-1.jpg", "1-2.jpg"))
        info.append(extra)
        _save_jpeg(_local(root, extra["image_path"]), _full_image(rng, shape))
    elif trap == "patient_mismatch":
        full["PatientID"] = full["PatientID"].replace("_P_", "_P_9")
    elif trap == "two_masks":
        extra = dict(mask, image_path=mask["image_path"].replace(".jpg", "b.jpg"))
        info.append(extra)
        _save_jpeg(_local(root, extra["image_path"]), _mask(rng, mask_shape))
    elif trap == "blank_mask_grey":
        mask["SeriesDescription"] = ""
        _save_jpeg(_local(root, mask["image_path"]), _full_image(rng, mask_shape))
    elif trap == "missing_full":
        os.remove(_local(root, full["image_path"]))


def write_tcia_tree(root, tables_dir, n_patients=None):
    """The same rows as DICOM files at the tables' own paths (TCIA's layout).

    Each file holds the pixels its JPEG decodes to, so both layouts give the
    same images.
    """
    import io

    root = os.fspath(root)
    tables, records = _records(tables_dir, n_patients)
    os.makedirs(root, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(os.path.join(root, name), index=False)
    for record in records:
        if record["missing"]:
            continue
        buffer = io.BytesIO()
        Image.fromarray(record["pixels"]).save(buffer, format="JPEG", quality=95)
        buffer.seek(0)
        pixels = np.asarray(Image.open(buffer))
        _write_dicom(os.path.join(root, record["relative"]), record, pixels)
    return root


def _write_dicom(path, record, pixels):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = record["study"], record["series"]
    ds.PatientID = record["case"]
    ds.Modality = "MG"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
