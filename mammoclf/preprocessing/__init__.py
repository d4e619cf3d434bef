"""From image files to model-ready arrays: loading, resizing and augmentation.

- :class:`DicomLoader` reads DICOM, PNG, JPEG, PGM and TIFF files into a lazy
  :class:`ImageSequence` (bounded memory, parallel decoding);
- :class:`Resizer` decodes and resizes them to one size, anti-aliased;
- :class:`Augmenter` adds augmented copies while fitting only (use it in
  :func:`mammoclf.make_pipeline`);
- :func:`read_metadata` reads header metadata, pseudonymised by default.
"""

from mammoclf.preprocessing._augmenter import Augmenter
from mammoclf.preprocessing._loader import DicomLoader
from mammoclf.preprocessing._metadata import pseudonym, read_metadata
from mammoclf.preprocessing._resizer import Resizer
from mammoclf.preprocessing._sequence import ImageSequence

__all__ = [
    "Augmenter",
    "DicomLoader",
    "ImageSequence",
    "Resizer",
    "pseudonym",
    "read_metadata",
]
