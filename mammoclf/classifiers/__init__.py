"""Keras image classifiers written as scikit-learn estimators.

Keras is imported only when a model is fitted or loaded, never at import.
"""

from mammoclf.classifiers._activation_store import (
    ActivationStore,
    shared_activation_store,
)
from mammoclf.classifiers._densenet import DenseNetTransferClassifier
from mammoclf.classifiers._densenet_backbone import fetch_pretrained_weights
from mammoclf.classifiers._scratch_cnn import ScratchCNNClassifier

__all__ = [
    "ActivationStore",
    "DenseNetTransferClassifier",
    "ScratchCNNClassifier",
    "fetch_pretrained_weights",
    "shared_activation_store",
]
