"""Keras imported without the deep-learning framework's start-up log lines.

Importing Keras on TensorFlow 2.21 prints lines such as "cudart_stub.cc: Could
not find cuda drivers", "cpu_feature_guard.cc: This TensorFlow binary is
optimized ..." and, at the first operation, "failed call to cuInit". They are
written by abseil from C++ straight to file descriptor 2, before
``TF_CPP_MIN_LOG_LEVEL`` applies, so no Python setting silences them; they
tell a user of a CPU-only machine nothing and bury mammoclf's own output.

The rule, the same for the command line and for library users: unless the
user has set ``TF_CPP_MIN_LOG_LEVEL`` (then they asked for TensorFlow's
logging and see all of it), the first Keras import sets it to ``"2"`` and
runs with standard error redirected to a temporary file. If the import
fails, what was captured is written out with the error, so nothing that
explains a failure is lost.
"""

import os
import sys
import tempfile
import threading

__all__ = ["LOG_LEVEL_VARIABLE", "quiet_keras_import"]

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
_LOCK = threading.Lock()


def quiet_keras_import():
    """Import and return ``keras``, hiding the framework's start-up lines.

    A no-op beyond ``import keras`` when Keras is already imported, or when
    the user set ``TF_CPP_MIN_LOG_LEVEL`` themselves.

    Returns
    -------
    keras : module
    """
    if "keras" in sys.modules:
        import keras

        return keras
    with _LOCK:
        if "keras" in sys.modules or LOG_LEVEL_VARIABLE in os.environ:
            import keras

            return keras
        os.environ[LOG_LEVEL_VARIABLE] = "2"
        return _import_with_stderr_captured()


def _import_with_stderr_captured():
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters)
        import keras

        return keras
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras

            # The first operation probes the accelerators (and logs a failed
            # CUDA probe on CPU-only machines): run it here, quietly.
            keras.ops.convert_to_numpy(keras.ops.zeros(1))
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return keras
