"""Fixtures shared by the command-line tests."""

import pytest

#: The smallest ``mammoclf compare`` run that goes through every step: the
#: scratch CNN on 24 synthetic 16x16 images, one epoch, 2-fold, no
#: pretrained weights.
SMALL_RUN = (
    "compare",
    "--models",
    "scratch",
    "--n-samples",
    "24",
    "--image-size",
    "16",
    "--epochs",
    "1",
    "--cv",
    "2",
    "--weights",
    "none",
)


@pytest.fixture
def small_run():
    """``small_run(*options)``: the small run's arguments, then ``options``."""

    def arguments(*options):
        return [*SMALL_RUN, *options]

    return arguments
