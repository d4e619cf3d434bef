"""The study's conventional CNN, trained from scratch."""

from numbers import Integral, Real
from typing import ClassVar

from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.classifiers._base import BaseKerasImageClassifier
from mammoclf.classifiers._docstrings import with_shared_entries
from mammoclf.utils._validation import PositiveInts

__all__ = ["ScratchCNNClassifier"]


@with_shared_entries
class ScratchCNNClassifier(BaseKerasImageClassifier):
    """A conventional convolutional network trained from scratch.

    The study's baseline: blocks of convolution, ReLU and max pooling, then a
    dense layer, dropout and the output layer. The architecture is a set of
    plain hyperparameters, so ``GridSearchCV`` can search it. The Keras model
    is built in ``fit`` from ``keras.layers`` only, so it runs on any Keras 3
    backend (TensorFlow, JAX, PyTorch).

    Parameters
    ----------
    filters : tuple of int, default=(32, 64, 128)
        Number of 3x3 (``kernel_size``) filters of each convolution block;
        each block ends with 2x2 max pooling.
    kernel_size : int, default=3
        Side of the square convolution kernels.
    dense_units : int, default=128
        Width of the dense layer before the output.
    dropout : float, default=0.5
        Dropout rate before the output layer (training only).
    batch_normalization : bool, default=False
        Insert batch normalisation after each convolution.
    pooling : {"flatten", "avg", "max"}, default="flatten"
        How the last feature map becomes a vector: flattened (the
        conventional design; the dense layer's size then grows with the image
        size) or globally average/max pooled.
    epochs : int, default=20
        Training epochs (an upper bound when early stopping is on).
    %(batch_size)s
    learning_rate : float, default=1e-3
        Step size of the optimizer.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default="adam"
        Keras optimizer, by name.
    class_weight : dict, "balanced" or None, default=None
        Weights per class (keys are labels as in ``y``); ``"balanced"``
        weighs classes inversely to their frequency.
    validation_fraction : float in (0, 1) or None, default=None
        Fraction of the training images held out (stratified) for early
        stopping on the validation loss; the best epoch's weights are
        restored. None trains for exactly ``epochs`` epochs. The hold-out is
        drawn per image: CC and MLO views of one breast can fall on both
        sides, which only affects when training stops.
    patience : int, default=5
        Epochs without validation-loss improvement before stopping.
    %(image_shape)s
    precision : {"float32", "mixed_bfloat16", "mixed_float16"}, default="float32"
        Keras dtype policy of the network. Mixed precision speeds up GPUs;
        the output layer always computes in float32.
    jit_compile : "auto" or bool, default="auto"
        Passed to ``keras.Model.compile`` (XLA compilation where supported).
    %(distribution)s
        With ``batch_normalization=True``, the statistics of a padded batch
        include its padding rows, and TensorFlow's replicas normalise with
        their own share of each batch.
    callbacks : list of keras.callbacks.Callback or None, default=None
        Extra Keras callbacks for every training run.
    %(verbose)s
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. With an int, fitting twice on the same data on CPU gives
        identical predictions.
    checkpoint_dir : str, path-like or None, default=None
        Directory for checkpoints of a long fit. After every epoch the
        weights, the optimizer state, the history so far are
        saved there atomically; a later ``fit`` with the same directory,
        data and parameters resumes after the last completed epoch,
        and once finished returns the saved model without training. A
        checkpoint of another fit raises
        :class:`~mammoclf.exceptions.IncompatibleModelError`: use one
        directory per fit (not one for a whole grid search). Needs an int
        ``random_state``. A resumed fit is not bit-identical to an
        uninterrupted one (shuffling and dropout of the remaining epochs
        are drawn anew). See ``docs/user_guide/reliability.md``.

    Attributes
    ----------
    %(classes_)s
    model_ : keras.Model
        The trained network; it outputs logits.
    history_ : dict of str to list of float
        Per-epoch loss and metrics (``loss``, ``accuracy``, ``auc`` for two
        classes, and ``val_*`` with early stopping).
    stages_ : list of dict
        One record for the single training stage, with the keys every
        mammoclf classifier writes: ``learning_rate``, ``epochs`` (planned),
        ``epochs_run``, ``first_epoch`` (0), ``n_trainable_params`` and
        ``fit_time`` (seconds).
    n_epochs_ : int
        Epochs actually run.
    %(fit_time_)s
    %(image_shape_)s
    %(n_features_in_)s
    feature_map_layer_ : str
        Name of the layer of ``model_`` whose output is the last
        convolutional feature map (the last block's ReLU): the target layer
        of :func:`~mammoclf.inspection.grad_cam`.
    %(feature_names_in_)s

    See Also
    --------
    DenseNetTransferClassifier : ImageNet-pretrained DenseNet with staged
        fine-tuning.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf import ScratchCNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 32, 32)).astype("float32")
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 20)
    >>> X[y == "MALIGNANT", 12:20, 12:20] += 1.0  # a bright "lesion"
    >>> clf = ScratchCNNClassifier(filters=(8, 16), dense_units=16, epochs=8,
    ...                            random_state=0).fit(X, y)
    >>> clf.classes_
    array(['BENIGN', 'MALIGNANT'], dtype='<U9')
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseKerasImageClassifier._parameter_constraints,
        "filters": [PositiveInts()],  # one per convolution block
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "dense_units": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_normalization": ["boolean"],
        "pooling": [StrOptions({"flatten", "avg", "max"})],
    }

    def __init__(
        self,
        *,
        filters=(32, 64, 128),
        kernel_size=3,
        dense_units=128,
        dropout=0.5,
        batch_normalization=False,
        pooling="flatten",
        epochs=20,
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
        self.filters = filters
        self.kernel_size = kernel_size
        self.dense_units = dense_units
        self.dropout = dropout
        self.batch_normalization = batch_normalization
        self.pooling = pooling

    def _feature_map_layer(self):
        return f"block{len(self.filters)}_relu"

    def _build_keras_model(self, keras, input_shape, n_outputs, seed):
        layers = keras.layers
        inputs = keras.Input(shape=input_shape, name="image")
        x = inputs
        for block, n_filters in enumerate(self.filters, start=1):
            x = layers.Conv2D(
                int(n_filters),
                int(self.kernel_size),
                padding="same",
                use_bias=not self.batch_normalization,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + block),
                name=f"block{block}_conv",
            )(x)
            if self.batch_normalization:
                x = layers.BatchNormalization(name=f"block{block}_bn")(x)
            x = layers.Activation("relu", name=f"block{block}_relu")(x)
            # "same" padding keeps tiny or one-pixel-high images valid.
            x = layers.MaxPooling2D(2, padding="same", name=f"block{block}_pool")(x)
        pooling_layer = {
            "flatten": layers.Flatten,
            "avg": layers.GlobalAveragePooling2D,
            "max": layers.GlobalMaxPooling2D,
        }[self.pooling]
        x = pooling_layer(name="head_pool")(x)
        x = layers.Dense(
            int(self.dense_units),
            activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 100),
            name="head_dense",
        )(x)
        x = layers.Dropout(float(self.dropout), seed=seed + 101, name="head_dropout")(x)
        outputs = layers.Dense(
            n_outputs,
            dtype="float32",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 102),
            name="logits",
        )(x)
        return keras.Model(inputs, outputs, name="scratch_cnn")
