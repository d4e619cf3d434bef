"""Fuzzing the data layer with mutated DICOM files.

The property: ``DicomLoader`` + ``Resizer`` either return finite float32
images in ``[0, 1]`` or raise :class:`~mammoclf.exceptions.ImageFileError`
naming the file; ``scan`` never raises and reports only that type;
``read_metadata`` returns a row or raises it; no message, warning or log
record quotes the patient's name or ID; the input file is never modified;
and no input takes longer than ``SECONDS_PER_INPUT`` (the reader process is
killed and the input reported as a hang, see ``dicom_fuzzing.py``).

The default suite runs a modest, derandomised sample; the large random run
is ``python -m tests.fuzz.fuzz_dicom`` (or the ``slow`` test below). The
regression tests at the end pin each escape the fuzzer found.
"""

import io
import logging
import struct
import warnings

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mammoclf import DicomLoader, Resizer
from mammoclf.datasets import scan
from mammoclf.exceptions import ImageFileError
from mammoclf.preprocessing import read_metadata
from tests.fuzz.dicom_fuzzing import (
    INTERESTING_INTEGERS,
    INTERESTING_TEXT,
    LOADER_SETTINGS,
    MUTABLE_ELEMENTS,
    SECONDS_PER_INPUT,
    SEED_NAMES,
    Mutation,
    ReaderProcess,
    apply_mutations,
    length_field_offsets,
    lenient_pydicom,
    seed_bytes,
    set_elements,
)
from tests.preprocessing.conftest import dicom_dataset


@pytest.fixture(scope="module")
def reader():
    with ReaderProcess() as process:
        yield process


@pytest.fixture(scope="module")
def seeds():
    return seed_bytes()


def test_seeds_are_valid_and_read(reader, seeds):
    # The property is only meaningful if unmutated seeds load.
    for name in SEED_NAMES:
        for loader_settings in (
            LOADER_SETTINGS[:2] if name != "bigendian12_signed" else LOADER_SETTINGS[:1]
        ):
            assert reader.read(seeds[name], loader_settings) == []
    assert reader.outcomes["read"] >= len(SEED_NAMES)


def test_the_checks_can_fail(tmp_path, seeds, monkeypatch):
    """Undocumented exceptions, invalid images, quoted identifiers and hangs are caught."""
    import mammoclf.preprocessing._sequence as sequence
    from tests.fuzz.dicom_fuzzing import check_all_entry_points

    path = str(tmp_path / "seed.dcm")
    with open(path, "wb") as handle:
        handle.write(seeds["explicit16"])
    assert check_all_entry_points(path, {}) == ([], "read")

    def raising(error):
        def read_image(path, spec):
            raise error

        return read_image

    for replacement, entry_point, problem in [
        (raising(KeyError("undocumented")), "DicomLoader", "KeyError"),
        (
            lambda path, spec: np.full((4, 4), np.nan, np.float32),
            "DicomLoader",
            "non-finite",
        ),
        (
            lambda path, spec: np.full((4, 4), 2.0, np.float32),
            "DicomLoader",
            "outside [0, 1]",
        ),
        (raising(ImageFileError(path, "is Fuzz^Patient's")), "privacy", "quoted"),
    ]:
        monkeypatch.setattr(sequence, "read_image", replacement)
        problems, _ = check_all_entry_points(path, {})
        assert any(
            entry == entry_point and problem in text for entry, text in problems
        ), problems

    with ReaderProcess(seconds_per_input=0.001) as impatient:
        escapes = impatient.read(seeds["luts"], {"window": "header"})
        assert impatient.n_restarts == 1
    assert [(e.entry_point, "no answer within" in e.problem) for e in escapes] == [
        ("process", True)
    ]


def _element_value(keyword):
    if MUTABLE_ELEMENTS[keyword] == "US":
        return st.one_of(
            st.sampled_from(INTERESTING_INTEGERS), st.integers(0, 65535), st.none()
        )
    return st.one_of(
        st.sampled_from(INTERESTING_TEXT),
        st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=24),
        st.none(),
    )


@st.composite
def mutants(draw):
    """``(seed name, header changes, byte mutations, loader settings)``."""
    name = draw(st.sampled_from(SEED_NAMES))
    changes = {}
    for keyword in draw(
        st.lists(st.sampled_from(sorted(MUTABLE_ELEMENTS)), max_size=3, unique=True)
    ):
        changes[keyword] = draw(_element_value(keyword))
    mutations = draw(
        st.lists(
            st.builds(
                Mutation,
                kind=st.sampled_from(
                    [
                        "flip",
                        "overwrite",
                        "length",
                        "length",
                        "insert",
                        "delete",
                        "truncate",
                    ]
                ),
                where=st.floats(0, 1, exclude_max=True),
                value=st.one_of(
                    st.integers(0, 2**32 - 1),
                    st.sampled_from([0, 1, 2, 0xFFFF, 0xFFFFFFFF, 2**31]),
                ),
                data=st.binary(min_size=1, max_size=8),
            ),
            max_size=3,
        )
    )
    loader_settings = draw(st.sampled_from(LOADER_SETTINGS))
    return name, changes, mutations, loader_settings


# The per-input time bound is the reader process's deadline (it kills a stuck
# decoder, which a hypothesis deadline cannot); hypothesis's own deadline
# only flags inputs that are slow but finish.
@settings(
    max_examples=150,
    deadline=SECONDS_PER_INPUT * 1000,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutant=mutants())
def test_mutated_dicom_is_read_or_refused_as_documented(reader, seeds, mutant):
    name, changes, mutations, loader_settings = mutant
    data = seeds[name]
    if changes:
        data = set_elements(data, changes) or data
    data = apply_mutations(data, mutations)
    escapes = reader.read(data, loader_settings)
    event(reader.last_outcome)  # --hypothesis-show-statistics lists the outcomes
    assert escapes == [], (
        name,
        changes,
        mutations,
        loader_settings,
        escapes[0].problem,
    )


@pytest.mark.slow
def test_large_random_fuzz_run():
    """20,000 random mutants (about 4 minutes on 2 cores); none may escape."""
    from tests.fuzz.fuzz_dicom import run

    n_tried, escapes, outcomes, _ = run(20000, n_processes=2, seed=8)
    assert n_tried == 20000
    assert outcomes["read"] > 1000  # the mutants still reach the decoders
    assert escapes == [], escapes[0].problem


# ------------------------------------------------------- mutation machinery
def test_length_fields_are_found_in_every_encoding(seeds):
    for name in SEED_NAMES:
        data = seeds[name]
        fields = length_field_offsets(data)
        assert len(fields) >= 15, name
        # Corrupting a length field changes exactly its bytes.
        offset, width = fields[len(fields) // 2]
        mutated = apply_mutations(data, [Mutation("length", 0.5, 0xABCD)])
        assert mutated[:offset] == data[:offset]
        assert mutated[offset + width :] == data[offset + width :]
        assert mutated[offset : offset + width] != data[offset : offset + width]


def test_header_changes_keep_the_seed_encoding(seeds):
    data = set_elements(
        seeds["bigendian12_signed"], {"Rows": 47, "RescaleSlope": "abc"}
    )
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.original_encoding == (False, False)
    assert ds.Rows == 47 and ds["RescaleSlope"].value == "abc"


# ---------------------------------------------------- escapes found, pinned
def raw_element(ds, keyword, vr, text):
    """Put ``text`` into ``ds`` as it would be on disk, valid for its VR or not."""
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    value = text.encode("latin-1")
    value += b" " * (len(value) % 2)
    tag = Tag(tag_for_keyword(keyword))
    ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)


@pytest.fixture
def write(tmp_path):
    def write_dataset(ds, name="fuzzed.dcm"):
        path = str(tmp_path / name)
        with lenient_pydicom():  # the invalid values are the point
            ds.save_as(path, enforce_file_format=True)
        return path

    return write_dataset


def test_rust_decoder_panic_is_an_image_file_error(write):
    """pylibjpeg-rle panics (a BaseException) on segments longer than the frame."""
    from pydicom.uid import RLELossless

    pixels = np.arange(48 * 40, dtype=np.uint16).reshape(48, 40)
    ds = dicom_dataset(pixels)
    ds.compress(RLELossless, pixels)
    ds.Columns = 3  # the segments now decode past the end of the frame
    path = write(ds)
    with pytest.raises(ImageFileError, match="cannot be decoded") as info:
        DicomLoader().fit_transform([path])[0]
    assert info.value.path == path
    assert scan([path]).problems["error"].tolist() == ["ImageFileError"]


def test_keyboard_interrupt_while_decoding_is_not_swallowed(write, monkeypatch):
    import pydicom.dataset

    path = write(dicom_dataset(np.arange(64, dtype=np.uint16).reshape(8, 8)))

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(interrupted))
    with pytest.raises(KeyboardInterrupt):
        DicomLoader().fit_transform([path])[0]


@pytest.mark.parametrize("slope", ["1e38", "nan", "inf"])
@pytest.mark.parametrize("window", [(1000.0, 2000.0), None])
def test_non_finite_rescale_is_refused_also_with_a_window(write, slope, window):
    """With a window the min-max check never ran: NaN used to come out."""
    pixels = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000
    ds = dicom_dataset(pixels)
    raw_element(ds, "RescaleSlope", "DS", slope)
    path = write(ds)
    with pytest.raises(
        ImageFileError, match="NaN or infinite pixel values after the modality rescale"
    ):
        Resizer(size=8).fit_transform(DicomLoader(window=window).fit_transform([path]))


@pytest.mark.parametrize("element", ["WindowCenter", "WindowWidth"])
def test_non_finite_header_window_is_refused(write, element):
    ds = dicom_dataset(
        np.arange(64, dtype=np.uint16).reshape(8, 8),
        WindowCenter="30",
        WindowWidth="40",
    )
    raw_element(ds, element, "DS", "nan")
    with pytest.raises(ImageFileError, match="non-finite WindowCenter or WindowWidth"):
        DicomLoader(window="header").fit_transform([write(ds)])[0]


def test_float_tiff_with_nan_is_refused(tmp_path):
    from PIL import Image

    pixels = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    pixels[3, 3] = np.nan
    Image.fromarray(pixels, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(ImageFileError, match="NaN or infinite pixel values"):
        DicomLoader(window=(0.5, 1.0)).fit_transform([tmp_path / "nan.tif"])[0]


def _swallowing_file(tmp_path, keyword):
    """A file whose ``keyword`` length field swallows PatientName and PatientID."""
    ds = dicom_dataset(
        np.arange(64, dtype=np.uint16).reshape(8, 8),
        PatientName="Doe^Jane",
        PatientID="SECRET-42",
        Laterality="L",
    )
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = bytearray(buffer.getvalue())
    tag = {
        "Modality": b"\x08\x00\x60\x00CS",
        "TransferSyntaxUID": b"\x02\x00\x10\x00UI",
    }
    at = data.index(tag[keyword])
    end_of_id = data.index(b"SECRET-42") + len(b"SECRET-42") + 1
    data[at + 6 : at + 8] = struct.pack("<H", end_of_id - (at + 8))
    path = tmp_path / "swallowing.dcm"
    path.write_bytes(bytes(data))
    return str(path)


@pytest.mark.parametrize("keyword", ["Modality", "TransferSyntaxUID"])
def test_a_value_swallowing_the_patient_is_never_quoted(tmp_path, caplog, keyword):
    """A corrupted length makes an element's value run over the patient's name and ID.

    pydicom then quotes that value in its warnings and log records, and it
    used to reach read_metadata's columns and error messages.
    """
    path = _swallowing_file(tmp_path, keyword)
    caplog.set_level(logging.DEBUG)
    texts = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            texts.append(read_metadata([path]).to_csv())
        except ImageFileError as exc:
            texts.append(str(exc))
        try:
            DicomLoader().fit_transform([path])[0]
        except ImageFileError as exc:
            texts.append(str(exc))
        texts.append(scan([path]).problems.to_csv())
    texts += [caplog.text, *(str(w.message) for w in caught)]
    assert not any("Doe" in text or "SECRET" in text for text in texts), texts
    with pytest.raises(ImageFileError, match=f"malformed {keyword}"):
        read_metadata([path])


def test_values_quoted_by_a_parser_are_scrubbed(write):
    """int() and pydicom errors quote the value; the message must not repeat it."""
    ds = dicom_dataset(np.arange(64, dtype=np.uint16).reshape(8, 8))
    raw_element(ds, "NumberOfFrames", "IS", "Doe^Jane")
    with pytest.raises(
        ImageFileError, match=r"cannot be decoded \(ValueError: .*'\.\.\.'"
    ) as info:
        DicomLoader().fit_transform([write(ds)])[0]
    assert "Doe" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_sigmoid_window_narrower_than_float32_gives_a_step_not_nan(write):
    """WindowWidth 1e-308 underflowed to 0 in float32: the centre pixel was 0/0."""
    pixels = np.arange(64, dtype=np.uint16).reshape(8, 8)
    ds = dicom_dataset(pixels, WindowCenter="30", VOILUTFunction="SIGMOID")
    raw_element(ds, "WindowWidth", "DS", "1e-308")
    image = DicomLoader(window="header").fit_transform([write(ds)])[0]
    expected = np.where(pixels > 30, 1.0, np.where(pixels < 30, 0.0, 0.5))
    np.testing.assert_array_equal(image, expected.astype(np.float32))


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize("width", ["1e308", "1e-300"])
def test_windows_beyond_float32_range_give_finite_images(write, function, width):
    """WindowWidth 1e308 made the window's low edge -inf in float32, then inf * 0."""
    pixels = np.arange(64, dtype=np.uint16).reshape(8, 8)
    ds = dicom_dataset(pixels, WindowCenter="30", VOILUTFunction=function)
    raw_element(ds, "WindowWidth", "DS", width)
    if function == "LINEAR" and width == "1e-300":
        with pytest.raises(ImageFileError, match="< 1 for LINEAR"):
            DicomLoader(window="header").fit_transform([write(ds)])[0]
        return
    image = DicomLoader(window="header").fit_transform([write(ds)])[0]
    assert np.isfinite(image).all() and 0.0 <= image.min() <= image.max() <= 1.0
    if width == "1e308":  # a window wider than anything: every pixel mid-grey
        np.testing.assert_allclose(image, 0.5, atol=1e-6)


def test_explicit_window_must_be_finite(write):
    path = write(dicom_dataset(np.arange(64, dtype=np.uint16).reshape(8, 8)))
    for window in [(float("nan"), 10.0), (0.0, float("inf"))]:
        with pytest.raises(ValueError, match="finite numbers"):
            DicomLoader(window=window).fit_transform([path])


def test_a_damaged_transfer_syntax_uid_is_not_quoted(tmp_path, seeds):
    """Bit flips left 'N%iBJ»ÌYN'-like UIDs, which messages quoted verbatim."""
    path = tmp_path / "uid.dcm"
    path.write_bytes(
        set_elements(seeds["explicit16"], {"TransferSyntaxUID": "1.2.»Doe^J"})
    )
    with pytest.raises(
        ImageFileError, match="unknown transfer syntax UID a malformed value"
    ) as info:
        DicomLoader().fit_transform([path])[0]
    assert "Doe" not in str(info.value)
    path.write_bytes(
        set_elements(seeds["explicit16"], {"TransferSyntaxUID": "1.2.3.4"})
    )
    with pytest.raises(ImageFileError, match="unknown transfer syntax UID '1.2.3.4'"):
        DicomLoader().fit_transform([path])[0]
