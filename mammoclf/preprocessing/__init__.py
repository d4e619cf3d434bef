"""From image files to model-ready arrays: loading, resizing and augmentation.

- :class:`DicomLoader` reads DICOM, PNG, JPEG, PGM and TIFF files into a lazy
  :class:`ImageSequence` (bounded memory, parallel decoding);
- :class:`Resizer` decodes and resizes them to one size, anti-aliased;
- :class:`Augmenter` adds augmented copies while fitting only (use it in
  :func:`mammoclf.make_pipeline`);
- :func:`read_metadata` reads header metadata, pseudonymised by default;
- :func:`get_cache_dir` and :func:`clear_cache` locate and clear the
  persistent cache of decoded images.
"""

from mammoclf.preprocessing._augmenter import Augmenter
from mammoclf.preprocessing._image_cache import clear_cache, get_cache_dir
from mammoclf.preprocessing._loader import DicomLoader
from mammoclf.preprocessing._metadata import pseudonym, read_metadata
from mammoclf.preprocessing._resizer import Resizer
from mammoclf.preprocessing._sequence import ImageSequence

__all__ = [
    "Augmenter",
    "DicomLoader",
    "ImageSequence",
    "Resizer",
    "clear_cache",
    "get_cache_dir",
    "pseudonym",
    "read_metadata",
]
