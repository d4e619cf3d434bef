"""The scikit-learn estimator base shared by mammoclf's Keras image classifiers."""

import math
import os
import random
import time
import warnings
import weakref
from abc import abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, replace
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from mammoclf.classifiers._checkpoint import (
    ResumedStage,
    TrainingCheckpoint,
    training_identity,
)
from mammoclf.classifiers._distribution import (
    DATA_PARALLEL,
    data_parallel_inputs,
    distribution_scope,
)
from mammoclf.classifiers._frozen_features import stream_batches
from mammoclf.classifiers._trace_pool import copy_variables, network_key, trace_pool
from mammoclf.config import get_config
from mammoclf.exceptions import ImageRangeWarning, InvalidImageError
from mammoclf.storage import is_memory_mapped, take_rows
from mammoclf.utils._keras import (
    dtype_policy_scope,
    fresh_model_retracing_muted,
    import_keras,
    keras_seed,
    model_from_bytes,
    model_to_bytes,
)
from mammoclf.utils._row_blocks import row_blocks
from mammoclf.utils._validation import (
    check_image_batch,
    check_image_shape_param,
    check_sample_weight,
)

__all__ = ["BaseKerasImageClassifier"]

_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}
_MAX_SEED = 2**31 - 1
# Fitted network -> batches it has run through direct calls (see _forward).
_DIRECT_BATCHES = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class FitState:
    """What one ``fit`` hands down to the training hooks, explicitly.

    Attributes
    ----------
    keras : module
        Keras, imported once per fit.
    seed : int
        The fit's seed, drawn from ``random_state``.
    checkpoint : TrainingCheckpoint or None
        Where the fit saves and resumes (``checkpoint_dir``), or None.
    reuse_traces : bool
        Whether the fit may train a pooled network (the ``reuse_traces``
        setting, read once per fit, on the TensorFlow backend); see
        ``BaseKerasImageClassifier._pooled_network``.
    """

    keras: Any
    seed: int
    checkpoint: TrainingCheckpoint | None
    reuse_traces: bool = False


@dataclass(frozen=True)
class TrainingData:
    """Encoded arrays handed to :meth:`BaseKerasImageClassifier._train`."""

    X: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray
    validation: tuple | None

    @property
    def n_samples(self):
        return self.X.shape[0]


@dataclass(frozen=True)
class MappedTrainingData(TrainingData):
    """Images in a memory-mapped file: fed to Keras batch by batch, never whole.

    (Keras copies a NumPy array whole into the backend before training.)
    """

    shuffle_seed: int


class BaseKerasImageClassifier(ClassifierMixin, BaseEstimator):
    """Base class of mammoclf's Keras image classifiers.

    Subclasses build their network in :meth:`_build_keras_model` (called in
    ``fit``, scikeras's ``initialize`` convention), name its last
    convolutional feature map in :meth:`_feature_map_layer`, and may
    override :meth:`_train` to train in several stages. Everything else
    (input and label validation, class and sample weights, seeding, early
    stopping, checkpoints, prediction, pickling) lives here, so every
    subclass behaves the same.

    Every fitted classifier has the same fitted attributes: ``classes_``,
    ``model_``, ``history_``, ``stages_`` (one record per training stage;
    a single one unless the subclass trains in stages), ``n_epochs_``,
    ``fit_time_``, ``image_shape_``, ``n_features_in_`` and
    ``feature_map_layer_``. Inspection tools such as
    :func:`mammoclf.inspection.grad_cam` use only these and the public
    methods (:meth:`model_inputs`, :meth:`decision_function`).

    Keras is imported once per public call (``fit``, ``predict``, ...) and
    handed down: every private helper that needs it takes ``keras`` (or a
    :class:`FitState`) as a parameter.

    Parameters are documented on the public subclasses.
    """

    _parameter_constraints: ClassVar[dict] = {
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_OPTIMIZERS))],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
        "precision": [StrOptions({"float32", "mixed_bfloat16", "mixed_float16"})],
        "jit_compile": [StrOptions({"auto"}), "boolean"],
        "distribution": [StrOptions({DATA_PARALLEL}), None],
        "callbacks": [list, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "checkpoint_dir": [None, str, os.PathLike],
    }

    def __init__(
        self,
        *,
        epochs,
        batch_size,
        learning_rate,
        optimizer,
        class_weight,
        validation_fraction,
        patience,
        image_shape,
        precision,
        jit_compile,
        distribution,
        callbacks,
        verbose,
        random_state,
        checkpoint_dir,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.image_shape = image_shape
        self.precision = precision
        self.jit_compile = jit_compile
        self.distribution = distribution
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _build_keras_model(self, keras, input_shape, n_outputs, seed):
        """Return an uncompiled Keras model mapping images to ``n_outputs`` logits.

        The output layer must compute in float32 even under a mixed precision
        policy, so that losses and probabilities stay accurate.
        """

    @abstractmethod
    def _feature_map_layer(self):
        """Name of the layer of the network whose output is its last feature map."""

    def _check_image_size(self, image_shape):
        """Raise :class:`InvalidImageError` if the network cannot take this shape."""

    def _train(self, fit, model, data):
        """Train ``model`` on ``data``; return ``(history, stages)``.

        ``history`` maps each metric to its per-epoch values across all
        stages; ``stages`` holds one record per stage (see
        :func:`stage_record`). The default is one stage of ``epochs``
        epochs at ``learning_rate``.
        """

        def train_stage(index, first_epoch):
            started = time.perf_counter()
            n_trainable = count_trainable_params(model)
            self._compile(fit.keras, model, self.learning_rate)
            with self._pooled_network(fit, model) as train_model:
                history = self._fit_stage(
                    fit,
                    train_model,
                    data,
                    epochs=self.epochs,
                    initial_epoch=first_epoch,
                )
            record = stage_record(
                learning_rate=self.learning_rate,
                epochs=self.epochs,
                history=history,
                first_epoch=first_epoch,
                n_trainable_params=n_trainable,
                started=started,
            )
            return record, history

        return self._run_stages(fit, 1, train_stage)

    # ------------------------------------------------------------ fit helpers
    def _run_stages(self, fit, n_stages, train_stage, after_stage=None):
        """Run the stages of a fit in order; return ``(history, stages)``.

        ``train_stage(index, first_epoch)`` trains stage ``index`` and
        returns its ``(record, history)``. A stage that an interrupted
        earlier fit finished (``checkpoint_dir``) is not trained again: its
        weights are restored already and its saved record is kept.
        ``after_stage(index)``, if given, runs after every stage.
        """
        history, records = {}, []
        for index in range(n_stages):
            done = None
            if fit.checkpoint is not None:
                done = fit.checkpoint.completed_stage(index)
            if done is None:
                first_epoch = sum(record["epochs_run"] for record in records)
                done = train_stage(index, first_epoch)
                if fit.checkpoint is not None:
                    fit.checkpoint.complete_stage(*done)
            record, stage_history = done
            records.append(record)
            for name, values in stage_history.items():
                history.setdefault(name, []).extend(values)
            if after_stage is not None:
                after_stage(index)
        return history, records

    def _compile(self, keras, model, learning_rate):
        optimizer = getattr(keras.optimizers, _OPTIMIZERS[self.optimizer])(
            learning_rate=float(learning_rate)
        )
        if self._is_binary:
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
            metrics = [
                keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
                keras.metrics.AUC(name="auc", from_logits=True),
            ]
        else:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            jit_compile=self.jit_compile,
        )
        # Keras creates the optimizer's slot variables inside the first traced
        # train step, which makes TensorFlow trace that step a second time
        # (variables may only be created on a function's first trace).
        # Creating them here halves the tracing, which dominates small fits.
        model.optimizer.build(model.trainable_variables)

    def _trace_key(self, fit, model):
        """The pool key of ``model``'s training (see ``_pooled_network``), or None.

        None (train ``model`` itself) unless ``fit.reuse_traces`` and the
        fit is one whose numbers reuse cannot change: float32, no user
        callbacks (they may hold or inspect the model), no distribution
        strategy and no checkpoint (which resumes into ``model``'s own
        optimizer).
        """
        if not fit.reuse_traces:
            return None
        if (
            self.callbacks
            or self.distribution is not None
            or fit.checkpoint is not None
            or self.precision != "float32"
        ):
            return None
        return network_key(model, jit_compile=self.jit_compile)

    @contextmanager
    def _pooled_network(self, fit, model):
        """``model`` or, when it may be reused, a pooled twin already traced.

        ``model`` is freshly built and compiled (optimizer built). A pooled
        twin gets all of ``model``'s variables (weights, seed-generator
        states) and its fresh optimizer's variables (iterations, moments,
        learning rate), so it starts exactly where ``model`` would; after
        training, the twin's variables are copied back into ``model``,
        which stays the estimator's ``model_`` (the twin is never handed
        out). See :mod:`mammoclf.classifiers._trace_pool`.
        """
        key = self._trace_key(fit, model)
        if key is None:
            yield model
            return

        def build():
            # Cloning draws no seed from the global generators the fit uses
            # later (every initializer and dropout layer holds a seed); their
            # states are restored anyway so a first fit matches a later one.
            python_state, numpy_state = random.getstate(), np.random.get_state()
            try:
                twin = fit.keras.models.clone_model(model)
            finally:
                random.setstate(python_state)
                np.random.set_state(numpy_state)
            self._compile(fit.keras, twin, self.learning_rate)
            return twin

        with trace_pool().checkout(key, build) as twin:
            copy_variables(model.variables, twin.variables)
            copy_variables(model.optimizer.variables, twin.optimizer.variables)
            yield twin
            copy_variables(twin.variables, model.variables)
            copy_variables(twin.optimizer.variables, model.optimizer.variables)

    def _fit_stage(self, fit, model, data, *, epochs, initial_epoch, fit_X=None):
        """Run ``model.fit`` for epochs ``initial_epoch + 1 ... initial_epoch + epochs``.

        ``fit_X`` replaces the training images, e.g. by cached backbone
        features when only the head is trained.
        """
        keras, checkpoint = fit.keras, fit.checkpoint
        # With checkpoint_dir: where an interrupted earlier fit left this stage.
        resumed = (
            ResumedStage() if checkpoint is None else checkpoint.resume_stage(model)
        )
        if resumed.finished:
            return resumed.history
        callbacks = list(self.callbacks or [])
        early_stopping = None
        if data.validation is not None:
            early_stopping = resumed.early_stopping_callback(
                keras, patience=self.patience
            )
            callbacks.append(early_stopping)
        if checkpoint is not None:  # last: it saves the early-stopping counters too
            callbacks.append(
                checkpoint.epoch_callback(keras, model, resumed, early_stopping)
            )
        history = model.fit(
            **data_parallel_inputs(
                keras,
                self._fit_inputs(
                    keras, data if fit_X is None else replace(data, X=fit_X)
                ),
            ),
            epochs=initial_epoch + epochs,
            initial_epoch=initial_epoch + resumed.epochs,
            callbacks=callbacks,
            verbose=_keras_verbosity(self.verbose),
        )
        return resumed.joined_history(
            {
                name: [float(v) for v in values]
                for name, values in history.history.items()
            }
        )

    def _fit_inputs(self, keras, data):
        """The ``model.fit`` keyword arguments that feed it ``data``, shuffled.

        A hook: a subclass may stream arrays too large for memory (such as
        memory-mapped cached activations) as a ``keras.utils.PyDataset``.
        """
        if isinstance(data, MappedTrainingData):
            return _streamed_inputs(data, self.batch_size)
        validation = None if data.validation is None else tuple(data.validation)
        return {
            "x": data.X,
            "y": data.y,
            "sample_weight": data.sample_weight,
            "validation_data": validation,
            "batch_size": self.batch_size,
            "shuffle": True,
        }

    # -------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Train the network on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Training images in ``[0, 1]``, any real dtype, as
            :class:`~mammoclf.DicomLoader` and :class:`~mammoclf.Resizer`
            give them; values are never rescaled, and images outside
            ``[0, 1]`` warn with :class:`~mammoclf.exceptions.ImageRangeWarning`.
            2-D input ``(n_samples, H * W * C)`` needs ``image_shape`` to be
            unflattened; a list of images of different sizes is refused
            (resize them with :class:`~mammoclf.Resizer`).
        y : array-like of shape (n_samples,)
            Labels of any type (strings such as ``"BENIGN"``/``"MALIGNANT"``,
            integers, booleans); at least two classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative per-image weights, multiplied with ``class_weight``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        state_before_fit = dict(self.__dict__)
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            # A failed or interrupted fit (KeyboardInterrupt included) leaves
            # the estimator exactly as it was: never half-fitted.
            self.__dict__.clear()
            self.__dict__.update(state_before_fit)
            raise

    def _fit(self, X, y, sample_weight):
        self._validate_params()
        X = self._validate_images(
            X, reset=True, image_shape=_image_shape_option(self.image_shape)
        )
        self._check_image_size(X.shape[1:])
        y_encoded, weights = self._encode_targets(y, sample_weight, X.shape[0])
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(_MAX_SEED))
        keras = import_keras()
        checkpoint = self._open_checkpoint(keras, seed, (X, y_encoded, weights))
        data = self._split_validation(X, y_encoded, weights, rng)
        fit = FitState(
            keras=keras,
            seed=seed,
            checkpoint=checkpoint,
            reuse_traces=get_config()["reuse_traces"]
            and keras.backend.backend() == "tensorflow",
        )

        started = time.perf_counter()
        with (
            # A reused traced step keeps its instantiated graph (keras_seed).
            keras_seed(keras, seed, keep_compiled_kernels=fit.reuse_traces),
            fresh_model_retracing_muted(),
            distribution_scope(
                self.distribution,
                keras=keras,
                batch_size=self.batch_size,
                seed=seed,
                estimator_name=type(self).__name__,
            ),
        ):
            with dtype_policy_scope(keras, self.precision):
                model = self._build_keras_model(
                    keras,
                    X.shape[1:],
                    1 if self._is_binary else len(self.classes_),
                    seed,
                )
            if checkpoint is not None:
                checkpoint.attach(model)  # the saved weights, if any
            history, stages = self._train(fit, model, data)
            if checkpoint is not None and not checkpoint.complete:
                checkpoint.finish()
        # Assigned last: an interrupted fit leaves no half-fitted model behind.
        self.history_ = history
        self.stages_ = stages
        self.n_epochs_ = len(next(iter(history.values()), []))
        self.fit_time_ = time.perf_counter() - started
        self.feature_map_layer_ = self._feature_map_layer()
        self.model_ = model
        return self

    def _open_checkpoint(self, keras, seed, arrays):
        """The fit's :class:`TrainingCheckpoint`, or None without ``checkpoint_dir``."""
        if self.checkpoint_dir is None:
            return None
        # None or a RandomState instance would draw other seeds in a new process.
        int_seed = isinstance(self.random_state, Integral) and not isinstance(
            self.random_state, bool
        )
        if not int_seed:
            raise ValueError(
                "checkpoint_dir needs an int random_state: a resumed fit must draw "
                f"the same seeds as the interrupted one; got {self.random_state!r}."
            )
        return TrainingCheckpoint.open(
            self.checkpoint_dir,
            training_identity(keras, self, seed=seed, arrays=arrays),
        )

    def _validate_images(self, X, *, reset, image_shape=None):
        if image_shape is None:
            image_shape = _image_shape_option(self.image_shape)
        _refuse_differently_sized(X)
        shape = X.shape if hasattr(X, "shape") else np.asarray(X).shape
        is_2d = len(shape) == 2
        if is_2d:
            image_shape = self._unflattened_shape(shape, image_shape, reset=reset)
            try:
                X = validate_data(
                    self, X, reset=reset, dtype=np.float32, ensure_min_samples=1
                )
            except ValueError as exc:
                raise InvalidImageError(str(exc)) from exc
        images = check_image_batch(X, image_shape=image_shape, validated_2d=is_2d)
        _warn_if_not_unit_range(images, type(self).__name__)
        if reset:
            if not is_2d:
                self.n_features_in_ = int(np.prod(images.shape[1:]))
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            self.image_shape_ = tuple(int(v) for v in images.shape[1:])
            return images
        fitted = self.image_shape_
        if images.shape[-1] != fitted[-1]:
            raise InvalidImageError(
                f"X has {images.shape[-1]}-channel images, but "
                f"{type(self).__name__} was fitted on {fitted[-1]}-channel images."
            )
        if images.shape[1:] != fitted:
            raise InvalidImageError(
                f"X has images of shape {images.shape[1:]}, but "
                f"{type(self).__name__} was fitted on images of shape {fitted}. "
                f"Resize them, e.g. with mammoclf.Resizer(size={fitted[:2]})."
            )
        return images

    def _unflattened_shape(self, shape, image_shape, *, reset):
        """The image shape of 2-D input ``(n_samples, n_features)``; never guessed.

        A 2-D array is as likely one greyscale image as a batch of flattened
        images, so without ``image_shape`` it is refused, naming both fixes.
        """
        name = type(self).__name__
        if image_shape is None:
            fitted = None if reset else getattr(self, "image_shape_", None)
            if fitted is not None and tuple(shape) == fitted[:2]:
                raise InvalidImageError(
                    f"X has shape {tuple(shape)}, the shape of one image {name} was "
                    "fitted on, but estimators take a batch of images: pass X[None] "
                    "for a single image."
                )
            raise InvalidImageError(
                f"X is 2-D, of shape {tuple(shape)}, and {name} takes images "
                "(n_samples, H, W) or (n_samples, H, W, C). If each row is a "
                "flattened image, set image_shape=(H, W) or (H, W, C) (image_shape=(1, "
                "-1) reads each row as an image one pixel high); for a single "
                "image, pass X[None]."
            )
        if -1 not in image_shape:
            return image_shape
        known = int(np.prod([v for v in image_shape if v != -1]))
        if shape[1] % known:
            raise InvalidImageError(
                f"X has {shape[1]} features per row, which cannot be reshaped to "
                f"image_shape={image_shape}."
            )
        return tuple(shape[1] // known if v == -1 else v for v in image_shape)

    def _encode_targets(self, y, sample_weight, n_samples):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if y.shape[0] != n_samples:
            raise ValueError(
                f"y has {y.shape[0]} labels for {n_samples} images; expected one "
                "label per image."
            )
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        y_encoded = encoder.transform(y)
        weights = check_sample_weight(sample_weight, n_samples)
        if isinstance(self.class_weight, dict):
            unknown = [
                k for k in self.class_weight if k not in set(self.classes_.tolist())
            ]
            if unknown:
                raise ValueError(
                    f"class_weight has labels that are not in y: {unknown}; the "
                    f"classes are {self.classes_.tolist()}."
                )
        if self.class_weight is not None:
            per_class = compute_class_weight(
                self.class_weight, classes=self.classes_, y=y
            )
            weights = weights * per_class[y_encoded].astype(np.float32)
        weighted_classes = np.unique(y_encoded[weights > 0])
        if weighted_classes.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes with "
                f"positive weight to train; got one class only "
                f"({self.classes_[weighted_classes].tolist()})."
            )
        return y_encoded, weights

    @property
    def _is_binary(self):
        return len(self.classes_) == 2

    def _split_validation(self, X, y_encoded, weights, rng):
        targets = y_encoded.astype(np.float32)
        if self._is_binary:
            targets = targets[:, np.newaxis]
        if self.validation_fraction is None:
            return _training_data(X, targets, weights, None, rng)
        try:
            train, val = train_test_split(
                np.arange(X.shape[0]),
                test_size=self.validation_fraction,
                stratify=y_encoded,
                random_state=rng,
            )
        except ValueError as exc:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} cannot hold out a "
                f"stratified validation set from {X.shape[0]} images: {exc} "
                "Use more images or validation_fraction=None."
            ) from exc
        return _training_data(
            take_rows(X, train),
            targets[train],
            weights[train],
            (take_rows(X, val), targets[val], weights[val]),
            rng,
        )

    # ------------------------------------------------------------- prediction
    def model_inputs(self, X):
        """Validate ``X`` as prediction does and return the batch ``model_`` takes.

        Together with ``model_`` and ``feature_map_layer_`` this is the
        public contract that inspection tools (such as
        :func:`mammoclf.inspection.grad_cam`) build on: ``model_`` maps
        these inputs to the logits that :meth:`decision_function` returns.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Images shaped as in ``fit``; 2-D input is unflattened with
            ``image_shape``.

        Returns
        -------
        images : ndarray of shape (n_samples, H, W, C), dtype float32

        Raises
        ------
        InvalidImageError
            If the images do not have the shape the classifier was fitted on.
        """
        check_is_fitted(self)
        return self._validate_images(X, reset=False)

    #: Batches a fitted network runs through direct ``model(X)`` calls before
    #: its predict function is traced (see ``_forward``).
    _direct_batches_before_tracing: ClassVar[int] = 64

    def _forward(self, keras, model, X):
        """Run ``model`` in inference mode on ``X`` and return a NumPy array.

        Keras's advice for small inputs is to call ``model(X)`` directly,
        which skips tracing a predict function; but every direct call pays
        Python overhead per layer, which a traced function does not. Which
        is cheaper depends on how much the model will still predict, which
        is unknown, so this decides as in ski rental: a network runs its
        first ``_direct_batches_before_tracing`` batches directly (rent),
        and traces its predict function (buys) only for the call that would
        exceed them. That budget is about the trace's cost in direct calls'
        overheads: tracing a DenseNet takes seconds, a small CNN a tenth.
        The traced function sees only full batches (the last one padded),
        so it is traced once per network, whatever the number of images.
        """
        n_images, batch_size = X.shape[0], self.batch_size
        if is_memory_mapped(X) and n_images > batch_size:
            # Block by block: Keras would copy a whole memory map into memory.
            return np.concatenate(
                [
                    self._forward(keras, model, np.array(X[rows]))
                    for rows in row_blocks(n_images, X)
                ]
            )
        n_batches = max(1, math.ceil(n_images / batch_size))
        direct_so_far = _DIRECT_BATCHES.get(model, 0)
        if direct_so_far + n_batches <= self._direct_batches_before_tracing:
            _DIRECT_BATCHES[model] = direct_so_far + n_batches
            return np.concatenate(
                [
                    np.asarray(
                        keras.ops.convert_to_numpy(
                            model(X[start : start + batch_size], training=False)
                        )
                    )
                    for start in range(0, max(n_images, 1), batch_size)
                ]
            )
        return _predict_in_full_batches(model, X, batch_size)

    def decision_function(self, X):
        """Logits of the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Images shaped as in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the logit of ``classes_[1]`` (positive means
            ``classes_[1]``); otherwise one logit per class.
        """
        images = self.model_inputs(X)
        logits = self._forward(import_keras(), self.model_, images)
        logits = logits.astype(np.float64)
        return logits[:, 0] if self._is_binary else logits

    def predict_proba(self, X):
        """Class probabilities, one column per class in ``classes_`` order.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Images shaped as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        scores = self.decision_function(X)
        if self._is_binary:
            positive = expit(scores)
            return np.column_stack([1.0 - positive, positive])
        return softmax(scores, axis=1)

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Images shaped as in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Elements of ``classes_``.
        """
        scores = self.decision_function(X)
        indices = (scores > 0).astype(int) if self._is_binary else scores.argmax(axis=1)
        return self.classes_[indices]

    def score(self, X, y, sample_weight=None):
        """Accuracy on ``(X, y)``; labels never seen in ``fit`` are an error.

        Parameters
        ----------
        X : array-like of shape (n_samples, H, W) or (n_samples, H, W, C)
            Images shaped as in ``fit``.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-image weights.

        Returns
        -------
        score : float
            Fraction of correctly classified images.
        """
        check_is_fitted(self)
        unseen = np.setdiff1d(np.unique(np.asarray(y)), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels never seen in fit: {unseen.tolist()}; "
                f"{type(self).__name__} knows {self.classes_.tolist()}."
            )
        return super().score(X, y, sample_weight=sample_weight)

    # -------------------------------------------------------------- protocols
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # 2-D input is read as flattened images (see ``image_shape``): that
        # keeps scikit-learn's conformance checks running instead of skipping.
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:
            state = dict(state)
            state["model_"] = _SerialisedModel(model_to_bytes(state["model_"]))
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), _SerialisedModel):
            state = dict(state)
            state["model_"] = model_from_bytes(import_keras(), state["model_"].data)
        super().__setstate__(state)


def _predict_in_full_batches(model, X, batch_size):
    """``model.predict(X)`` through batches of exactly ``batch_size`` images.

    A last batch of another size would trace the predict function again
    (twice in all: TensorFlow then relaxes the batch dimension), and so
    would every new input smaller than a batch. The whole batches are
    predicted as they are (no copy); the rest is padded with copies of its
    own rows, whose outputs are dropped. In inference mode no image's
    output depends on the other images of its batch.
    """
    n_images = X.shape[0]  # at least one: validation refuses none
    n_whole = n_images - n_images % batch_size
    parts = []
    with fresh_model_retracing_muted():
        if n_whole:
            parts.append(model.predict(X[:n_whole], batch_size=batch_size, verbose=0))
        if n_whole < n_images:
            rest = X[n_whole:]
            padded = np.take(rest, np.arange(batch_size) % rest.shape[0], axis=0)
            out = model.predict(padded, batch_size=batch_size, verbose=0)
            parts.append(np.asarray(out)[: rest.shape[0]])
    return np.concatenate([np.asarray(part) for part in parts])


@dataclass(frozen=True)
class _SerialisedModel:
    """A fitted Keras model as ``.keras`` archive bytes inside a pickle."""

    data: bytes


def _image_shape_option(image_shape):
    """Validate the ``image_shape`` parameter; one side may be -1 (inferred from X)."""
    if image_shape is None:
        return None
    if isinstance(image_shape, (tuple, list)) and list(image_shape).count(-1) == 1:
        # Checked as if the inferred side were 1; the -1 is kept for X.
        check_image_shape_param(tuple(1 if v == -1 else v for v in image_shape))
        return tuple(int(v) for v in image_shape)
    return check_image_shape_param(image_shape)


def _refuse_differently_sized(X):
    """Name Resizer for a list of images of different sizes (numpy says "inhomogeneous")."""
    if not isinstance(X, (list, tuple)) or len(X) < 2:
        return
    shapes = {np.shape(image) for image in X}
    if len(shapes) > 1:
        shown = ", ".join(str(s) for s in sorted(shapes)[:3])
        raise InvalidImageError(
            f"X is a list of images of different sizes ({shown}"
            f"{', ...' if len(shapes) > 3 else ''}); the classifiers take images of "
            "one size. Resize them first with mammoclf.Resizer(size=...), e.g. "
            "make_pipeline(Resizer(size=224), classifier)."
        )


# Images out of [0, 1] by more than this warn: wide enough for the overshoot
# of a sharp resampling filter (Resizer's "lanczos"), far below 8-bit's 255.
_RANGE_TOLERANCE = 0.1


def _warn_if_not_unit_range(images, estimator_name):
    """Warn (one rule for every classifier) when images are not scaled to [0, 1]."""
    if images.size == 0:
        return
    low, high = float(images.min()), float(images.max())
    if low >= -_RANGE_TOLERANCE and high <= 1 + _RANGE_TOLERANCE:
        return
    hint = (
        "divide 8-bit images by 255 (16-bit ones by 65535)"
        if low >= 0 and high <= 65535
        else "rescale them to [0, 1]"
    )
    warnings.warn(
        f"{estimator_name} got images with values in [{low:.4g}, {high:.4g}], but "
        "its network's input normalisation assumes images in [0, 1], as "
        f"DicomLoader and Resizer give them: {hint}.",
        ImageRangeWarning,
        stacklevel=5,
    )


def count_trainable_params(model):
    """Number of values in ``model``'s trainable weights."""
    return int(sum(math.prod(weight.shape) for weight in model.trainable_weights))


def stage_record(
    *, learning_rate, epochs, history, first_epoch, n_trainable_params, started
):
    """The ``stages_`` record every classifier writes for one training stage.

    Keys: ``learning_rate``, ``epochs`` (planned), ``epochs_run``,
    ``first_epoch`` (index into ``history_``), ``n_trainable_params`` and
    ``fit_time`` (seconds). Subclasses that train in stages add their own
    keys (see :class:`~mammoclf.DenseNetTransferClassifier`).
    """
    return {
        "learning_rate": float(learning_rate),
        "epochs": int(epochs),
        "epochs_run": len(history.get("loss", [])),
        "first_epoch": int(first_epoch),
        "n_trainable_params": int(n_trainable_params),
        "fit_time": time.perf_counter() - started,
    }


def _keras_verbosity(verbose):
    """Map our ``verbose`` to Keras's: 0 silent, 1 progress bar, 2+ a line per epoch."""
    if not verbose:
        return 0
    return 1 if int(verbose) == 1 else 2


def _training_data(X, y, sample_weight, validation, rng):
    """:class:`TrainingData`, or :class:`MappedTrainingData` for memory-mapped images."""
    if is_memory_mapped(X):
        seed = int(rng.randint(_MAX_SEED))
        return MappedTrainingData(X, y, sample_weight, validation, shuffle_seed=seed)
    return TrainingData(X, y, sample_weight, validation)


def _streamed_inputs(data, batch_size):
    """``model.fit`` arguments streaming ``data`` in seeded batches."""
    keras = import_keras()
    inputs = {
        "x": stream_batches(
            keras,
            data.X,
            data.y,
            data.sample_weight,
            batch_size=batch_size,
            shuffle=True,
            seed=data.shuffle_seed,
        )
    }
    if data.validation is not None:
        inputs["validation_data"] = stream_batches(
            keras, *data.validation, batch_size=batch_size, shuffle=False, seed=0
        )
    return inputs
