"""Freeze schedules: which part of a pretrained network trains, how long, how fast.

A ``freeze_schedule`` is plain data, so it can be printed, stored in a config
file and searched with ``GridSearchCV``: a preset name, or a list of stages,
each a dict such as ``{"unfreeze": "conv5", "epochs": 5, "learning_rate":
1e-4}``. This module turns either form into validated :class:`Stage` objects
and never modifies what the user passed. It knows nothing about Keras: the
backbone's block names are handed in by the estimator.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real

from mammoclf.exceptions import FreezeScheduleError

__all__ = [
    "ALL_BLOCKS",
    "FINE_TUNING_RATE_FACTOR",
    "PRESETS",
    "Stage",
    "resolve_freeze_schedule",
]

#: ``unfreeze`` value that makes the whole backbone trainable.
ALL_BLOCKS = "all"

#: Stages that unfreeze backbone blocks default to this fraction of the
#: estimator's ``learning_rate``: pretrained weights need far smaller steps
#: than a randomly initialised head (the Keras fine-tuning guide's advice).
FINE_TUNING_RATE_FACTOR = 0.1

#: Named schedules. Each tuple lists the ``unfreeze`` value of every stage;
#: ``"deeper"`` stands for "each backbone block in turn, top block first".
PRESETS = {
    "frozen": (None,),
    "partial": (None, "top"),
    "gradual": (None, "deeper", ALL_BLOCKS),
    "full": (None, ALL_BLOCKS),
}

_STAGE_KEYS = ("unfreeze", "epochs", "learning_rate")
# Names users plausibly try for a preset, and the preset they mean.
_PRESET_HINTS = {
    ALL_BLOCKS: " (to train the head, then everything, use 'full')",
    "head": " (to train the head only, use 'frozen')",
    "none": " (to train the head only, use 'frozen')",
}
_EXAMPLE = (
    '[{"unfreeze": None, "epochs": 5}, '
    '{"unfreeze": "conv5", "epochs": 5, "learning_rate": 1e-4}]'
)


@dataclass(frozen=True)
class Stage:
    """One resolved training stage.

    Attributes
    ----------
    unfreeze : str or None
        Deepest backbone block that trains, with every block above it and
        the head; None trains the head only; ``"all"`` trains everything.
    epochs : int
        Epochs of this stage (an upper bound with early stopping).
    learning_rate : float
        Learning rate of this stage's optimizer.
    """

    unfreeze: str | None
    epochs: int
    learning_rate: float

    @property
    def head_only(self):
        return self.unfreeze is None


def resolve_freeze_schedule(schedule, *, blocks, epochs, learning_rate):
    """Validate a ``freeze_schedule`` and return its stages.

    Parameters
    ----------
    schedule : str or sequence of dict
        A preset name (``"frozen"``, ``"partial"``, ``"gradual"``,
        ``"full"``), a backbone block name (head first, then that block and
        everything above it), or a list of stage dicts with the optional keys
        ``"unfreeze"`` (default None: head only), ``"epochs"`` (default
        ``epochs``) and ``"learning_rate"`` (default ``learning_rate`` for a
        head-only stage, ``FINE_TUNING_RATE_FACTOR * learning_rate`` for a
        stage that unfreezes backbone blocks).
    blocks : sequence of str
        The backbone's unfreezable blocks, from the input side to the top,
        e.g. ``("conv2", "conv3", "conv4", "conv5")``.
    epochs : int
        Default epochs per stage.
    learning_rate : float
        Default learning rate of head-only stages.

    Returns
    -------
    stages : tuple of Stage

    Raises
    ------
    FreezeScheduleError
        For an unknown preset, a stage that is not a dict, unknown keys, an
        unknown block, non-positive epochs or learning rates, or a schedule
        whose first stage unfreezes the backbone before the head has trained.
    """
    blocks = tuple(blocks)
    if isinstance(schedule, str):
        stages = _expand_preset(schedule, blocks)
    elif isinstance(schedule, Mapping):
        raise FreezeScheduleError(
            "freeze_schedule is a single dict; pass a list of stages, e.g. "
            f"[{dict(schedule)!r}], or a preset name such as 'partial'."
        )
    elif isinstance(schedule, (list, tuple)):
        stages = list(schedule)
    else:
        raise FreezeScheduleError(
            f"freeze_schedule must be a preset name or a list of stage dicts; "
            f"got {type(schedule).__name__}. Example: {_EXAMPLE}."
        )
    if not stages:
        raise FreezeScheduleError(
            f"freeze_schedule is empty; give at least one stage, e.g. {_EXAMPLE}."
        )
    resolved = tuple(
        _resolve_stage(index, stage, blocks, epochs, learning_rate)
        for index, stage in enumerate(stages)
    )
    if not resolved[0].head_only:
        raise FreezeScheduleError(
            f"freeze_schedule stage 0 unfreezes {resolved[0].unfreeze!r} before "
            "the new head has trained: the large gradients of a random head "
            "would wreck the pretrained weights. Start with a head-only stage, "
            f"e.g. {_EXAMPLE}."
        )
    return resolved


def preset_names(blocks):
    """Every string ``freeze_schedule`` accepts, for messages and docs."""
    return (*PRESETS, *blocks)


def _expand_preset(name, blocks):
    if name in blocks:
        return [{"unfreeze": None}, {"unfreeze": name}]
    if name not in PRESETS:
        hint = _PRESET_HINTS.get(name, "")
        raise FreezeScheduleError(
            f"freeze_schedule={name!r} is not a preset{hint}. Use one of "
            f"{', '.join(map(repr, preset_names(blocks)))} "
            f"or a list of stages such as {_EXAMPLE}."
        )
    stages = []
    for unfreeze in PRESETS[name]:
        if unfreeze == "top":
            stages.append({"unfreeze": blocks[-1]})
        elif unfreeze == "deeper":
            stages.extend({"unfreeze": block} for block in reversed(blocks))
        else:
            stages.append({"unfreeze": unfreeze})
    return stages


def _resolve_stage(index, stage, blocks, default_epochs, default_rate):
    where = f"freeze_schedule stage {index}"
    if not isinstance(stage, Mapping):
        raise FreezeScheduleError(
            f"{where} is a {type(stage).__name__}, not a dict; each stage looks "
            f"like {{'unfreeze': 'conv5', 'epochs': 5, 'learning_rate': 1e-4}}."
        )
    unknown = sorted(set(stage) - set(_STAGE_KEYS), key=str)
    if unknown:
        raise FreezeScheduleError(
            f"{where} has unknown keys {unknown}; a stage may only set "
            f"{', '.join(map(repr, _STAGE_KEYS))}."
        )
    unfreeze = stage.get("unfreeze")
    if unfreeze is not None and unfreeze != ALL_BLOCKS and unfreeze not in blocks:
        raise FreezeScheduleError(
            f"{where} has unfreeze={unfreeze!r}, which is not a block of this "
            f"backbone. Use None (head only), one of "
            f"{', '.join(map(repr, blocks))} (that block and all above it) "
            f"or {ALL_BLOCKS!r}."
        )
    epochs = stage.get("epochs", default_epochs)
    if not isinstance(epochs, Integral) or isinstance(epochs, bool) or epochs < 1:
        raise FreezeScheduleError(
            f"{where} has epochs={epochs!r}; epochs must be a positive integer."
        )
    if "learning_rate" in stage:
        rate = stage["learning_rate"]
    elif unfreeze is None:
        rate = default_rate
    else:
        rate = default_rate * FINE_TUNING_RATE_FACTOR
    if (
        not isinstance(rate, Real)
        or isinstance(rate, bool)
        or not math.isfinite(rate)
        or rate <= 0
    ):
        raise FreezeScheduleError(
            f"{where} has learning_rate={rate!r}; it must be a finite number > 0."
        )
    return Stage(unfreeze=unfreeze, epochs=int(epochs), learning_rate=float(rate))
