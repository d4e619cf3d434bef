"""The classifiers' shared docstring entries (classifiers/_docstrings.py)."""

import inspect
import re

import pytest

from mammoclf import (
    DenseNetTransferClassifier,
    ScratchCNNClassifier,
    TransferClassifier,
)
from mammoclf.classifiers._docstrings import (
    SHARED_ENTRIES,
    SHARED_RUNS,
    with_shared_entries,
)

CLASSIFIERS = [TransferClassifier, DenseNetTransferClassifier, ScratchCNNClassifier]


def _section(doc, title):
    return doc.split(f"{title}\n{'-' * len(title)}\n")[1].split("\n\n")[0]


def _entry_names(section):
    return [
        line.split(" : ")[0]
        for line in section.splitlines()
        if re.match(r"^\w+ : ", line)
    ]


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda cls: cls.__name__)
def test_every_parameter_is_documented_once_in_order(cls):
    doc = inspect.getdoc(cls)
    assert "%(" not in doc
    documented = _entry_names(_section(doc, "Parameters"))
    assert documented == list(inspect.signature(cls).parameters)


EVERY_CLASSIFIER = ("batch_size", "image_shape", "distribution", "verbose", "classes_")
TRANSFER = ("epochs", "frozen_cache", "checkpoint_dir", "model_", "stages_")


@pytest.mark.parametrize(
    "cls, names",
    [
        (TransferClassifier, EVERY_CLASSIFIER + TRANSFER),
        (DenseNetTransferClassifier, EVERY_CLASSIFIER + TRANSFER),
        (ScratchCNNClassifier, EVERY_CLASSIFIER),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_shared_entries_land_whole(cls, names):
    doc = inspect.getdoc(cls)
    for name in names:
        assert SHARED_ENTRIES[name].strip() in doc


def test_text_below_a_placeholder_continues_the_entry():
    class Example:
        """Example.

        Parameters
        ----------
        %(verbose)s
            More about it.
        """

    doc = inspect.getdoc(with_shared_entries(Example))
    assert doc.endswith("2 prints one line per epoch.\n    More about it.")


def test_an_unknown_placeholder_fails_at_definition():
    class Example:
        """Example.

        %(no_such_entry)s
        """

    with pytest.raises(KeyError, match="no_such_entry"):
        with_shared_entries(Example)


@pytest.mark.parametrize("cls", CLASSIFIERS, ids=lambda cls: cls.__name__)
def test_numpydoc_finds_no_error(cls):
    validate = pytest.importorskip(
        "numpydoc.validate", reason="numpydoc is in the docs extra"
    ).validate
    assert validate(f"mammoclf.{cls.__name__}")["errors"] == []


def test_a_placeholder_may_name_a_run_of_entries():
    class Example:
        """Example.

        Attributes
        ----------
        %(staged_training_attributes)s
        """

    doc = inspect.getdoc(with_shared_entries(Example))
    assert _entry_names(_section(doc + "\n", "Attributes")) == list(
        SHARED_RUNS["staged_training_attributes"]
    )
