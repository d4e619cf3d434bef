"""Saving fitted models in a format that runs no code when loaded.

``pickle``/``joblib`` work for every mammoclf estimator, but loading a pickle
executes whatever code the file names: only ever unpickle files you trust.
:func:`save` writes instead a zip archive holding

- ``metadata.json``: the estimator (or pipeline) as class names from an
  allow-list, its parameters, its fitted attributes, and the versions of
  mammoclf, Keras and scikit-learn that wrote it;
- ``models/<step>.keras``: each network in Keras's own format, reloaded with
  ``safe_mode=True`` (no Python lambdas, no custom code).

``metadata.json`` may also carry a ``development`` record: what an external
evaluation of the model needs to know about the data it was developed on
(the decision threshold fixed there, the number of images and patients, the
prevalence, the image size). ``mammoclf compare`` writes it;
:func:`read_development` reads it back without loading the networks.

:func:`load` rebuilds the estimator from that data alone. Archives are
written atomically: an interrupted save leaves the previous file intact.
"""

import contextlib
import io
import json
import os
import warnings
import zipfile
import zlib
from importlib import import_module
from pathlib import Path

import numpy as np
import sklearn
import sklearn.base

from mammoclf._version import __version__
from mammoclf.exceptions import IncompatibleModelError, InconsistentVersionWarning
from mammoclf.storage import atomic_write
from mammoclf.utils._keras import import_keras, model_from_bytes, model_to_bytes
from mammoclf.utils._validation import WRAPPER_FRAMES, validate_params

__all__ = ["load", "read_development", "save"]

FORMAT_NAME = "mammoclf-model"
FORMAT_VERSION = 1


def _public_estimators(module_name):
    """The estimator classes a mammoclf subpackage exports (its ``__all__``)."""
    module = import_module(module_name)
    return tuple(
        name
        for name in module.__all__
        if isinstance(getattr(module, name), type)
        and issubclass(getattr(module, name), sklearn.base.BaseEstimator)
    )


# Classes an archive may name, by public module: every classifier that
# mammoclf.classifiers exports (TransferClassifier serves every backbone of
# its registry), and the preprocessing steps. Loading never imports
# anything else.
_PUBLIC_MODULE = {
    "mammoclf.classifiers": _public_estimators("mammoclf.classifiers"),
    "mammoclf.preprocessing": ("DicomLoader", "Resizer", "Augmenter"),
}
_ALLOWED_CLASSES = {
    *(f"{module}.{name}" for module, names in _PUBLIC_MODULE.items() for name in names),
    "mammoclf.pipeline.Pipeline",
    "imblearn.pipeline.Pipeline",
    "sklearn.pipeline.Pipeline",
}
# Parameters holding live Python objects that have no meaning in a file.
_RUNTIME_ONLY_PARAMS = ("callbacks",)
# Pipeline parameters that are recomputed from the steps.
_PIPELINE_PARAMS = ("memory", "verbose", "transform_input")


@validate_params(
    # Which estimators can be saved is checked below, with what to do instead.
    {
        "estimator": "no_validation",
        "path": [str, os.PathLike],
        "development": [dict, None],
    },
    prefer_skip_nested_validation=True,
)
def save(estimator, path, *, development=None):
    """Save a fitted mammoclf estimator or pipeline to ``path`` (no pickle).

    Parameters
    ----------
    estimator : mammoclf estimator or Pipeline of mammoclf steps
        A fitted ScratchCNNClassifier or DenseNetTransferClassifier, or a
        pipeline whose steps are mammoclf transformers/resamplers ending in
        one of them.
    path : str or path-like
        Destination, conventionally ``*.mammoclf``. Replaced atomically.
    development : dict, default=None
        What an external evaluation needs to know of the development data
        (e.g. ``{"threshold": 0.5, "n_images": 480, "prevalence": 0.5}``):
        JSON-compatible values only, returned by :func:`read_development`.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the estimator, or a step of the pipeline, is not fitted: an
        unfitted model would load without complaint and fail only when asked
        to predict.
    TypeError
        If the estimator contains a step this format cannot describe without
        code (e.g. a ``FunctionTransformer``); use ``joblib.dump`` for those
        and load them only from trusted sources.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from mammoclf import ScratchCNNClassifier
    >>> from mammoclf.persistence import load, save
    >>> X = np.random.default_rng(0).random((20, 16, 16)).astype("float32")
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 10)
    >>> clf = ScratchCNNClassifier(filters=(4,), epochs=1, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.mammoclf")
    >>> save(clf, path)
    >>> np.array_equal(load(path).predict_proba(X), clf.predict_proba(X))
    True
    """
    _check_fitted(estimator)
    keras = import_keras()
    networks = {}
    description = _describe(estimator, "estimator", networks)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": {
            "mammoclf": __version__,
            "keras": keras.__version__,
            "keras_backend": keras.backend.backend(),
            "scikit-learn": sklearn.__version__,
        },
        "estimator": description,
    }
    if development is not None:
        try:
            json.dumps(development)
        except TypeError as exc:
            raise TypeError(
                f"development must hold JSON values (numbers, strings, lists, dicts): {exc}"
            ) from None
        metadata["development"] = development
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata, indent=1))
        for name, model in networks.items():
            archive.writestr(f"models/{name}.keras", model_to_bytes(model))
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


@validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def load(path):
    """Load an estimator written by :func:`save`, executing no code from the file.

    Parameters
    ----------
    path : str or path-like
        An archive written by :func:`save`.

    Returns
    -------
    estimator : fitted estimator or Pipeline

    Raises
    ------
    IncompatibleModelError
        If the file is not a mammoclf model archive, was written by a newer
        format version or by an incompatible Keras major version, or names a
        class outside mammoclf's allow-list.

    Warns
    -----
    InconsistentVersionWarning
        When it was written by another mammoclf version: predictions may
        differ if defaults or preprocessing changed in between.
    """
    path = Path(path)
    with _damage_reported(path):
        with zipfile.ZipFile(path, "r") as archive:
            metadata = json.loads(archive.read("metadata.json"))
            networks = {
                Path(name).stem: archive.read(name)
                for name in archive.namelist()
                if name.startswith("models/") and name.endswith(".keras")
            }
        keras = import_keras()
        _check_versions(keras, metadata, path)
        return _rebuild(keras, metadata["estimator"], networks, path)


# What reading a truncated, altered or foreign archive raises: the zip layer
# (BadZipFile, zlib.error for a broken deflate stream, EOFError), the JSON
# layer, and a structure that is JSON but not ours (KeyError, TypeError,
# AttributeError, ValueError from Keras rebuilding a network).
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    ValueError,
)


@contextlib.contextmanager
def _damage_reported(path):
    """Turn every error of a damaged or foreign archive into IncompatibleModelError."""
    try:
        yield
    except IncompatibleModelError:
        raise
    except IsADirectoryError as exc:
        raise IncompatibleModelError(f"{path}: a folder, not a model file.") from exc
    except _DAMAGE as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise IncompatibleModelError(
            f"{path}: not a mammoclf model archive, or a damaged one ({type(exc).__name__}: "
            f"{detail}); it may be truncated, altered or another kind of file. Files "
            "written with joblib/pickle load with joblib.load."
        ) from exc


@validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def read_development(path):
    """The development record :func:`save` stored with a model, or None.

    Parameters
    ----------
    path : str or path-like
        An archive written by :func:`save`.

    Returns
    -------
    development : dict or None
        The ``development`` argument of :func:`save` (``mammoclf compare``
        stores the decision threshold and a summary of the development
        data); None for archives saved without one.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from mammoclf import ScratchCNNClassifier
    >>> from mammoclf.persistence import read_development, save
    >>> X = np.random.default_rng(0).random((20, 16, 16)).astype("float32")
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 10)
    >>> clf = ScratchCNNClassifier(filters=(4,), epochs=1, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.mammoclf")
    >>> save(clf, path, development={"n_images": 20, "prevalence": 0.5})
    >>> read_development(path)
    {'n_images': 20, 'prevalence': 0.5}
    """
    path = Path(path)
    with _damage_reported(path), zipfile.ZipFile(path, "r") as archive:
        metadata = json.loads(archive.read("metadata.json"))
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise IncompatibleModelError(f"{path}: not a mammoclf model archive.")
    return metadata.get("development")


def _check_versions(keras, metadata, path):
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise IncompatibleModelError(f"{path}: not a mammoclf model archive.")
    if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
        raise IncompatibleModelError(
            f"{path} uses archive format {metadata['format_version']}, newer than this "
            f"mammoclf ({__version__}) reads ({FORMAT_VERSION}); upgrade mammoclf."
        )
    versions = metadata.get("versions", {})
    saved_keras = str(versions.get("keras", "0"))
    if saved_keras.split(".")[0] != keras.__version__.split(".")[0]:
        raise IncompatibleModelError(
            f"{path} was written with Keras {saved_keras}; this environment has Keras "
            f"{keras.__version__}, a different major version. Install Keras "
            f"{saved_keras.split('.')[0]}.x to load it."
        )
    if versions.get("mammoclf") != __version__:
        warnings.warn(
            f"{path} was written by mammoclf {versions.get('mammoclf')} and is loaded by "
            f"mammoclf {__version__}; check its predictions before relying on them.",
            InconsistentVersionWarning,
            stacklevel=3 + WRAPPER_FRAMES,
        )


def _check_fitted(estimator):
    """Refuse to save an unfitted estimator or pipeline step, naming it."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    steps = getattr(estimator, "steps", None)
    named = steps if isinstance(steps, list) else [("estimator", estimator)]
    for name, step in named:
        if step is None or step == "passthrough":
            continue
        try:
            check_is_fitted(step)
        except NotFittedError:
            what = type(step).__name__
            if steps is not None:
                what = f"step {name!r} of the pipeline ({what})"
            raise NotFittedError(
                f"save() needs a fitted model, but {what} is not fitted: call fit "
                "first (an unfitted model would load and then fail at predict time)."
            ) from None


def _class_path(estimator):
    cls = type(estimator)
    module = cls.__module__
    for public, names in _PUBLIC_MODULE.items():
        if module.startswith(public) and cls.__name__ in names:
            module = public
    return f"{module}.{cls.__name__}"


def _describe(estimator, name, networks):
    class_path = _class_path(estimator)
    if class_path not in _ALLOWED_CLASSES:
        raise TypeError(
            f"{class_path} cannot be saved in mammoclf's code-free format; it supports "
            f"{sorted(_ALLOWED_CLASSES)}. Use joblib.dump for other estimators, and "
            "only ever load such pickles from trusted sources."
        )
    if hasattr(estimator, "steps"):
        steps = [
            [step_name, _describe(step, f"{name}.{step_name}", networks)]
            for step_name, step in estimator.steps
        ]
        params = {
            k: estimator.get_params(deep=False)[k]
            for k in _PIPELINE_PARAMS
            if k in estimator.get_params(deep=False) and k != "memory"
        }
        return {
            "class": class_path,
            "steps": steps,
            "params": _encode(params, "params"),
        }
    params = estimator.get_params(deep=False)
    for runtime_param in _RUNTIME_ONLY_PARAMS:
        if params.get(runtime_param) is not None:
            warnings.warn(
                f"{runtime_param}= holds live Python objects that are not saved; the "
                f"loaded estimator has {runtime_param}=None (set it again to refit).",
                UserWarning,
                stacklevel=3 + WRAPPER_FRAMES,
            )
            params[runtime_param] = None
    fitted = {
        k: v
        for k, v in vars(estimator).items()
        if k.endswith("_") and not k.startswith("_")
    }
    if "model_" in fitted:
        networks[name] = fitted.pop("model_")
    return {
        "class": class_path,
        "params": _encode(params, f"{class_path} parameters"),
        "fitted": _encode(fitted, f"{class_path} fitted attributes"),
        "network": name if name in networks else None,
    }


def _rebuild(keras, description, networks, path):
    class_path = description["class"]
    if class_path not in _ALLOWED_CLASSES:
        raise IncompatibleModelError(
            f"{path} names {class_path}, which mammoclf does not load (allowed: "
            f"{sorted(_ALLOWED_CLASSES)})."
        )
    module_name, class_name = class_path.rsplit(".", 1)
    cls = getattr(import_module(module_name), class_name)
    params = _decode(description["params"])
    if "steps" in description:
        steps = [
            (step_name, _rebuild(keras, step, networks, path))
            for step_name, step in description["steps"]
        ]
        return cls(steps, **params)
    estimator = cls(**params)
    for attribute, value in _decode(description["fitted"]).items():
        setattr(estimator, attribute, value)
    if description.get("network") is not None:
        estimator.model_ = model_from_bytes(keras, networks[description["network"]])
    return estimator


def _encode(value, where):
    """JSON with type tags, so tuples, arrays and non-string dict keys round-trip."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, (np.bool_,)):
        return value
    if isinstance(value, np.generic):
        return _encode(value.item(), where)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUSO":
            raise TypeError(f"{where}: arrays of dtype {value.dtype} cannot be saved.")
        return {
            "__ndarray__": _encode(value.tolist(), where),
            "dtype": value.dtype.str,
            "shape": list(value.shape),
        }
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict):
        return {
            "__dict__": [
                [_encode(k, where), _encode(v, where)] for k, v in value.items()
            ]
        }
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, np.random.RandomState):
        kind, keys, position, has_gauss, cached = value.get_state()
        return {"__random_state__": [kind, keys.tolist(), position, has_gauss, cached]}
    raise TypeError(
        f"{where}: a {type(value).__name__} cannot be saved in the code-free format. "
        "Use plain values (numbers, strings, tuples, dicts) or joblib.dump."
    )


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        array = np.array(_decode(value["__ndarray__"]), dtype=np.dtype(value["dtype"]))
        return array.reshape(value["shape"])
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    if "__path__" in value:
        return Path(value["__path__"])
    if "__random_state__" in value:
        kind, keys, position, has_gauss, cached = value["__random_state__"]
        state = np.random.RandomState()
        state.set_state(
            (kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached)
        )
        return state
    raise IncompatibleModelError(f"unknown value encoding in archive: {sorted(value)}")
