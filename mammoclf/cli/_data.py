"""Where ``mammoclf compare`` gets its images: synthetic, CBIS-DDSM or a CSV."""

import csv
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mammoclf.cli._common import UsageError
from mammoclf.storage import atomic_write
from mammoclf.utils._patients import MIN_PATIENTS_PER_CLASS, check_patients_per_class

__all__ = [
    "DataSource",
    "add_cache_options",
    "configure_loaders",
    "decoding_processes",
    "image_preprocessing",
    "load_images",
    "prepare_cache",
    "resolve_data",
    "run_clear_cache",
]

_CSV_COLUMNS = ("path", "label", "patient")
# Memory set aside per decoding process when "all cores" are asked for.
_MEMORY_PER_DECODER = 2**30


@dataclass
class DataSource:
    """Images, labels and patient groups of one run.

    ``groups`` are the patients as integers numbered in order of first
    appearance: they fix the folds, reproducibly from the data alone.
    ``patients`` is what reports show: salted-hash pseudonyms (a new salt
    each run, so they cannot be linked across runs, unless ``--salt-file``
    keeps one) unless the user asked to reveal identifiers.
    """

    paths: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    description: str
    synthetic: bool
    patients: np.ndarray | None = None
    cache_dir: str | None = None
    metadata: object = None  # the data set's own table, row for row (or None)
    labels_read: str | None = None  # how a CSV's labels were read, in one line
    identifiers: np.ndarray | None = None  # patient ids as read (never reported)
    warnings: tuple = ()  # what resolve_data announced, for the report's notes
    salt: object = None  # the pseudonyms' key (never reported)


def resolve_data(args, settings, out_dir, log):
    """Build the :class:`DataSource` the command line asks for, and check it.

    Synthetic data are written to ``out_dir/synthetic-data``; the other
    sources only read. Raises :class:`UsageError` for data that cannot be
    compared: not exactly two classes, or fewer patients of a class than
    folds.
    """
    cache_dir = prepare_cache(args, log)
    if args.cbis_ddsm:
        source = _cbis_ddsm(args, cache_dir)
    elif args.csv:
        source = _csv(args.csv)
    else:
        source = _synthetic(args, settings.image_size, out_dir, log)
    import pandas as pd

    from mammoclf.preprocessing import pseudonym

    identifiers = source.groups
    source.patients = (
        np.asarray(identifiers)
        if args.reveal_identifiers
        else np.array([pseudonym(group, settings.salt) for group in identifiers])
    )
    source.identifiers = np.asarray(identifiers)
    source.salt = settings.salt
    source.groups = pd.factorize(identifiers)[0]
    source.cache_dir = cache_dir
    if source.labels_read:
        log(source.labels_read)
    classes, counts = np.unique(source.labels, return_counts=True)
    if classes.size != 2:
        raise UsageError(
            f"{getattr(args, 'command', None) or 'compare'} needs exactly two "
            "classes (benign and malignant); the data have "
            f"{classes.size}: {classes.tolist()}."
        )
    try:
        with warnings.catch_warnings(record=True) as few:
            # Kept for evaluate's report; compare_models gives it to compare.
            warnings.simplefilter("always", UserWarning)
            per_class = check_patients_per_class(
                source.labels,
                source.groups,
                n_folds=settings.n_folds,
                folds_option=f"--cv {settings.n_folds}",
            )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    log(
        f"data: {source.description}: {len(source.paths)} images of "
        f"{np.unique(source.groups).size} patients ("
        + ", ".join(
            f"{c}: {n} images of {per_class[c]} patients"
            for c, n in zip(classes.tolist(), counts)
        )
        + ")"
    )
    source.warnings = tuple(str(w.message) for w in few)
    if min(per_class.values()) < MIN_PATIENTS_PER_CLASS:
        log(
            f"warning: fewer than {MIN_PATIENTS_PER_CLASS} patients in a class: the "
            "results will be a smoke test (see the warnings at the end)"
        )
    return source


def _synthetic(args, image_size, out_dir, log):
    from mammoclf.datasets import make_synthetic_mammograms

    directory = Path(out_dir) / "synthetic-data"
    size = max(2 * image_size, 96)

    def make():
        return make_synthetic_mammograms(
            args.n_samples,
            image_size=size,
            difficulty=args.difficulty,
            directory=directory,
            random_state=args.random_state,
        )

    # The demo data of a previous run into this folder are reused when
    # unchanged and made with the same settings: the image cache then still
    # knows them, and a rerun decodes nothing. Other demo data are replaced.
    if directory.is_dir() and any(directory.iterdir()):
        try:
            data = make()
        except ValueError:
            shutil.rmtree(directory)
            data = None
    else:
        data = None
    if data is None:
        log(
            f"generating {args.n_samples} synthetic mammograms ({size} px) in {directory}"
        )
        data = make()
    else:
        log(f"reusing the {args.n_samples} synthetic mammograms in {directory}")
    metadata = data.metadata.copy()
    metadata["mask"] = _write_masks(data.masks, data.paths)
    return DataSource(
        paths=np.asarray(data.paths, dtype=str),
        labels=np.asarray(data.labels),
        groups=np.asarray(data.groups, dtype=str),
        description=f"synthetic mammograms (difficulty {args.difficulty})",
        synthetic=True,
        metadata=metadata,
    )


def _write_masks(masks, image_paths):
    """Each lesion mask as a PNG beside its image, as a CSV's ``mask`` column names them."""
    from PIL import Image

    paths = []
    for mask, image_path in zip(masks, image_paths):
        path = Path(image_path).with_suffix(".mask.png")
        with atomic_write(path) as handle:
            Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(handle, "PNG")
        paths.append(str(path))
    return paths


def _cbis_ddsm(args, cache_dir):
    from mammoclf.datasets import load_cbis_ddsm

    root = Path(args.cbis_ddsm)
    if not root.is_dir():
        raise UsageError(f"--cbis-ddsm: {root} is not a directory.")
    abnormality = ("mass", "calc") if args.subset == "both" else args.subset
    # The official split keeps both splits, told apart by metadata["split"].
    split = "all" if getattr(args, "official_test_split", False) else args.split
    data = load_cbis_ddsm(
        root,
        abnormality=abnormality,
        split=split,
        image="roi" if args.roi else "full",
        cache_dir=cache_dir,
        masks=not args.roi,
        verbose=0 if args.quiet else 1,
    )
    masks = (
        ""
        if args.roi
        else f"; lesion masks: {data.n_masks_missing} not found, "
        f"{data.n_masks_dropped} of another aspect ratio dropped"
    )
    return DataSource(
        paths=np.asarray(data.paths, dtype=str),
        labels=np.asarray(data.labels),
        groups=np.asarray(data.groups, dtype=str),
        description=f"CBIS-DDSM ({args.subset}, split {split}, "
        f"{'ROI crops' if args.roi else 'full mammograms'}; {data.layout}{masks})",
        synthetic=False,
        metadata=data.metadata,
    )


def _csv(csv_path):
    path = Path(csv_path)
    if not path.is_file():
        raise UsageError(f"--csv: no such file: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip().lower() for c in (reader.fieldnames or [])]
            missing = [c for c in _CSV_COLUMNS if c not in columns]
            if missing:
                raise UsageError(
                    f"{path}: missing column(s) {', '.join(missing)}; expected a header "
                    f"with {','.join(_CSV_COLUMNS)} (found: {','.join(columns) or 'none'})."
                )
            rows = [
                {
                    key.strip().lower(): (value or "").strip()
                    for key, value in row.items()
                    if key
                }
                for row in reader
            ]
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a UTF-8 text CSV ({exc.reason}).") from exc
    if not rows:
        raise UsageError(f"{path}: no data rows.")
    empty = [
        i + 2 for i, row in enumerate(rows) if not all(row[c] for c in _CSV_COLUMNS)
    ]
    if empty:
        raise UsageError(
            f"{path}: empty path, label or patient on line(s) {_first(empty)}."
        )
    paths = [
        str(
            Path(row["path"])
            if Path(row["path"]).is_absolute()
            else path.parent / row["path"]
        )
        for row in rows
    ]
    absent = [p for p in paths if not Path(p).is_file()]
    if absent:
        raise UsageError(
            f"{path}: {len(absent)} listed file(s) do not exist: {_first(absent)}."
        )
    labels, labels_read = _read_labels([row["label"] for row in rows])
    return DataSource(
        paths=np.asarray(paths, dtype=str),
        labels=labels,
        groups=np.asarray([row["patient"] for row in rows], dtype=str),
        description=f"CSV {path.name}",
        synthetic=False,
        labels_read=labels_read,
    )


def _read_labels(values):
    """A CSV's labels with case and surrounding spaces ignored, and how they were read.

    Spellings that differ only in case or surrounding white space
    (``"BENIGN"``, ``"Benign"``, ``" benign"``) are one label, written as its
    most frequent spelling (the first seen among equals); labels that differ
    in anything else stay apart.

    Returns
    -------
    labels : ndarray of str
    labels_read : str or None
        One line naming each label, its rows and the spellings merged into
        it; None when every label has one spelling.
    """
    from collections import Counter

    spellings = {}
    for value in values:
        spellings.setdefault(value.strip().casefold(), Counter())[value.strip()] += 1
    written = {key: counts.most_common(1)[0][0] for key, counts in spellings.items()}
    labels = np.asarray([written[value.strip().casefold()] for value in values])
    if all(len(counts) == 1 for counts in spellings.values()):
        return labels, None
    parts = []
    for key, counts in sorted(spellings.items(), key=lambda item: written[item[0]]):
        part = f"{written[key]} ({counts.total()} rows"
        if len(counts) > 1:
            part += ": " + ", ".join(f'"{text}" {n}' for text, n in counts.items())
        parts.append(part + ")")
    return labels, "labels read ignoring case and surrounding spaces: " + ", ".join(
        parts
    )


def _first(items, n=3):
    shown = ", ".join(str(item) for item in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


# ------------------------------------------------------------ data options
def add_source_options(data, *, required, csv_help, split_default, split_help):
    """Add the data-source options (a CBIS-DDSM root or a CSV) to an argument group."""
    source = data.add_mutually_exclusive_group(required=required)
    source.add_argument(
        "--cbis-ddsm",
        metavar="ROOT",
        help="CBIS-DDSM root: a TCIA DICOM download, or the Kaggle JPEG release "
        "(the folder holding csv/ and jpeg/)",
    )
    source.add_argument("--csv", metavar="FILE", help=csv_help)
    data.add_argument(
        "--subset",
        choices=("mass", "calc", "both"),
        default="both",
        help="CBIS-DDSM abnormality subset (default: both)",
    )
    data.add_argument(
        "--split",
        choices=("train", "test", "all"),
        default=split_default,
        help=f"{split_help} (default: {split_default})",
    )
    data.add_argument(
        "--roi",
        action="store_true",
        help="CBIS-DDSM: use the ROI crops instead of full mammograms",
    )


# ------------------------------------------------- decoding and the image cache
def add_cache_options(parser):
    """Add the image-cache options to a command (compare, evaluate, predict)."""
    group = parser.add_argument_group("image cache")
    group.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="keep decoded, resized images (and CBIS-DDSM header indexes) here, "
        "so that a rerun decodes nothing (default: $MAMMOCLF_CACHE_DIR, else "
        "~/.cache/mammoclf on Linux, ~/Library/Caches/mammoclf on macOS, "
        "%%LOCALAPPDATA%%\\mammoclf\\Cache on Windows)",
    )
    group.add_argument(
        "--no-cache",
        action="store_true",
        help="decode every image again and keep nothing between runs",
    )
    group.add_argument(
        "--clear-cache",
        action="store_true",
        help="empty the cache before this run (see also `mammoclf clear-cache`)",
    )
    group.add_argument(
        "--memory-limit",
        type=_memory_size,
        default="auto",
        metavar="SIZE",
        help="resized images beyond this size (e.g. 8G, 500M) live in a "
        "memory-mapped file in the cache, streamed to training (default: a "
        "quarter of the RAM)",
    )


def add_clear_cache_command(commands):
    """The ``mammoclf clear-cache`` subcommand."""
    command = commands.add_parser(
        "clear-cache",
        help="delete the decoded images and indexes mammoclf cached",
        description="Delete what mammoclf cached: decoded, resized images, "
        "CBIS-DDSM header indexes and leftover memory-mapped files.",
    )
    command.add_argument("--cache-dir", metavar="DIR", help="the cache to clear")
    return command


def run_clear_cache(args):
    """Clear the cache ``args.cache_dir`` (or the default one) and say how much."""
    from mammoclf.preprocessing import clear_cache, get_cache_dir

    directory = get_cache_dir(args.cache_dir)
    freed = clear_cache(directory)
    print(f"cleared {directory}: {freed / 2**20:.1f} MiB freed")


def prepare_cache(args, log):
    """The cache directory of this run (None with --no-cache); --clear-cache empties it."""
    from mammoclf.preprocessing import clear_cache, get_cache_dir

    directory = get_cache_dir(args.cache_dir)
    if args.clear_cache:
        freed = clear_cache(directory)
        log(f"cleared the cache {directory} ({freed / 2**20:.1f} MiB)")
    if args.no_cache:
        return None
    return directory


def load_images(paths, image_size, *, cache_dir, n_jobs, memory_limit, log, quiet):
    """Decode and resize every image once, up front, through the cache.

    Loading and resizing are per-image, deterministic and learn nothing from
    the data, so doing them before the split leaks nothing (unlike the
    study's augmentation before splitting); augmentation stays inside the
    training folds. Files already in the cache are not decoded; the others
    are decoded by ``n_jobs`` processes (-1: all cores), each holding one
    full-resolution image at a time.
    """
    n_jobs = decoding_processes(n_jobs)
    where = "no cache" if cache_dir is None else f"cache {cache_dir}"
    log(
        f"decoding and resizing {len(paths)} images to {image_size} px "
        f"({n_jobs} processes, {where}) ..."
    )
    loader, resizer = image_preprocessing(image_size)
    loader.set_params(
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        memory_limit=memory_limit,
        verbose=0 if quiet else 1,
    )
    sequence = loader.fit_transform(paths)
    images = resizer.fit_transform(sequence)
    report = sequence.last_run
    stored = "a memory-mapped file" if isinstance(images, np.memmap) else "memory"
    log(
        f"images ready: {report['decoded']} decoded, {report['from_cache']} from "
        f"the cache; {images.nbytes / 2**20:.0f} MiB in {stored}"
    )
    return images


def image_preprocessing(image_size):
    """The loader and resizer that :func:`load_images` decodes and resizes with
    (the report states their settings)."""
    from mammoclf import DicomLoader, Resizer

    return DicomLoader(), Resizer(size=image_size)


def decoding_processes(n_jobs):
    """``n_jobs`` as a count; all cores (-1) only as far as memory allows.

    A decoding process peaks at about 300 MB on a 4,500 x 3,000 mammogram
    (benchmarks/bench_scale.py); with 1 GiB of available memory per process
    decoding never competes with training for memory.
    """
    import psutil
    from joblib import effective_n_jobs

    count = effective_n_jobs(n_jobs)
    if n_jobs is not None and n_jobs < 0:
        affordable = psutil.virtual_memory().available // _MEMORY_PER_DECODER
        count = max(1, min(count, int(affordable)))
    return count


def configure_loaders(model, args, log):
    """Point a saved pipeline's loader at this run's cache and decoding processes."""
    from mammoclf import DicomLoader

    cache_dir = prepare_cache(args, log)
    for name, step in model.steps[:-1]:
        if hasattr(step, "n_jobs"):
            model.set_params(**{f"{name}__n_jobs": decoding_processes(args.n_jobs)})
        if isinstance(step, DicomLoader):
            model.set_params(
                **{
                    f"{name}__cache_dir": cache_dir,
                    f"{name}__memory_limit": args.memory_limit,
                }
            )


def _memory_size(text):
    """``auto``, bytes, or a number with K, M, G or T (powers of 1024)."""
    import argparse

    text = text.strip()
    if text.lower() == "auto":
        return "auto"
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    factor = units.get(text[-1:].lower(), 1)
    number = text[:-1] if factor > 1 else text
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a size such as 8G, 500M or 1000000; got {text!r}"
        )
    return int(value * factor)
