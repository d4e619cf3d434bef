"""load_cbis_ddsm on the Kaggle JPEG release: every mapping rule and trap."""

import os

import numpy as np
import pandas as pd
import pytest

from mammoclf import DicomLoader, Resizer
from mammoclf.datasets import load_cbis_ddsm
from mammoclf.exceptions import DatasetError
from tests.datasets.cbis_jpeg_fixture import TABLES, write_jpeg_tree, write_tcia_tree

ROWS = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "fixtures", "cbis-ddsm-rows"
)
# Trap trees hold the first few patients of each table (and the label traps).
SMALL = 3


@pytest.fixture(scope="session")
def jpeg_tree(tmp_path_factory):
    """The 259 rows of tests/fixtures/cbis-ddsm-rows in the JPEG layout."""
    return write_jpeg_tree(tmp_path_factory.mktemp("kaggle") / "CBIS-DDSM", ROWS)


@pytest.fixture(scope="session")
def jpeg_data(jpeg_tree):
    return load_cbis_ddsm(jpeg_tree, masks=True, cache_dir=None)


def _info(root):
    return pd.read_csv(
        os.path.join(root, "csv", "dicom_info.csv"), dtype=str, keep_default_na=False
    )


def _rows(root):
    tables = []
    for name in TABLES:
        table = pd.read_csv(os.path.join(root, "csv", name), dtype=str)
        table.columns = [c.lower().replace(" ", "_") for c in table.columns]
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _series(relative):
    return relative.strip().split("/")[2]


def test_layout_is_recognised_and_rows_map_to_their_series(jpeg_tree, jpeg_data):
    assert jpeg_data.layout == (
        "Kaggle JPEG release, files checked against dicom_info.csv"
    )
    rows = _rows(jpeg_tree)
    assert len(rows) == 259
    full = rows.drop_duplicates("image_file_path")
    assert len(jpeg_data.paths) == len(full)
    expected = {_series(p) for p in full["image_file_path"]}
    found = {os.path.basename(os.path.dirname(p)) for p in jpeg_data.paths}
    assert found == expected
    info = _info(jpeg_tree).set_index("SeriesInstanceUID")
    # Blank SeriesDescription rows were decided by the image itself.
    blank_full = [
        p
        for p in jpeg_data.paths
        if (
            info.loc[[os.path.basename(os.path.dirname(p))], "SeriesDescription"] == ""
        ).all()
    ]
    assert blank_full


def test_labels_split_metadata_and_patients_come_from_the_tables(jpeg_data):
    meta = jpeg_data.metadata.set_index(
        ["patient_id", "abnormality_type", "laterality", "view"]
    ).sort_index()
    label = meta["label"]
    # P_00820: right breast benign, left malignant, as the tables say.
    assert set(label["P_00820", "mass", "R"]) == {"BENIGN"}
    assert set(label["P_00820", "mass", "L"]) == {"MALIGNANT"}
    for patient, kind in (("P_00969", "mass"), ("P_00419", "mass")):
        mixed = meta.loc[(patient, kind)]
        mixed = mixed[mixed["pathologies"] == "BENIGN;MALIGNANT"]
        assert len(mixed) and set(mixed["label"]) == {"MALIGNANT"}
    # BENIGN_WITHOUT_CALLBACK is benign.
    assert set(jpeg_data.labels) == {"BENIGN", "MALIGNANT"}
    assert meta.loc[("P_00858", "calc", "R", "CC"), "pathologies"] == "BENIGN"
    assert set(meta["split"]) == {"train", "test"}
    assert meta["breast_density"].isin(["1", "2", "3", "4"]).all()
    assert meta["subtlety"].between(0, 5).all()
    assert set(jpeg_data.groups) == {p for p, *_ in meta.index}


def test_masks_are_found_in_shared_series_and_checked_for_size(jpeg_tree, jpeg_data):
    meta = jpeg_data.metadata
    # One mask file is missing; one mask has another aspect ratio (dropped);
    # the half-size mask has the same aspect and is kept.
    assert jpeg_data.n_masks_missing == 1 and jpeg_data.n_masks_dropped == 1
    assert int(meta["n_masks_dropped"].sum()) == 1
    masks = [m for masks in meta["mask"].dropna() for m in masks]
    info = _info(jpeg_tree)
    description = dict(
        zip(
            [
                os.path.join(jpeg_tree, "jpeg", *p.split("/")[2:])
                for p in info["image_path"]
            ],
            info["SeriesDescription"],
        )
    )
    assert {description[m] for m in masks} == {"ROI mask images", ""}
    shared = [m for m in masks if os.path.basename(m) == "1-2.jpg"]
    assert shared  # masks that share their series folder with a crop
    several = meta[meta["n_abnormalities"] > 1]["mask"].dropna()
    assert max(len(m) for m in several) > 1  # an image gets all its masks


def test_roi_crops_are_told_from_masks(jpeg_tree):
    from PIL import Image

    data = load_cbis_ddsm(jpeg_tree, image="roi", on_missing="warn", cache_dir=None)
    assert len(data.paths) == 259
    for path in data.paths[:40]:
        with Image.open(path) as image:
            pixels = np.asarray(image)
        assert pixels.shape[0] < 30  # crop-sized, not the mask
        assert np.mean((pixels > 32) & (pixels < 223)) > 0.05  # not binary


@pytest.fixture(scope="session")
def small_tree(tmp_path_factory):
    """The trap trees' rows without a trap."""
    return write_jpeg_tree(
        tmp_path_factory.mktemp("small") / "CBIS-DDSM", ROWS, n_patients=SMALL
    )


@pytest.fixture(scope="session")
def small_data(small_tree):
    return load_cbis_ddsm(small_tree, masks=True, cache_dir=None)


def _trap_tree(tmp_path, trap):
    return write_jpeg_tree(tmp_path / "CBIS-DDSM", ROWS, trap=trap, n_patients=SMALL)


def _victim(root, which="full mammogram images", index=4):
    info = _info(root)
    return info[info["SeriesDescription"] == which].iloc[index]


@pytest.mark.parametrize(
    "trap", ["blank_full_binary", "blank_full_small", "missing_full"]
)
def test_an_image_that_is_not_a_full_mammogram_is_missing(tmp_path, trap, small_data):
    root = _trap_tree(tmp_path, trap)
    baseline = small_data
    with pytest.raises(DatasetError, match=f"1 of {len(baseline.paths)} CBIS-DDSM"):
        load_cbis_ddsm(root, cache_dir=None)
    with pytest.warns(UserWarning, match="They are skipped"):
        data = load_cbis_ddsm(root, on_missing="warn", cache_dir=None)
    assert len(data.paths) == len(baseline.paths) - 1


def test_two_full_mammograms_in_a_series_are_refused(tmp_path):
    root = _trap_tree(tmp_path, "two_full")
    victim = _victim(root)
    with pytest.raises(DatasetError, match="unambiguously") as info:
        load_cbis_ddsm(root, cache_dir=None)
    message = str(info.value)
    assert "data row" in message and victim["PatientID"] in message
    assert "1-1.jpg" in message and "1-2.jpg" in message


def test_a_patient_id_contradicting_its_row_is_refused(tmp_path):
    root = _trap_tree(tmp_path, "patient_mismatch")
    with pytest.raises(DatasetError, match=r"listed in dicom_info.csv under PatientID"):
        load_cbis_ddsm(root, cache_dir=None)


def test_two_masks_in_a_series_are_refused_only_when_masks_are_asked(tmp_path):
    root = _trap_tree(tmp_path, "two_masks")
    load_cbis_ddsm(root, cache_dir=None)
    with pytest.raises(DatasetError, match=r"(?s)2 candidate mask files.*b\.jpg"):
        load_cbis_ddsm(root, masks=True, cache_dir=None)


def test_a_blank_described_mask_must_be_binary(tmp_path, small_data):
    base = small_data
    data = load_cbis_ddsm(
        _trap_tree(tmp_path, "blank_mask_grey"), masks=True, cache_dir=None
    )
    assert data.n_masks_missing == base.n_masks_missing + 1


def test_without_dicom_info_the_folder_rules_apply(tmp_path, small_tree, small_data):
    base_root, base = small_tree, small_data
    root = _trap_tree(tmp_path, "no_dicom_info")
    data = load_cbis_ddsm(root, masks=True, cache_dir=None)
    assert data.layout == "Kaggle JPEG release without dicom_info.csv"
    relative = [os.path.relpath(p, root) for p in data.paths]
    assert relative == [os.path.relpath(p, base_root) for p in base.paths]
    assert data.labels.tolist() == base.labels.tolist()
    assert [
        None if m is None else [os.path.relpath(p, root) for p in m]
        for m in data.metadata["mask"]
    ] == [
        None if m is None else [os.path.relpath(p, base_root) for p in m]
        for m in base.metadata["mask"]
    ]
    two = _trap_tree(tmp_path / "two", "no_dicom_info_two_jpegs")
    with pytest.raises(DatasetError, match=r"(?s)data row.*2 candidate full files"):
        load_cbis_ddsm(two, cache_dir=None)


def test_both_layouts_give_the_same_images_labels_and_patients(tmp_path, small_data):
    jpeg = small_data
    tcia = load_cbis_ddsm(
        write_tcia_tree(tmp_path / "tcia", ROWS, n_patients=SMALL),
        masks=True,
        cache_dir=None,
    )
    assert tcia.layout == "TCIA DICOM download (table paths)"
    columns = [c for c in jpeg.metadata.columns if c not in ("path", "mask")]
    pd.testing.assert_frame_equal(jpeg.metadata[columns], tcia.metadata[columns])
    assert jpeg.n_masks_missing == tcia.n_masks_missing == 1
    images = [
        Resizer(size=16).fit_transform(DicomLoader().transform(d.paths))
        for d in (jpeg, tcia)
    ]
    np.testing.assert_array_equal(*images)
    from mammoclf.evaluation._report_localization import lesion_masks

    masks = [lesion_masks(list(d.metadata["mask"]), 16) for d in (jpeg, tcia)]
    np.testing.assert_array_equal(masks[0][1], masks[1][1])
    np.testing.assert_array_equal(masks[0][0], masks[1][0])


def test_the_image_cache_works_on_jpeg_files(jpeg_data, tmp_path):
    paths = jpeg_data.paths[:6]
    first = DicomLoader(cache_dir=tmp_path).fit_transform(paths)
    Resizer(size=16).fit_transform(first)
    second = DicomLoader(cache_dir=tmp_path).fit_transform(paths)
    images = Resizer(size=16).fit_transform(second)
    assert second.last_run["decoded"] == 0 and second.last_run["from_cache"] == 6
    assert images.dtype == np.float32 and images.min() == 0.0 and images.max() <= 1.0


def test_masks_need_full_images(small_tree):
    with pytest.raises(ValueError, match="masks=True needs image='full'"):
        load_cbis_ddsm(small_tree, image="roi", masks=True, cache_dir=None)
