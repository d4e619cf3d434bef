"""make_synthetic_mammograms: valid DICOM, deterministic, and labelled by shape only."""

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from mammoclf import DicomLoader
from mammoclf.datasets import make_synthetic_mammograms


def test_files_are_16_bit_mammography_dicom(synthetic):
    assert len(synthetic.paths) == 12
    for path, patient, view, laterality in zip(
        synthetic.paths,
        synthetic.groups,
        synthetic.metadata["view"],
        synthetic.metadata["laterality"],
    ):
        ds = pydicom.dcmread(path)
        assert ds.Modality == "MG" and ds.BitsAllocated == 16 and ds.BitsStored == 16
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert ds.PatientID == patient and ds.ViewPosition == view
        assert ds.ImageLaterality == laterality and ds.pixel_array.shape == (64, 64)


def test_each_patient_has_cc_and_mlo_of_one_breast_with_one_label(synthetic):
    meta = synthetic.metadata
    for _, views in meta.groupby("patient_id"):
        assert sorted(views["view"]) == ["CC", "MLO"]
        assert views["laterality"].nunique() == 1 and views["label"].nunique() == 1
    assert set(synthetic.labels) == {"BENIGN", "MALIGNANT"}
    assert np.array_equal(synthetic.labels, meta["label"].to_numpy(dtype=str))


def test_odd_count_and_class_balance(tmp_path):
    data = make_synthetic_mammograms(
        9, image_size=32, malignant_fraction=0.25, random_state=1, directory=tmp_path
    )
    assert len(data.paths) == 9 and data.metadata["view"].iloc[-1] == "CC"
    patients = data.metadata.drop_duplicates("patient_id")
    assert (patients["label"] == "MALIGNANT").sum() == 1  # round(0.25 * 5)


def test_same_seed_gives_byte_identical_files(synthetic, tmp_path):
    again = make_synthetic_mammograms(
        12, image_size=64, random_state=0, directory=tmp_path
    )
    for first, second in zip(synthetic.paths, again.paths):
        assert Path(first).read_bytes() == Path(second).read_bytes()
    other = make_synthetic_mammograms(
        12, image_size=64, random_state=1, directory=tmp_path / "other"
    )
    assert Path(other.paths[0]).read_bytes() != Path(again.paths[0]).read_bytes()


def test_right_breasts_face_the_other_way(synthetic):
    images = np.asarray(DicomLoader().transform(synthetic.paths))
    left_half = images[:, :, :32].mean(axis=(1, 2))
    right_half = images[:, :, 32:].mean(axis=(1, 2))
    is_left = synthetic.metadata["laterality"].to_numpy() == "L"
    assert np.array_equal(left_half > right_half, is_left)


def test_refuses_a_non_empty_directory(synthetic):
    with pytest.raises(ValueError, match="not empty"):
        make_synthetic_mammograms(4, directory=synthetic.directory)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_samples": 3}, "n_samples"),
        ({"image_size": 16}, "image_size"),
        ({"difficulty": 1.5}, "difficulty"),
        ({"malignant_fraction": 1.0}, "malignant_fraction"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic_mammograms(**kwargs)


def spiculation(image, row, column, area):
    """High-frequency energy in a ring around the lesion: spicules cross it."""
    radius = np.sqrt(area / np.pi)
    rows, columns = np.indices(image.shape)
    distance = np.hypot(rows - row, columns - column)
    ring = (distance > 1.3 * radius) & (distance < 2.5 * radius)
    detail = image - ndimage.gaussian_filter(image, 2)
    return np.abs(detail[ring]).mean()


def shape_and_confound_aucs(difficulty, tmp_path):
    data = make_synthetic_mammograms(
        400,
        image_size=64,
        difficulty=difficulty,
        random_state=0,
        directory=tmp_path / str(difficulty),
    )
    images = np.asarray(DicomLoader().transform(data.paths))
    malignant = data.labels == "MALIGNANT"
    meta = data.metadata
    shape = [
        spiculation(image, r, c, a)
        for image, r, c, a in zip(
            images, meta["lesion_row"], meta["lesion_col"], meta["lesion_area_px"]
        )
    ]
    return {
        "mean_intensity": roc_auc_score(malignant, images.mean(axis=(1, 2))),
        "lesion_area": roc_auc_score(malignant, meta["lesion_area_px"]),
        "lesion_contrast": roc_auc_score(malignant, meta["lesion_contrast"]),
        "spiculation": roc_auc_score(malignant, shape),
    }


def test_only_lesion_shape_separates_the_classes(tmp_path):
    easy = shape_and_confound_aucs(0.2, tmp_path)
    hard = shape_and_confound_aucs(1.0, tmp_path)
    for confound in ("mean_intensity", "lesion_area", "lesion_contrast"):
        assert 0.35 < easy[confound] < 0.65, (confound, easy)
        assert 0.35 < hard[confound] < 0.65, (confound, hard)
    assert easy["spiculation"] > 0.8, easy
    # The difficulty knob makes the shape signal weaker.
    assert hard["spiculation"] < easy["spiculation"] - 0.1, (easy, hard)


def test_lesion_metadata_is_per_breast_and_in_cbis_ddsm_vocabulary(synthetic):
    meta = synthetic.metadata
    per_breast = [
        "breast_density",
        "abnormality_type",
        "mass_shape",
        "mass_margins",
        "subtlety",
        "lesion_contrast",
    ]
    for _, views in meta.groupby("patient_id"):
        assert (views[per_breast].nunique() == 1).all()
    assert set(meta["breast_density"]) <= {1, 2, 3, 4}
    assert set(meta["subtlety"]) <= {1, 2, 3, 4, 5}
    assert set(meta["abnormality_type"]) == {"mass"}
    malignant = meta["label"] == "MALIGNANT"
    assert set(meta.loc[malignant, "mass_margins"]) == {"SPICULATED"}
    assert set(meta.loc[~malignant, "mass_margins"]) == {"CIRCUMSCRIBED"}
    assert set(meta.loc[malignant, "mass_shape"]) == {"IRREGULAR"}
    assert set(meta.loc[~malignant, "mass_shape"]) <= {"ROUND", "OVAL"}


def test_density_and_subtlety_follow_the_drawing(tmp_path):
    easy = make_synthetic_mammograms(
        40, image_size=32, difficulty=0.0, random_state=0, directory=tmp_path / "e"
    ).metadata
    hard = make_synthetic_mammograms(
        40, image_size=32, difficulty=1.0, random_state=0, directory=tmp_path / "h"
    ).metadata
    assert set(easy["breast_density"]) == {1, 2, 3, 4}
    # Lower contrast over stronger clutter: lesions are more subtle.
    assert hard["subtlety"].max() <= 3 <= easy["subtlety"].min()
    # Within one difficulty, denser breasts hide lesions of equal contrast more.
    contrast = easy["lesion_contrast"].to_numpy()
    density = easy["breast_density"].to_numpy()
    for i in range(len(easy)):
        for j in range(len(easy)):
            if contrast[i] >= contrast[j] and density[i] <= density[j]:
                assert easy["subtlety"].iloc[i] >= easy["subtlety"].iloc[j]


def test_masks_locate_each_lesion(synthetic):
    masks, meta = synthetic.masks, synthetic.metadata
    assert masks.shape == (12, 64, 64) and masks.dtype == bool
    images = np.asarray(DicomLoader().transform(synthetic.paths))
    for mask, image, (_, row) in zip(masks, images, meta.iterrows()):
        assert mask.sum() == row["lesion_area_px"] > 0
        # The centre is on the lesion, which is one connected footprint there.
        assert mask[row["lesion_row"], row["lesion_col"]]
        labelled, _ = ndimage.label(mask)
        centre_component = labelled == labelled[row["lesion_row"], row["lesion_col"]]
        assert centre_component.sum() >= 0.8 * mask.sum()
        # The lesion adds density: brighter inside its mask than around it.
        ring = ndimage.binary_dilation(mask, iterations=3) & ~mask
        assert image[mask].mean() > image[ring].mean()


def test_masks_follow_right_breasts_when_flipped(tmp_path):
    data = make_synthetic_mammograms(
        16, image_size=48, difficulty=0.0, random_state=3, directory=tmp_path
    )
    sides = data.metadata["laterality"].to_numpy()
    assert set(sides) == {"L", "R"}
    columns = np.array([np.flatnonzero(m.any(axis=0)).mean() for m in data.masks])
    np.testing.assert_allclose(columns, data.metadata["lesion_col"], atol=3)
    # Lesions sit in the breast, which hugs the chest wall: left for L, right for R.
    assert (columns[sides == "L"] < 32).all() and (columns[sides == "R"] > 16).all()


def test_paths_live_in_the_returned_directory(synthetic):
    assert all(os.path.dirname(p) == synthetic.directory for p in synthetic.paths)


def _stamps(paths):
    return [os.stat(p).st_mtime_ns for p in paths]


def test_a_seeded_data_set_is_reused_when_unchanged(tmp_path):
    first = make_synthetic_mammograms(
        6, image_size=32, random_state=0, directory=tmp_path
    )
    assert not first.reused and (tmp_path / "mammoclf-synthetic.json").is_file()
    stamps = _stamps(first.paths)
    again = make_synthetic_mammograms(
        6, image_size=32, random_state=0, directory=tmp_path
    )
    assert again.reused and _stamps(again.paths) == stamps  # nothing rewritten
    np.testing.assert_array_equal(again.masks, first.masks)
    assert again.metadata.equals(first.metadata)
    # Other arguments, or a changed file, are not this data set.
    with pytest.raises(ValueError, match="not empty .*mammoclf-synthetic.json"):
        make_synthetic_mammograms(6, image_size=32, random_state=1, directory=tmp_path)
    with open(first.paths[2], "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x01")
    with pytest.raises(ValueError, match="not empty"):
        make_synthetic_mammograms(6, image_size=32, random_state=0, directory=tmp_path)


def test_an_unseeded_data_set_has_no_manifest(tmp_path):
    data = make_synthetic_mammograms(4, image_size=32, directory=tmp_path)
    assert not data.reused and not (tmp_path / "mammoclf-synthetic.json").exists()
