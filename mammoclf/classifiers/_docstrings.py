"""Docstring entries that several classifiers share, written once.

A classifier's docstring names a shared entry by a line holding only
``%(name)s``; :func:`with_shared_entries` writes the entry there, indented as
that line. Lines indented below the placeholder continue the entry's
description. Entries are numpydoc: the name line, then the description
indented by four spaces.
"""

import re
import textwrap

__all__ = ["SHARED_ENTRIES", "SHARED_RUNS", "with_shared_entries"]

#: Parameter and attribute entries by name.
SHARED_ENTRIES = {
    # ------------------------------------------- every Keras classifier
    "batch_size": """\
batch_size : int, default=32
    Images per gradient step, and per inference batch.
""",
    "image_shape": """\
image_shape : tuple of int or None, default=None
    ``(H, W)`` or ``(H, W, C)`` used to unflatten 2-D input
    ``(n_samples, H * W * C)``; one side may be -1, inferred from the
    row length (``(1, -1)`` reads each row as an image one pixel high).
    Without it 2-D input is refused: it could as well be one image.
    Ignored for image-shaped input.
""",
    "distribution": """\
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
""",
    "verbose": """\
verbose : int, default=0
    0 is silent, 1 shows a progress bar, 2 prints one line per epoch.
""",
    "classes_": """\
classes_ : ndarray of shape (n_classes,)
    Class labels, in the column order of :meth:`predict_proba`.
""",
    "fit_time_": """\
fit_time_ : float
    Wall-clock seconds spent building and training the network.
""",
    "image_shape_": """\
image_shape_ : tuple of int
    ``(H, W, C)`` of the training images; prediction needs the same.
""",
    "n_features_in_": """\
n_features_in_ : int
    Values per image, ``H * W * C``.
""",
    "feature_names_in_": """\
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Column names, only when fitted on a DataFrame of flattened images.
""",
    # --------------------------------------- the staged-transfer ones
    "dense_units": """\
dense_units : int, default=256
    Width of the head's dense layer.
""",
    "dropout": """\
dropout : float, default=0.2
    Dropout rate before the output layer (training only), as in the study.
""",
    "frozen_cache": """\
frozen_cache : {"auto", "memory", "disk", "off"}, default="auto"
    Frozen-prefix caching. ``"auto"`` caches stages that leave at least
    the stem and the two lowest blocks frozen (``"frozen"``,
    ``"partial"``, the upper stages of the others), unless ``callbacks``
    are given (they would see only the trainable part of the model);
    caches up to a quarter of physical memory stay in memory, larger ones
    are memory-mapped files in the temporary directory (``$TMPDIR``).
    ``"memory"`` and ``"disk"`` cache every stage that freezes anything,
    in that storage.
    ``"off"`` never caches. ``stages_`` records what each stage did.
    Inside :func:`~mammoclf.classifiers.shared_activation_store` (which
    ``compare_models`` opens), the frozen part's output for each image
    is computed once for the whole study and read by every fit and
    prediction whose frozen part has the same weights, layers, input
    size and dtype policy; fits that train the head only also share the
    frozen backbone's layers instead of each building a backbone.
""",
    "epochs": """\
epochs : int, default=10
    Epochs per stage of a preset, and the default of custom stages.
""",
    "learning_rate": """\
learning_rate : float, default=1e-3
    Learning rate of head-only stages; stages that unfreeze backbone
    blocks default to a tenth of it.
""",
    "optimizer": """\
optimizer : {"adam", "adamw", "sgd", "rmsprop"}, default="adam"
    Keras optimizer, by name; a fresh one per stage.
""",
    "class_weight": """\
class_weight : dict, "balanced" or None, default=None
    Weights per class (keys are labels as in ``y``).
""",
    "validation_fraction": """\
validation_fraction : float in (0, 1) or None, default=None
    Fraction of the training images held out (stratified) for early
    stopping on the validation loss, per stage; the best epoch's weights
    are restored before the next stage.
""",
    "patience": """\
patience : int, default=5
    Epochs without validation-loss improvement before a stage stops.
""",
    "precision": """\
precision : {"float32", "mixed_bfloat16", "mixed_float16"}, default="float32"
    Keras dtype policy. Mixed precision speeds up recent GPUs; the logits
    layer and the input preprocessing always compute in float32.
""",
    "jit_compile": """\
jit_compile : "auto" or bool, default="auto"
    XLA compilation, passed to ``keras.Model.compile``; Keras's
    ``"auto"`` leaves it off on CPU-only TensorFlow.
""",
    "callbacks": """\
callbacks : list of keras.callbacks.Callback or None, default=None
    Extra Keras callbacks for every stage.
""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the head's initialisation (and the backbone's with
    ``weights=None``), dropout, shuffling and the validation split.
""",
    "checkpoint_dir": """\
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
""",
    "model_": """\
model_ : keras.Model
    The trained network, one flat functional model that outputs logits.
""",
    "stages_": """\
stages_ : list of dict
    One record per stage: ``unfreeze``, ``trainable_blocks`` (from
    ``"stem"``, the backbone's blocks, ``"head"``),
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
""",
    "history_": """\
history_ : dict of str to list of float
    Per-epoch loss and metrics across all stages.
""",
    "n_epochs_": """\
n_epochs_ : int
    Epochs run in all stages.
""",
}

#: Runs of entries that classifiers share in the same order; a placeholder
#: may name a run.
SHARED_RUNS = {
    "staged_training_parameters": (
        "epochs",
        "batch_size",
        "learning_rate",
        "optimizer",
        "class_weight",
        "validation_fraction",
        "patience",
        "image_shape",
        "precision",
        "jit_compile",
        "distribution",
        "callbacks",
        "verbose",
        "random_state",
        "checkpoint_dir",
    ),
    "staged_training_attributes": (
        "classes_",
        "model_",
        "stages_",
        "history_",
        "n_epochs_",
        "fit_time_",
        "image_shape_",
        "n_features_in_",
        "feature_names_in_",
    ),
}

_PLACEHOLDER = re.compile(r"^( *)%\((\w+)\)s$", re.MULTILINE)


def with_shared_entries(cls):
    """Write :data:`SHARED_ENTRIES` (or runs of them) where ``cls``'s docstring names them.

    An unknown name raises KeyError when the class is defined.
    """
    if cls.__doc__ is None:  # python -OO strips docstrings
        return cls

    def entry(match):
        indent, name = match.groups()
        names = SHARED_RUNS.get(name, (name,))
        text = "\n".join(SHARED_ENTRIES[n].rstrip("\n") for n in names)
        return textwrap.indent(text, indent)

    cls.__doc__ = _PLACEHOLDER.sub(entry, cls.__doc__)
    return cls
