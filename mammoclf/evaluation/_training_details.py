"""How each model was built and trained, read off the fitted estimators.

CLAIM 2024 and TRIPOD+AI ask a report to state the model (architecture,
initialisation, which layers trained when), the preprocessing (decoding,
intensity windowing, resizing, augmentation) and the training (optimiser,
learning rate, epochs, batch size, early stopping, class imbalance), enough
to reproduce the fit. :func:`training_details` states each of them per
model from what the fitted estimators hold: their parameters and their
fitted records (``stages_``, ``image_shape_``), never from the command line
that asked for them, so a report cannot claim a setting the fit did not use.

It reads a :class:`~mammoclf.pipeline.Pipeline` step by step
(:class:`~mammoclf.DicomLoader`, :class:`~mammoclf.Resizer`,
:class:`~mammoclf.Augmenter`, then the classifier), a bare classifier
(:class:`~mammoclf.ScratchCNNClassifier`,
:class:`~mammoclf.TransferClassifier`,
:class:`~mammoclf.DenseNetTransferClassifier`), a model loaded from an
archive, or the fold models of a cross-validation (where they differ, e.g.
in the epochs early stopping let run, each fold's value is given).
:func:`training_table` wraps it as the report's "Training and
preprocessing" table.
"""

import os
from collections.abc import Mapping

import pandas as pd
from sklearn.utils.validation import check_is_fitted

from mammoclf.classifiers import BACKBONES, ScratchCNNClassifier, TransferClassifier
from mammoclf.evaluation._summary import SummaryTable
from mammoclf.preprocessing import Augmenter, DicomLoader, Resizer
from mammoclf.utils._validation import validate_params

__all__ = ["TRAINING_KEY", "TRAINING_TITLE", "training_details", "training_table"]

#: The table's key (its CSV file and anchor) and title in a report.
TRAINING_KEY = "training"
TRAINING_TITLE = "Training and preprocessing"

#: The rows of :func:`training_details`, in order.
ASPECTS = (
    "architecture",
    "initial weights",
    "trainable layers per stage",
    "input size and channels",
    "intensity preprocessing",
    "resizing",
    "optimiser",
    "learning rate per stage",
    "epochs run per stage",
    "batch size",
    "early stopping",
    "class weighting and resampling",
    "augmentation",
)

_OPTIMISER_NAMES = {
    "adam": "Adam",
    "adamw": "AdamW",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
}
_POOLING = {
    "flatten": "the last feature map flattened",
    "avg": "global average pooling",
    "max": "global max pooling",
}
_NONE = "none"


@validate_params(
    {
        "estimators": [dict, Mapping],
        "preprocessing": [list, tuple, None],
        "recorded": [dict, Mapping, None],
    },
    prefer_skip_nested_validation=True,
)
def training_details(estimators, *, preprocessing=None, recorded=None):
    """State how each model was built and trained, from its fitted estimator.

    Parameters
    ----------
    estimators : mapping of str to estimator or sequence of estimators
        Model name to its fitted classifier or pipeline (loader, resizer,
        augmenter, classifier; any of the steps before the classifier may
        be absent), or to the fitted fold models of one model (a tuple, as
        ``ComparisonResult.estimators`` holds them).
    preprocessing : list of transformers, default=None
        Fitted or unfitted :class:`~mammoclf.DicomLoader` and
        :class:`~mammoclf.Resizer` that turned the files into the images
        the estimators were given (e.g. once, before cross-validation);
        None when the estimators took the images as they are, or hold
        their own loader and resizer.
    recorded : mapping of str to (mapping or None), default=None
        For a model whose estimator no longer holds its training-only
        steps (``mammoclf compare`` saves loader, resizer and network, not
        the :class:`~mammoclf.Augmenter`): model name to these details as
        stated when it was fitted (``training_details(...)[name].to_dict()``,
        kept in the model's development record), whose ``augmentation`` and
        ``class weighting and resampling`` are then shown; None for a model
        saved without them, whose augmentation is then "not recorded".

    Returns
    -------
    details : pandas.DataFrame
        One row per aspect (index ``aspect``: architecture, initial weights,
        trainable layers per stage, input size and channels, intensity
        preprocessing, resizing, optimiser, learning rate per stage, epochs
        run per stage, batch size, early stopping, class weighting and
        resampling, augmentation), one column of sentences per model.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If a classifier is not fitted: its epochs and stages are facts of a
        fit.

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf import Augmenter, ScratchCNNClassifier, make_pipeline
    >>> from mammoclf.evaluation import training_details
    >>> X = np.random.default_rng(0).random((16, 16, 16)).astype("float32")
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 8)
    >>> model = make_pipeline(
    ...     Augmenter(random_state=0),
    ...     ScratchCNNClassifier(filters=(4,), dense_units=8, epochs=2, random_state=0),
    ... ).fit(X, y)
    >>> details = training_details({"CNN": model})
    >>> details.loc["optimiser", "CNN"]
    'Adam'
    >>> details.loc["epochs run per stage", "CNN"]
    '2 of 2 planned'
    >>> details.loc["early stopping", "CNN"]
    'none: every planned epoch ran (validation_fraction=None, no validation set)'
    """
    columns = {}
    for name, fitted in estimators.items():
        fits = list(fitted) if isinstance(fitted, (list, tuple)) else [fitted]
        if not fits:
            raise ValueError(f"No fitted estimator for model {name!r}.")
        described = [_describe(fit, preprocessing or ()) for fit in fits]
        if recorded is not None and name in recorded:
            described = [_with_record(d, recorded[name]) for d in described]
        columns[str(name)] = [_across_fits([d[a] for d in described]) for a in ASPECTS]
    return pd.DataFrame(columns, index=pd.Index(ASPECTS, name="aspect"))


@validate_params(
    {
        "estimators": [dict, Mapping],
        "preprocessing": [list, tuple, None],
        "recorded": [dict, Mapping, None],
    },
    prefer_skip_nested_validation=True,
)
def training_table(estimators, *, preprocessing=None, recorded=None):
    """:func:`training_details` as the report's "Training and preprocessing" table.

    Parameters
    ----------
    estimators : mapping of str to estimator or sequence of estimators
        As for :func:`training_details`.
    preprocessing : list of transformers, default=None
        As for :func:`training_details`.
    recorded : mapping of str to (mapping or None), default=None
        As for :func:`training_details`.

    Returns
    -------
    table : SummaryTable
        Key ``"training"``: its CSV file and the anchor the reporting
        checklist links to; the details as ``data`` (indexed by aspect)
        and as ``display`` (aspect as a column).

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf import ScratchCNNClassifier
    >>> from mammoclf.evaluation import training_table
    >>> X = np.random.default_rng(0).random((8, 16, 16)).astype("float32")
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 4)
    >>> cnn = ScratchCNNClassifier(filters=(2,), dense_units=4, epochs=1,
    ...                            random_state=0).fit(X, y)
    >>> table = training_table({"CNN": cnn})
    >>> table.key, table.title
    ('training', 'Training and preprocessing')
    >>> table.display.columns.tolist()
    ['aspect', 'CNN']
    >>> table.data.loc["epochs run per stage", "CNN"]
    '1 of 1 planned'
    """
    details = training_details(
        estimators, preprocessing=preprocessing, recorded=recorded
    )
    notes = [
        (
            "Read off the fitted models (their parameters and the records of "
            "their fits), not off the command line."
        )
    ]
    if preprocessing:
        notes.append(
            "Decoding and resizing ran once on every image before the models "
            "saw them: per image, learning nothing from the data."
        )
    return SummaryTable(
        title=TRAINING_TITLE,
        caption=(
            "How each model was built, what its images went through, and how "
            "it was trained; a stage is one phase of training with its own "
            "trainable layers and learning rate."
        ),
        data=details,
        display=details.reset_index(),
        notes=tuple(notes),
        key=TRAINING_KEY,
    )


# ---------------------------------------------------------------- one model
def _describe(estimator, preprocessing):
    """``{aspect: sentence}`` of one fitted classifier or pipeline."""
    steps = [step for _, step in getattr(estimator, "steps", [(None, estimator)])]
    steps = [step for step in steps if step is not None and step != "passthrough"]
    classifier, before = steps[-1], [*preprocessing, *steps[:-1]]
    check_is_fitted(classifier)
    loader = _first(before, DicomLoader)
    resizer = _first(before, Resizer)
    augmenter = _first(before, Augmenter)
    stages = list(getattr(classifier, "stages_", None) or [{}])
    details = {
        "architecture": _architecture(classifier),
        "initial weights": _initial_weights(classifier),
        "trainable layers per stage": _per_stage(stages, _trainable),
        "input size and channels": _input(classifier),
        "intensity preprocessing": _intensity(loader),
        "resizing": _resizing(resizer),
        "optimiser": _optimiser(classifier, len(stages)),
        "learning rate per stage": _per_stage(
            stages, lambda stage: _number(stage.get("learning_rate"))
        ),
        "epochs run per stage": _per_stage(stages, _epochs),
        "batch size": _param(classifier, "batch_size"),
        "early stopping": _early_stopping(classifier, len(stages)),
        "augmentation": _augmentation(augmenter),
    }
    others = [
        step
        for step in before
        if not isinstance(step, (DicomLoader, Resizer, Augmenter))
    ]
    samplers = [type(s).__name__ for s in others if hasattr(s, "fit_resample")]
    transformers = [type(s).__name__ for s in others if not hasattr(s, "fit_resample")]
    if transformers:
        details["intensity preprocessing"] += f"; then {', '.join(transformers)}"
    details["class weighting and resampling"] = _imbalance(
        classifier, augmenter, samplers
    )
    details["_augmenter"] = augmenter is not None
    return details


#: What a fitted model keeps no step for once saved: the training-only Augmenter.
_TRAINING_ONLY = ("class weighting and resampling", "augmentation")
_NOT_RECORDED = "not recorded with the saved model"


def _with_record(details, record):
    """``details`` with what the fit recorded of its training-only steps."""
    if details.pop("_augmenter"):  # the estimator shows them itself
        return details
    for aspect in _TRAINING_ONLY:
        details[aspect] = (
            _NOT_RECORDED if record is None else record.get(aspect, _NOT_RECORDED)
        )
    return details


def _first(steps, kind):
    return next((step for step in steps if isinstance(step, kind)), None)


def _across_fits(values):
    """One sentence for the fits of a model: the common one, or each fit's."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return distinct[0]
    return "; ".join(f"fit {i}: {value}" for i, value in enumerate(values, start=1))


def _per_stage(stages, describe):
    if len(stages) == 1:
        return describe(stages[0])
    return "; ".join(
        f"stage {i}: {describe(stage)}" for i, stage in enumerate(stages, start=1)
    )


def _number(value):
    return "not recorded" if value is None else f"{float(value):g}"


def _param(estimator, name):
    value = estimator.get_params().get(name)
    return "not recorded" if value is None else str(value)


# ------------------------------------------------------------- the network
def _architecture(classifier):
    params = classifier.get_params()
    if isinstance(classifier, TransferClassifier):
        backbone = BACKBONES[classifier.backbone].constructor
        return (
            f"{backbone} backbone (keras.applications, without its ImageNet "
            f"classifier), global average pooling, a dense layer of "
            f"{params['dense_units']} units, dropout {params['dropout']:g}, "
            "output layer"
        )
    if isinstance(classifier, ScratchCNNClassifier):
        filters = ", ".join(str(f) for f in params["filters"])
        size = params["kernel_size"]
        norm = ", batch normalisation" if params["batch_normalization"] else ""
        return (
            f"CNN trained from scratch: {len(params['filters'])} convolution "
            f"block(s) of {filters} filters ({size}x{size}{norm}, ReLU, 2x2 max "
            f"pooling), {_POOLING.get(params['pooling'], params['pooling'])}, a "
            f"dense layer of {params['dense_units']} units, dropout "
            f"{params['dropout']:g}, output layer"
        )
    return f"{type(classifier).__name__} (not described by mammoclf)"


def _initial_weights(classifier):
    seed = f"random_state={classifier.get_params().get('random_state')}"
    if isinstance(classifier, TransferClassifier):
        weights = classifier.weights
        if weights is None:
            return (
                f"random for the backbone too (weights=None, {seed}): NOT "
                "ImageNet-pretrained"
            )
        if str(weights) == "imagenet":
            source = "ImageNet"
        else:
            source = f"ImageNet weights file {os.path.basename(str(weights))}"
        return f"backbone: {source}; new head: random ({seed})"
    if isinstance(classifier, ScratchCNNClassifier):
        return f"random (Keras's initialisers, {seed})"
    return "not recorded"


def _trainable(stage):
    blocks = stage.get("trainable_blocks")
    count = stage.get("n_trainable_params")
    what = "all layers" if blocks is None else ", ".join(str(b) for b in blocks)
    if count is None:
        return what
    return f"{what} ({int(count):,} trainable parameters)"


def _input(classifier):
    shape = getattr(classifier, "image_shape_", None)
    if shape is None:
        return "not recorded"
    height, width, channels = (int(v) for v in shape)
    text = f"{height} x {width} px, {channels} channel{'s' if channels > 1 else ''}"
    if isinstance(classifier, TransferClassifier):
        backbone = BACKBONES[classifier.backbone]
        inside = []
        if channels == 1:
            inside.append("grey repeated to 3 channels")
        if classifier.resize_to is not None:
            h, w = classifier.resize_to
            inside.append(f"resized to {h} x {w} px (bilinear)")
        inside.append(
            f"keras.applications.{backbone.module} input preprocessing "
            f"({backbone.preprocessing} mode)"
        )
        text += "; in the network: " + ", ".join(inside)
    return text


def _optimiser(classifier, n_stages):
    name = classifier.get_params().get("optimizer")
    if name is None:
        return "not recorded"
    text = _OPTIMISER_NAMES.get(name, str(name))
    return text + (", a fresh one per stage" if n_stages > 1 else "")


def _epochs(stage):
    run, planned = stage.get("epochs_run"), stage.get("epochs")
    if run is None:
        return "not recorded"
    return f"{int(run)} of {int(planned)} planned"


def _early_stopping(classifier, n_stages):
    params = classifier.get_params()
    if "validation_fraction" not in params:
        return "not recorded"
    fraction = params["validation_fraction"]
    if fraction is None:
        return (
            "none: every planned epoch ran (validation_fraction=None, no "
            "validation set)"
        )
    return (
        f"on the validation loss, patience {params['patience']} epochs, best "
        f"weights restored{', in each stage' if n_stages > 1 else ''}; "
        f"validation set: {fraction:.0%} of the training images, stratified, "
        "drawn per image"
    )


def _imbalance(classifier, augmenter, samplers):
    weight = classifier.get_params().get("class_weight")
    parts = []
    if weight == "balanced":
        parts.append("class_weight='balanced' (inverse class frequency)")
    elif weight is not None:
        parts.append(
            "class weights "
            + ", ".join(f"{label}: {value:g}" for label, value in weight.items())
        )
    if augmenter is not None and augmenter.sampling_strategy is not None:
        parts.append(
            f"Augmenter balances the classes (sampling_strategy="
            f"{augmenter.sampling_strategy!r})"
        )
    if samplers:
        parts.append(f"resampled by {', '.join(samplers)} (training data only)")
    return "; ".join(parts) or f"{_NONE} (every image weighs the same)"


# ------------------------------------------------------------ preprocessing
def _intensity(loader):
    if loader is None:
        return "not part of the model: it took the image arrays as given"
    window, clip = loader.window, loader.clip_percentiles
    if window is None and clip is None:
        scaling = "each image scaled by its own minimum and maximum to [0, 1]"
    elif window is None:
        low, high = clip
        scaling = (
            f"each image scaled by its {low:g}th and {high:g}th percentiles to "
            "[0, 1], values beyond them saturated"
        )
    elif isinstance(window, str):
        scaling = "the DICOM header's VOI LUT or window mapped to [0, 1]"
    else:
        center, width = window
        scaling = f"linear window (centre {center:g}, width {width:g}) mapped to [0, 1]"
    text = (
        "decoded by DicomLoader (DICOM: Modality LUT, MONOCHROME1 inverted); " + scaling
    )
    if loader.crop_breast:
        text += "; cropped to the breast"
    if loader.chest_wall_side is not None:
        text += f"; flipped so the chest wall is on the {loader.chest_wall_side}"
    return text


def _resizing(resizer):
    if resizer is None:
        return "not part of the model: images used at their own size"
    size = resizer.size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    aspect = (
        f"aspect ratio kept, padded with {resizer.pad_value:g}"
        if resizer.aspect == "pad"
        else "stretched to fill"
    )
    return (
        f"Resizer to {height} x {width} px ({aspect}; {resizer.interpolation}, "
        "anti-aliased)"
    )


def _augmentation(augmenter):
    if augmenter is None or augmenter.n_copies == 0:
        return _NONE
    params = augmenter.get_params()
    kinds = []
    if params["max_rotation"]:
        kinds.append(f"rotation up to {params['max_rotation']:g} degrees either way")
    if params["horizontal_flip"]:
        kinds.append("horizontal flip (p = 0.5)")
    if params["vertical_flip"]:
        kinds.append("vertical flip (p = 0.5)")
    for name, words in (
        ("zoom_range", "zoom"),
        ("shift_range", "shift"),
        ("brightness_range", "brightness"),
        ("contrast_range", "contrast"),
    ):
        if params[name]:
            kinds.append(f"{words} ±{params[name]:g}")
    copies = params["n_copies"]
    return (
        f"Augmenter: {copies} extra cop{'y' if copies == 1 else 'ies'} of every "
        f"training image with {', '.join(kinds) or 'no transformation'} "
        f"(random_state={params['random_state']}); training images only, never "
        "the images a model is evaluated on"
    )
