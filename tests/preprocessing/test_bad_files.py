"""Bad input files: each raises the documented exception with a useful message."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML, JPEGLSLossless

from mammoclf import DicomLoader, Resizer
from mammoclf.exceptions import ImageFileError, InvalidImageError, MissingDecoderError


def load(paths, **params):
    return Resizer(size=16).fit_transform(DicomLoader(**params).fit_transform(paths))


def rewrite(path, **changes):
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def good(write_dicom, gradient_image):
    return write_dicom(gradient_image, "good.dcm")


def test_missing_files_are_listed_together(good, tmp_path):
    missing = [str(tmp_path / "a.dcm"), str(tmp_path / "b.dcm")]
    with pytest.raises(FileNotFoundError, match="2 of 3 files do not exist") as info:
        DicomLoader().transform([good, *missing])
    assert all(path in str(info.value) for path in missing)


def test_random_bytes_named_dcm(tmp_path):
    path = tmp_path / "noise.dcm"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ImageFileError, match="neither a DICOM file") as info:
        load([path])
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    "keep", [200, 600, -100], ids=["in-preamble", "in-header", "in-pixels"]
)
def test_truncated_dicom(good, tmp_path, keep):
    data = Path(good).read_bytes()
    path = tmp_path / "truncated.dcm"
    path.write_bytes(data[:keep])
    with pytest.raises(ImageFileError) as info:
        load([path])
    assert str(path) in str(info.value)


def test_dicom_without_pixel_data(good):
    rewrite(good, PixelData=None)
    with pytest.raises(ImageFileError, match="has no pixel data"):
        load([good])


def test_multi_frame_dicom(write_dicom):
    frames = np.arange(3 * 8 * 8, dtype=np.uint16).reshape(3, 8, 8)
    path = write_dicom(frames.reshape(24, 8), NumberOfFrames=3)
    rewrite(path, Rows=8)
    with pytest.raises(ImageFileError, match="has 3 frames"):
        load([path])


def test_rgb_dicom(write_dicom):
    path = write_dicom(np.zeros((8, 24), np.uint8), photometric="RGB")
    rewrite(path, SamplesPerPixel=3, Columns=8, PlanarConfiguration=0)
    with pytest.raises(ImageFileError, match="not a grey image"):
        load([path])


@pytest.mark.parametrize(
    "rows,columns,message",
    [
        (0, 8, "zero or missing image size"),
        (2**15, 2**15, "more than mammoclf reads"),
    ],
)
def test_absurd_sizes(good, rows, columns, message):
    rewrite(good, Rows=rows, Columns=columns)
    with pytest.raises(ImageFileError, match=message):
        load([good])


def test_blank_image(write_dicom):
    path = write_dicom(np.full((8, 8), 7, np.uint16))
    with pytest.raises(ImageFileError, match="is blank"):
        load([path])


def test_undecodable_compressed_frame(write_dicom):
    path = write_dicom(np.zeros((8, 8), np.uint8))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(30)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageFileError, match="cannot be decoded") as info:
        load([path])
    assert not isinstance(info.value, MissingDecoderError)


def test_unsupported_transfer_syntax(good):
    ds = pydicom.dcmread(good)
    ds.file_meta.TransferSyntaxUID = MPEG2MPML  # video: no pixel decoder
    ds.PixelData = encapsulate([b"\x00" * 16])
    ds.save_as(good, enforce_file_format=True)
    with pytest.raises(ImageFileError, match="cannot decode"):
        load([good])


def test_colour_png_and_multi_page_tiff(tmp_path):
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 255
    Image.fromarray(colour).save(tmp_path / "red.png")
    with pytest.raises(ImageFileError, match="colour RGB image"):
        load([tmp_path / "red.png"])
    pages = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (0, 255)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    with pytest.raises(ImageFileError, match="2 frames or pages"):
        load([tmp_path / "stack.tif"])


def test_truncated_png(tmp_path, gradient_image):
    Image.fromarray(gradient_image).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageFileError, match="cannot be decoded"):
        load([tmp_path / "cut.png"])


def test_window_header_on_png_is_refused(tmp_path, gradient_image):
    Image.fromarray(gradient_image).save(tmp_path / "a.png")
    with pytest.raises(ImageFileError, match="has no VOI LUT or window header"):
        load([tmp_path / "a.png"], window="header")


@pytest.mark.parametrize(
    "X,error,message",
    [
        ("one.dcm", InvalidImageError, "single path"),
        ([], InvalidImageError, "empty sequence"),
        (np.zeros((2, 3)), InvalidImageError, "1-D sequence"),
        ([1, 2], TypeError, "element 0 is int"),
    ],
)
def test_bad_path_containers(X, error, message):
    with pytest.raises(error, match=message):
        DicomLoader().transform(X)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"window": (100,)}, "window must be"),
        ({"window": (100, 0)}, "width must be positive"),
        ({"clip_percentiles": (99, 1)}, "0 <= low < high <= 100"),
        ({"clip_percentiles": (1, 99), "window": (1, 2)}, "use one of them"),
        ({"chest_wall_side": "up"}, "chest_wall_side"),
    ],
)
def test_bad_parameters(good, params, message):
    with pytest.raises(ValueError, match=message):
        DicomLoader(**params).transform([good])


def test_errors_survive_worker_processes(good, tmp_path):
    path = tmp_path / "noise.dcm"
    path.write_bytes(b"x" * 500)
    with pytest.raises(ImageFileError) as info:
        load([good, path, good], n_jobs=2)
    assert info.value.path == str(path)
