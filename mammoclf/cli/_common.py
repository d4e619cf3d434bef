"""What every ``mammoclf`` subcommand shares: exit codes, the one-line error, quiet Keras.

The subcommand modules import from here, never from ``_main`` (which imports
them), so the command line has no import cycle.
"""

import argparse
import secrets
import sys
from pathlib import Path

from mammoclf.storage import create_exclusive
from mammoclf.utils._quiet import quiet_keras_import

__all__ = [
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_WEIGHTS",
    "UsageError",
    "import_keras_quietly",
    "n_jobs_argument",
    "one_line",
    "print_error",
    "read_salt",
    "whole_number",
]

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: the traceback is shown
EXIT_INPUT = 2  # a user mistake: bad argument, path, CSV, unreadable data
EXIT_WEIGHTS = 3  # pretrained weights requested but unavailable
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A mistake in the command line or its input data, reported in one line."""


def import_keras_quietly():
    """Import Keras with the framework's start-up lines hidden (see ``utils._quiet``).

    Returns
    -------
    keras : module
    """
    return quiet_keras_import()


def print_error(message):
    """Write ``mammoclf: error: <message>`` on standard error."""
    print(f"mammoclf: error: {message}", file=sys.stderr)


def one_line(exc):
    """The exception's message on one line; file errors name the file."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename:
        text = f"{exc.strerror or text}: {exc.filename}"
    return " ".join(text.split())


def read_salt(path):
    """The pseudonym key kept in ``path``; a new random key is written there first if missing.

    The file is created readable by its owner only (the key links
    pseudonyms to patients for anyone who also has the identifiers).

    Returns
    -------
    salt : str or None
        None when ``path`` is None: a new random key for this run.
    """
    if path is None:
        return None
    path = Path(path)
    if not path.exists():
        # A concurrent run may create it meanwhile: then both use its key.
        create_exclusive(path, (secrets.token_hex(32) + "\n").encode(), mode=0o600)
    if not path.is_file():
        raise UsageError(f"--salt-file: {path} is not a file.")
    salt = path.read_text(encoding="utf-8", errors="replace").strip()
    if not salt:
        raise UsageError(
            f"--salt-file: {path} is empty; delete it to have a new key written, or "
            "put your secret key in it."
        )
    return salt


def whole_number(text, expected):
    """``text`` as an int, for an argparse type; else an error saying what is ``expected``.

    argparse prefixes the message with the option, so a user reads
    ``--epochs: expected a positive whole number, got 'three'`` rather than
    the name of the conversion function.
    """
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def n_jobs_argument(text):
    """A number of processes: positive, or -1 for all cores (an argparse type)."""
    expected = "a positive whole number or -1 (all cores)"
    value = whole_number(text, expected)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value
