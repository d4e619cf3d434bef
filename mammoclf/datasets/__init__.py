"""Data sets: CBIS-DDSM description tables, synthetic mammograms, and a file scanner.

- :func:`load_cbis_ddsm` reads the official CBIS-DDSM tables and locates the
  images (and lesion masks) of a TCIA download or of the Kaggle JPEG release;
- :func:`make_synthetic_mammograms` writes a small realistic DICOM data set
  whose classes differ by lesion shape (the default data of ``mammoclf
  compare``);
- :func:`scan` checks every file of a data set once and reports all
  unreadable ones together.
"""

from mammoclf.datasets._cbis_ddsm import load_cbis_ddsm
from mammoclf.datasets._scan import ScanReport, scan
from mammoclf.datasets._synthetic import make_synthetic_mammograms

__all__ = ["ScanReport", "load_cbis_ddsm", "make_synthetic_mammograms", "scan"]
