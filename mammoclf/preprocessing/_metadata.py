"""Header metadata for grouping and orientation, pseudonymised by default."""

import hashlib
import hmac
import re
import secrets
from numbers import Integral

from sklearn.utils._param_validation import StrOptions

from mammoclf.exceptions import DatasetError, ImageFileError
from mammoclf.preprocessing._reading import (
    header_text,
    quiet_pydicom,
    scrubbed,
    sniff_format,
)
from mammoclf.utils._orphans import exit_with_parent, workers_ending_with_parent
from mammoclf.utils._paths import check_paths
from mammoclf.utils._validation import validate_params

__all__ = ["pseudonym", "read_metadata"]

METADATA_COLUMNS = (
    "path",
    "format",
    "patient_id",
    "study_uid",
    "laterality",
    "view",
    "modality",
    "rows",
    "columns",
    "photometric",
    "bits_stored",
    "transfer_syntax",
)
_IDENTIFYING = ("patient_id", "study_uid")
# Mammographic view codes (DICOM CID 4014 short forms). CBIS-DDSM leaves
# ViewPosition empty and writes these codes into PatientOrientation instead.
_VIEW_CODES = frozenset(
    {"CC", "MLO", "ML", "LM", "LMO", "XCCL", "XCCM", "FB", "SIO", "AT", "CV"}
)
# CBIS-DDSM's PatientID names abnormality, split, patient, breast and view
# ("Mass-Test_P_00016_LEFT_CC", "Calc-Training_P_00005_RIGHT_MLO_1"); the
# patient is the P_ and five digits.
_CBIS_DDSM_PATIENT = re.compile(r"(?<![A-Za-z0-9])P_\d{5}(?!\d)")
_PATIENT_ID_SOURCES = ("header", "cbis-ddsm")
# Drawn once per process: without an explicit salt, pseudonyms are stable
# within a run (enough to group images) but cannot be linked across runs.
_PROCESS_SALT = secrets.token_bytes(32)


@validate_params(
    {"value": "no_validation", "salt": [str, bytes, None]},  # any value's str()
    prefer_skip_nested_validation=True,
)
def pseudonym(value, salt=None):
    """A salted-hash pseudonym of an identifier (HMAC-SHA256, 16 hex digits).

    Parameters
    ----------
    value : str
        The identifier, e.g. a DICOM PatientID.
    salt : str or bytes, default=None
        Secret key. None uses a random key drawn once per process, so the
        same value gets the same pseudonym within one run only. Pass your own
        (kept secret) salt to link pseudonyms across runs.

    Returns
    -------
    pseudonym : str
        ``"anon-"`` followed by 16 hex digits.

    Examples
    --------
    >>> from mammoclf.preprocessing import pseudonym
    >>> pseudonym("P_00173", salt="study-secret")
    'anon-...'
    >>> pseudonym("P_00173", salt="k") == pseudonym("P_00173", salt="k")
    True
    """
    key = (
        _PROCESS_SALT
        if salt is None
        else (salt.encode() if isinstance(salt, str) else salt)
    )
    digest = hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"anon-{digest[:16]}"


@validate_params(
    {
        "paths": "no_validation",  # check_paths: messages that speak of paths
        "identifiers": [StrOptions({"pseudonymise", "keep"})],
        "salt": [str, bytes, None],
        "patient_id": [StrOptions({"header", "cbis-ddsm"})],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def read_metadata(
    paths, *, identifiers="pseudonymise", salt=None, patient_id="header", n_jobs=None
):
    """Read the header metadata of image files into a data frame (no pixels decoded).

    Use it to build ``groups`` for patient-grouped cross-validation and to
    check laterality and view. Identifying fields (PatientID,
    StudyInstanceUID) are replaced by salted-hash pseudonyms unless you opt in
    with ``identifiers="keep"``: pseudonyms group exactly like the originals.

    Parameters
    ----------
    paths : sequence of str or path-like
        DICOM, PNG, JPEG, PGM or TIFF files.
    identifiers : {"pseudonymise", "keep"}, default="pseudonymise"
        Whether ``patient_id`` and ``study_uid`` hold pseudonyms or the raw
        header values.
    salt : str or bytes, default=None
        Key of the pseudonyms, see :func:`pseudonym`.
    patient_id : {"header", "cbis-ddsm"}, default="header"
        What the ``patient_id`` column holds. ``"header"``: the PatientID
        as written. ``"cbis-ddsm"``: the patient part of CBIS-DDSM's
        PatientID, which also names abnormality, breast and view
        (``Mass-Test_P_00016_LEFT_CC`` gives ``P_00016``), so that all
        images of a patient share one id, as grouped cross-validation
        needs. Pseudonymised after extraction, like the header value.
    n_jobs : int, default=None
        Files read in parallel (joblib); None means 1.

    Returns
    -------
    metadata : pandas.DataFrame
        One row per file, columns ``path``, ``format``, ``patient_id``,
        ``study_uid``, ``laterality`` (``"L"``/``"R"``, from ImageLaterality
        or else Laterality), ``view`` (ViewPosition, or else a view code found
        in PatientOrientation as CBIS-DDSM stores it), ``modality``, ``rows``,
        ``columns``, ``photometric``, ``bits_stored``, ``transfer_syntax``.
        Fields a file does not have (all DICOM fields of a PNG) are missing
        values (``pandas.isna``).

    Raises
    ------
    FileNotFoundError
        Listing every missing file.
    ImageFileError
        For a file whose header cannot be read.
    DatasetError
        With ``patient_id="cbis-ddsm"``, for files whose PatientID holds
        no CBIS-DDSM patient number (``P_`` and five digits).

    Examples
    --------
    >>> import tempfile
    >>> from mammoclf.datasets import make_synthetic_mammograms
    >>> from mammoclf.preprocessing import read_metadata
    >>> data = make_synthetic_mammograms(4, image_size=32, random_state=0,
    ...                                  directory=tempfile.mkdtemp())
    >>> meta = read_metadata(data.paths, salt="secret")
    >>> meta[["laterality", "view", "modality"]].iloc[0].tolist()
    ['R', 'CC', 'MG']
    >>> int(meta["rows"].iloc[0])
    32
    >>> bool(meta["patient_id"].str.startswith("anon-").all())
    True
    """
    import pandas as pd
    from joblib import Parallel, delayed

    paths = check_paths(paths, "read_metadata", must_exist=True)
    rows = Parallel(n_jobs=n_jobs, backend=workers_ending_with_parent())(
        delayed(_read_header)(path) for path in paths
    )
    if patient_id == "cbis-ddsm":
        _cbis_ddsm_patients(rows)
    if identifiers == "pseudonymise":
        for row in rows:
            for column in _IDENTIFYING:
                if row[column] is not None:
                    row[column] = pseudonym(row[column], salt)
    return pd.DataFrame(rows, columns=list(METADATA_COLUMNS))


def _cbis_ddsm_patients(rows):
    """Replace each row's PatientID by its CBIS-DDSM patient number, in place."""
    unmatched = []
    for row in rows:
        match = _CBIS_DDSM_PATIENT.search(row["patient_id"] or "")
        if match is None:
            unmatched.append(row["path"])
        else:
            row["patient_id"] = match.group(0)
    if unmatched:
        # Paths only: the PatientID itself may identify someone.
        more = f" and {len(unmatched) - 1} more" if len(unmatched) > 1 else ""
        raise DatasetError(
            f"patient_id='cbis-ddsm': the PatientID of {unmatched[0]}{more} holds no "
            "CBIS-DDSM patient number (P_ and five digits); use patient_id='header' "
            "for other data."
        )


def _read_header(path):
    """Return one metadata row (raw identifiers; the caller pseudonymises)."""
    exit_with_parent()
    row = dict.fromkeys(METADATA_COLUMNS)
    row["path"] = path
    with open(path, "rb") as handle:
        row["format"] = sniff_format(path, handle.read(132))
        handle.seek(0)
        try:
            if row["format"] == "dicom":
                _dicom_fields(handle, row)
            else:
                from PIL import Image

                with Image.open(handle) as image:
                    row["columns"], row["rows"] = image.size
        except (ImageFileError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - any parser failure: a bad file
            # "from None" and scrubbed: the parser's message may quote header
            # values, patient names included.
            raise ImageFileError(
                path,
                f"has an unreadable header ({type(exc).__name__}: {scrubbed(exc)}); "
                "the file is probably truncated or corrupt.",
            ) from None
    return row


def _dicom_fields(handle, row):
    import pydicom

    path = row["path"]
    # Every access inside: pydicom converts (and complains about) values lazily.
    with quiet_pydicom():
        dataset = pydicom.dcmread(handle, stop_before_pixels=True)
        row["patient_id"] = _text(dataset, "PatientID", path)
        row["study_uid"] = _text(dataset, "StudyInstanceUID", path)
        row["laterality"] = _text(dataset, "ImageLaterality", path) or _text(
            dataset, "Laterality", path
        )
        row["view"] = _text(dataset, "ViewPosition", path) or _view_from_orientation(
            dataset, path
        )
        row["modality"] = _text(dataset, "Modality", path)
        row["rows"] = _integer(dataset.get("Rows"))
        row["columns"] = _integer(dataset.get("Columns"))
        row["photometric"] = _text(dataset, "PhotometricInterpretation", path)
        row["bits_stored"] = _integer(dataset.get("BitsStored"))
        syntax = _text(dataset.file_meta, "TransferSyntaxUID", path)
        row["transfer_syntax"] = (
            None if syntax is None else pydicom.uid.UID(syntax).name
        )


def _text(dataset, keyword, path):
    """The element's value as text, None if absent or empty.

    A value that is not plausible header text (control characters, longer
    than any single-valued text VR allows) means a damaged header, typically
    a corrupted length field that made the element swallow the following
    ones, patient name and ID included: an error, which does not quote it.
    """
    value = dataset.get(keyword)
    if value is None:
        return None
    text = header_text(value)
    if text is None:
        raise ImageFileError(
            path,
            f"has a malformed {keyword} (not a valid DICOM text value); the header "
            "is probably corrupt. Re-export the file or remove it.",
        )
    return text or None


def _integer(value):
    return None if value is None else int(value)


def _view_from_orientation(dataset, path):
    orientation = dataset.get("PatientOrientation")
    if orientation is None:
        return None
    values = [orientation] if isinstance(orientation, str) else list(orientation)
    if any(header_text(v) is None for v in values):
        raise ImageFileError(
            path,
            "has a malformed PatientOrientation (not a valid DICOM text value); the "
            "header is probably corrupt. Re-export the file or remove it.",
        )
    codes = [
        str(v).strip().upper() for v in values if str(v).strip().upper() in _VIEW_CODES
    ]
    return codes[0] if len(codes) == 1 else None
