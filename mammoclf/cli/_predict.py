"""``mammoclf predict``: class probabilities of new files from a saved model."""

import csv
import io
import sys
from pathlib import Path

import numpy as np

from mammoclf.cli._common import UsageError, import_keras_quietly, read_salt
from mammoclf.cli._data import configure_loaders
from mammoclf.storage import atomic_write

__all__ = ["run_predict"]


def run_predict(args):
    """Predict ``args.files`` with the model in ``args.model``; write a CSV."""
    from mammoclf.persistence import load
    from mammoclf.preprocessing import read_metadata

    model_path = Path(args.model)
    if not model_path.is_file():
        raise UsageError(f"no such model file: {model_path}")
    missing = [f for f in args.files if not Path(f).is_file()]
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        raise UsageError(f"{len(missing)} input file(s) do not exist: {shown}")
    _check_out(args.out)
    salt = read_salt(args.salt_file)
    # Before the model runs: a file --patient-id cannot read fails fast.
    metadata = read_metadata(
        list(args.files),
        identifiers="keep" if args.reveal_identifiers else "pseudonymise",
        salt=salt,
        patient_id=args.patient_id,
    )
    import_keras_quietly()
    model = load(model_path)
    if not hasattr(model, "steps"):
        raise UsageError(
            f"{model_path} holds a bare classifier, which takes image arrays; predict "
            "needs a model saved by `mammoclf compare` (loader + resizer + network)."
        )
    configure_loaders(model, args, lambda message: None)
    proba = model.predict_proba(list(args.files))
    classes = model.classes_
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "file",
            "patient",
            "laterality",
            "view",
            "predicted",
            *[f"p_{label}" for label in classes],
        ]
    )
    for index, path in enumerate(args.files):
        row = metadata.iloc[index]
        writer.writerow(
            [
                path,
                _text(row["patient_id"]),
                _text(row["laterality"]),
                _text(row["view"]),
                classes[int(np.argmax(proba[index]))],
                *[f"{p:.6f}" for p in proba[index]],
            ]
        )
    if args.out == "-":
        sys.stdout.write(buffer.getvalue())
    else:
        with atomic_write(args.out, "w") as handle:
            handle.write(buffer.getvalue())


def _check_out(out):
    """Refuse an ``--out`` that cannot become a CSV file, before any work."""
    if out == "-":
        return
    path = Path(out)
    if path.is_dir():
        raise UsageError(
            f"--out: {path} is a directory; give a file name, e.g. "
            f"{path / 'scores.csv'}."
        )
    if not path.parent.is_dir():
        raise UsageError(
            f"--out: the folder {path.parent} does not exist; create it first."
        )


def _text(value):
    return (
        ""
        if value is None or (isinstance(value, float) and np.isnan(value))
        else str(value)
    )
