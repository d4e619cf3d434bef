"""Content hashing for storage keys, and the dtype activations are stored in.

One digest function names every stored thing that is identified by what it
was computed from: a fit (its parameters, training data and versions), a
checkpoint's training data. Arrays are hashed as their dtype, shape and
bytes, so the same values in another dtype or shape are another key; text
arrays (labels) are hashed as their text, never as object pointers.
"""

import hashlib

import numpy as np

__all__ = ["activation_dtype", "content_digest"]


def content_digest(*parts):
    """SHA-256 (hexadecimal) of ``parts``: strings, bytes or arrays, in order.

    Parameters
    ----------
    *parts : str, bytes or array-like
        Strings are hashed as UTF-8; arrays as ``dtype``, shape and data.

    Returns
    -------
    digest : str
        64 hexadecimal characters.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf.storage import content_digest
    >>> content_digest("a", np.zeros(2)) == content_digest("a", np.zeros(2))
    True
    >>> content_digest(np.zeros(2)) == content_digest(np.zeros(2, dtype=np.float32))
    False
    """
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            digest.update(part.encode("utf-8"))
        elif isinstance(part, (bytes, bytearray, memoryview)):
            digest.update(part)
        else:
            _update_with_array(digest, np.asarray(part))
    return digest.hexdigest()


def _update_with_array(digest, array):
    if array.dtype.kind in "OUS":  # labels: hash their text, not object pointers
        array = array.astype(str)
        data = array.tobytes()
    else:
        array = np.ascontiguousarray(array)
        data = memoryview(array).cast("B")
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(data)


def activation_dtype(tensor_dtype):
    """The NumPy dtype activations of a tensor of ``tensor_dtype`` are stored in.

    float16 stays float16 (half the bytes); everything else, bfloat16
    included, is stored as float32, which holds it exactly.
    """
    return np.float16 if str(tensor_dtype) == "float16" else np.float32
