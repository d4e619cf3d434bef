"""The study's transfer-learning models: an ImageNet DenseNet with staged unfreezing."""

from typing import ClassVar

from sklearn.utils._param_validation import StrOptions

from mammoclf.classifiers._backbones import BACKBONES
from mammoclf.classifiers._docstrings import with_shared_entries
from mammoclf.classifiers._transfer import TransferClassifier

__all__ = ["DenseNetTransferClassifier"]

#: The backbones of :class:`DenseNetTransferClassifier`.
DENSENETS = tuple(name for name in BACKBONES if name.startswith("densenet"))


@with_shared_entries
class DenseNetTransferClassifier(TransferClassifier):
    """An ImageNet-pretrained DenseNet with a new head, fine-tuned in stages.

    The study's transfer-learning models as one scikit-learn estimator: a
    DenseNet backbone from ``keras.applications`` (without its ImageNet
    classifier) followed by global average pooling, a dense layer, dropout
    and the output layer. ``freeze_schedule`` says which blocks train in
    each stage, for how many epochs and at what learning rate: the study's
    frozen model (``"frozen"``: the head only) and its partially unfrozen
    model (``"partial"``: the head, then the top block ``conv5`` at a tenth
    of the learning rate) are presets, so ``GridSearchCV`` can compare
    unfreeze depths with ``{"freeze_schedule": ["frozen", "conv5", "conv4"]}``.

    Images go in as the loaders give them, in ``[0, 1]``: the model repeats a
    grey channel three times and applies DenseNet's ImageNet normalisation
    itself. Fine-tuning follows the Keras rules: the head trains before any
    backbone block, the backbone's BatchNormalization layers always run in
    inference mode (and keep their parameters), the model is recompiled
    whenever what trains changes, and epochs and ``history_`` run on across
    stages. While a stage trains only the blocks above some point, the frozen
    part below it is computed once per fit and the stage trains on its
    cached output (``frozen_cache``), with the same results.

    It is :class:`TransferClassifier` restricted to the DenseNets, with the
    study's defaults: the same training, caching, sharing and saving.

    Parameters
    ----------
    backbone : {"densenet121", "densenet169", "densenet201"}, default="densenet121"
        The ``keras.applications`` DenseNet.
    weights : "imagenet", str, path-like or None, default="imagenet"
        Backbone initialisation. ``"imagenet"`` uses Keras's download and
        cache (``$KERAS_HOME/models/``, default ``~/.keras/models/``); a
        path loads a local weights file, e.g. a copy of
        ``densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5`` or a
        ``.weights.h5`` saved from ``keras.applications.DenseNet121(
        include_top=False)``; None starts from random weights. Weights that
        cannot be fetched raise
        :class:`~mammoclf.exceptions.WeightsUnavailableError`; there is no
        silent fallback to random weights.
    freeze_schedule : str or list of dict, default="partial"
        The training stages. A preset: ``"frozen"`` (head only, ``epochs``
        epochs), ``"partial"`` (head, then ``conv5`` and above), ``"full"``
        (head, then everything), ``"gradual"`` (head, then ``conv5``,
        ``conv4``, ``conv3``, ``conv2``, everything: ULMFiT-style gradual
        unfreezing), or a block name ``"conv2"`` ... ``"conv5"`` (head, then
        that block and everything above it). Every preset stage lasts
        ``epochs`` epochs; head-only stages use ``learning_rate``, the
        others a tenth of it. Or a list of stages, each a dict with the
        optional keys ``"unfreeze"`` (None for the head only, a block name,
        or ``"all"``), ``"epochs"`` and ``"learning_rate"`` (same defaults).
        The first stage must train the head only. See the user guide page
        ``docs/user_guide/freeze_schedule.md``.
    %(dense_units)s
    %(dropout)s
    resize_to : tuple of int or None, default=None
        ``(height, width)`` the model resizes its input to (bilinear) before
        the backbone, e.g. ``(224, 224)``; at least 32 each. None feeds the
        images at their own size, which must then be at least 32x32.
    %(frozen_cache)s
    %(staged_training_parameters)s

    Attributes
    ----------
    %(staged_training_attributes)s
    feature_map_layer_ : str
        Name of the layer of ``model_`` whose output is the last
        convolutional feature map (``"relu"``, DenseNet's last activation):
        the target layer of :func:`~mammoclf.inspection.grad_cam`.

    See Also
    --------
    TransferClassifier : The same on any ImageNet backbone.
    ScratchCNNClassifier : The study's CNN trained from scratch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from mammoclf import DenseNetTransferClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((24, 32, 32)).astype("float32")
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 12)
    >>> clf = DenseNetTransferClassifier(weights=None, freeze_schedule="frozen",
    ...                                  dense_units=16, epochs=2, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    >>> [stage["trainable_blocks"] for stage in clf.stages_]
    [('head',)]

    Searching how deep to unfreeze is one parameter grid (with real data,
    patient groups and ``weights="imagenet"``, the default):

    >>> search = GridSearchCV(clf, {"freeze_schedule": ["frozen", "conv5", "conv4"]},
    ...                       scoring="roc_auc", cv=3)
    >>> search.fit(X, y)  # doctest: +SKIP
    """

    _parameter_constraints: ClassVar[dict] = {
        **TransferClassifier._parameter_constraints,
        "backbone": [StrOptions(set(DENSENETS))],
    }

    def __init__(
        self,
        *,
        backbone="densenet121",
        weights="imagenet",
        freeze_schedule="partial",
        dense_units=256,
        dropout=0.2,
        resize_to=None,
        frozen_cache="auto",
        epochs=10,
        batch_size=32,
        learning_rate=1e-3,
        optimizer="adam",
        class_weight=None,
        validation_fraction=None,
        patience=5,
        image_shape=None,
        precision="float32",
        jit_compile="auto",
        distribution=None,
        callbacks=None,
        verbose=0,
        random_state=None,
        checkpoint_dir=None,
    ):
        super().__init__(
            backbone=backbone,
            weights=weights,
            freeze_schedule=freeze_schedule,
            dense_units=dense_units,
            dropout=dropout,
            resize_to=resize_to,
            frozen_cache=frozen_cache,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            optimizer=optimizer,
            class_weight=class_weight,
            validation_fraction=validation_fraction,
            patience=patience,
            image_shape=image_shape,
            precision=precision,
            jit_compile=jit_compile,
            distribution=distribution,
            callbacks=callbacks,
            verbose=verbose,
            random_state=random_state,
            checkpoint_dir=checkpoint_dir,
        )
