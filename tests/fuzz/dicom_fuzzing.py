"""Mutated DICOM files and a reader process that bounds the time spent on each.

Shared by the property test (``test_dicom_fuzz.py``, default suite) and the
large fuzz run (``python -m tests.fuzz.fuzz_dicom``, or ``-m slow``).

Valid seed files (uncompressed, RLE and JPEG 2000; explicit, implicit and
big-endian syntaxes; 8, 12 and 16 bits; MONOCHROME1/2; windows and LUTs) are
mutated by header value changes, length field corruption, bit flips, byte
overwrites and truncation. Each mutant goes to :class:`ReaderProcess`, which
runs ``DicomLoader`` + ``Resizer``, ``scan`` and ``read_metadata`` on it in a
separate process and reports what happened.

Why a separate, persistent process with a deadline rather than a signal
alarm or a thread: a decoder stuck in C code (pydicom's native code paths,
Pillow, openjpeg, libjpeg) never returns to the interpreter, so neither
``signal.alarm`` nor a watchdog thread can interrupt it, and a thread cannot
be killed at all. A child process can always be killed. Keeping it alive
between inputs costs one import of mammoclf per run instead of one per input
(a process per input would be ~1 s each), and killing and restarting it on a
timeout makes a hang a recorded failure, never a hung test run.
"""

import collections
import contextlib
import io
import multiprocessing
import os
import re
import struct
import tempfile
import traceback
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "LOADER_SETTINGS",
    "SEED_NAMES",
    "Escape",
    "ReaderProcess",
    "apply_mutations",
    "length_field_offsets",
    "seed_bytes",
    "seed_datasets",
]

# Generous next to the milliseconds a 64x64 seed takes to decode, so a
# loaded 2-core machine never trips it, but short enough that a hang fails
# fast. Every input is a few kB; the bound is per input.
SECONDS_PER_INPUT = 20.0

# A safety net for the shared machine: a mutant claiming a huge image may
# make a decoder allocate before it fails. Legitimate reads of the largest
# image mammoclf accepts (2**28 pixels) need about 3 GB.
WORKER_ADDRESS_SPACE = 12 * 2**30

# Loader settings the fuzzer draws from: each exercises other header fields
# (windows and LUTs, percentiles, breast detection).
LOADER_SETTINGS = (
    {},
    {"window": "header"},
    {"window": (1000.0, 2000.0)},
    {"clip_percentiles": (1.0, 99.0)},
    {"crop_breast": True, "chest_wall_side": "left"},
)

# Header elements whose values the fuzzer changes, with their VR: the
# fields the reader interprets (size, bits, photometric, rescale, windows,
# frames, syntax).
MUTABLE_ELEMENTS = {
    "Rows": "US",
    "Columns": "US",
    "BitsAllocated": "US",
    "BitsStored": "US",
    "HighBit": "US",
    "PixelRepresentation": "US",
    "SamplesPerPixel": "US",
    "PlanarConfiguration": "US",
    "PhotometricInterpretation": "CS",
    "NumberOfFrames": "IS",
    "RescaleSlope": "DS",
    "RescaleIntercept": "DS",
    "WindowCenter": "DS",
    "WindowWidth": "DS",
    "VOILUTFunction": "CS",
    "TransferSyntaxUID": "UI",
}

# Text values worth trying in string elements: edge cases of numbers and
# the enumerated values the reader branches on.
INTERESTING_TEXT = (
    "",
    "0",
    "-0",
    "1",
    "-1",
    "2",
    "3",
    "65536",
    "2147483648",
    "1e308",
    "-1e308",
    "1e-308",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1\\2",
    "0\\0",
    " ",
    "abc",
    "\x00",
    "MONOCHROME1",
    "MONOCHROME2",
    "RGB",
    "YBR_FULL",
    "PALETTE COLOR",
    "LINEAR",
    "LINEAR_EXACT",
    "SIGMOID",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.100",
    "1.2.840.10008.1.2.1.99",
    "1.2.3.4",
)

INTERESTING_INTEGERS = (
    0,
    1,
    2,
    3,
    7,
    8,
    12,
    15,
    16,
    17,
    24,
    31,
    32,
    33,
    64,
    255,
    256,
    4096,
    16384,
    32767,
    32768,
    65535,
)

SEED_NAMES = (
    "explicit16",
    "implicit8_mono1",
    "bigendian12_signed",
    "rle16",
    "jpeg2000",
    "luts",
)


def seed_datasets():
    """The valid seed datasets, by name (each decodes to a 2-D image)."""
    from pydicom.uid import (
        ExplicitVRBigEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        RLELossless,
    )

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, 48 * 40).reshape(48, 40)
    texture = rng.random((48, 40))
    image = 0.7 * ramp + 0.3 * texture
    image[:, :8] = 0.0  # background, so breast detection finds a region
    seeds = {}

    pixels16 = (image * 60000).astype(np.uint16)
    seeds["explicit16"] = _dataset(
        pixels16,
        RescaleSlope="0.5",
        RescaleIntercept="-100",
        WindowCenter="10000",
        WindowWidth="20000",
    )
    pixels8 = (image * 255).astype(np.uint8)
    seeds["implicit8_mono1"] = _dataset(
        pixels8,
        photometric="MONOCHROME1",
        syntax=ImplicitVRLittleEndian,
        WindowCenter=["100", "128"],
        WindowWidth=["200", "256"],
        VOILUTFunction="SIGMOID",
    )
    signed12 = ((image - 0.5) * 4000).astype(np.int16)
    seeds["bigendian12_signed"] = _dataset(
        signed12, bits_stored=12, signed=True, syntax=ExplicitVRBigEndian
    )
    rle = _dataset(pixels16)
    rle.compress(RLELossless, pixels16)
    seeds["rle16"] = rle
    jpeg2000 = _dataset(pixels8)
    jpeg2000.compress(JPEG2000Lossless, pixels8)
    seeds["jpeg2000"] = jpeg2000
    seeds["luts"] = _with_luts(_dataset(pixels16 // 16, bits_stored=12))
    return seeds


def seed_bytes():
    """The seed datasets written as DICOM Part 10 files, by name."""
    return {name: _to_bytes(ds) for name, ds in seed_datasets().items()}


def _dataset(
    pixels,
    *,
    photometric="MONOCHROME2",
    bits_stored=None,
    signed=False,
    syntax=None,
    **elements,
):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["fuzz", photometric])
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.PatientName = "Fuzz^Patient"
    ds.PatientID = "FUZZ-0001"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    big_endian = meta.TransferSyntaxUID == "1.2.840.10008.1.2.2"
    ds.PixelData = pixels.astype(
        pixels.dtype.newbyteorder(">" if big_endian else "<")
    ).tobytes()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def _with_luts(ds):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    modality = Dataset()
    modality.LUTDescriptor = [4096, 0, 16]
    modality.ModalityLUTType = "US"
    modality.LUTData = (np.arange(4096, dtype=np.uint16) * 2 + 7).tobytes()
    ds.ModalityLUTSequence = Sequence([modality])
    voi = Dataset()
    voi.LUTDescriptor = [8192, 0, 12]
    voi.LUTData = (np.arange(8192, dtype=np.uint16) // 2).tobytes()
    ds.VOILUTSequence = Sequence([voi])
    return ds


def _to_bytes(ds):
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# ------------------------------------------------------------------ mutations
@contextlib.contextmanager
def lenient_pydicom():
    """Let pydicom write invalid values (that is the point), then restore it."""
    from pydicom import config

    saved = (
        config.settings.reading_validation_mode,
        config.settings.writing_validation_mode,
    )
    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    try:
        yield
    finally:
        (
            config.settings.reading_validation_mode,
            config.settings.writing_validation_mode,
        ) = saved


def set_elements(data, changes):
    """The file ``data`` with header ``changes`` ({keyword: value or None}).

    Returns None when pydicom cannot serialise a change; the caller then
    skips it.
    """
    import pydicom
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.dcmread(io.BytesIO(data))
    implicit, little = ds.original_encoding
    changes = dict(changes)
    syntax = changes.pop("TransferSyntaxUID", False)
    with lenient_pydicom():
        for keyword, value in changes.items():
            tag = Tag(tag_for_keyword(keyword))
            if value is None:
                if tag in ds:
                    del ds[tag]
                continue
            # Raw bytes, written as they are: pydicom would refuse to build
            # most of these values (a DS of "abc"), but files in the wild
            # hold them.
            vr = MUTABLE_ELEMENTS[keyword]
            if vr == "US":
                raw = struct.pack("<H" if little else ">H", value)
            else:
                raw = value.encode("latin-1")
                if len(raw) % 2:
                    raw += b" "
            ds[tag] = RawDataElement(tag, vr, len(raw), raw, 0, implicit, little)
        try:
            # The byte order and VR encoding stay those of the seed: a changed
            # TransferSyntaxUID then lies about the encoding, as in the wild.
            buffer = io.BytesIO()
            ds.save_as(
                buffer,
                enforce_file_format=False,
                implicit_vr=implicit,
                little_endian=little,
            )
        except Exception:  # noqa: BLE001 - unwritable values are simply skipped
            return None
    data = buffer.getvalue()
    if syntax is not False:
        data = _replace_transfer_syntax(data, syntax)
    return data


def _replace_transfer_syntax(data, uid):
    """Swap the file meta's TransferSyntaxUID for ``uid`` (None: delete it).

    Done on the bytes, after writing: the data set keeps the seed's encoding,
    so the new syntax lies about it, as a mislabelled file in the wild does.
    The meta's group length is left as it was (now wrong, as it would be).
    """
    marker = data.find(b"\x02\x00\x10\x00UI", 132)
    if marker < 0:
        return data
    (length,) = struct.unpack("<H", data[marker + 6 : marker + 8])
    end = marker + 8 + length
    if uid is None:
        return data[:marker] + data[end:]
    value = uid.encode("latin-1")
    if len(value) % 2:
        value += b"\x00"
    return data[: marker + 6] + struct.pack("<H", len(value)) + value + data[end:]


def length_field_offsets(data):
    """``(offset, width)`` of every top-level element length field in ``data``.

    Walks the file meta (explicit VR little endian) and then the data set in
    the encoding the meta announces. Stops quietly where the bytes stop
    parsing: what is found so far is still useful to corrupt.
    """
    from pydicom.filereader import data_element_generator

    offsets = []
    stream = io.BytesIO(data)
    stream.seek(132)
    encoding = (False, True)
    with contextlib.suppress(Exception):
        for element in data_element_generator(
            stream, False, True, stop_when=_leaves_group_2
        ):
            offsets.append(_length_field(element, implicit=False))
            if element.tag == 0x00020010:
                syntax = element.value.rstrip(b"\x00 ").decode("ascii", "replace")
                encoding = {
                    "1.2.840.10008.1.2": (True, True),
                    "1.2.840.10008.1.2.2": (False, False),
                }.get(syntax, (False, True))
        for element in data_element_generator(stream, *encoding, defer_size=64):
            offsets.append(_length_field(element, implicit=encoding[0]))
    return [offset for offset in offsets if offset is not None]


def _leaves_group_2(tag, vr, length):
    return tag.group != 2


_LONG_FORM_VRS = {
    "OB",
    "OD",
    "OF",
    "OL",
    "OV",
    "OW",
    "SQ",
    "SV",
    "UC",
    "UN",
    "UR",
    "UT",
    "UV",
}


def _length_field(element, *, implicit):
    value_tell = getattr(element, "value_tell", None)
    if value_tell is None:
        return None
    if implicit or element.VR in _LONG_FORM_VRS or element.VR is None:
        return (value_tell - 4, 4)
    return (value_tell - 2, 2)


@dataclass(frozen=True)
class Mutation:
    """One byte-level change; positions are fractions so they fit any length."""

    kind: str  # "flip", "overwrite", "truncate", "length", "insert", "delete"
    where: float  # in [0, 1): where in the file (or which length field)
    value: int = 0  # the bit, the byte, the new length or the count
    data: bytes = b""


def apply_mutations(data, mutations):
    """Apply byte-level ``mutations`` to ``data`` in order; returns new bytes."""
    buffer = bytearray(data)
    for mutation in mutations:
        if not buffer:
            break
        position = min(int(mutation.where * len(buffer)), len(buffer) - 1)
        if mutation.kind == "flip":
            buffer[position] ^= 1 << (mutation.value % 8)
        elif mutation.kind == "overwrite":
            chunk = mutation.data or bytes([mutation.value % 256])
            buffer[position : position + len(chunk)] = chunk
        elif mutation.kind == "truncate":
            del buffer[position:]
        elif mutation.kind == "insert":
            buffer[position:position] = mutation.data
        elif mutation.kind == "delete":
            del buffer[position : position + max(1, mutation.value)]
        elif mutation.kind == "length":
            fields = length_field_offsets(bytes(buffer))
            if fields:
                offset, width = fields[
                    min(int(mutation.where * len(fields)), len(fields) - 1)
                ]
                little = _is_little_endian(buffer, offset)
                fmt = ("<" if little else ">") + ("H" if width == 2 else "I")
                new = mutation.value % (2 ** (8 * width))
                buffer[offset : offset + width] = struct.pack(fmt, new)
        else:
            raise ValueError(f"unknown mutation kind {mutation.kind!r}")
    return bytes(buffer)


def _is_little_endian(buffer, offset):
    # Only the data set of an explicit big-endian file is big-endian; the
    # file meta (group 2, the first bytes after the preamble) never is.
    return b"1.2.840.10008.1.2.2\x00" not in bytes(buffer[:offset]) or offset < 300


_BYTE_MUTATIONS = ("flip", "overwrite", "length", "insert", "delete", "truncate")
_BYTE_MUTATION_WEIGHTS = (0.35, 0.2, 0.25, 0.08, 0.08, 0.04)


def random_mutant(rng, seed_data):
    """A random mutant for the large run: ``(seed name, bytes, loader settings)``.

    ``rng`` is a ``numpy.random.Generator``, ``seed_data`` the seed files by
    name. The same generator state gives the same mutant.
    """
    name = SEED_NAMES[rng.integers(len(SEED_NAMES))]
    data = seed_data[name]
    if rng.random() < 0.5:
        changes = {}
        for _ in range(rng.integers(1, 4)):
            keyword = list(MUTABLE_ELEMENTS)[rng.integers(len(MUTABLE_ELEMENTS))]
            changes[keyword] = _random_value(rng, keyword)
        data = set_elements(data, changes) or data
    mutations = []
    # Few byte mutations per input, truncation rarely: most inputs should
    # still parse far enough to reach the pixel decoders.
    for _ in range(rng.integers(0 if data is not seed_data[name] else 1, 4)):
        kind = rng.choice(_BYTE_MUTATIONS, p=_BYTE_MUTATION_WEIGHTS)
        value = int(
            rng.choice(
                [
                    rng.integers(0, 2**32),
                    0,
                    1,
                    2,
                    0xFFFF,
                    0xFFFFFFFF,
                    0xFFFFFFFE,
                    2**31,
                    int(rng.integers(0, 512)),
                ]
            )
        )
        mutations.append(
            Mutation(
                str(kind),
                float(rng.random()),
                value,
                bytes(rng.integers(0, 256, rng.integers(1, 9), dtype=np.uint8)),
            )
        )
    settings = LOADER_SETTINGS[rng.integers(len(LOADER_SETTINGS))]
    return name, apply_mutations(data, mutations), settings


def _random_value(rng, keyword):
    if rng.random() < 0.1:
        return None  # delete the element
    if MUTABLE_ELEMENTS[keyword] == "US":
        if rng.random() < 0.7:
            return int(INTERESTING_INTEGERS[rng.integers(len(INTERESTING_INTEGERS))])
        return int(rng.integers(0, 65536))
    return str(INTERESTING_TEXT[rng.integers(len(INTERESTING_TEXT))])


# ------------------------------------------------------------ reader process
@dataclass
class Escape:
    """A mutant that escaped: another exception type, an invalid image, a hang."""

    entry_point: str
    problem: str
    data: bytes = field(repr=False)
    settings: dict = field(default_factory=dict)


class ReaderProcess:
    """A child process that reads mutants; :meth:`read` enforces the deadline.

    Use as a context manager. ``read(data, settings)`` returns a list of
    :class:`Escape` (empty when every entry point behaved as documented).
    """

    def __init__(self, seconds_per_input=SECONDS_PER_INPUT):
        self.seconds_per_input = seconds_per_input
        self.n_restarts = 0
        self.outcomes = collections.Counter()
        self.last_outcome = None
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._connection = None

    def __enter__(self):
        self._start()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _start(self):
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._connection = parent
        # The first answer says the imports are done: they are not timed.
        if not parent.poll(300):
            raise RuntimeError("the fuzz reader process did not start in 300 s")
        parent.recv()

    def close(self):
        if self._process is not None:
            with contextlib.suppress(OSError, BrokenPipeError):
                self._connection.send(None)
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None

    def read(self, data, settings):
        """Read ``data`` with every entry point; return the escapes found."""
        self._connection.send((data, settings))
        if self._connection.poll(self.seconds_per_input):
            try:
                problems, outcome = self._connection.recv()
            except EOFError:
                problems = [("process", "the reader process died (a crash in C code?)")]
                outcome = "crash"
                self._restart()
        else:
            problems = [
                ("process", (f"no answer within {self.seconds_per_input:g} s (a hang)"))
            ]
            outcome = "hang"
            self._restart()
        self.outcomes[outcome] += 1
        self.last_outcome = outcome
        return [
            Escape(entry, problem, data, dict(settings)) for entry, problem in problems
        ]

    def _restart(self):
        self.n_restarts += 1
        self._process.kill()
        self._process.join()
        self._start()


def _serve(connection):
    """The child process: read each mutant with every entry point, report escapes."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(
            resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE)
        )
    from mammoclf import DicomLoader, Resizer  # noqa: F401 - imported before timing
    from mammoclf.datasets import scan  # noqa: F401
    from mammoclf.preprocessing import read_metadata  # noqa: F401

    directory = tempfile.mkdtemp(prefix="mammoclf-fuzz-")
    path = os.path.join(directory, "mutant.dcm")
    connection.send("ready")
    while True:
        message = connection.recv()
        if message is None:
            break
        data, settings = message
        with open(path, "wb") as handle:
            handle.write(data)
        problems, outcome = check_all_entry_points(path, settings)
        with open(path, "rb") as handle:
            if handle.read() != data:
                problems.append(("files", "the input file was modified"))
        connection.send((problems, outcome))


# The seeds' PatientName and PatientID: never to be quoted by any message.
SECRETS = ("Fuzz^", "FUZZ-")


def check_all_entry_points(path, settings):
    """``[(entry point, problem), ...]`` for ``path``: empty when all is as documented.

    Documented outcomes: ``DicomLoader`` + ``Resizer`` return finite float32
    images in ``[0, 1]`` or raise :class:`~mammoclf.exceptions.ImageFileError`
    (:class:`~mammoclf.exceptions.MissingDecoderError` included); ``scan``
    never raises and reports only those types; ``read_metadata`` returns one
    row or raises ``ImageFileError``. No error message, warning or log record
    quotes the patient's name or ID, however the header is damaged.
    """
    import logging
    import warnings

    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            problems, messages, outcome = _read_with_every_entry_point(path, settings)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    texts = [
        *messages,
        *(str(w.message) for w in caught),
        *(record.getMessage() for record in records),
    ]
    leaked = [text for text in texts if any(secret in text for secret in SECRETS)]
    if leaked:
        problems.append(("privacy", f"an identifier is quoted: {leaked[0]!r}"))
    return problems, outcome


def _read_with_every_entry_point(path, settings):
    from mammoclf import DicomLoader, Resizer
    from mammoclf.datasets import scan
    from mammoclf.exceptions import ImageFileError
    from mammoclf.preprocessing import read_metadata
    from mammoclf.preprocessing._reading import scrubbed

    problems, messages = [], []
    loader = DicomLoader(**settings)
    loaded, outcome = None, "escape"
    try:
        image = loader.fit_transform([path])[0]
        resized = Resizer(size=16).fit_transform(loader.transform([path]))
        loaded, outcome = True, "read"
        for name, array, ndim in (("DicomLoader", image, 2), ("Resizer", resized, 4)):
            problem = _invalid_image(array, ndim)
            if problem:
                problems.append((name, problem))
    except ImageFileError as exc:
        loaded = False
        # What kind of refusal: the reason up to its first detail.
        outcome = re.split(r"[(;:.]", exc.reason, maxsplit=1)[0].strip()
        outcome = re.sub(r"\d+", "N", scrubbed(outcome))
        messages.append(str(exc))
        if not str(exc).startswith(path):
            problems.append(("DicomLoader", f"message does not name the file: {exc}"))
    except BaseException:  # noqa: BLE001 - any other type is what we look for
        problems.append(("DicomLoader", traceback.format_exc()))

    try:
        report = scan([path], loader=loader)
        messages.extend(report.problems["message"])
        errors = set(report.problems["error"])
        if not errors <= {"ImageFileError", "MissingDecoderError"}:
            problems.append(
                (
                    "scan",
                    f"reported undocumented errors {errors}: "
                    + str(report.problems["message"].tolist()),
                )
            )
        if loaded is not None and report.ok != loaded:
            verb = "read" if loaded else "refused"
            problems.append(("scan", f"says ok={report.ok} but the loader {verb} it"))
    except BaseException:  # noqa: BLE001
        problems.append(("scan", traceback.format_exc()))

    try:
        metadata = read_metadata([path])
        if len(metadata) != 1:
            problems.append(("read_metadata", f"returned {len(metadata)} rows"))
        messages.append(metadata.to_csv())
    except ImageFileError as exc:
        messages.append(str(exc))
    except BaseException:  # noqa: BLE001
        problems.append(("read_metadata", traceback.format_exc()))
    return problems, messages, outcome


def _invalid_image(array, ndim):
    if not isinstance(array, np.ndarray) or array.dtype != np.float32:
        return (
            f"returned {type(array).__name__} of dtype {getattr(array, 'dtype', None)}"
        )
    if array.ndim != ndim or 0 in array.shape:
        return f"returned shape {array.shape}"
    if not np.isfinite(array).all():
        return "returned non-finite values"
    if array.min() < 0.0 or array.max() > 1.0:
        return f"returned values in [{array.min()}, {array.max()}], outside [0, 1]"
    return None
