"""Decode one image file (DICOM, PNG, JPEG, PGM, TIFF) to a float32 grey image.

This is the single place where bytes become pixels, shared by
:class:`~mammoclf.DicomLoader`, :func:`mammoclf.datasets.scan` and the disk
cache, so what ``scan`` accepts is exactly what the loader can load.

Every failure to parse or decode a file becomes an
:class:`~mammoclf.exceptions.ImageFileError` naming the file; opening it can
also raise the built-in ``FileNotFoundError``/``PermissionError``. Files are
opened read-only and never written.
"""

import contextlib
import logging
import re
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from mammoclf.exceptions import ImageFileError, MissingDecoderError
from mammoclf.preprocessing._breast import crop_to_breast, orient_chest_wall

__all__ = [
    "MAX_PIXELS",
    "ReadSpec",
    "header_text",
    "quiet_pydicom",
    "read_image",
    "scrubbed",
    "sniff_format",
]

# 2**28 pixels (1 GiB as float32) is far above any mammogram (a 4.5k x 3k
# full-field image has 1.3e7) and refuses absurd header sizes before decoding.
MAX_PIXELS = 2**28

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"P2", "pgm"),
    (b"P5", "pgm"),
)

_DICOM_EXTRA = 'pip install "mammoclf[dicom]"'

# Quoted values in a decoder's error message: replaced before the message
# reaches the user (see scrubbed).
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_UID = re.compile(r"[0-9.]{1,64}")
# Control characters (C0, DEL, C1): never part of a valid text value.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class _MutedWhileReading(logging.Filter):
    """Drops pydicom's log records while this thread reads a header.

    pydicom reports invalid header values both as warnings and on its
    "pydicom" logger, quoting the values; in a damaged file (a corrupted
    length field) a value can swallow the elements after it, often the
    patient's name and ID. A thread-local depth keeps other threads' pydicom
    logging untouched.
    """

    def __init__(self):
        super().__init__()
        self.local = threading.local()

    def filter(self, record):
        return not getattr(self.local, "depth", 0)


_PYDICOM_LOG_FILTER = _MutedWhileReading()
logging.getLogger("pydicom").addFilter(_PYDICOM_LOG_FILTER)


@contextlib.contextmanager
def quiet_pydicom():
    """Silence pydicom's warnings and log records for the enclosed header reads.

    Privacy by default: pydicom's validation messages quote raw header
    values, which can be patient names or IDs. pydicom converts element
    values lazily, on first access, so every access must happen inside.
    """
    local = _PYDICOM_LOG_FILTER.local
    local.depth = getattr(local, "depth", 0) + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        local.depth -= 1


def header_text(value, max_length=256):
    """``value`` as a stripped string if it is plausible header text, else None.

    Plausible means no control characters and at most ``max_length``
    characters (the text VRs mammoclf reads allow at most 64; the margin
    tolerates non-conformant exports). Anything else is the sign of a
    damaged header, typically an element whose corrupted length made it
    swallow the elements after it, whose tags and lengths are binary, and
    with them the patient's name and ID: such a value must be neither shown
    nor used.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = str(value).strip(" \x00")
    if len(text) > max_length or _CONTROL.search(text):
        return None
    return text


def _shown(value, max_length=16):
    """``value`` for an error message: quoted if plausible, else described."""
    text = header_text(value, max_length)
    if text is None:
        return "a malformed value (the header is probably corrupt)"
    return repr(text)


def scrubbed(message):
    """A decoder's error message with every quoted value replaced by '...'.

    int("...") and pydicom's validation errors quote the offending value,
    which in a damaged file can be any header text, patient names included.
    """
    return " ".join(_QUOTED.sub("'...'", str(message)).split())


def _is_decoder_panic(exc):
    """A Rust decoder's panic (pylibjpeg-rle and others built with pyo3).

    pyo3 raises ``pyo3_runtime.PanicException``, which derives from
    ``BaseException``, not ``Exception``: a corrupt frame must not escape as
    something ``except Exception`` cannot catch.
    """
    return type(exc).__module__ == "pyo3_runtime"


@dataclass(frozen=True)
class ReadSpec:
    """How to turn stored pixels into a normalised image (the loader's settings).

    A frozen dataclass: it pickles and hashes deterministically, which is what
    ``Pipeline(memory=...)`` and the disk cache key on.
    """

    window: object = None
    clip_percentiles: tuple | None = None
    crop_breast: bool = False
    chest_wall_side: str | None = None


def sniff_format(path, head):
    """The file's format from its first 132 bytes: dicom, png, jpeg, tiff or pgm.

    The content decides, never the file name: a ``.dcm`` holding random bytes
    is rejected, a PNG named ``.dcm`` is read as a PNG.
    """
    if head[128:132] == b"DICM":
        return "dicom"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    raise ImageFileError(
        path,
        "is neither a DICOM file (no 'DICM' marker at byte 128) nor a PNG, JPEG, "
        "PGM or TIFF image. If it is a DICOM file without the 128-byte preamble, "
        "re-save it as a DICOM Part 10 file, e.g. with pydicom: "
        "dcmread(path, force=True).save_as(new_path, enforce_file_format=True).",
    )


def read_image(path, spec):
    """Decode ``path`` to a 2-D float32 image in ``[0, 1]`` where bright means dense.

    Parameters
    ----------
    path : str or path-like
        The image file.
    spec : ReadSpec
        Windowing, normalisation, crop and orientation settings.

    Returns
    -------
    image : ndarray of shape (H, W), dtype float32

    Raises
    ------
    FileNotFoundError, PermissionError, IsADirectoryError
        When the file cannot be opened.
    ImageFileError
        When its content cannot be read as one grey image.
    MissingDecoderError
        When it is a compressed DICOM whose decoder plugin is not installed.
    """
    with open(path, "rb") as handle:
        head = handle.read(132)
        file_format = sniff_format(path, head)
        handle.seek(0)
        try:
            if file_format == "dicom":
                values, monochrome1, windowed = _decode_dicom(handle, path, spec)
            else:
                values = _decode_plain(handle, path)
                monochrome1 = False
                if spec.window == "header":
                    raise ImageFileError(
                        path,
                        f"is a {file_format.upper()} file, which has no VOI LUT or "
                        "window header; use window=None or an explicit "
                        "(center, width).",
                    )
                windowed = spec.window is not None
                if windowed:
                    values = _window_linear(values, *spec.window)
        except (ImageFileError, MemoryError):
            raise
        except BaseException as exc:  # any parser or decoder failure: a bad file
            if not (isinstance(exc, Exception) or _is_decoder_panic(exc)):
                raise  # KeyboardInterrupt, SystemExit
            # "from None": the original message may quote header values; the
            # scrubbed one keeps the type and the explanation.
            raise ImageFileError(
                path,
                f"cannot be decoded ({type(exc).__name__}: {scrubbed(exc)}). The "
                "file is probably truncated or corrupt; re-export or remove it.",
            ) from None
    if not windowed:
        values = _normalise(values, path, spec.clip_percentiles)
    if monochrome1:
        # MONOCHROME1 stores dense tissue dark; invert so bright always means dense.
        np.subtract(1.0, values, out=values)
    if spec.crop_breast:
        values = crop_to_breast(values, path)
    if spec.chest_wall_side is not None:
        values = orient_chest_wall(values, spec.chest_wall_side, path)
    return np.ascontiguousarray(values, dtype=np.float32)


def _decode_dicom(handle, path, spec):
    """Return (modality values float32, is MONOCHROME1, was windowed)."""
    import pydicom
    from pydicom.pixels import apply_modality_lut

    # Every header access stays inside: pydicom converts values lazily.
    with quiet_pydicom():
        dataset = pydicom.dcmread(handle)
        _check_dicom_header(dataset, path)
        _check_decoder(dataset, path)
        stored = dataset.pixel_array
        if stored.ndim != 2:
            raise ImageFileError(
                path,
                f"decodes to an array of shape {stored.shape}; expected one grey "
                "frame.",
            )
        monochrome1 = dataset.PhotometricInterpretation == "MONOCHROME1"
        if "ModalityLUTSequence" in dataset:
            values = apply_modality_lut(stored, dataset).astype(np.float32)
        else:
            values = stored.astype(np.float32)
            slope = dataset.get("RescaleSlope")
            intercept = dataset.get("RescaleIntercept")
            # In place: a full-field float32 image is ~50 MB; avoid temporaries.
            if slope is not None and float(slope) != 1.0:
                values *= np.float32(slope)
            if intercept is not None and float(intercept) != 0.0:
                values += np.float32(intercept)
        del stored
        _check_finite(
            values,
            path,
            "after the modality rescale (RescaleSlope, "
            "RescaleIntercept or Modality LUT); the header is probably "
            "corrupt",
        )
        if spec.window is None:
            return values, monochrome1, False
        if spec.window == "header":
            return _window_from_header(values, dataset, path), monochrome1, True
        return _window_linear(values, *spec.window), monochrome1, True


def _check_finite(values, path, where):
    """Refuse NaN or infinite pixels: windows and min-max scaling would spread them."""
    if not np.isfinite(values).all():
        raise ImageFileError(path, f"has NaN or infinite pixel values {where}.")


def _check_dicom_header(dataset, path):
    if "PixelData" not in dataset:
        other = [k for k in ("FloatPixelData", "DoubleFloatPixelData") if k in dataset]
        what = (
            f"has {other[0]} (float pixels), which mammoclf does not read"
            if other
            else "has no pixel data (a DICOMDIR, report or presentation state, or a "
            "file cut off or corrupted before its pixels?)"
        )
        raise ImageFileError(path, f"{what}; remove it from the list of images.")
    samples = dataset.get("SamplesPerPixel", 1)
    photometric = dataset.get("PhotometricInterpretation")
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageFileError(
            path,
            f"is not a grey image (SamplesPerPixel={samples}, "
            f"PhotometricInterpretation={_shown(photometric)}); mammoclf expects one "
            "grey (MONOCHROME1/2) frame per file.",
        )
    frames = dataset.get("NumberOfFrames", 1)
    if frames is not None and int(frames) > 1:
        raise ImageFileError(
            path,
            f"has {int(frames)} frames (e.g. a tomosynthesis stack); mammoclf "
            "expects a single frame per file, so extract one frame first.",
        )
    rows, columns = dataset.get("Rows"), dataset.get("Columns")
    if not rows or not columns:
        raise ImageFileError(
            path, f"has zero or missing image size ({rows} x {columns})."
        )
    if int(rows) * int(columns) > MAX_PIXELS:
        raise ImageFileError(
            path,
            f"claims an image of {rows} x {columns} pixels, more than mammoclf "
            f"reads ({MAX_PIXELS} pixels); the header is probably corrupt.",
        )


def _check_decoder(dataset, path):
    """Raise MissingDecoderError before decoding when the plugin is absent."""
    from pydicom.pixels import get_decoder

    syntax = dataset.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        raise ImageFileError(
            path, "has no TransferSyntaxUID in its file meta information; re-export it."
        )
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        known = syntax.name != str(syntax)  # pydicom names the UIDs it knows
        # A UID is digits and dots; anything else is damage, not to be quoted.
        uid = str(syntax) if _UID.fullmatch(str(syntax)) else None
        what = (
            f"the transfer syntax {syntax.name} ({syntax})"
            if known
            else f"the unknown transfer syntax UID {_shown(uid, 64)}"
        )
        raise ImageFileError(
            path,
            f"uses {what}, which pydicom cannot decode; convert it to an "
            "uncompressed or JPEG/JPEG 2000 syntax.",
        ) from exc
    if not decoder.is_available:
        raise MissingDecoderError(
            path,
            f"is compressed with {syntax.name}, whose decoder is not installed "
            f"({'; '.join(decoder.missing_dependencies)}). Install it with "
            f"{_DICOM_EXTRA}.",
        )


def _window_from_header(values, dataset, path):
    """Apply the file's first VOI LUT or window, giving values in [0, 1]."""
    if "VOILUTSequence" in dataset:
        from pydicom.pixels import apply_voi

        # The LUT's own output range maps to [0, 1]. Read it by passing the
        # LUT's input domain through pydicom, which knows how LUTData is
        # encoded (US or OW, 8 or 16 bits).
        entries, first_mapped = dataset.VOILUTSequence[0].LUTDescriptor[:2]
        domain = first_mapped + np.arange(entries or 65536, dtype=np.int32)
        outputs = apply_voi(domain, dataset, index=0)
        low, high = float(outputs.min()), float(outputs.max())
        if high <= low:
            raise ImageFileError(path, "has a constant VOI LUT; use window=None.")
        # A LUT is indexed by integers: the rescaled values, rounded.
        indices = np.rint(values).astype(np.int32)
        mapped = apply_voi(indices, dataset, index=0).astype(np.float32)
        mapped -= low
        mapped *= 1.0 / (high - low)
        return mapped
    if "WindowCenter" not in dataset or "WindowWidth" not in dataset:
        raise ImageFileError(
            path,
            "has neither a VOI LUT nor WindowCenter/WindowWidth, but window='header' "
            "was asked for; use window=None (per-image min-max) or an explicit "
            "(center, width).",
        )
    center = _first_value(dataset["WindowCenter"])
    width = _first_value(dataset["WindowWidth"])
    if not (np.isfinite(center) and np.isfinite(width)):
        raise ImageFileError(
            path,
            "has a non-finite WindowCenter or WindowWidth; use window=None or an "
            "explicit (center, width).",
        )
    function = str(dataset.get("VOILUTFunction", "LINEAR")).upper()
    if function == "SIGMOID":
        if width <= 0:
            raise ImageFileError(path, f"has WindowWidth {width} <= 0.")
        from scipy.special import expit

        def sigmoid(block):
            block -= center
            block /= width
            block *= 4.0
            return expit(block)

        return _in_float64_blocks(values, sigmoid)
    if function == "LINEAR":
        # PS3.3 C.11.2.1.2.1: LINEAR maps [c - 0.5 - (w-1)/2, c - 0.5 + (w-1)/2].
        if width < 1:
            raise ImageFileError(path, f"has WindowWidth {width} < 1 for LINEAR VOI.")
        return _window_linear(values, center - 0.5, max(width - 1.0, 1e-6))
    if function == "LINEAR_EXACT":
        return _window_linear(values, center, width)
    raise ImageFileError(path, f"has an unknown VOILUTFunction {_shown(function)}.")


def _first_value(element):
    """The first of a possibly multi-valued DS element (several windows = presets)."""
    return float(element.value[0]) if element.VM > 1 else float(element.value)


def _window_linear(values, center, width):
    """Map ``[center - width/2, center + width/2]`` linearly onto [0, 1].

    Values outside the window saturate at 0 or 1: that is what a window means.
    """
    low = center - width / 2.0

    def linear(block):
        block -= low
        block /= width
        return np.clip(block, 0.0, 1.0, out=block)

    return _in_float64_blocks(values, linear)


# Rows per float64 block: about 1 MB of float64 per block on a 4k-wide image.
_BLOCK_ROWS = 32


def _in_float64_blocks(values, function):
    """Apply ``function`` to ``values`` in float64, block by block, in place.

    Windows map header values that can be anything a DS holds: in float32 a
    width of 1e308 or 1e-308 overflows or underflows and ``inf * 0`` or
    ``0 / 0`` made NaN pixels. float64 holds every finite DS value; blocks
    keep the extra memory to a few rows of a full-field image.
    """
    for start in range(0, values.shape[0], _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        values[rows] = function(values[rows].astype(np.float64))
    return values


def _decode_plain(handle, path):
    """Read a PNG/JPEG/PGM/TIFF as float32 stored values (no rescaling)."""
    from PIL import Image

    with Image.open(handle) as image:
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            raise ImageFileError(
                path, f"has {frames} frames or pages; mammoclf expects a single image."
            )
        image.load()
        mode = image.mode
        if mode in ("L", "I", "F") or mode.startswith("I;16"):
            pixels = np.asarray(image)
        elif mode == "1":
            pixels = np.asarray(image.convert("L"))
        elif mode == "RGB":
            pixels = np.asarray(image)
            if not (
                np.array_equal(pixels[..., 0], pixels[..., 1])
                and np.array_equal(pixels[..., 0], pixels[..., 2])
            ):
                raise ImageFileError(
                    path,
                    "is a colour RGB image; mammoclf expects grey images (an RGB "
                    "file is accepted only when its three channels are identical).",
                )
            pixels = pixels[..., 0]
        else:
            raise ImageFileError(
                path,
                f"has the image mode {mode!r}; mammoclf reads grey images "
                "(modes L, I;16, I, F, or RGB with identical channels). Convert it "
                "to greyscale first.",
            )
    if pixels.ndim != 2 or 0 in pixels.shape:
        raise ImageFileError(path, f"decodes to an array of shape {pixels.shape}.")
    values = pixels.astype(np.float32)
    _check_finite(values, path, "(a floating-point image)")
    return values


def _normalise(values, path, clip_percentiles):
    """Per-image min-max (or percentile) scaling to [0, 1], in place."""
    if clip_percentiles is None:
        low, high = float(values.min()), float(values.max())
    else:
        low, high = (float(v) for v in np.percentile(values, clip_percentiles))
    if not np.isfinite(low) or not np.isfinite(high):
        raise ImageFileError(path, "has non-finite pixel values after rescaling.")
    if high <= low:
        raise ImageFileError(
            path,
            f"is blank (all pixels within [{low:g}, {high:g}]"
            + (
                f" between percentiles {tuple(clip_percentiles)}"
                if clip_percentiles
                else ""
            )
            + "); there is nothing to normalise. Remove the file or check its export.",
        )
    values -= np.float32(low)
    values *= np.float32(1.0 / (high - low))
    if clip_percentiles is not None:
        # Documented behaviour of clip_percentiles: values beyond them saturate.
        np.clip(values, 0.0, 1.0, out=values)
    return values
