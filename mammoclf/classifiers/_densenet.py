"""The study's transfer-learning models: an ImageNet DenseNet with staged unfreezing."""

from typing import ClassVar

from sklearn.utils._param_validation import StrOptions

from mammoclf.classifiers._backbones import BACKBONES
from mammoclf.classifiers._transfer import TransferClassifier

__all__ = ["DenseNetTransferClassifier"]

#: The backbones of :class:`DenseNetTransferClassifier`.
DENSENETS = tuple(name for name in BACKBONES if name.startswith("densenet"))


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
    dense_units : int, default=256
        Width of the head's dense layer.
    dropout : float, default=0.2
        Dropout rate before the output layer (training only), as in the study.
    resize_to : tuple of int or None, default=None
        ``(height, width)`` the model resizes its input to (bilinear) before
        the backbone, e.g. ``(224, 224)``; at least 32 each. None feeds the
        images at their own size, which must then be at least 32x32.
    frozen_cache : {"auto", "memory", "disk", "off"}, default="auto"
        Frozen-prefix caching. ``"auto"`` caches stages that leave at least
        ``conv2`` and ``conv3`` frozen (``"frozen"``, ``"partial"``, the
        ``conv5``/``conv4`` stages of the others), unless ``callbacks`` are
        given (they would see only the trainable part of the model); caches
        up to a quarter of physical memory stay in memory, larger ones are memory-mapped files in
        the temporary directory (``$TMPDIR``). ``"memory"`` and ``"disk"``
        cache every stage that freezes anything, in that storage.
        ``"off"`` never caches. ``stages_`` records what each stage did.
        Inside :func:`~mammoclf.classifiers.shared_activation_store` (which
        ``compare_models`` opens), the frozen part's output for each image
        is computed once for the whole study and read by every fit and
        prediction whose frozen part has the same weights, layers, input
        size and dtype policy; fits that train the head only also share the
        frozen backbone's layers instead of each building a DenseNet.
    epochs : int, default=10
        Epochs per stage of a preset, and the default of custom stages.
    batch_size : int, default=32
        Images per gradient step, and per inference batch.
    learning_rate : float, default=1e-3
        Learning rate of head-only stages; stages that unfreeze backbone
        blocks default to a tenth of it.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default="adam"
        Keras optimizer, by name; a fresh one per stage.
    class_weight : dict, "balanced" or None, default=None
        Weights per class (keys are labels as in ``y``).
    validation_fraction : float in (0, 1) or None, default=None
        Fraction of the training images held out (stratified) for early
        stopping on the validation loss, per stage; the best epoch's weights
        are restored before the next stage.
    patience : int, default=5
        Epochs without validation-loss improvement before a stage stops.
    image_shape : tuple of int or None, default=None
        ``(H, W)`` or ``(H, W, C)`` used to unflatten 2-D input
        ``(n_samples, H * W * C)``; one side may be -1, inferred from the
        row length (``(1, -1)`` reads each row as an image one pixel high).
        Without it 2-D input is refused: it could as well be one image.
        Ignored for image-shaped input.
    precision : {"float32", "mixed_bfloat16", "mixed_float16"}, default="float32"
        Keras dtype policy. Mixed precision speeds up recent GPUs; the logits
        layer and the input preprocessing always compute in float32.
    jit_compile : "auto" or bool, default="auto"
        XLA compilation, passed to ``keras.Model.compile``; Keras's
        ``"auto"`` leaves it off on CPU-only TensorFlow.
    distribution : None or "data_parallel", default=None
        None trains on one device (Keras's default placement).
        ``"data_parallel"`` trains one replica per device, each on an equal
        share of every batch, and averages their gradients: Keras's
        ``keras.distribution.DataParallel`` on JAX, TensorFlow's
        ``MirroredStrategy`` on TensorFlow; over all GPUs, or all (logical)
        CPU devices where there is no GPU. ``batch_size`` is the global
        batch and must be a multiple of the device count. Batches come in
        an order drawn from ``random_state``, a partial last batch padded
        at zero weight, whatever the device count: on JAX the model equals
        a one-device ``"data_parallel"`` fit's up to floating-point
        summation order; on TensorFlow, whose replicas draw their own
        dropout masks, only with ``dropout=0``. (It differs from a
        ``distribution=None`` fit, whose batch order Keras draws.) A single
        device gives a warning and trains alone. Other backends raise
        :class:`~mammoclf.exceptions.BackendNotSupportedError`. See
        ``docs/user_guide/scaling.md``.
    callbacks : list of keras.callbacks.Callback or None, default=None
        Extra Keras callbacks for every stage.
    verbose : int, default=0
        0 is silent, 1 shows a progress bar, 2 prints one line per epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the head's initialisation (and the backbone's with
        ``weights=None``), dropout, shuffling and the validation split.
    checkpoint_dir : str, path-like or None, default=None
        Directory for checkpoints of a long fit. After every epoch the
        weights, the optimizer state, the history so far and the records of
        the finished stages are saved there atomically; a later ``fit`` with
        the same directory, data and parameters skips the finished stages of
        ``freeze_schedule`` and resumes the interrupted one after its last
        completed epoch, and once finished returns the saved model without
        training. A checkpoint of another fit raises
        :class:`~mammoclf.exceptions.IncompatibleModelError`: use one
        directory per fit (not one for a whole grid search). Needs an int
        ``random_state``. A resumed fit is not bit-identical to an
        uninterrupted one (shuffling and dropout of the remaining epochs
        are drawn anew). See ``docs/user_guide/reliability.md``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the column order of :meth:`predict_proba`.
    model_ : keras.Model
        The trained network, one flat functional model that outputs logits.
    stages_ : list of dict
        One record per stage: ``unfreeze``, ``trainable_blocks`` (from
        ``"stem"``, ``"conv2"`` ... ``"conv5"``, ``"head"``),
        ``n_trainable_params``, ``learning_rate``, ``epochs`` (planned),
        ``epochs_run``, ``first_epoch`` (index into ``history_``),
        ``frozen_cache`` (``"memory"``, ``"disk"`` or None),
        ``activations_from`` (None: the stage ran the whole network;
        ``"fit"``: this fit computed the frozen part's output; ``"store"``:
        it came from the study-wide store of
        :func:`~mammoclf.classifiers.shared_activation_store`),
        ``store_rows_read`` and ``store_rows_computed`` (activations, one
        per image and cut, the stage read from that store or computed into
        it), ``cache_time`` and ``fit_time`` (seconds). A pass through the
        frozen part is charged to the first fit that needs it: its
        ``cache_time`` includes the pass; later fits' only the reading.
    history_ : dict of str to list of float
        Per-epoch loss and metrics across all stages.
    n_epochs_ : int
        Epochs run in all stages.
    fit_time_ : float
        Wall-clock seconds spent building and training the network.
    image_shape_ : tuple of int
        ``(H, W, C)`` of the training images; prediction needs the same.
    n_features_in_ : int
        Values per image, ``H * W * C``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, only when fitted on a DataFrame of flattened images.
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
