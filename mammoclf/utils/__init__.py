"""Helpers shared across mammoclf's subpackages (validation, Keras, paths, I/O).

Shared by design: any subpackage may import the private modules here
(``mammoclf.utils._validation`` ...), and nothing here imports another
subpackage (tests/test_architecture.py checks both).
"""

from mammoclf.utils._validation import check_image_batch

__all__ = ["check_image_batch"]
