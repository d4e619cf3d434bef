"""Freeze schedules: presets, custom stages, defaults and error messages (no Keras)."""

import copy

import pytest

from mammoclf.classifiers._freeze_schedule import (
    FINE_TUNING_RATE_FACTOR,
    Stage,
    resolve_freeze_schedule,
)
from mammoclf.exceptions import FreezeScheduleError

BLOCKS = ("conv2", "conv3", "conv4", "conv5")


def resolve(schedule, epochs=4, learning_rate=1e-3):
    return resolve_freeze_schedule(
        schedule, blocks=BLOCKS, epochs=epochs, learning_rate=learning_rate
    )


def unfreezes(schedule):
    return [stage.unfreeze for stage in resolve(schedule)]


def test_the_studys_presets():
    assert resolve("frozen") == (Stage(None, 4, 1e-3),)
    assert resolve("partial") == (
        Stage(None, 4, 1e-3),
        Stage("conv5", 4, 1e-3 * FINE_TUNING_RATE_FACTOR),
    )


def test_gradual_unfreezes_one_block_deeper_per_stage():
    assert unfreezes("gradual") == [None, "conv5", "conv4", "conv3", "conv2", "all"]
    rates = [stage.learning_rate for stage in resolve("gradual", learning_rate=0.01)]
    assert rates == pytest.approx([0.01] + [0.001] * 5)


def test_block_names_are_unfreeze_depth_presets():
    assert unfreezes("full") == [None, "all"]
    assert resolve("conv5") == resolve("partial")
    for block in BLOCKS:
        assert unfreezes(block) == [None, block]


def test_custom_stages_fill_defaults_and_keep_explicit_values():
    stages = resolve(
        [
            {"epochs": 2},
            {"unfreeze": "conv4"},
            {"unfreeze": "all", "epochs": 1, "learning_rate": 1e-5},
        ],
        epochs=7,
        learning_rate=0.01,
    )
    assert stages == (
        Stage(None, 2, 0.01),
        Stage("conv4", 7, pytest.approx(0.001)),
        Stage("all", 1, 1e-5),
    )


def test_user_schedule_is_never_modified():
    schedule = [{"epochs": 2}, {"unfreeze": "conv5"}]
    before = copy.deepcopy(schedule)
    resolve(schedule)
    resolve(tuple(schedule))
    assert schedule == before


@pytest.mark.parametrize(
    "schedule, message",
    [
        ("parital", "freeze_schedule='parital' is not a preset"),
        ("all", "use 'full'"),
        ("head", "use 'frozen'"),
        (42, "got int"),
        ({"epochs": 3}, "single dict"),
        ([], "is empty"),
        (["frozen"], "stage 0 is a str, not a dict"),
        ([{"epochs": 1}, {"unfreze": "conv5"}], "stage 1 has unknown keys ['unfreze']"),
        (
            [{"epochs": 1}, {"unfreeze": "pool4"}],
            "unfreeze='pool4', which is not a block",
        ),
        ([{"epochs": 0}], "epochs=0"),
        ([{"epochs": -2}], "epochs must be a positive integer"),
        ([{"epochs": 2.5}], "epochs=2.5"),
        ([{"epochs": True}], "epochs=True"),
        ([{"learning_rate": 0}], "learning_rate=0"),
        ([{"learning_rate": float("nan")}], "finite number > 0"),
        ([{"learning_rate": "1e-3"}], "learning_rate='1e-3'"),
        ([{"unfreeze": "conv5"}], "stage 0 unfreezes 'conv5' before the new head"),
        ([{"unfreeze": "all"}, {"epochs": 1}], "Start with a head-only stage"),
    ],
)
def test_malformed_schedules_say_what_is_wrong(schedule, message):
    with pytest.raises(FreezeScheduleError) as info:
        resolve(schedule)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)  # existing `except ValueError` works


def test_error_lists_the_alternatives():
    with pytest.raises(FreezeScheduleError) as info:
        resolve([{"epochs": 1}, {"unfreeze": "conv9"}])
    for block in (*BLOCKS, "all"):
        assert repr(block) in str(info.value)
    with pytest.raises(FreezeScheduleError) as info:
        resolve("nope")
    for name in ("frozen", "partial", "gradual", "full", "conv4"):
        assert repr(name) in str(info.value)
