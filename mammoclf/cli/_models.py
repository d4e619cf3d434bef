"""The study's three models, and the pretrained-weights preflight."""

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
    ),
    ModelSpec(
        "partial",
        "DenseNet121 partially unfrozen",
        "DenseNet121: head first, then the conv5 block fine-tuned at a tenth "
        "of the learning rate",
        min_image_size=32,
    ),
)


def selected_models(text):
    """Parse ``--models``; returns the chosen :class:`ModelSpec` in study order."""
    wanted = [item.strip() for item in text.split(",") if item.strip()]
    known = {spec.key: spec for spec in STUDY_MODELS}
    unknown = [item for item in wanted if item not in known]
    if unknown or not wanted:
        raise UsageError(
            f"--models: unknown model(s) {', '.join(unknown) or '(none)'}; choose from "
            f"{','.join(known)}."
        )
    return [spec for spec in STUDY_MODELS if spec.key in wanted]


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
    """Refuse a ``--weights`` that is neither imagenet, none nor an existing file."""
    if not any(spec.key != "scratch" for spec in specs):
        return
    if argument.lower() in ("imagenet", "none") or os.path.isfile(argument):
        return
    raise UsageError(
        f"--weights: {argument} is neither imagenet, none nor an existing weights file."
    )


def resolve_weights(argument, *, synthetic, needed, log):
    """Decide the DenseNet ``weights`` and, if any, the banner the report must show.

    ImageNet weights are fetched once up front, so a missing download is
    reported at the start, not after the first folds. Only the embedded
    synthetic demo goes on without them, loudly; real data stop with exit
    code 3 unless ``--weights none`` was given.

    Returns
    -------
    weights : "imagenet", str or None
    banner : str or None
    """
    if not needed:
        return None, None
    if argument.lower() == "none":
        return None, (
            "DenseNet121 rows use random initialisation (--weights none): they are "
            "NOT ImageNet-pretrained transfer learning."
        )
    from mammoclf.classifiers import fetch_pretrained_weights
    from mammoclf.exceptions import WeightsUnavailableError

    if argument.lower() != "imagenet":  # a file: check_weights_argument saw it exists
        fetch_pretrained_weights("densenet121", weights=argument)
        return argument, None
    log("checking ImageNet weights for DenseNet121 ...")
    try:
        fetch_pretrained_weights("densenet121", weights="imagenet")
    except WeightsUnavailableError as exc:
        if not synthetic:
            raise
        banner = (
            "ImageNet weights are NOT available on this machine, so the DenseNet121 "
            "rows of this demo start from random weights: they are NOT pretrained "
            "transfer learning. " + str(exc)
        )
        log("!" * 78)
        log("WARNING: " + banner)
        log("!" * 78)
        return None, banner
    return "imagenet", None


def build_models(specs, *, epochs, batch_size, weights, random_state, cache_dir=None):
    """One imbalanced-learn pipeline per model: study augmentation, then the classifier.

    ``epochs`` maps ``"scratch"`` and ``"densenet"`` (per stage) to epochs.
    With ``cache_dir``, finished fits are saved there and reloaded by a rerun
    (see :mod:`mammoclf.cli._resume`).
    The augmentation (rotations up to 10 degrees, horizontal flips, one extra
    copy of every training image) sits inside the pipeline, so
    ``compare_models`` applies it to training folds only.
    """
    from mammoclf import Augmenter, DenseNetTransferClassifier, ScratchCNNClassifier
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
            weights=weights,
            freeze_schedule="frozen",
            epochs=epochs["densenet"],
            batch_size=batch_size,
            random_state=random_state,
        ),
        "partial": lambda: DenseNetTransferClassifier(
            weights=weights,
            freeze_schedule="partial",
            epochs=epochs["densenet"],
            batch_size=batch_size,
            random_state=random_state,
        ),
    }

    def steps(classifier):  # named as mammoclf.make_pipeline names them
        return [
            ("augmenter", augmenter()),
            (type(classifier).__name__.lower(), classifier),
        ]

    return {
        spec.name: ResumablePipeline(
            steps(classifiers[spec.key]()),
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
        for spec in specs
    }
