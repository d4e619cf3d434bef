"""Whether the test data of ``evaluate`` overlap a model's development data.

``compare`` stores, with each saved model, a fingerprint of the images and
patients it was developed on (:func:`development_fingerprint`): a digest of
each image file's content and a pseudonym of each patient, both keyed with a
random salt kept in the record. ``evaluate`` computes the same of its test
data (:func:`check_overlap`) and refuses to call data "unseen" that a model
was fitted or tuned on: renamed or copied files and re-used patients are
found, not just equal file names.
"""

import hashlib
import secrets

import numpy as np

__all__ = ["check_overlap", "development_fingerprint"]

# Large files (full-field DICOMs) are fingerprinted by their size and their
# first and last MiB: the DICOM header (with its unique SOP Instance UID) is
# in the first, and reading whole mammograms twice would double the I/O.
_CHUNK = 1 << 20


def _file_digest(path, salt):
    digest = hashlib.blake2b(salt.encode("ascii"), digest_size=16)
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        digest.update(str(size).encode("ascii"))
        handle.seek(0)
        digest.update(handle.read(_CHUNK))
        if size > 2 * _CHUNK:
            handle.seek(-_CHUNK, 2)
        digest.update(handle.read(_CHUNK))
    return digest.hexdigest()


def _patient_pseudonyms(identifiers, salt):
    from mammoclf.preprocessing import pseudonym

    return {pseudonym(str(value), salt) for value in identifiers}


def development_fingerprint(paths, identifiers, *, salt=None):
    """The images and patients a model was developed on, as salted digests.

    Parameters
    ----------
    paths : array-like of str
        The development image files.
    identifiers : array-like
        Their patient identifiers (as read, not pseudonymised).
    salt : str, default=None
        Key of the digests; None draws a random one (stored in the record).

    Returns
    -------
    fingerprint : dict
        ``salt``, sorted ``images`` digests and sorted ``patients``
        pseudonyms (JSON values).
    """
    salt = secrets.token_hex(16) if salt is None else salt
    return {
        "salt": salt,
        "images": sorted({_file_digest(path, salt) for path in paths}),
        "patients": sorted(_patient_pseudonyms(identifiers, salt)),
    }


def _shared(fingerprint, paths, identifiers):
    """``(n test images, n test patients)`` also in the development data."""
    salt = fingerprint["salt"]
    developed = set(fingerprint["images"])
    images = sum(_file_digest(path, salt) in developed for path in paths)
    patients = _patient_pseudonyms(identifiers, salt) & set(fingerprint["patients"])
    return int(images), len(patients)


def check_overlap(records, paths, identifiers, *, allow, warn):
    """Check the test data against each model's development fingerprint.

    Parameters
    ----------
    records : dict of str to dict or None
        Each model's development record (:func:`read_development`).
    paths, identifiers : array-like
        The test images and their patient identifiers.
    allow : bool
        ``--allow-overlap``: warn instead of refusing.
    warn : callable
        Shows a warning on the console (even with ``--quiet``).

    Returns
    -------
    statement : str
        What the report says about the test data's independence.

    Raises
    ------
    UsageError
        When a model was developed on some of the test images or patients
        and ``allow`` is False.
    """
    from mammoclf.cli._common import UsageError

    overlaps, unchecked = [], []
    for name, record in records.items():
        fingerprint = (record or {}).get("fingerprint")
        if fingerprint is None:
            unchecked.append(name)
            continue
        n_images, n_patients = _shared(fingerprint, paths, identifiers)
        if n_images or n_patients:
            overlaps.append(
                f"{name} was developed on {n_images} of the {len(paths)} test "
                f"images and {n_patients} of the "
                f"{np.unique(np.asarray(identifiers)).size} test patients"
            )
    if overlaps and not allow:
        raise UsageError(
            "evaluate refuses test data the model was developed on: "
            + "; ".join(overlaps)
            + ". Evaluate on data it never saw, or pass --allow-overlap to "
            "report it anyway (the report then says so)."
        )
    if overlaps:
        statement = (
            "WARNING: these data are NOT unseen (--allow-overlap): "
            + "; ".join(overlaps)
            + ". Its metrics are optimistic and are not an external validation."
        )
        warn(statement)
        return statement
    if unchecked:
        statement = (
            "Whether these data overlap the development data of "
            + ", ".join(unchecked)
            + " could not be checked (no fingerprint in the model file: saved by "
            "an older mammoclf or outside compare)."
        )
        warn(statement)
        return statement
    return (
        "None of the test images or patients is in any model's development "
        "data (checked by file content digests and patient pseudonyms)."
    )
