"""Plots of a model comparison, in the style of scikit-learn's ``*Display`` objects.

Each display is built with a ``from_...`` class method (``from_comparison``
for a :class:`~mammoclf.model_selection.ComparisonResult`), draws with
``plot(ax=...)`` and keeps its artists, ``ax_``/``axes_`` and ``figure_``.
matplotlib (the ``plot`` extra) is imported only when a plot is drawn.
"""

from mammoclf.plotting._confusion import ConfusionMatricesDisplay
from mammoclf.plotting._fold_scores import FoldScoresDisplay
from mammoclf.plotting._roc import RocCurvesDisplay
from mammoclf.plotting._training import TrainingHistoryDisplay, stage_starts

__all__ = [
    "ConfusionMatricesDisplay",
    "FoldScoresDisplay",
    "RocCurvesDisplay",
    "TrainingHistoryDisplay",
    "stage_starts",
]
