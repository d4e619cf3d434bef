"""Where ``mammoclf compare`` gets its images: synthetic, CBIS-DDSM or a CSV."""

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mammoclf.cli._common import UsageError
from mammoclf.utils._patients import MIN_PATIENTS_PER_CLASS, check_patients_per_class

__all__ = ["DataSource", "resolve_data"]

_CSV_COLUMNS = ("path", "label", "patient")


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


def resolve_data(args, settings, out_dir, log):
    """Build the :class:`DataSource` the command line asks for, and check it.

    Synthetic data are written to ``out_dir/synthetic-data``; the other
    sources only read. Raises :class:`UsageError` for data that cannot be
    compared: not exactly two classes, or fewer patients of a class than
    folds.
    """
    if args.cbis_ddsm:
        source = _cbis_ddsm(args)
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
    source.groups = pd.factorize(identifiers)[0]
    classes, counts = np.unique(source.labels, return_counts=True)
    if classes.size != 2:
        raise UsageError(
            f"compare needs exactly two classes (benign and malignant); the data have "
            f"{classes.size}: {classes.tolist()}."
        )
    try:
        with warnings.catch_warnings():
            # compare_models gives the few-patients warning: once is enough.
            warnings.simplefilter("ignore", UserWarning)
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
    log(f"generating {args.n_samples} synthetic mammograms ({size} px) in {directory}")
    data = make_synthetic_mammograms(
        args.n_samples,
        image_size=size,
        difficulty=args.difficulty,
        directory=directory,
        random_state=args.random_state,
    )
    return DataSource(
        paths=np.asarray(data.paths, dtype=str),
        labels=np.asarray(data.labels),
        groups=np.asarray(data.groups, dtype=str),
        description=f"synthetic mammograms (difficulty {args.difficulty})",
        synthetic=True,
    )


def _cbis_ddsm(args):
    from mammoclf.datasets import load_cbis_ddsm

    root = Path(args.cbis_ddsm)
    if not root.is_dir():
        raise UsageError(f"--cbis-ddsm: {root} is not a directory.")
    abnormality = ("mass", "calc") if args.subset == "both" else args.subset
    data = load_cbis_ddsm(
        root,
        abnormality=abnormality,
        split=args.split,
        image="roi" if args.roi else "full",
    )
    return DataSource(
        paths=np.asarray(data.paths, dtype=str),
        labels=np.asarray(data.labels),
        groups=np.asarray(data.groups, dtype=str),
        description=f"CBIS-DDSM ({args.subset}, split {args.split}, "
        f"{'ROI crops' if args.roi else 'full mammograms'})",
        synthetic=False,
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
    return DataSource(
        paths=np.asarray(paths, dtype=str),
        labels=np.asarray([row["label"] for row in rows]),
        groups=np.asarray([row["patient"] for row in rows], dtype=str),
        description=f"CSV {path.name}",
        synthetic=False,
    )


def _first(items, n=3):
    shown = ", ".join(str(item) for item in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")
