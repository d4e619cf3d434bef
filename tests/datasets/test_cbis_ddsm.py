"""load_cbis_ddsm against verbatim excerpts of the official tables."""

import os
import shutil

import pandas as pd
import pytest

from mammoclf import DicomLoader, Resizer
from mammoclf.datasets import load_cbis_ddsm
from mammoclf.exceptions import DatasetError

TABLES = (
    "mass_case_description_train_set.csv",
    "mass_case_description_test_set.csv",
    "calc_case_description_train_set.csv",
    "calc_case_description_test_set.csv",
)


def table_rows(tables_dir):
    rows = []
    for name in TABLES:
        table = pd.read_csv(os.path.join(tables_dir, name), dtype=str)
        table.columns = [c.lower().replace(" ", "_") for c in table.columns]
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def uids(relative):
    case, study, series, name = relative.strip().split("/")
    return case, study, series, name


@pytest.fixture
def uid_layout(tmp_path, cbis_tables_dir, write_tiny_dicom):
    """A root in the tables' own layout: full images 64x48, ROI crop 8x8, mask 64x48."""
    root = tmp_path / "CBIS-DDSM"
    rows = table_rows(cbis_tables_dir)
    for relative in rows["image_file_path"].str.strip().unique():
        _, study, series, _ = uids(relative)
        write_tiny_dicom(os.path.join(root, relative), study, series, (64, 48))
    for crop, mask in zip(rows["cropped_image_file_path"], rows["roi_mask_file_path"]):
        _, study, series, _ = uids(crop)
        # The tables swap crop and mask names for some rows; write the crop
        # under the *mask's* name to prove the loader goes by size.
        write_tiny_dicom(os.path.join(root, mask.strip()), study, series, (8, 8))
        write_tiny_dicom(os.path.join(root, crop.strip()), study, series, (64, 48))
    return root


def test_full_image_labels_follow_the_worst_abnormality(uid_layout, cbis_tables_dir):
    data = load_cbis_ddsm(uid_layout, tables_dir=cbis_tables_dir)
    meta = data.metadata.set_index(
        ["patient_id", "abnormality_type", "laterality", "view"]
    ).sort_index()
    assert len(data.paths) == len(meta) == meta.index.nunique()
    assert all(os.path.isfile(p) for p in data.paths)
    label = meta["label"]
    # Real table facts: P_00820's right breast is benign, the left malignant.
    assert (
        label["P_00820", "mass", "R", "CC"]
        == label["P_00820", "mass", "R", "MLO"]
        == "BENIGN"
    )
    assert (
        label["P_00820", "mass", "L", "CC"]
        == label["P_00820", "mass", "L", "MLO"]
        == "MALIGNANT"
    )
    assert set(label["P_00173"]) == {"BENIGN"}
    # Images with a benign and a malignant abnormality are malignant.
    for patient, kind in (
        ("P_00969", "mass"),
        ("P_00419", "mass"),
        ("P_00353", "calc"),
    ):
        row = meta.loc[(patient, kind)]
        mixed = row[row["pathologies"] == "BENIGN;MALIGNANT"]
        assert len(mixed) > 0 and set(mixed["label"]) == {"MALIGNANT"}
    assert meta.loc[("P_00173", "mass", "R", "CC"), "n_abnormalities"] == 2
    assert set(data.groups) == {p for p, *_ in meta.index}
    assert set(meta["split"]) == {"train", "test"}


def test_benign_without_callback_options(uid_layout, cbis_tables_dir):
    # P_00858's right CC calcifications: one BENIGN, one BENIGN_WITHOUT_CALLBACK.
    def labels(option):
        data = load_cbis_ddsm(
            uid_layout,
            tables_dir=cbis_tables_dir,
            abnormality="calc",
            benign_without_callback=option,
        )
        return data.metadata.set_index(["patient_id", "laterality", "view"])

    assert labels("benign").loc[("P_00858", "R", "CC"), "pathologies"] == "BENIGN"
    kept = labels("keep").loc[("P_00858", "R", "CC")]
    assert kept["label"] == "BENIGN"
    assert kept["pathologies"] == "BENIGN;BENIGN_WITHOUT_CALLBACK"
    only_bwc = labels("keep")
    only_bwc = only_bwc[only_bwc["pathologies"] == "BENIGN_WITHOUT_CALLBACK"]
    assert len(only_bwc) and set(only_bwc["label"]) == {"BENIGN_WITHOUT_CALLBACK"}
    excluded = labels("exclude")
    assert not excluded["pathologies"].str.contains("WITHOUT").any()
    assert len(excluded) == len(labels("benign")) - len(only_bwc)


def test_subsets_and_official_split(uid_layout, cbis_tables_dir):
    data = load_cbis_ddsm(
        uid_layout, tables_dir=cbis_tables_dir, abnormality="mass", split="test"
    )
    assert all("/Mass-Test_" in p.replace(os.sep, "/") for p in data.paths)
    assert set(data.groups) == {"P_00016", "P_00173", "P_00820", "P_00969"}


def test_roi_crops_are_found_by_size_not_by_the_swapped_names(
    uid_layout, cbis_tables_dir
):
    import pydicom

    data = load_cbis_ddsm(uid_layout, tables_dir=cbis_tables_dir, image="roi")
    rows = table_rows(cbis_tables_dir)
    assert len(data.paths) == len(rows)  # one sample per abnormality
    assert all(pydicom.dcmread(p).Rows == 8 for p in data.paths)
    assert data.metadata["abnormality_id"].notna().all()
    assert (
        data.labels.tolist()
        == rows["pathology"].replace("BENIGN_WITHOUT_CALLBACK", "BENIGN").tolist()
    )


def test_missing_images_are_reported_together(uid_layout, cbis_tables_dir):
    everything = load_cbis_ddsm(uid_layout, tables_dir=cbis_tables_dir)
    victims = sorted(
        d
        for d in os.listdir(uid_layout)
        if d.startswith("Mass-Test_P_00173") and d.endswith(("CC", "MLO"))
    )[:3]
    for case in victims:
        shutil.rmtree(uid_layout / case)
    with pytest.raises(
        DatasetError, match=f"3 of {len(everything.paths)} CBIS-DDSM images"
    ) as info:
        load_cbis_ddsm(uid_layout, tables_dir=cbis_tables_dir)
    assert all(case in str(info.value) for case in victims)
    with pytest.warns(UserWarning, match="(?s)3 of .*They are skipped"):
        partial = load_cbis_ddsm(
            uid_layout, tables_dir=cbis_tables_dir, on_missing="warn"
        )
    assert len(partial.paths) == len(everything.paths) - 3
    assert not any(case in p for case in victims for p in partial.paths)


def test_descriptive_nbia_layout_is_matched_by_series_uid(
    tmp_path, cbis_tables_dir, write_tiny_dicom
):
    root = tmp_path / "CBIS-DDSM"
    rows = table_rows(cbis_tables_dir)
    for number, relative in enumerate(rows["image_file_path"].str.strip().unique()):
        case, study, series, _ = uids(relative)
        path = os.path.join(
            root,
            case,
            f"10-04-2016-DDSM-NA-{number:05d}",
            f"1.000000-full mammogram images-{number:05d}",
            "1-1.dcm",
        )
        write_tiny_dicom(path, study, series)
    data = load_cbis_ddsm(root, tables_dir=cbis_tables_dir)
    assert len(data.paths) == rows["image_file_path"].str.strip().nunique()
    assert all(p.endswith("1-1.dcm") and os.path.isfile(p) for p in data.paths)


def test_malformed_tables(tmp_path, cbis_tables_dir):
    for name in TABLES:
        shutil.copy(os.path.join(cbis_tables_dir, name), tmp_path / name)
    with pytest.raises(DatasetError, match="does not exist"):
        load_cbis_ddsm(tmp_path, tables_dir=tmp_path / "nowhere")
    table = pd.read_csv(tmp_path / TABLES[1], dtype=str)
    table.loc[2, "pathology"] = "MAYBE"
    table.to_csv(tmp_path / TABLES[1], index=False)
    with pytest.raises(DatasetError, match="data row 3: pathology 'MAYBE'"):
        load_cbis_ddsm(tmp_path, abnormality="mass", split="test")
    table.drop(columns=["pathology"]).to_csv(tmp_path / TABLES[1], index=False)
    with pytest.raises(DatasetError, match=r"lacks the columns \['pathology'\]"):
        load_cbis_ddsm(tmp_path, abnormality="mass", split="test")
    with pytest.raises(ValueError, match="'image' parameter of load_cbis_ddsm"):
        load_cbis_ddsm(tmp_path, image="mask")


@pytest.mark.realdata
@pytest.mark.parametrize("layout", ["tables", "nbia"])
def test_real_dicoms_get_their_table_labels(
    tmp_path, cbis_tables_dir, real_dicom_paths, layout
):
    import pydicom

    root = tmp_path / "CBIS-DDSM"
    rows = table_rows(cbis_tables_dir)
    by_series = {uids(p)[2]: p.strip() for p in rows["image_file_path"]}
    for number, source in enumerate(real_dicom_paths):
        header = pydicom.dcmread(source, stop_before_pixels=True)
        relative = by_series[header.SeriesInstanceUID]
        case = relative.split("/")[0]
        target = (
            os.path.join(root, relative)
            if layout == "tables"
            else os.path.join(
                root,
                case,
                "10-04-2016-DDSM-NA-1",
                f"1.000000-full mammogram images-{number}",
                "1-1.dcm",
            )
        )
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(source, target)
    with pytest.warns(UserWarning, match="They are skipped"):  # only 8 images exist
        data = load_cbis_ddsm(
            root,
            tables_dir=cbis_tables_dir,
            abnormality="mass",
            split="test",
            on_missing="warn",
        )
    meta = data.metadata.set_index(["patient_id", "laterality", "view"])["label"]
    assert len(meta) == 8
    assert meta.to_dict() == {
        ("P_00173", "L", "CC"): "BENIGN",
        ("P_00173", "L", "MLO"): "BENIGN",
        ("P_00173", "R", "CC"): "BENIGN",
        ("P_00173", "R", "MLO"): "BENIGN",
        ("P_00820", "L", "CC"): "MALIGNANT",
        ("P_00820", "L", "MLO"): "MALIGNANT",
        ("P_00820", "R", "CC"): "BENIGN",
        ("P_00820", "R", "MLO"): "BENIGN",
    }
    # The grouping key is the table's patient id, not the per-image DICOM PatientID.
    assert sorted(set(data.groups)) == ["P_00173", "P_00820"]
    images = Resizer(size=32).fit_transform(DicomLoader().transform(data.paths[:2]))
    assert images.shape == (2, 32, 32, 1)


@pytest.fixture
def nbia_layout(tmp_path, cbis_tables_dir, write_tiny_dicom):
    """A root in NBIA's descriptive layout (full images only)."""
    root = tmp_path / "CBIS-DDSM"
    rows = table_rows(cbis_tables_dir)
    for number, relative in enumerate(rows["image_file_path"].str.strip().unique()):
        case, study, series, _ = uids(relative)
        path = os.path.join(
            root,
            case,
            f"10-04-2016-DDSM-NA-{number:05d}",
            f"1.000000-full mammogram images-{number:05d}",
            "1-1.dcm",
        )
        write_tiny_dicom(path, study, series)
    return root


@pytest.fixture
def header_reads(monkeypatch):
    """The DICOM headers read by load_cbis_ddsm, one entry per read."""
    from mammoclf.datasets import _locate

    reads = []
    original = _locate._read_header

    def counting(path):
        reads.append(path)
        return original(path)

    monkeypatch.setattr(_locate, "_read_header", counting)
    return reads


def test_header_index_makes_a_second_call_read_no_header(
    nbia_layout, cbis_tables_dir, tmp_path, header_reads, capsys
):
    cache = tmp_path / "cache"
    first = load_cbis_ddsm(
        nbia_layout, tables_dir=cbis_tables_dir, cache_dir=cache, verbose=1
    )
    n_files = len(header_reads)
    assert n_files == len(first.paths) > 0
    assert "[locating]" in capsys.readouterr().err
    second = load_cbis_ddsm(nbia_layout, tables_dir=cbis_tables_dir, cache_dir=cache)
    assert len(header_reads) == n_files  # nothing read again
    pd.testing.assert_frame_equal(second.metadata, first.metadata)
    # A rewritten file is read again; the others still come from the index.
    changed = first.paths[0]
    os.utime(changed, ns=(0, 10**18))
    load_cbis_ddsm(nbia_layout, tables_dir=cbis_tables_dir, cache_dir=cache)
    assert header_reads[n_files:] == [changed]


def test_header_index_holds_no_identifier_and_survives_damage(
    nbia_layout, cbis_tables_dir, tmp_path, header_reads
):
    cache = tmp_path / "cache"
    load_cbis_ddsm(nbia_layout, tables_dir=cbis_tables_dir, cache_dir=cache)
    (index,) = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(cache / "cbis-ddsm-index")
        for name in names
    ]
    with open(index, "rb") as handle:
        content = handle.read()
    rows = table_rows(cbis_tables_dir)
    for relative in rows["image_file_path"]:
        case, study, series, _ = uids(relative)
        for secret in (case, "P_" + case.split("_P_")[1][:5], study, series):
            assert secret.encode() not in content
    assert b"1-1.dcm" not in content and os.fsencode(nbia_layout) not in content
    n_files = len(header_reads)
    with open(index, "r+b") as handle:
        handle.seek(-3, os.SEEK_END)
        handle.write(b"xyz")
    with pytest.warns(UserWarning, match="header index .* is damaged"):
        again = load_cbis_ddsm(nbia_layout, tables_dir=cbis_tables_dir, cache_dir=cache)
    assert len(header_reads) == 2 * n_files and len(again.paths) == n_files


def test_no_header_index_without_cache_dir(nbia_layout, cbis_tables_dir, header_reads):
    cache = os.environ["MAMMOCLF_CACHE_DIR"]
    before = sorted(os.listdir(cache)) if os.path.isdir(cache) else []
    load_cbis_ddsm(nbia_layout, tables_dir=cbis_tables_dir, cache_dir=None)
    load_cbis_ddsm(nbia_layout, tables_dir=cbis_tables_dir, cache_dir=None)
    assert len(header_reads) == 2 * len(set(header_reads))
    after = sorted(os.listdir(cache)) if os.path.isdir(cache) else []
    assert after == before
