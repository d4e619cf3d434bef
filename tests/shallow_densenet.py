"""A DenseNet with one convolution block per dense block, for fast tests.

keras.applications builds DenseNet121 as ``DenseNet([6, 12, 24, 16])``. Where
a test exercises mammoclf's code around the network (estimator checks, the
command line's report, a cluster run) rather than DenseNet121's own graph,
``DenseNet([1, 1, 1, 1])`` stands in for it: the same keras.applications
code, layer names, blocks (``conv2`` ... ``conv5``), transitions and final
``bn``/``relu``, so every line of DenseNetTransferClassifier (stages, the
frozen-feature cache, direct and traced forward passes, Grad-CAM's layer)
runs as with DenseNet121, at a seventh of the layers (56 instead of 434).
Building, tracing and running those layers is what made such tests slow.
DenseNet121 itself is tested in tests/classifiers/test_densenet.py.
"""

import contextlib
import functools

from mammoclf import DenseNetTransferClassifier
from mammoclf.utils._keras import import_keras

SHALLOW_BLOCKS = (1, 1, 1, 1)


@contextlib.contextmanager
def shallow_densenet121():
    """Inside the block, ``keras.applications.DenseNet121`` builds the shallow one.

    Only in this process: workers of a process pool build DenseNet121 (use
    :class:`ShallowDenseNetClassifier`, which carries the change with it).
    """
    keras = import_keras()
    from keras.src.applications.densenet import DenseNet

    full = keras.applications.DenseNet121
    keras.applications.DenseNet121 = functools.partial(DenseNet, list(SHALLOW_BLOCKS))
    try:
        yield
    finally:
        keras.applications.DenseNet121 = full


class ShallowDenseNetClassifier(DenseNetTransferClassifier):
    """DenseNetTransferClassifier on the shallow DenseNet; picklable to workers."""

    def _build_keras_model(self, keras, input_shape, n_outputs, seed):
        with shallow_densenet121():
            return super()._build_keras_model(keras, input_shape, n_outputs, seed)
