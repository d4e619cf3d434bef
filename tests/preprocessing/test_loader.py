"""DicomLoader: laziness, memory, parallelism, caches, metadata and privacy."""

import logging
import os
import pickle
import tracemalloc
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import _safe_indexing

from mammoclf import DicomLoader, Resizer, make_pipeline
from mammoclf.exceptions import InvalidImageError
from mammoclf.preprocessing import ImageSequence, pseudonym, read_metadata


@pytest.fixture
def files(write_dicom):
    rng = np.random.default_rng(0)
    return [
        write_dicom(rng.integers(0, 4096, (24 + i, 20)).astype(np.uint16), f"f{i}.dcm")
        for i in range(4)
    ]


def test_transform_is_lazy_and_picklable(files, decode_counter):
    images = DicomLoader().fit_transform(files)
    assert isinstance(images, ImageSequence) and len(images) == 4
    assert decode_counter == []
    restored = pickle.loads(pickle.dumps(images))
    assert restored == images and joblib.hash(restored) == joblib.hash(images)
    assert images[1].shape == (25, 20) and decode_counter == [files[1]]


def test_hash_is_deterministic_and_notices_changed_files(files, write_dicom):
    first = joblib.hash(DicomLoader().transform(files))
    assert joblib.hash(DicomLoader().transform(list(files))) == first
    write_dicom(np.arange(400, dtype=np.uint16).reshape(20, 20), "f0.dcm")
    assert joblib.hash(DicomLoader().transform(files)) != first


def test_scikit_learn_indexing_stays_lazy(files, decode_counter):
    images = DicomLoader().transform(files)
    subset = _safe_indexing(images, np.array([3, 1]))
    assert isinstance(subset, ImageSequence)
    assert subset.paths == (files[3], files[1])
    assert images[np.array([True, False, True, False])].paths == (files[0], files[2])
    assert images[1:3].paths == tuple(files[1:3])
    assert decode_counter == []


def test_array_conversion_needs_equal_sizes(files, write_dicom):
    with pytest.raises(InvalidImageError, match="different sizes"):
        np.asarray(DicomLoader().transform(files))
    same = [
        write_dicom(np.arange(64, dtype=np.uint16).reshape(8, 8), f"s{i}.dcm")
        for i in range(2)
    ]
    assert np.asarray(DicomLoader().transform(same)).shape == (2, 8, 8)


def test_repr_shows_no_paths(files):
    text = repr(DicomLoader().transform(files))
    assert "n_images=4" in text and "f0.dcm" not in text and os.sep not in text


def test_parallel_decoding_gives_identical_images(files):
    sequential = Resizer(size=16).fit_transform(DicomLoader().transform(files))
    parallel = Resizer(size=16).fit_transform(DicomLoader(n_jobs=2).transform(files))
    np.testing.assert_array_equal(parallel, sequential)


def test_disk_cache_decodes_each_file_once(
    files, tmp_path, decode_counter, write_dicom
):
    loader = DicomLoader(cache_dir=tmp_path / "cache")
    first = Resizer(size=16).fit_transform(loader.transform(files))
    assert len(decode_counter) == 4
    again = Resizer(size=16).fit_transform(loader.transform(files[::-1]))
    assert len(decode_counter) == 4  # every image came from the cache
    np.testing.assert_array_equal(again, first[::-1])
    Resizer(size=12).fit_transform(loader.transform(files))  # other settings: new keys
    assert len(decode_counter) == 8
    write_dicom(np.arange(400, dtype=np.uint16).reshape(20, 20), "f0.dcm")
    changed = Resizer(size=16).fit_transform(loader.transform(files))
    assert decode_counter[8:] == [files[0]]
    assert not np.array_equal(changed[0], first[0])
    entries = [
        n
        for _, _, names in os.walk(tmp_path / "cache")
        for n in names
        if n != "CACHEDIR.TAG"
    ]
    assert len(entries) == 9 and not any("dcm" in n for n in entries)


def test_pipeline_memory_reuses_decoded_images(files, tmp_path, decode_counter):
    flatten = FunctionTransformer(np.reshape, kw_args={"shape": (-1, 64)})
    pipe = make_pipeline(
        DicomLoader(),
        Resizer(size=8),
        flatten,
        LogisticRegression(),
        memory=str(tmp_path / "memory"),
    )
    y = [0, 1, 0, 1]
    first = clone(pipe).fit(files, y).predict_proba(files)
    n_decodes = len(decode_counter)
    second = clone(pipe).fit(files, y).predict_proba(files)
    # The second fit loads the resized images from the cache; only the two
    # predict calls decode again (predict is never cached).
    assert len(decode_counter) == n_decodes + 4
    np.testing.assert_array_equal(first, second)


def test_peak_memory_is_a_few_images_not_the_data_set(write_dicom):
    rng = np.random.default_rng(0)
    shape = (600, 500)
    paths = [
        write_dicom(rng.integers(0, 65535, shape).astype(np.uint16), f"big{i}.dcm")
        for i in range(12)
    ]
    image_bytes = shape[0] * shape[1] * 4  # one decoded float32 image
    tracemalloc.start()
    try:
        resized = Resizer(size=32).fit_transform(DicomLoader().transform(paths))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resized.shape == (12, 32, 32, 1)
    # Holding all 12 decoded images would need 12 image_bytes.
    assert peak < 4 * image_bytes, peak / image_bytes


def test_crop_removes_background_and_labels_and_flip_orients(tmp_path):
    image = np.zeros((200, 160), np.uint16)
    rows, columns = np.mgrid[:200, :160]
    breast = ((rows - 100) / 80.0) ** 2 + ((columns - 160) / 90.0) ** 2 < 1
    image[breast] = 3000 + (columns[breast] * 3).astype(np.uint16)
    image[10:14, 5:25] = 4095  # a burned-in label, far from the breast
    Image.fromarray(image).save(tmp_path / "right.png")
    plain = DicomLoader().transform([tmp_path / "right.png"])[0]
    cropped = DicomLoader(crop_breast=True).transform([tmp_path / "right.png"])[0]
    assert cropped.shape[1] < 110 and cropped.shape[0] >= 160
    assert cropped[:, 0].max() < 0.1  # the label's columns are gone
    flipped = DicomLoader(chest_wall_side="left").transform([tmp_path / "right.png"])[0]
    np.testing.assert_array_equal(flipped, plain[:, ::-1])
    kept = DicomLoader(chest_wall_side="right").transform([tmp_path / "right.png"])[0]
    np.testing.assert_array_equal(kept, plain)


def test_metadata_is_pseudonymised_by_default(write_dicom, gradient_image, tmp_path):
    path = write_dicom(
        gradient_image,
        PatientID="SECRET-ID-42",
        PatientName="Doe^Jane",
        ImageLaterality="R",
        ViewPosition="MLO",
        StudyInstanceUID="1.2.3.4",
    )
    Image.fromarray(gradient_image).save(tmp_path / "plain.png")
    meta = read_metadata([path, tmp_path / "plain.png"], salt="k")
    first = meta.iloc[0]
    assert first["patient_id"] == pseudonym("SECRET-ID-42", salt="k")
    assert first["study_uid"] == pseudonym("1.2.3.4", salt="k")
    assert (first["laterality"], first["view"], first["modality"]) == ("R", "MLO", "MG")
    assert (first["rows"], first["columns"], first["bits_stored"]) == (40, 30, 16)
    assert meta.iloc[1]["format"] == "png" and pd.isna(meta.iloc[1]["patient_id"])
    assert "SECRET" not in meta.to_csv() and "Doe" not in meta.to_csv()
    kept = read_metadata([path], identifiers="keep")
    assert kept.iloc[0]["patient_id"] == "SECRET-ID-42"
    assert pseudonym("x") == pseudonym("x") != pseudonym("x", salt="other")


def test_cbis_style_view_and_laterality(write_dicom, gradient_image):
    # CBIS-DDSM: Laterality instead of ImageLaterality, the view in PatientOrientation.
    path = write_dicom(gradient_image, Laterality="L", PatientOrientation="CC")
    meta = read_metadata([path])
    assert (meta.iloc[0]["laterality"], meta.iloc[0]["view"]) == ("L", "CC")


def test_no_identifier_reaches_logs_warnings_or_errors(
    write_dicom, gradient_image, caplog, capsys, tmp_path
):
    path = write_dicom(gradient_image, PatientID="SECRET-ID-42", PatientName="Doe^Jane")
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(Path(path).read_bytes()[:-200])
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = DicomLoader().transform([path])
        Resizer(size=8).fit_transform(images)
        meta = read_metadata([path])
        try:
            DicomLoader().transform([broken])[0]
        except Exception as exc:  # noqa: BLE001 - its message is checked below
            message = str(exc)
    text = " ".join(
        [
            caplog.text,
            *capsys.readouterr(),
            message,
            repr(images),
            meta.to_csv(),
            *(str(w.message) for w in caught),
        ]
    )
    assert "SECRET" not in text and "Doe" not in text


@pytest.mark.realdata
def test_real_cbis_ddsm_dicoms_load_and_resize(real_dicom_paths):
    assert len(real_dicom_paths) == 8
    images = DicomLoader(n_jobs=2).transform(real_dicom_paths)
    resized = Resizer(size=224).fit_transform(images)
    assert resized.shape == (8, 224, 224, 1) and resized.dtype == np.float32
    assert resized.min() == 0.0 and 0.9 < resized.max() <= 1.0
    # Aspect ratio kept: ~4.5k x 2.8k images leave padding left and right.
    assert np.all(resized[:, :, :20] == 0.0) and np.all(
        resized[:, 100:120].max((1, 2)) > 0
    )
    meta = read_metadata(real_dicom_paths)
    assert meta["rows"].between(4400, 4800).all() and set(meta["view"]) == {"CC", "MLO"}
    assert not meta["patient_id"].str.contains("P_00").any()


@pytest.mark.realdata
def test_real_dicoms_face_one_side_after_flip(real_dicom_paths):
    meta = read_metadata(real_dicom_paths)
    loader = DicomLoader(crop_breast=True, chest_wall_side="left")
    resized = Resizer(size=64, aspect="stretch").fit_transform(
        loader.transform(real_dicom_paths)
    )
    left, right = (
        resized[:, :, :16].mean(axis=(1, 2, 3)),
        resized[:, :, -16:].mean(axis=(1, 2, 3)),
    )
    assert np.all(left > right + 0.1), (left, right)
    # The header agrees: CBIS-DDSM right breasts have their chest wall on the right.
    unflipped = Resizer(size=64, aspect="stretch").fit_transform(
        DicomLoader(crop_breast=True).transform(real_dicom_paths)
    )
    chest_left = unflipped[:, :, :16].mean(axis=(1, 2, 3)) > unflipped[:, :, -16:].mean(
        axis=(1, 2, 3)
    )
    assert list(chest_left) == list(meta["laterality"] == "L")
