"""The study's three models, any backbone's transfer models, and the weights preflight.

``--models`` takes the study's ``scratch``, ``frozen`` and ``partial``
(DenseNet121, as in the study) and ``BACKBONE:SCHEDULE`` for any backbone of
:class:`~mammoclf.TransferClassifier` (``resnet50:partial``,
``efficientnetb0:frozen``); ``--weights`` takes ``imagenet``, ``none``, a
weights file (one backbone) or a folder of Keras's weights files.
"""

import os
from dataclasses import dataclass

from mammoclf.cli._common import UsageError

__all__ = [
    "STUDY_MODELS",
    "ModelSpec",
    "build_models",
    "check_image_size",
    "check_weights_argument",
    "resolve_weights",
    "selected_models",
    "transfer_backbones",
    "weights_label",
]


@dataclass(frozen=True)
class ModelSpec:
    """One of the study's models; ``min_image_size`` is the smallest input side it takes.

    ``min_image_size`` lets the command refuse a too small ``--image-size``
    before anything is written or trained (DenseNet121 halves the resolution
    five times; tests/cli pin it to what the classifier itself refuses).
    """

    key: str
    name: str
    description: str
    min_image_size: int = 1
    backbone: str | None = None
    schedule: str | None = None


STUDY_MODELS = (
    ModelSpec(
        "scratch",
        "CNN from scratch",
        "conventional CNN (conv + max-pool blocks, dense, dropout 0.5), random init",
    ),
    ModelSpec(
        "frozen",
        "DenseNet121 frozen",
        "DenseNet121 base frozen, new head (dense, dropout 0.2) trained",
        min_image_size=32,
        backbone="densenet121",
        schedule="frozen",
    ),
    ModelSpec(
        "partial",
        "DenseNet121 partially unfrozen",
        "DenseNet121: head first, then the conv5 block fine-tuned at a tenth "
        "of the learning rate",
        min_image_size=32,
        backbone="densenet121",
        schedule="partial",
    ),
)


def selected_models(text):
    """Parse ``--models``; the study's models in study order, then ``BACKBONE:SCHEDULE`` ones."""
    wanted = [item.strip() for item in text.split(",") if item.strip()]
    known = {spec.key: spec for spec in STUDY_MODELS}
    unknown = [item for item in wanted if item not in known and ":" not in item]
    if unknown or not wanted:
        raise UsageError(
            f"--models: unknown model(s) {', '.join(unknown) or '(none)'}; choose from "
            f"{','.join(known)} or BACKBONE:SCHEDULE (e.g. resnet50:partial)."
        )
    custom = [_transfer_spec(item) for item in dict.fromkeys(wanted) if ":" in item]
    return [spec for spec in STUDY_MODELS if spec.key in wanted] + custom


def _transfer_spec(item):
    """The :class:`ModelSpec` of ``BACKBONE:SCHEDULE``, checked against the registry."""
    from mammoclf.classifiers import BACKBONES

    backbone, _, schedule = (part.strip() for part in item.partition(":"))
    description = BACKBONES.get(backbone.lower())
    if description is None:
        raise UsageError(
            f"--models: {item}: unknown backbone {backbone!r}; choose from "
            f"{','.join(sorted(BACKBONES))}."
        )
    schedules = (*_PRESETS, *description.blocks)
    if schedule not in schedules:
        raise UsageError(
            f"--models: {item}: unknown schedule {schedule!r} for {description.name}; "
            f"choose from {','.join(schedules)}."
        )
    return ModelSpec(
        f"{description.name}_{schedule}",
        f"{description.constructor} {schedule}",
        f"{description.constructor} with a new head (dense, dropout 0.2), "
        f"freeze_schedule={schedule!r} (see docs/user_guide/freeze_schedule.md)",
        min_image_size=description.min_size,
        backbone=description.name,
        schedule=schedule,
    )


_PRESETS = ("frozen", "partial", "gradual", "full")


def transfer_backbones(specs):
    """The backbones the chosen models need weights for, in order."""
    return tuple(dict.fromkeys(s.backbone for s in specs if s.backbone is not None))


def check_image_size(image_size, specs):
    """Refuse an ``--image-size`` smaller than a chosen model takes."""
    too_small = [spec for spec in specs if image_size < spec.min_image_size]
    if too_small:
        smallest = max(spec.min_image_size for spec in too_small)
        raise UsageError(
            f"--image-size {image_size} is too small for "
            f"{', '.join(spec.name for spec in too_small)}, which needs at least "
            f"{smallest}x{smallest} pixels; use --image-size {smallest} or more, or "
            "--models scratch."
        )


def check_weights_argument(argument, specs):
    """Refuse a ``--weights`` that is not imagenet, none, a file or a folder."""
    backbones = transfer_backbones(specs)
    if not backbones or argument.lower() in ("imagenet", "none"):
        return
    if os.path.isdir(argument):
        return
    if not os.path.isfile(argument):
        raise UsageError(
            f"--weights: {argument} is neither imagenet, none nor an existing weights "
            "file or folder."
        )
    if len(backbones) > 1:
        raise UsageError(
            f"--weights: {argument} is one weights file, but the models use "
            f"{len(backbones)} backbones ({', '.join(backbones)}); pass a folder "
            "holding each backbone's weights file."
        )


def resolve_weights(argument, *, synthetic, needed, log):
    """Decide each backbone's ``weights`` and, if any, the banner the report must show.

    ``needed`` lists the backbones of the chosen models. ImageNet weights are
    fetched once up front, so a missing download is reported at the start,
    not after the first folds; the error names every missing file. Only the
    embedded synthetic demo goes on without them, loudly; real data stop
    with exit code 3 unless ``--weights none`` was given. A folder is read
    for each backbone's Keras weights file.

    Returns
    -------
    weights : dict of str to "imagenet", str or None
        Backbone name -> its ``weights``.
    banner : str or None
    """
    from mammoclf.classifiers import BACKBONES

    if not needed:
        return {}, None
    names = ", ".join(BACKBONES[b].constructor for b in needed)
    if argument.lower() == "none":
        return dict.fromkeys(needed), (
            f"{names} rows use random initialisation (--weights none): they are "
            "NOT ImageNet-pretrained transfer learning."
        )
    if os.path.isdir(argument):
        return _weights_in_folder(argument, needed), None
    from mammoclf.classifiers import fetch_pretrained_weights

    if argument.lower() != "imagenet":  # a file: check_weights_argument saw it exists
        fetch_pretrained_weights(needed[0], weights=argument)
        return {needed[0]: argument}, None
    log(f"checking ImageNet weights for {names} ...")
    missing = _missing_imagenet_weights(needed)
    if missing is None:
        return dict.fromkeys(needed, "imagenet"), None
    if not synthetic:
        raise missing
    banner = (
        f"ImageNet weights are NOT available on this machine, so the {names} rows "
        "of this demo start from random weights: they are NOT pretrained transfer "
        "learning. " + str(missing)
    )
    log("!" * 78)
    log("WARNING: " + banner)
    log("!" * 78)
    return dict.fromkeys(needed), banner


def weights_label(weights):
    """How ``run.json`` records the backbones' weights: imagenet, random or file."""
    values = set(weights.values())
    if values == {"imagenet"}:
        return "imagenet"
    return "random" if values <= {None} else "file"


def _missing_imagenet_weights(needed):
    """A WeightsUnavailableError naming every backbone whose weights are missing."""
    from mammoclf.classifiers import BACKBONES, fetch_pretrained_weights
    from mammoclf.exceptions import WeightsUnavailableError

    failures = []
    for backbone in needed:
        try:
            fetch_pretrained_weights(backbone, weights="imagenet")
        except WeightsUnavailableError as exc:
            failures.append((backbone, exc))
    if not failures:
        return None
    if len(failures) == 1:
        return failures[0][1]
    files = ", ".join(BACKBONES[b].weights_file for b, _ in failures)
    return WeightsUnavailableError(
        f"Could not get the ImageNet weights of {len(failures)} backbones; missing "
        f"files: {files}. Copy them to $KERAS_HOME/models/ (default "
        "~/.keras/models/), or into one folder and pass --weights FOLDER, or use "
        "--weights none. First error: " + str(failures[0][1])
    )


def _weights_in_folder(folder, needed):
    """Each backbone's Keras weights file in ``folder``; every missing one named."""
    from mammoclf.classifiers import BACKBONES, fetch_pretrained_weights
    from mammoclf.exceptions import WeightsUnavailableError

    paths = {b: os.path.join(folder, BACKBONES[b].weights_file) for b in needed}
    missing = [os.path.basename(p) for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise WeightsUnavailableError(
            f"--weights {folder}: the folder lacks {len(missing)} weights file(s): "
            f"{', '.join(missing)}. Copy them there from a machine with Keras's "
            "cache (~/.keras/models/), or use --weights none."
        )
    for backbone, path in paths.items():
        fetch_pretrained_weights(backbone, weights=path)
    return paths


def build_models(specs, *, epochs, batch_size, weights, random_state, cache_dir=None):
    """One imbalanced-learn pipeline per model: study augmentation, then the classifier.

    ``epochs`` maps ``"scratch"`` and ``"densenet"`` (per stage of every
    transfer model) to epochs; ``weights`` maps each backbone to its weights.
    With ``cache_dir``, finished fits are saved there and reloaded by a rerun
    (see :mod:`mammoclf.cli._resume`).
    The augmentation (rotations up to 10 degrees, horizontal flips, one extra
    copy of every training image) sits inside the pipeline, so
    ``compare_models`` applies it to training folds only.
    """
    from mammoclf import (
        Augmenter,
        DenseNetTransferClassifier,
        ScratchCNNClassifier,
        TransferClassifier,
    )
    from mammoclf.cli._resume import ResumablePipeline

    def augmenter():
        return Augmenter(
            n_copies=1,
            max_rotation=10.0,
            horizontal_flip=True,
            random_state=random_state,
        )

    classifiers = {
        # Global max pooling: "is there a lesion like this anywhere". On the
        # demo's data (480 images, 3 folds, 20 epochs) the flattened head
        # reached a cross-validated AUC of 0.92 with Grad-CAM heat in the
        # lesion at chance; max pooling 0.99, with 2-3x chance.
        "scratch": lambda: ScratchCNNClassifier(
            pooling="max",
            epochs=epochs["scratch"],
            batch_size=batch_size,
            random_state=random_state,
        ),
        "frozen": lambda: DenseNetTransferClassifier(
            weights=weights["densenet121"],
            freeze_schedule="frozen",
            epochs=epochs["densenet"],
            batch_size=batch_size,
            random_state=random_state,
        ),
        "partial": lambda: DenseNetTransferClassifier(
            weights=weights["densenet121"],
            freeze_schedule="partial",
            epochs=epochs["densenet"],
            batch_size=batch_size,
            random_state=random_state,
        ),
    }

    def transfer(spec):
        return TransferClassifier(
            backbone=spec.backbone,
            weights=weights[spec.backbone],
            freeze_schedule=spec.schedule,
            epochs=epochs["densenet"],
            batch_size=batch_size,
            random_state=random_state,
        )

    def steps(classifier):  # named as mammoclf.make_pipeline names them
        return [
            ("augmenter", augmenter()),
            (type(classifier).__name__.lower(), classifier),
        ]

    return {
        spec.name: ResumablePipeline(
            steps(
                classifiers[spec.key]() if spec.key in classifiers else transfer(spec)
            ),
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
        for spec in specs
    }
