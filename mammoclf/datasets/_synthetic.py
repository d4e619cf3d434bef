"""make_synthetic_mammograms: a small, realistic, shape-labelled DICOM data set."""

import hashlib
import json
import os
import tempfile
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval

from mammoclf.datasets._anatomy import (
    density_category,
    draw_breast,
    draw_lesion_shape,
    lesion_subtlety,
    mass_descriptors,
    sample_lesion,
)
from mammoclf.storage import atomic_write
from mammoclf.utils._validation import validate_params

__all__ = ["make_synthetic_mammograms"]

# Written beside the files of a seeded data set: its arguments and the
# digests of its files, so that a call with the same arguments reuses them.
MANIFEST = "mammoclf-synthetic.json"
_MANIFEST_FORMAT = 1

_DIGITAL_MAMMOGRAPHY_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"  # For Presentation
_VIEW_ROTATION = {"CC": 0.0, "MLO": 0.6}  # radians: the MLO projection of a mass

_DESCR = """Synthetic mammograms (mammoclf.datasets.make_synthetic_mammograms)

Each synthetic patient has one breast with one mass, imaged in the CC and
MLO views (a patient is a group: never split its views across folds). The
breast has a realistic outline, a pectoral muscle in MLO, and power-law
(1/f^3) parenchymal texture. Benign masses are circumscribed round or oval;
malignant masses are irregular with radiating spicules. Lesion area and
contrast follow the same distributions in both classes, so a model has to
learn the margin's shape. Files are 16-bit MONOCHROME2 DICOM (Modality MG)
with fake PatientID/PatientName, ImageLaterality and ViewPosition.

The metadata carries what CBIS-DDSM describes (BI-RADS breast density 1-4,
abnormality type, mass shape and margins, subtlety 1-5), and each image has
a lesion mask (``Bunch.masks``) for checking where a model looks.
"""


@validate_params(
    {
        # Two patients at least: one per class.
        "n_samples": [Interval(Integral, 4, None, closed="left")],
        "image_size": [Interval(Integral, 32, None, closed="left")],
        "difficulty": [Interval(Real, 0, 1, closed="both")],
        "malignant_fraction": [Interval(Real, 0, 1, closed="neither")],
        "directory": [str, os.PathLike, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_synthetic_mammograms(
    n_samples=200,
    *,
    image_size=128,
    difficulty=0.5,
    malignant_fraction=0.5,
    directory=None,
    random_state=None,
):
    """Write synthetic mammograms with benign or malignant masses as DICOM files.

    The embedded default data set of ``mammoclf compare`` and of the tests:
    200 images of 128 px take a few seconds to generate. Learning the classes
    takes data: at ``difficulty=0.0`` and 64 px, the demo's CNN (global max
    pooling) reaches a cross-validated AUC of about 0.9 on 480 images after
    ~200 gradient steps, and about 0.7 on 160.

    Parameters
    ----------
    n_samples : int, default=200
        Number of images: ``n_samples // 2`` patients with a CC and an MLO
        view each (plus one patient with a CC view only when odd).
    image_size : int, default=128
        Side of the square images in pixels (at least 32).
    difficulty : float, default=0.5
        In ``[0, 1]``. Higher values lower lesion contrast, shorten and fade
        the spicules, smooth malignant margins and lobulate benign ones, so
        the classes overlap more.
    malignant_fraction : float, default=0.5
        Fraction of patients with a malignant mass (rounded; each class gets
        at least one patient).
    directory : str or path-like, default=None
        Empty or new directory to write the files to. None creates a new
        temporary directory, which the caller deletes when done
        (``Bunch.directory``). With an int ``random_state`` the directory
        also gets ``mammoclf-synthetic.json``, the arguments and the SHA-256
        digest of every file; a later call with the same arguments (and
        mammoclf version) into that directory reuses its files untouched
        when every digest still matches (``Bunch.reused``), so that caches
        keyed on the files (the image cache) keep their entries. Any other
        non-empty directory is refused.
    random_state : int, RandomState instance or None, default=None
        An int gives byte-identical files on every run.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``paths`` (str array), ``labels`` (``"BENIGN"``/``"MALIGNANT"``),
        ``groups`` (synthetic patient IDs), ``metadata``, ``masks``,
        ``directory``, ``reused`` (whether the files were already there)
        and ``DESCR``.

        ``metadata`` is a DataFrame, one row per image, with CBIS-DDSM's
        column names where they exist: ``path``, ``patient_id``,
        ``laterality`` (``"L"``/``"R"``), ``view`` (``"CC"``/``"MLO"``),
        ``label``, ``breast_density`` (BI-RADS category 1-4, drawn
        uniformly), ``abnormality_type`` (always ``"mass"``),
        ``mass_shape`` (``ROUND``/``OVAL`` benign, ``IRREGULAR`` malignant),
        ``mass_margins`` (``CIRCUMSCRIBED``/``SPICULATED``, so it repeats the
        label), ``subtlety`` (1 subtle to 5 obvious: the lesion's contrast
        over the tissue texture of its breast, at fixed cut-offs), and the
        lesion's centre ``lesion_row``/``lesion_col`` (pixels), footprint
        ``lesion_area_px`` and ``lesion_contrast``.

        ``masks`` is a bool array of shape ``(n_samples, image_size,
        image_size)``: each image's lesion footprint (core and spicules
        where the lesion's profile exceeds half its peak), for checking
        where a model looks (:func:`~mammoclf.inspection.localization_scores`).

    Examples
    --------
    >>> import tempfile
    >>> from mammoclf.datasets import make_synthetic_mammograms
    >>> data = make_synthetic_mammograms(6, image_size=64, random_state=0,
    ...                                  directory=tempfile.mkdtemp())
    >>> data.labels.tolist()
    ['BENIGN', 'BENIGN', 'MALIGNANT', 'MALIGNANT', 'MALIGNANT', 'MALIGNANT']
    >>> data.groups.tolist()
    ['SYN0001', 'SYN0001', 'SYN0002', 'SYN0002', 'SYN0003', 'SYN0003']
    >>> data.metadata["view"].tolist()[:2]
    ['CC', 'MLO']
    >>> data.masks.shape, bool(data.masks[0].sum() == data.metadata["lesion_area_px"][0])
    ((6, 64, 64), True)
    """
    import pandas as pd

    arguments = _manifest_arguments(
        n_samples, image_size, difficulty, malignant_fraction, random_state
    )
    reused = _matches_manifest(directory, arguments)
    directory = os.fspath(directory) if reused else _prepare_directory(directory)
    rng = check_random_state(random_state)
    # Seeds the DICOM UIDs, so an int random_state gives identical files.
    uid_entropy = str(rng.randint(2**31 - 1))
    n_patients = -(-n_samples // 2)
    n_malignant = min(max(round(malignant_fraction * n_patients), 1), n_patients - 1)
    malignant = rng.permutation(np.arange(n_patients) < n_malignant)

    rows, masks = [], []
    for patient in range(n_patients):
        patient_id = f"SYN{patient + 1:04d}"
        views = ("CC", "MLO") if 2 * patient + 1 < n_samples else ("CC",)
        laterality = "L" if rng.random_sample() < 0.5 else "R"
        density = rng.uniform(0.0, 1.0)
        lesion = sample_lesion(rng, bool(malignant[patient]), image_size, difficulty)
        depth = rng.uniform(0.18, 0.5)
        mass_shape, mass_margins = mass_descriptors(lesion)
        breast = {
            "breast_density": density_category(density),
            "abnormality_type": "mass",
            "mass_shape": mass_shape,
            "mass_margins": mass_margins,
            "subtlety": lesion_subtlety(lesion, density, difficulty),
        }
        for view in views:
            image, mask, info = _draw_view(
                rng, image_size, view, density, lesion, depth, difficulty
            )
            if laterality == "R":
                # Right breasts have their chest wall on the right, as in real files.
                image, mask = image[:, ::-1], mask[:, ::-1]
                info["lesion_col"] = image_size - 1 - info["lesion_col"]
            masks.append(mask)
            path = os.path.join(directory, f"{patient_id}_{laterality}_{view}.dcm")
            if not reused:
                _write_dicom(path, image, patient_id, laterality, view, uid_entropy)
            rows.append(
                {
                    "path": path,
                    "patient_id": patient_id,
                    "laterality": laterality,
                    "view": view,
                    "label": "MALIGNANT" if malignant[patient] else "BENIGN",
                    **breast,
                    **info,
                }
            )
    metadata = pd.DataFrame(rows)
    if arguments is not None and not reused:
        _write_manifest(directory, arguments, metadata["path"])
    return Bunch(
        paths=metadata["path"].to_numpy(dtype=str),
        labels=metadata["label"].to_numpy(dtype=str),
        groups=metadata["patient_id"].to_numpy(dtype=str),
        metadata=metadata,
        masks=np.stack(masks),
        directory=directory,
        reused=reused,
        DESCR=_DESCR,
    )


def _manifest_arguments(n_samples, image_size, difficulty, malignant_fraction, seed):
    """What fixes the files' bytes; None when they are not reproducible."""
    from mammoclf import __version__

    if not isinstance(seed, Integral) or isinstance(seed, bool):
        return None
    return {
        "format": _MANIFEST_FORMAT,
        "mammoclf": __version__,
        "n_samples": int(n_samples),
        "image_size": int(image_size),
        "difficulty": float(difficulty),
        "malignant_fraction": float(malignant_fraction),
        "random_state": int(seed),
    }


def _file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _matches_manifest(directory, arguments):
    """Whether ``directory`` holds this data set, every file unchanged."""
    if directory is None or arguments is None:
        return False
    path = os.path.join(os.fspath(directory), MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        if manifest.get("arguments") != arguments:
            return False
        return all(
            _file_digest(os.path.join(os.fspath(directory), name)) == digest
            for name, digest in manifest["files"].items()
        )
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return False  # absent, unreadable or damaged: not reusable


def _write_manifest(directory, arguments, paths):
    files = {os.path.basename(path): _file_digest(path) for path in paths}
    text = json.dumps({"arguments": arguments, "files": files}, indent=1)
    with atomic_write(os.path.join(directory, MANIFEST), "w") as handle:
        handle.write(text + "\n")


def _prepare_directory(directory):
    if directory is None:
        return tempfile.mkdtemp(prefix="mammoclf-synthetic-")
    directory = os.fspath(directory)
    if os.path.isdir(directory) and os.listdir(directory):
        raise ValueError(
            f"directory {directory!r} is not empty (and holds no unchanged data set "
            f"made with these arguments, see its {MANIFEST}); give a new or empty "
            "directory so synthetic files never mix with (or overwrite) other files."
        )
    os.makedirs(directory, exist_ok=True)
    return directory


def _draw_view(rng, size, view, density, lesion, depth, difficulty):
    """One view of the breast with its lesion; returns (image, lesion mask, info)."""
    image, thickness = draw_breast(rng, size, view, density, difficulty)
    shape = draw_lesion_shape(lesion, _VIEW_ROTATION[view] + rng.uniform(-0.2, 0.2))
    column = round((depth + rng.uniform(-0.04, 0.04)) * size)
    # Somewhere well inside the breast (not in the pectoral muscle) at that depth.
    candidates = np.flatnonzero(thickness[:, column] > 0.9)
    if view == "MLO":
        candidates = candidates[candidates > 0.55 * size - column * 0.5]
    if candidates.size == 0:
        candidates = np.array([size // 2])
    row = int(rng.choice(candidates))
    added = np.zeros_like(image)
    half = shape.shape[0] // 2
    top, left = row - half, column - half
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + shape.shape[0], size), min(left + shape.shape[1], size)
    added[r0:r1, c0:c1] = shape[r0 - top : r1 - top, c0 - left : c1 - left]
    # The lesion's own footprint, before tissue thickness fades its edges.
    mask = added > 0.5
    added *= thickness
    image = image + lesion.contrast * added
    image = image + rng.normal(0.0, 0.008, image.shape)  # quantum noise
    info = {
        "lesion_row": row,
        "lesion_col": column,
        "lesion_area_px": int(mask.sum()),
        "lesion_contrast": float(lesion.contrast),
    }
    return image, mask, info


def _write_dicom(path, image, patient_id, laterality, view, uid_entropy):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    # Our own rendering: values stay in [0, 1] by construction, the clip only
    # guards the uint16 conversion against rounding at the extremes.
    pixels = np.round(np.clip(image, 0.0, 1.0) * 65535).astype(np.uint16)
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = _DIGITAL_MAMMOGRAPHY_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid(
        entropy_srcs=[uid_entropy, patient_id, view, "instance"]
    )
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[uid_entropy, patient_id, "study"])
    ds.SeriesInstanceUID = generate_uid(
        entropy_srcs=[uid_entropy, patient_id, view, "series"]
    )
    ds.Modality = "MG"
    ds.PatientID = patient_id
    ds.PatientName = f"Synthetic^{patient_id}"
    ds.BodyPartExamined = "BREAST"
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.SeriesDescription = "synthetic mammogram (mammoclf)"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    with atomic_write(path) as handle:  # never a half-written file (disk full)
        ds.save_as(handle, enforce_file_format=True)
