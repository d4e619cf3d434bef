"""Keras image classifiers written as scikit-learn estimators.

Keras is imported only when a model is fitted or loaded, never at import.
"""

from mammoclf.classifiers._activation_store import (
    ActivationStore,
    shared_activation_store,
)
from mammoclf.classifiers._backbones import BACKBONES
from mammoclf.classifiers._densenet import DenseNetTransferClassifier
from mammoclf.classifiers._scratch_cnn import ScratchCNNClassifier
from mammoclf.classifiers._transfer import TransferClassifier
from mammoclf.classifiers._transfer_network import fetch_pretrained_weights

__all__ = [
    "BACKBONES",
    "ActivationStore",
    "DenseNetTransferClassifier",
    "ScratchCNNClassifier",
    "TransferClassifier",
    "fetch_pretrained_weights",
    "shared_activation_store",
]
