"""The ``mammoclf`` console command (``mammoclf compare``, ``mammoclf predict``)."""

from mammoclf.cli._main import build_parser
from mammoclf.cli._main import main as _main


def main(argv=None):
    """Entry point of the ``mammoclf`` console script; exits with its status."""
    raise SystemExit(_main(argv))


__all__ = ["build_parser", "main"]
