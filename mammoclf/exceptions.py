"""The exceptions mammoclf raises, one type per kind of problem.

Every type derives from :class:`MammoclfError` and from the built-in
exception a scikit-learn user would already catch (``ValueError`` for bad
data, ``OSError`` for files, ...), so existing ``except ValueError`` code keeps
working while new code can be precise.

- :class:`InvalidImageError` (a ``ValueError``): image arrays with the wrong
  number of dimensions, NaN/inf, no images, a shape or channel count unlike
  ``fit``, or too small for a backbone.
- :class:`ImageFileError` (a ``ValueError``): a file that is not a readable
  single grey image (truncated, not DICOM, no pixel data, multi-frame, colour).
- :class:`MissingDecoderError` (an ``ImageFileError``): compressed DICOM
  whose decoder plugin is not installed.
- :class:`DatasetError` (a ``ValueError``): description tables, CSVs and
  missing files of a data set.
- :class:`FreezeScheduleError` (a ``ValueError``): a malformed
  ``freeze_schedule``.
- :class:`WeightsUnavailableError` (a ``RuntimeError``): pretrained weights
  that cannot be downloaded or read.
- :class:`IncompatibleModelError` (a ``ValueError``): a saved model from an
  incompatible version, or not a model archive; a ``checkpoint_dir`` holding
  the checkpoint of another fit.
- :class:`BackendNotSupportedError` (a ``NotImplementedError``): a feature
  the active Keras backend cannot provide.

Built-in types, as scikit-learn raises them:

- ``FileNotFoundError``: missing image files (all of them listed at once).
- ``ValueError``: invalid parameter values (scikit-learn's
  ``InvalidParameterError`` in ``fit``); labels ``y`` that cannot be used (a
  single class, labels at ``score`` time never seen in ``fit``, not one label
  per image); fold scores and predictions given to :mod:`mammoclf.stats`
  that are empty, NaN or infinite, or unpaired.
- ``TypeError``: an argument of the wrong kind (numbers where file paths
  are expected, a dict where a table of scores is).

``KeyboardInterrupt`` is never caught: an interrupted ``fit`` leaves the
estimator as it was before. The user guide's reliability page
(``docs/user_guide/reliability.md``) lists every kind of bad input with its
exception and message.

Loading a model saved by another mammoclf version warns with
:class:`InconsistentVersionWarning`; cross-validating without patient groups
warns with :class:`GroupLeakageWarning`; images outside ``[0, 1]`` given
to a classifier warn with :class:`ImageRangeWarning`.
"""

__all__ = [
    "BackendNotSupportedError",
    "DatasetError",
    "FreezeScheduleError",
    "GroupLeakageWarning",
    "ImageFileError",
    "ImageRangeWarning",
    "IncompatibleModelError",
    "InconsistentVersionWarning",
    "InvalidImageError",
    "MammoclfError",
    "MissingDecoderError",
    "WeightsUnavailableError",
]


class MammoclfError(Exception):
    """Base class of every exception raised on purpose by mammoclf."""


class InvalidImageError(MammoclfError, ValueError):
    """An image array cannot be used as given.

    The message names the offending sample index where there is one.
    """


class ImageFileError(MammoclfError, ValueError):
    """A file cannot be read as a single greyscale image.

    Raised for truncated or corrupt DICOM, non-DICOM bytes, DICOM without
    pixel data, multi-frame or colour images where one grey frame is expected.

    Parameters
    ----------
    path : str or path-like
        The offending file; kept in :attr:`path`.
    reason : str
        What is wrong and what to do about it.
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        # Keep the two-argument constructor picklable, so errors raised in
        # joblib worker processes reach the caller intact.
        return (type(self), (self.path, self.reason))


class MissingDecoderError(ImageFileError):
    """A compressed DICOM needs a decoder plugin that is not installed."""


class DatasetError(MammoclfError, ValueError):
    """A data set description (CSV, folder layout) is malformed or incomplete."""


class FreezeScheduleError(MammoclfError, ValueError):
    """A ``freeze_schedule`` is malformed (unknown block, negative epochs, ...)."""


class WeightsUnavailableError(MammoclfError, RuntimeError):
    """Pretrained weights can be neither downloaded nor found locally."""


class IncompatibleModelError(MammoclfError, ValueError):
    """A saved model or checkpoint cannot be used.

    Raised for a model archive written by an incompatible mammoclf or Keras
    version (or not a model archive), and for a ``checkpoint_dir`` holding
    the checkpoint of another fit (other data, parameters or seed).
    """


class BackendNotSupportedError(MammoclfError, NotImplementedError):
    """The active Keras backend does not support the requested feature."""


class InconsistentVersionWarning(UserWarning):
    """A saved model is loaded by a different mammoclf version than wrote it."""


class GroupLeakageWarning(UserWarning):
    """Folds may put images of one patient in both training and test sets."""


class ImageRangeWarning(UserWarning):
    """Images given to a classifier are not scaled to ``[0, 1]``.

    The networks' input normalisation (ImageNet statistics for DenseNet121)
    assumes images in ``[0, 1]``, as :class:`~mammoclf.DicomLoader` and
    :class:`~mammoclf.Resizer` produce them; 8-bit ``[0, 255]`` images train
    and predict silently wrong.
    """
