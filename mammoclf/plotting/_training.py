"""Training curves (per-epoch loss and metrics) with stage boundaries."""

from collections.abc import Mapping

import numpy as np
from sklearn.exceptions import NotFittedError

from mammoclf.plotting._common import grid_of_axes
from mammoclf.utils._estimators import final_estimator
from mammoclf.utils._validation import validate_params

__all__ = ["TrainingHistoryDisplay", "stage_starts"]

_DEFAULT_METRICS = ("loss", "auc")


def _field(stage, name):
    if isinstance(stage, Mapping):
        return stage.get(name)
    return getattr(stage, name, None)


@validate_params({"stages": [list, tuple]}, prefer_skip_nested_validation=True)
def stage_starts(stages):
    """First epoch (0-based) and a label of every training stage.

    ``stages`` is an estimator's ``stages_``: a sequence whose items are
    mappings or objects with ``first_epoch`` (as
    :class:`~mammoclf.DenseNetTransferClassifier` records), or else
    ``epochs_run`` or ``epochs`` counts that are summed, or plain integers
    (epochs per stage). Labels use ``name`` or ``unfreeze`` when present.

    Returns
    -------
    starts : list of (int, str)
    """
    starts, epoch = [], 0
    for number, stage in enumerate(stages, start=1):
        if isinstance(stage, (int, np.integer)) and not isinstance(stage, bool):
            first, length = epoch, int(stage)
        else:
            first = _field(stage, "first_epoch")
            length = _field(stage, "epochs_run")
            length = _field(stage, "epochs") if length is None else length
            if first is None and length is None:
                raise ValueError(
                    f"Stage {number} of stages_ has neither first_epoch nor epochs_run/"
                    f"epochs: {stage!r}."
                )
            first = epoch if first is None else int(first)
        label = (
            _field(stage, "name") if not isinstance(stage, (int, np.integer)) else None
        )
        unfreeze = (
            None if isinstance(stage, (int, np.integer)) else _field(stage, "unfreeze")
        )
        if label is None:
            label = f"stage {number}" + (
                "" if unfreeze is None else f": unfreeze {unfreeze}"
            )
        starts.append((first, str(label)))
        epoch = first + (int(length) if length is not None else 0)
    return starts


class TrainingHistoryDisplay:
    """Per-epoch training curves, one panel per metric, stage starts marked.

    Training and validation curves of a metric share a panel (``loss`` and
    ``val_loss``, ``auc`` and ``val_auc``). With several histories (one per
    cross-validation fold) every fold gets its own line. When a history
    comes with ``stages_`` (staged fine-tuning), a dotted vertical line marks
    where each stage after the first begins.

    Parameters
    ----------
    histories : list of dict of str to list of float
        Per-epoch values, e.g. estimators' ``history_``.
    stages : list, default=None
        Per history, its ``stages_`` or None.
    labels : list of str, default=None
        Per history, its legend label.

    Attributes
    ----------
    lines_ : dict of (str, int) to matplotlib.lines.Line2D
        Per (history key, history index), the curve.
    stage_lines_ : list of matplotlib.lines.Line2D
        The stage boundaries drawn.
    axes_ : list of matplotlib.axes.Axes
    figure_ : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mammoclf.plotting import TrainingHistoryDisplay
    >>> history = {"loss": [0.7, 0.5, 0.4, 0.35], "val_loss": [0.72, 0.6, 0.55, 0.56]}
    >>> stages = [{"unfreeze": "head", "first_epoch": 0, "epochs_run": 2},
    ...           {"unfreeze": "conv5", "first_epoch": 2, "epochs_run": 2}]
    >>> display = TrainingHistoryDisplay.from_history(history, stages=stages)
    >>> display.lines_["val_loss", 0].get_ydata().tolist()
    [0.72, 0.6, 0.55, 0.56]
    >>> [line.get_xdata()[0] for line in display.stage_lines_]  # between epochs 2 and 3
    [2.5]
    """

    def __init__(self, *, histories, stages=None, labels=None):
        self.histories = histories
        self.stages = stages
        self.labels = labels

    def plot(self, *, metrics=_DEFAULT_METRICS, axes=None):
        """Draw the curves.

        Parameters
        ----------
        metrics : sequence of str, default=("loss", "auc")
            Base names of the panels; ``val_<name>`` joins its panel when
            recorded. Names recorded in no history are an error.
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per metric; a new figure when None.

        Returns
        -------
        self : TrainingHistoryDisplay
        """
        histories = [h for h in self.histories if h]
        if not histories:
            raise ValueError(
                "No training history to plot (the estimators have no history_)."
            )
        recorded = set().union(*histories)
        missing = [m for m in metrics if m not in recorded]
        if missing:
            raise ValueError(
                f"Metrics {missing} were not recorded; the histories have "
                f"{sorted(recorded)}."
            )
        labels = self.labels or [f"fold {i}" for i in range(len(self.histories))]
        stages = self.stages or [None] * len(self.histories)
        figure, flat = grid_of_axes(len(metrics), axes)
        self.lines_, self.stage_lines_ = {}, []
        single = len(self.histories) == 1
        for ax, metric in zip(flat, metrics):
            for key, style in ((metric, "-"), (f"val_{metric}", "--")):
                for index, history in enumerate(self.histories):
                    if not history or key not in history:
                        continue
                    values = history[key]
                    label = key if single else f"{key}, {labels[index]}"
                    color = None if single else f"C{index % 10}"
                    (line,) = ax.plot(
                        np.arange(1, len(values) + 1),
                        values,
                        style,
                        color=color,
                        label=label,
                        marker="." if len(values) < 30 else None,
                    )
                    self.lines_[key, index] = line
            drawn = set()
            for history_stages in stages:
                for first, label in (
                    stage_starts(history_stages)[1:] if history_stages else []
                ):
                    if first in drawn:
                        continue
                    drawn.add(first)
                    line = ax.axvline(first + 0.5, color="black", ls=":", lw=1)
                    ax.annotate(
                        label,
                        (first + 0.5, 1.0),
                        xycoords=("data", "axes fraction"),
                        rotation=90,
                        va="top",
                        ha="right",
                        fontsize="x-small",
                    )
                    self.stage_lines_.append(line)
            ax.set(xlabel="epoch", ylabel=metric, title=metric)
            ax.legend(fontsize="x-small")
        figure.tight_layout()
        self.axes_, self.figure_ = flat, figure
        return self

    @classmethod
    def from_history(cls, history, *, stages=None, metrics=None, axes=None):
        """Plot one history dict (with optional ``stages_`` records).

        Parameters
        ----------
        history : dict of str to list of float
            Per-epoch values.
        stages : list, default=None
            Stage records, see :func:`stage_starts`.
        metrics : sequence of str, default=None
            Panels; None means those of ``("loss", "auc")`` that were
            recorded.
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per metric.

        Returns
        -------
        display : TrainingHistoryDisplay
        """
        display = cls(histories=[history], stages=[stages], labels=["training"])
        return display.plot(metrics=_metrics_or_default(metrics, [history]), axes=axes)

    @classmethod
    def from_estimator(cls, estimator, *, metrics=None, axes=None):
        """Plot a fitted estimator's ``history_`` (a pipeline's final step's too).

        Parameters
        ----------
        estimator : fitted estimator
            Has ``history_`` itself or as the final step of a pipeline;
            ``stages_`` mark stage boundaries.
        metrics : sequence of str, default=None
            Panels; None means those of ``("loss", "auc")`` that were
            recorded.
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per metric.

        Returns
        -------
        display : TrainingHistoryDisplay
        """
        final = final_estimator(estimator)
        history = getattr(final, "history_", None)
        if not isinstance(history, Mapping):
            # NotFittedError (a ValueError): a missing history_ means unfitted.
            raise NotFittedError(
                f"{type(final).__name__} has no history_ dict: is it a fitted "
                "Keras estimator?"
            )
        return cls.from_history(
            dict(history),
            stages=getattr(final, "stages_", None),
            metrics=metrics,
            axes=axes,
        )

    @classmethod
    def from_comparison(cls, result, model, *, metrics=None, axes=None):
        """Plot one model's training curves of every split of a comparison.

        Parameters
        ----------
        result : ComparisonResult
        model : str
            One of ``result.model_names``.
        metrics : sequence of str, default=None
            Panels; None means those of ``("loss", "auc")`` that were
            recorded.
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per metric.

        Returns
        -------
        display : TrainingHistoryDisplay
        """
        if model not in result.model_names:
            raise ValueError(
                f"Unknown model {model!r}; the comparison has "
                f"{list(result.model_names)}."
            )
        histories = list(result.histories[model])
        labels = [f"repeat {s.repeat} fold {s.fold}" for s in result.splits]
        display = cls(
            histories=histories, stages=list(result.stages[model]), labels=labels
        )
        return display.plot(metrics=_metrics_or_default(metrics, histories), axes=axes)


def _metrics_or_default(metrics, histories):
    if metrics is not None:
        return list(metrics)
    recorded = set().union(*[h for h in histories if h]) if any(histories) else set()
    return [m for m in _DEFAULT_METRICS if m in recorded] or sorted(
        k for k in recorded if not k.startswith("val_")
    )[:1]
