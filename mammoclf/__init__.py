"""mammoclf: reproducible, leak-free benign/malignant mammogram classification.

The public API is importable from the top level (``from mammoclf import
DenseNetTransferClassifier``). Names are resolved on first access (the
scientific-python SPEC 1 pattern), so ``import mammoclf`` stays light: it
imports neither Keras nor TensorFlow, which the estimators load on first fit.
"""

import importlib

from mammoclf._version import __version__ as __version__

# Public name -> module that defines it.
_LAZY_EXPORTS = {
    "ScratchCNNClassifier": "mammoclf.classifiers",
    "DenseNetTransferClassifier": "mammoclf.classifiers",
    "TransferClassifier": "mammoclf.classifiers",
    "DicomLoader": "mammoclf.preprocessing",
    "Resizer": "mammoclf.preprocessing",
    "Augmenter": "mammoclf.preprocessing",
    "make_pipeline": "mammoclf.pipeline",
    "compare_models": "mammoclf.model_selection",
    "config_context": "mammoclf.config",
    "get_config": "mammoclf.config",
    "set_config": "mammoclf.config",
    "load": "mammoclf.persistence",
    "save": "mammoclf.persistence",
}
_SUBMODULES = {
    "classifiers",
    "datasets",
    "evaluation",
    "exceptions",
    "inspection",
    "metrics",
    "model_selection",
    "persistence",
    "pipeline",
    "plotting",
    "preprocessing",
    "stats",
    "utils",
}

__all__ = [
    "Augmenter",
    "DenseNetTransferClassifier",
    "DicomLoader",
    "Resizer",
    "ScratchCNNClassifier",
    "TransferClassifier",
    "__version__",
    "classifiers",
    "compare_models",
    "config_context",
    "datasets",
    "evaluation",
    "exceptions",
    "get_config",
    "inspection",
    "load",
    "make_pipeline",
    "metrics",
    "model_selection",
    "persistence",
    "pipeline",
    "plotting",
    "preprocessing",
    "save",
    "set_config",
    "stats",
    "utils",
]


def __getattr__(name):
    if name in _LAZY_EXPORTS:
        value = getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"mammoclf.{name}")
    else:
        raise AttributeError(f"module 'mammoclf' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
