"""DicomLoader's decoding: photometric, rescale, bits, windows, codecs, formats."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, JPEGLSLossless, RLELossless

from mammoclf import DicomLoader
from mammoclf.exceptions import ImageFileError


def load_one(path, **params):
    return DicomLoader(**params).fit_transform([path])[0]


def minmax(values):
    values = np.asarray(values, dtype=np.float64)
    return (values - values.min()) / (values.max() - values.min())


def test_monochrome2_is_min_max_normalised(write_dicom, gradient_image):
    image = load_one(write_dicom(gradient_image))
    assert image.dtype == np.float32 and image.shape == gradient_image.shape
    np.testing.assert_allclose(image, minmax(gradient_image), atol=1e-6)


def test_monochrome1_is_inverted_so_bright_means_dense(write_dicom, gradient_image):
    mono2 = load_one(write_dicom(gradient_image, "m2.dcm"))
    mono1 = load_one(write_dicom(gradient_image, "m1.dcm", photometric="MONOCHROME1"))
    np.testing.assert_allclose(mono1, 1.0 - mono2, atol=1e-6)
    # The lesion is the brightest region in MONOCHROME2, the darkest stored in 1.
    assert mono1[12, 12] == pytest.approx(0.0)


def test_rescale_slope_and_intercept_define_the_window_units(
    write_dicom, gradient_image
):
    path = write_dicom(gradient_image, RescaleSlope=2, RescaleIntercept=-1000)
    modality = gradient_image.astype(np.float64) * 2 - 1000
    image = load_one(path, window=(2000.0, 4000.0))
    expected = np.clip((modality - 0.0) / 4000.0, 0, 1)
    np.testing.assert_allclose(image, expected, atol=1e-6)


def test_negative_slope_reverses_intensities(write_dicom, gradient_image):
    image = load_one(write_dicom(gradient_image, RescaleSlope=-1, RescaleIntercept=0))
    np.testing.assert_allclose(image, 1.0 - minmax(gradient_image), atol=1e-6)


def test_8_bit_pixels(write_dicom):
    pixels = np.arange(20 * 20, dtype=np.uint16).reshape(20, 20) % 256
    image = load_one(write_dicom(pixels.astype(np.uint8)))
    np.testing.assert_allclose(image, minmax(pixels), atol=1e-6)


def test_12_bit_stored_ignores_the_unused_high_bits(write_dicom, gradient_image):
    # Overlay or garbage bits above BitsStored must not leak into the image.
    stored = gradient_image | np.uint16(0xF000)
    image = load_one(write_dicom(stored, bits_stored=12))
    np.testing.assert_allclose(image, minmax(gradient_image), atol=1e-6)


def test_16_bit_full_range(write_dicom):
    pixels = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    image = load_one(write_dicom(pixels))
    np.testing.assert_allclose(image, pixels / 65535.0, atol=1e-6)


def test_header_window_linear_follows_the_dicom_formula(write_dicom, gradient_image):
    path = write_dicom(gradient_image, WindowCenter=2000, WindowWidth=1001)
    windowed = load_one(path, window="header")
    # PS3.3 C.11.2.1.2.1 with c = 2000, w = 1001: [1499.5, 2499.5] -> [0, 1].
    expected = np.clip((gradient_image - 1499.5) / 1000.0, 0, 1)
    np.testing.assert_allclose(windowed, expected, atol=1e-5)
    plain = load_one(path)  # windowing off: the header window is ignored
    np.testing.assert_allclose(plain, minmax(gradient_image), atol=1e-6)


def test_header_window_sigmoid(write_dicom, gradient_image):
    path = write_dicom(
        gradient_image, WindowCenter=2000, WindowWidth=1000, VOILUTFunction="SIGMOID"
    )
    image = load_one(path, window="header")
    expected = 1.0 / (1.0 + np.exp(-4.0 * (gradient_image - 2000.0) / 1000.0))
    np.testing.assert_allclose(image, expected, atol=1e-5)


def test_header_window_uses_the_first_of_several(write_dicom, gradient_image):
    path = write_dicom(
        gradient_image, WindowCenter=[2000, 500], WindowWidth=[1001, 101]
    )
    expected = np.clip((gradient_image - 1499.5) / 1000.0, 0, 1)
    np.testing.assert_allclose(load_one(path, window="header"), expected, atol=1e-5)


def test_header_voi_lut_sequence_maps_its_output_range_to_0_1(write_dicom):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    stored = np.linspace(0, 4095, 40 * 30).reshape(40, 30).astype(np.uint16)
    lut = (np.sqrt(np.arange(4096) / 4095.0) * 60000 + 1000).astype(np.uint16)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = lut.tobytes()  # OW, as scanners write it
    path = write_dicom(stored, VOILUTSequence=Sequence([item]))
    expected = (lut[stored] - lut.min()) / float(lut.max() - lut.min())
    np.testing.assert_allclose(load_one(path, window="header"), expected, atol=1e-6)


def test_header_window_missing_is_an_error_not_a_fallback(write_dicom, gradient_image):
    path = write_dicom(gradient_image)
    with pytest.raises(ImageFileError, match="neither a VOI LUT nor WindowCenter"):
        load_one(path, window="header")


def test_clip_percentiles_saturate_outliers(write_dicom, gradient_image):
    pixels = gradient_image.copy()
    pixels[0, 0] = 65000  # a burned-in label or dead pixel
    plain = load_one(write_dicom(pixels, "a.dcm"))
    clipped = load_one(write_dicom(pixels, "b.dcm"), clip_percentiles=(1, 99))
    assert np.median(plain) < 0.05  # the outlier squeezes everything else
    assert 0.3 < np.median(clipped) < 0.7
    assert clipped[0, 0] == 1.0 and clipped.min() == 0.0


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
def test_lossless_compressed_equals_uncompressed(write_dicom, syntax):
    # 64 x 64: OpenJPEG's default 6 resolution levels need at least 32 px.
    pixels = np.random.default_rng(0).integers(0, 4096, (64, 64)).astype(np.uint16)
    plain = load_one(write_dicom(pixels, "plain.dcm"))
    compressed_path = write_dicom(pixels, "compressed.dcm", compress=syntax)
    np.testing.assert_array_equal(load_one(compressed_path), plain)


def jpeg_baseline_dicom(write_dicom, tmp_path, pixels):
    """A JPEG Baseline DICOM whose frame was encoded by Pillow."""
    buffer = tmp_path / "frame.jpg"
    Image.fromarray(pixels).save(buffer, quality=95)
    path = write_dicom(pixels, "jpeg.dcm")
    import pydicom

    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([buffer.read_bytes()])
    ds["PixelData"].VR = "OB"
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_jpeg_baseline_dicom_decodes(write_dicom, tmp_path):
    pixels = (np.add.outer(np.arange(32), np.arange(32)) * 4).astype(np.uint8)
    image = load_one(jpeg_baseline_dicom(write_dicom, tmp_path, pixels))
    assert_close_lossy(image, minmax(pixels))


def assert_close_lossy(image, expected):
    """JPEG is lossy: small errors everywhere, larger ones only at sharp edges."""
    error = np.abs(np.asarray(image, np.float64) - expected)
    assert error.mean() < 0.01 and error.max() < 0.1, (error.mean(), error.max())


def test_missing_jpeg_ls_plugin_names_the_extra(write_dicom):
    import pydicom

    # JPEG-LS has no decoder but the pylibjpeg plugins (Pillow cannot read
    # it). No encoder is installed, so the frame bytes are a stand-in: the
    # loader must refuse before decoding.
    path = write_dicom(np.zeros((8, 8), np.uint8), "jpegls.dcm")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(16)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    # A fresh interpreter where the decoder packages cannot be imported: what
    # a user without the "dicom" extra has.
    script = textwrap.dedent(f"""
        import sys
        for name in ("pylibjpeg", "libjpeg", "openjpeg", "rle", "gdcm", "pyjpegls"):
            sys.modules[name] = None
        from mammoclf import DicomLoader
        from mammoclf.exceptions import MissingDecoderError
        try:
            DicomLoader().fit_transform([{path!r}])[0]
        except MissingDecoderError as exc:
            print("MISSING:", exc)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "MISSING:" in result.stdout, result.stderr
    assert 'pip install "mammoclf[dicom]"' in result.stdout
    assert "JPEG-LS Lossless" in result.stdout and path in result.stdout


@pytest.mark.parametrize(
    "suffix,mode",
    [
        (".png", "L"),
        (".png", "I;16"),
        (".pgm", "L"),
        (".tif", "I;16"),
    ],
)
def test_lossless_plain_image_files(tmp_path, gradient_image, suffix, mode):
    pixels = (
        gradient_image if mode == "I;16" else (gradient_image // 16).astype(np.uint8)
    )
    path = tmp_path / f"image{suffix}"
    Image.fromarray(pixels).save(path)
    np.testing.assert_allclose(load_one(path), minmax(pixels), atol=1e-6)


def test_jpeg_file_and_grey_rgb(tmp_path, gradient_image):
    pixels = (gradient_image // 16).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "grey.jpg", quality=95)
    assert_close_lossy(load_one(tmp_path / "grey.jpg"), minmax(pixels))
    rgb = np.repeat(pixels[..., None], 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_allclose(
        load_one(tmp_path / "rgb.png"), minmax(pixels), atol=1e-6
    )


def test_format_comes_from_content_not_name(tmp_path, gradient_image):
    pixels = (gradient_image // 16).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "really_a_png.dcm", format="PNG")
    np.testing.assert_allclose(
        load_one(tmp_path / "really_a_png.dcm"), minmax(pixels), atol=1e-6
    )


def test_source_files_are_never_modified(write_dicom, gradient_image):
    path = write_dicom(gradient_image)
    before = (Path(path).read_bytes(), os.stat(path).st_mtime_ns)
    load_one(path, crop_breast=True)
    assert (Path(path).read_bytes(), os.stat(path).st_mtime_ns) == before
