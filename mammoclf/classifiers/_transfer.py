"""Staged transfer learning on any ImageNet backbone: :class:`TransferClassifier`.

The staged training, frozen-prefix caching, study-wide activation sharing,
checkpoints and the Grad-CAM contract are written once, here; what differs
between backbones is data (:mod:`mammoclf.classifiers._backbones`).
"""

import os
import time
from numbers import Integral, Real
from typing import ClassVar

from sklearn.utils._param_validation import Interval, StrOptions

from mammoclf.classifiers._activation_store import (
    active_activation_store,
    forget_layer_digests,
)
from mammoclf.classifiers._backbones import (
    BACKBONES,
    HEAD,
    STEM,
    UNSUPPORTED,
    check_backbone,
)
from mammoclf.classifiers._base import (
    BaseKerasImageClassifier,
    MappedTrainingData,
    TrainingData,
    count_trainable_params,
    stage_record,
)
from mammoclf.classifiers._docstrings import with_shared_entries
from mammoclf.classifiers._freeze_schedule import ALL_BLOCKS, resolve_freeze_schedule
from mammoclf.classifiers._frozen_features import ActivationCache, stochastic_layers
from mammoclf.classifiers._transfer_network import (
    FEATURE_MAP,
    attach_head,
    block_layers,
    build_backbone,
    copy_backbone_weights,
    pretrained_backbone,
)
from mammoclf.classifiers._transfer_sharing import (
    backbone_identity,
    block_cuts,
    predict_from_store,
)
from mammoclf.exceptions import InvalidImageError
from mammoclf.utils._keras import dtype_policy_scope
from mammoclf.utils._validation import PositiveInts

__all__ = ["TransferClassifier"]

# frozen_cache -> where ActivationCache keeps activations ("off" plans none).
_CACHE_STORAGE = {"auto": "auto", "memory": "memory", "disk": "disk", "off": "auto"}


@with_shared_entries
class TransferClassifier(BaseKerasImageClassifier):
    """An ImageNet-pretrained backbone with a new head, fine-tuned in stages.

    Staged transfer learning on any image backbone of ``keras.applications``
    (DenseNet, ResNet and ResNetV2, VGG, InceptionV3, Xception,
    InceptionResNetV2, MobileNet V1/V2/V3, EfficientNet and EfficientNetV2,
    ConvNeXt) as one scikit-learn estimator: the backbone (without its
    ImageNet classifier) followed by global average pooling, a dense layer, dropout
    and the output layer. ``freeze_schedule`` says which blocks train in
    each stage, for how many epochs and at what learning rate: the study's
    frozen model (``"frozen"``: the head only) and its partially unfrozen
    model (``"partial"``: the head, then the top block ``conv5`` at a tenth
    of the learning rate) are presets, so ``GridSearchCV`` can compare
    unfreeze depths with ``{"freeze_schedule": ["frozen", "conv5", "conv4"]}``
    (block names depend on the backbone: ``"block5"`` for VGG16,
    ``"block7"`` for EfficientNetB0; see the user guide). DenseNet is also
    :class:`DenseNetTransferClassifier`, the study's estimator.

    Images go in as the loaders give them, in ``[0, 1]``: the model repeats a
    grey channel three times and applies the ImageNet input preprocessing
    its backbone's weights expect (as
    ``keras.applications.<family>.preprocess_input`` does) itself. The
    backbone runs in inference mode, as in Keras's fine-tuning guide: its
    BatchNormalization layers keep their statistics and its own dropout
    (EfficientNet's stochastic depth) is off. Fine-tuning follows the Keras rules: the head trains before any
    backbone block, the backbone's BatchNormalization layers always run in
    inference mode (and keep their parameters), the model is recompiled
    whenever what trains changes, and epochs and ``history_`` run on across
    stages. While a stage trains only the blocks above some point, the frozen
    part below it is computed once per fit and the stage trains on its
    cached output (``frozen_cache``), with the same results.

    Parameters
    ----------
    backbone : str, default="densenet121"
        The ``keras.applications`` backbone, lower case: ``"densenet121"``,
        ``"resnet50"``, ``"resnet50v2"``, ``"vgg16"``, ``"inceptionv3"``,
        ``"xception"``, ``"inceptionresnetv2"``, ``"mobilenet"``,
        ``"mobilenetv2"``, ``"mobilenetv3small"``, ``"efficientnetb0"`` ...
        ``"efficientnetv2s"``, ``"convnexttiny"`` ... (see
        ``docs/user_guide/freeze_schedule.md``). NASNet is not supported:
        its cells read the two cells before them, so it has no
        single-tensor block boundary to freeze and cache below.
    weights : "imagenet", str, path-like or None, default="imagenet"
        Backbone initialisation. ``"imagenet"`` uses Keras's download and
        cache (``$KERAS_HOME/models/``, default ``~/.keras/models/``); a
        path loads a local weights file, e.g. a copy of the file Keras
        downloads (``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``)
        or a ``.weights.h5`` saved from ``keras.applications.ResNet50(
        include_top=False)``; None starts from random weights. Weights that
        cannot be fetched raise
        :class:`~mammoclf.exceptions.WeightsUnavailableError`; there is no
        silent fallback to random weights.
    freeze_schedule : str or list of dict, default="partial"
        The training stages. A preset: ``"frozen"`` (head only, ``epochs``
        epochs), ``"partial"`` (head, then ``conv5`` and above), ``"full"``
        (head, then everything), ``"gradual"`` (head, then each block from
        the top down, then everything: ULMFiT-style gradual unfreezing), or
        a block name of the backbone (head, then that block and everything
        above it; ``"conv2"`` ... ``"conv5"`` for DenseNet and ResNet).
        ``"partial"`` unfreezes the backbone's top block. Every preset stage lasts
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
        the backbone, e.g. ``(224, 224)``; at least the backbone's minimum
        (32 each; 71 for Xception, 75 for InceptionV3 and InceptionResNetV2).
        None feeds the images at their own size, which must then be at
        least that minimum.
    %(frozen_cache)s
    %(staged_training_parameters)s

    Attributes
    ----------
    %(staged_training_attributes)s
    feature_map_layer_ : str
        Name of the layer of ``model_`` whose output is the last
        convolutional feature map (the backbone description's, or
        ``"feature_map"`` where Keras names that layer automatically): the
        target layer of :func:`~mammoclf.inspection.grad_cam`.

    See Also
    --------
    DenseNetTransferClassifier : The study's DenseNet specialisation.
    ScratchCNNClassifier : The study's CNN trained from scratch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from mammoclf import TransferClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((24, 32, 32)).astype("float32")
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 12)
    >>> clf = TransferClassifier(backbone="mobilenetv3small", weights=None,
    ...                          freeze_schedule="frozen", dense_units=16,
    ...                          epochs=1, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    >>> [stage["trainable_blocks"] for stage in clf.stages_]
    [('head',)]

    Comparing backbones and unfreeze depths is one parameter grid (with real
    data, patient groups and ``weights="imagenet"``, the default):

    >>> search = GridSearchCV(
    ...     TransferClassifier(),
    ...     [{"backbone": ["resnet50"], "freeze_schedule": ["frozen", "conv5"]},
    ...      {"backbone": ["efficientnetb0"], "freeze_schedule": ["frozen", "block7"]}],
    ...     scoring="roc_auc", cv=3)
    >>> search.fit(X, y)  # doctest: +SKIP
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseKerasImageClassifier._parameter_constraints,
        "backbone": [StrOptions(set(BACKBONES) | set(UNSUPPORTED))],
        "weights": [str, os.PathLike, None],
        "freeze_schedule": "no_validation",  # FreezeScheduleError, in _validate_params
        "dense_units": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "resize_to": [PositiveInts(lengths={2}), None],  # (height, width)
        "frozen_cache": [StrOptions({"auto", "memory", "disk", "off"})],
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
        self.backbone = backbone
        self.weights = weights
        self.freeze_schedule = freeze_schedule
        self.dense_units = dense_units
        self.dropout = dropout
        self.resize_to = resize_to
        self.frozen_cache = frozen_cache

    # ------------------------------------------------------------ validation
    def _validate_params(self):
        super()._validate_params()
        self._backbone()  # NASNet: the reason it cannot be used
        # freeze_schedule is a small language of its own: FreezeScheduleError
        # says which stage and key is wrong, and suggests the key meant, which
        # a constraint's "must be ..." message cannot. Checked before any data
        # is touched.
        self._stages()

    def _stages(self):
        return resolve_freeze_schedule(
            self.freeze_schedule,
            blocks=self._backbone().blocks,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
        )

    def _check_image_size(self, image_shape):
        height, width, channels = image_shape
        if channels not in (1, 3):
            raise InvalidImageError(
                f"{type(self).__name__} takes grey (1-channel) or RGB (3-channel) "
                f"images; got {channels} channels."
            )
        if self.resize_to is not None:
            size, got = tuple(self.resize_to), f"got resize_to={tuple(self.resize_to)}"
        else:
            size, got = (height, width), f"got {height}x{width} images"
        minimum = self._backbone().min_size
        if min(size) < minimum:
            raise InvalidImageError(
                f"{type(self).__name__} needs inputs of at least {minimum}x{minimum} "
                f"pixels ({self.backbone} downsamples them); {got}. Resize the "
                "images (e.g. mammoclf.Resizer(size=(224, 224))) or set "
                "resize_to=(224, 224)."
            )

    # ------------------------------------------------------------------ model
    def _backbone(self):
        """The description of ``backbone`` (:mod:`~mammoclf.classifiers._backbones`)."""
        return check_backbone(self.backbone, type(self).__name__)

    def _feature_map_layer(self):
        return self._backbone().grad_cam_layer or FEATURE_MAP

    def _build_keras_model(self, keras, input_shape, n_outputs, seed):
        head = {
            "backbone": self.backbone,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
            "n_outputs": n_outputs,
            "seed": seed,
        }
        store = self._activation_store()
        identity = None
        if store is not None and self._backbone_stays_frozen():
            identity = backbone_identity(
                keras,
                backbone=self.backbone,
                weights=self.weights,
                seed=seed,
                input_shape=input_shape,
                resize_to=self.resize_to,
            )
        if identity is None:
            inputs, features = self._build_backbone(keras, input_shape, seed)
        else:
            # Every stage trains the head only: fits with the same frozen
            # backbone share its layers (read-only) instead of each building
            # and initialising a backbone (seconds per fit).
            inputs, features = store.shared_network(
                identity, lambda: self._build_backbone(keras, input_shape, seed)
            )
        return attach_head(keras, inputs, features, **head)

    def _build_backbone(self, keras, input_shape, seed):
        """The input and pooled features of a backbone holding ``weights``."""
        description = self._backbone()
        pretrained = None
        if self.weights is not None:
            pretrained = pretrained_backbone(
                keras, description=description, weights=self.weights
            )
        inputs, features = build_backbone(
            keras,
            description=description,
            input_shape=tuple(input_shape),
            resize_to=None if self.resize_to is None else tuple(self.resize_to),
        )
        backbone_model = keras.Model(inputs, features)
        if pretrained is not None:
            copy_backbone_weights(pretrained, backbone_model)
        else:
            _seed_random_kernels(keras, backbone_model, seed)
        return inputs, features

    def _activation_store(self):
        """The active study-wide store, unless caching is off."""
        return None if self.frozen_cache == "off" else active_activation_store()

    def _backbone_stays_frozen(self):
        """Whether this fit never trains, nor lets anything else touch, the backbone."""
        return (
            all(stage.head_only for stage in self._stages())
            and not self.callbacks
            and self.distribution is None
            and self.checkpoint_dir is None
        )

    # Tracing DenseNet121's predict function costs 3 s at 32 px and 9 s at
    # 128 px on 2 CPU cores; a direct call's overhead 0.5-1 s per batch
    # (ImageNet backbones are alike).
    _direct_batches_before_tracing = 6

    def _forward(self, keras, model, X):
        """Run ``model`` in inference mode on ``X`` and return a NumPy array.

        Activations the study-wide store holds are read from it; otherwise
        as in the base class, with a smaller budget of direct calls, since a
        direct call of a backbone costs tenths of a second in per-layer
        overhead and tracing its predict function a few seconds.
        """
        store = self._activation_store()
        if store is not None:
            shared = predict_from_store(
                keras,
                store,
                model,
                getattr(self, "stages_", ()),
                X,
                description=self._backbone(),
                batch_size=self.batch_size,
            )
            if shared is not None:
                return shared
        return super()._forward(keras, model, X)

    # --------------------------------------------------------------- training
    def _train(self, fit, model, data):
        stages, description = self._stages(), self._backbone()
        blocks = block_layers(model, description)
        cuts = block_cuts(model, blocks, description)
        # Stage 0's trainability (head only, BatchNormalization frozen) before
        # planning: the plan checks that nothing below a cut acts differently
        # in training.
        _set_trainable(blocks, _first_trainable_block(stages[0]), description)
        plan = [self._cache_cut(stage, cuts) for stage in stages]
        validation_images = None if data.validation is None else data.validation[0]
        with ActivationCache(
            fit.keras,
            model,
            data.X,
            validation_images,
            batch_size=self.batch_size,
            storage=_CACHE_STORAGE[self.frozen_cache],
            store=self._activation_store(),
            store_sources=list(cuts.values()),
        ) as cache:

            def train_stage(index, first_epoch):
                return self._train_stage(
                    fit,
                    model,
                    data,
                    blocks,
                    stages[index],
                    first_epoch=first_epoch,
                    cache=cache,
                    cut=plan[index],
                    cuts_read_later=_cuts_read_later(stages, plan, index, description),
                    shuffle_seed=fit.seed + index,
                )

            def after_stage(index):
                # Layers from the stage's first trainable block up have
                # trained: activations cut above them are stale. Drop too
                # what no later stage reads.
                first = _first_trainable_block(stages[index])
                cache.invalidate_above(description.depth[first])
                cache.keep_only([cut for cut in plan[index + 1 :] if cut is not None])

            return self._run_stages(fit, len(stages), train_stage, after_stage)

    def _train_stage(
        self,
        fit,
        model,
        data,
        blocks,
        stage,
        *,
        first_epoch,
        cache,
        cut,
        cuts_read_later,
        shuffle_seed,
    ):
        """Set what trains, recompile, fit one stage; return its record and history."""
        started = time.perf_counter()
        trainable_blocks = _set_trainable(
            blocks, _first_trainable_block(stage), self._backbone()
        )
        n_trainable = count_trainable_params(model)
        train_model, stage_data, storage, cache_time = model, data, None, 0.0
        source, rows_read, rows_computed = None, 0, 0
        if cut is not None:
            cache_started = time.perf_counter()
            X_cut, X_val_cut, storage = cache.get(cut, also=cuts_read_later)
            cache_time = time.perf_counter() - cache_started
            shared = cache.take_store_report()
            rows_read, rows_computed = shared.read, shared.computed
            source = "store" if cache.came_from_store(cut) else "fit"
            with dtype_policy_scope(fit.keras, self.precision):
                # The part above the cut; it shares layers and weights with
                # ``model``, and a float16 policy gets loss scaling too.
                train_model = fit.keras.Model(cut.tensor, model.outputs[0])
            stage_data = _cached_data(
                data, X_cut, X_val_cut, storage, shuffle_seed=shuffle_seed
            )
        self._compile(fit.keras, train_model, stage.learning_rate)
        # The stage's trainable set is part of the pool key: a pooled twin
        # of this very stage (of an earlier fit or fold) has its step traced.
        with self._pooled_network(fit, train_model) as pooled:
            stage_history = self._fit_stage(
                fit, pooled, stage_data, epochs=stage.epochs, initial_epoch=first_epoch
            )
        record = {
            "unfreeze": stage.unfreeze,
            "trainable_blocks": trainable_blocks,
            "frozen_cache": storage,
            "activations_from": source,
            "store_rows_read": rows_read,
            "store_rows_computed": rows_computed,
            "cache_time": cache_time,
            **stage_record(
                learning_rate=stage.learning_rate,
                epochs=stage.epochs,
                history=stage_history,
                first_epoch=first_epoch,
                n_trainable_params=n_trainable,
                started=started,
            ),
        }
        return record, stage_history

    def _cache_cut(self, stage, cuts):
        """The :class:`Cut` whose activations ``stage`` trains on, or None."""
        if self.frozen_cache == "off" or stage.unfreeze == ALL_BLOCKS:
            return None
        first_block, depth = _first_trainable_block(stage), self._backbone().depth
        if self.frozen_cache == "auto" and (
            self.callbacks
            or depth[first_block] < depth[self._backbone().auto_cache_from]
        ):
            return None
        # Every layer below the cut, input preprocessing included.
        stochastic = stochastic_layers(cuts[first_block].below)
        if stochastic:  # the network has none; a guard (tested by patching)
            raise RuntimeError(
                f"Cannot cache the frozen part below {first_block!r}: layers "
                f"{stochastic} behave differently in training."
            )
        return cuts[first_block]


def _cached_data(data, X_cut, X_val_cut, storage, *, shuffle_seed):
    validation = None
    if data.validation is not None:
        validation = (X_val_cut, data.validation[1], data.validation[2])
    if storage == "disk":  # memory-mapped: fed to Keras batch by batch
        return MappedTrainingData(
            X_cut, data.y, data.sample_weight, validation, shuffle_seed=shuffle_seed
        )
    return TrainingData(X_cut, data.y, data.sample_weight, validation)


def _seed_random_kernels(keras, model, seed):
    """Redraw the kernels that ``keras.applications`` initialised without a seed.

    Keras gives an unseeded initializer a seed drawn from Python's global
    ``random`` generator. ``keras_seed`` seeds that generator, but any other
    thread of the process may draw from it meanwhile: a Dask worker's event
    loop does, so the same fit gave another random backbone on a cluster
    than locally. Seeds derived from ``seed`` and the layer's position make
    ``weights=None`` backbones depend on ``random_state`` alone.
    """
    for index, layer in enumerate(model.layers):
        initializer = getattr(layer, "kernel_initializer", None)
        config = initializer.get_config() if initializer is not None else {}
        if "seed" in config and config["seed"] is None:
            seeded = type(initializer).from_config(
                {**config, "seed": seed + 1000 + index}
            )
            layer.kernel.assign(seeded(layer.kernel.shape, layer.kernel.dtype))


def _first_trainable_block(stage):
    if stage.unfreeze is None:
        return HEAD
    return STEM if stage.unfreeze == ALL_BLOCKS else stage.unfreeze


def _set_trainable(blocks, first_block, description):
    """Make ``first_block`` and the blocks above it trainable; return their names.

    Backbone BatchNormalization layers stay frozen: in Keras 3 a frozen
    BatchNormalization layer runs in inference mode, which is how the
    fine-tuning guide keeps pretrained statistics intact when the backbone
    cannot be called with ``training=False`` (it is not a nested model here).
    """
    trainable_blocks = description.order[description.depth[first_block] :]
    # Their weights are about to change: digests a store keyed on are stale.
    forget_layer_digests(
        layer for name in trainable_blocks for layer in blocks.get(name, ())
    )
    for name, layers in blocks.items():
        for layer in layers:
            is_batch_norm = type(layer).__name__ == "BatchNormalization"
            layer.trainable = name in trainable_blocks and not is_batch_norm
    return trainable_blocks


def _cuts_read_later(stages, plan, index, description):
    """Cuts that stages after ``index`` read and that stay valid until then.

    A cut stays valid while every stage in between trains only layers at or
    above it.
    """
    depth = description.depth
    lowest_trained = depth[_first_trainable_block(stages[index])]
    later = []
    for stage, cut in zip(stages[index + 1 :], plan[index + 1 :]):
        if cut is not None and cut.depth <= lowest_trained:
            later.append(cut)
        lowest_trained = min(lowest_trained, depth[_first_trainable_block(stage)])
    return later
