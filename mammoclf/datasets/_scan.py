"""scan: read every file of a data set once and report all unreadable ones."""

import os
from dataclasses import dataclass
from numbers import Integral

from mammoclf.exceptions import DatasetError
from mammoclf.preprocessing import DicomLoader
from mammoclf.utils._orphans import exit_with_parent, workers_ending_with_parent
from mammoclf.utils._paths import check_paths, format_path_list
from mammoclf.utils._progress import Progress
from mammoclf.utils._validation import validate_params

__all__ = ["ScanReport", "scan"]


@dataclass(frozen=True)
class ScanReport:
    """What :func:`scan` found.

    Attributes
    ----------
    n_files : int
        Files scanned.
    problems : pandas.DataFrame
        One row per unreadable file: ``path``, ``error`` (the exception type
        the loader would raise, e.g. ``"ImageFileError"``) and ``message``.
    """

    n_files: int
    problems: object

    @property
    def ok(self):
        """True when every file could be read and decoded."""
        return len(self.problems) == 0

    def raise_if_problems(self):
        """Raise one :class:`~mammoclf.exceptions.DatasetError` listing all problems."""
        if self.ok:
            return
        lines = [
            f"{row.path}: {row.error}: {row.message}"
            for row in self.problems.itertuples(index=False)
        ]
        raise DatasetError(
            f"{len(lines)} of {self.n_files} files cannot be read:"
            f"{format_path_list(lines)}\nFix or remove them before training."
        )

    def __str__(self):
        if self.ok:
            return f"All {self.n_files} files are readable."
        counts = self.problems["error"].value_counts()
        summary = ", ".join(f"{count} {error}" for error, count in counts.items())
        return (
            f"{len(self.problems)} of {self.n_files} files are unreadable ({summary})."
        )


@validate_params(
    {
        "paths": "no_validation",  # check_paths: messages that speak of paths
        "loader": [DicomLoader, None],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    },
    # The loader's own parameters are the user's: validate them too.
    prefer_skip_nested_validation=False,
)
def scan(paths, *, loader=None, n_jobs=None, verbose=0):
    """Read and decode every file once; report all that fail, not just the first.

    Run it before a long training run: it decodes each file exactly as
    ``loader`` would (header, pixel data, rescaling, normalisation, crop) in
    parallel, and collects every failure with its exception type and
    message instead of stopping at the first.

    Parameters
    ----------
    paths : sequence of str or path-like
        The files of the data set.
    loader : DicomLoader, default=None
        Settings to decode with (e.g. ``window="header"`` also checks that
        every file has a window); None means ``DicomLoader()``. Its
        ``n_jobs`` is used unless ``n_jobs`` is given.
    n_jobs : int, default=None
        Files decoded in parallel (joblib processes).
    verbose : int, default=0
        Above 0, print progress lines (files done, rate, time left) to
        standard error: a full CBIS-DDSM download takes a while.

    Returns
    -------
    report : ScanReport
        ``report.ok``, ``report.problems`` (a DataFrame of path, error,
        message), ``report.raise_if_problems()``.

    Examples
    --------
    >>> import os, tempfile
    >>> from mammoclf.datasets import make_synthetic_mammograms, scan
    >>> data = make_synthetic_mammograms(4, image_size=32, random_state=0,
    ...                                  directory=tempfile.mkdtemp())
    >>> broken = os.path.join(data.directory, "broken.dcm")
    >>> with open(data.paths[0], "rb") as f, open(broken, "wb") as out:
    ...     _ = out.write(f.read()[:400])  # a truncated copy
    >>> report = scan([*data.paths, broken, "missing.dcm"])
    >>> print(report)
    2 of 6 files are unreadable (1 ImageFileError, 1 FileNotFoundError).
    >>> report.problems["error"].tolist()
    ['ImageFileError', 'FileNotFoundError']
    """
    import pandas as pd
    from joblib import Parallel, delayed

    loader = DicomLoader() if loader is None else loader
    paths = check_paths(paths, "scan", must_exist=False)
    loader.fit(paths)  # its settings are checked once, before any decoding
    progress = Progress(len(paths), "scan: files", enabled=verbose > 0)
    outcomes = []
    for outcome in Parallel(
        n_jobs=loader.n_jobs if n_jobs is None else n_jobs,
        return_as="generator",
        backend=workers_ending_with_parent(),
    )(delayed(_try_read)(path, loader) for path in paths):
        outcomes.append(outcome)
        progress.advance()
    progress.finish(f"{sum(1 for o in outcomes if o)} unreadable")
    problems = pd.DataFrame(
        [(path, *outcome) for path, outcome in zip(paths, outcomes) if outcome],
        columns=["path", "error", "message"],
    )
    return ScanReport(n_files=len(paths), problems=problems)


def _try_read(path, loader):
    """None if ``path`` decodes, else (exception type name, message)."""
    exit_with_parent()
    if not os.path.exists(path):
        return ("FileNotFoundError", "the file does not exist")
    try:
        # Decoded exactly as in a pipeline: the loader's lazy sequence, indexed.
        loader.transform([path])[0]
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - collect every failure, of any type
        reason = getattr(exc, "reason", None) or str(exc)
        return (type(exc).__name__, reason)
    return None
