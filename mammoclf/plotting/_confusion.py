"""Confusion matrices of several models side by side."""

import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix
from sklearn.utils import column_or_1d

from mammoclf.metrics import resolve_pos_label
from mammoclf.plotting._common import grid_of_axes, is_prediction_set, select_models

__all__ = ["ConfusionMatricesDisplay"]

_NORMALIZE = (None, "true", "pred", "all")


class ConfusionMatricesDisplay:
    """One confusion matrix per model, negative class first, positive class second.

    Rows are true classes and columns predicted classes, so the bottom-right
    cell counts true positives (malignant called malignant) and the
    bottom-left false negatives. Build it with :meth:`from_comparison` or
    :meth:`from_predictions`.

    Parameters
    ----------
    confusion_matrices : dict of str to ndarray of shape (2, 2)
        Per model, counts (or normalised rates).
    display_labels : list of str
        ``[negative class, positive class]``.
    normalize : {None, "true", "pred", "all"}, default=None
        How the matrices were normalised, for the titles.

    Attributes
    ----------
    displays_ : dict of str to sklearn.metrics.ConfusionMatrixDisplay
        The per-model scikit-learn displays (their ``text_`` hold the cell
        texts).
    axes_ : list of matplotlib.axes.Axes
    figure_ : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mammoclf.plotting import ConfusionMatricesDisplay
    >>> y = ["MALIGNANT", "MALIGNANT", "BENIGN", "BENIGN", "BENIGN"]
    >>> display = ConfusionMatricesDisplay.from_predictions(
    ...     y, {"cnn": ["MALIGNANT", "BENIGN", "BENIGN", "BENIGN", "MALIGNANT"]})
    >>> display.confusion_matrices["cnn"]  # [[TN, FP], [FN, TP]]
    array([[2, 1],
           [1, 1]])
    """

    def __init__(self, *, confusion_matrices, display_labels, normalize=None):
        self.confusion_matrices = confusion_matrices
        self.display_labels = display_labels
        self.normalize = normalize

    def plot(self, *, axes=None, cmap="Blues", values_format=None):
        """Draw one matrix per model.

        Parameters
        ----------
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per model; a new figure when None.
        cmap : str, default="Blues"
            Colour map.
        values_format : str, default=None
            Format of the cell texts; ``"d"`` for counts and ``".2f"`` for
            rates when None.

        Returns
        -------
        self : ConfusionMatricesDisplay
        """
        figure, flat = grid_of_axes(len(self.confusion_matrices), axes)
        if values_format is None:
            values_format = "d" if self.normalize is None else ".2f"
        self.displays_ = {}
        for ax, (name, matrix) in zip(flat, self.confusion_matrices.items()):
            display = ConfusionMatrixDisplay(matrix, display_labels=self.display_labels)
            display.plot(ax=ax, cmap=cmap, colorbar=False, values_format=values_format)
            suffix = (
                "" if self.normalize is None else f" (normalised over {self.normalize})"
            )
            ax.set_title(f"{name}{suffix}")
            self.displays_[name] = display
        figure.tight_layout()
        self.axes_, self.figure_ = flat, figure
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_preds=None,
        *,
        pos_label="auto",
        normalize=None,
        axes=None,
        cmap="Blues",
    ):
        """Plot from true labels and each model's predicted labels.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,) or Predictions
            True labels (two classes); or a
            :class:`mammoclf.evaluation.Predictions`, which gives the labels,
            every model's predicted labels and the positive class (leave
            ``y_preds`` out).
        y_preds : dict of str to array-like of shape (n_samples,)
            Predicted labels per model.
        pos_label : "auto" or label, default="auto"
            The positive class, placed second.
        normalize : {None, "true", "pred", "all"}, default=None
            ``"true"`` gives rates per true class (sensitivity and
            specificity on the diagonal).
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per model.
        cmap : str, default="Blues"
            Colour map.

        Returns
        -------
        display : ConfusionMatricesDisplay
        """
        if normalize not in _NORMALIZE:
            raise ValueError(
                f"normalize must be one of {_NORMALIZE}; got {normalize!r}."
            )
        if is_prediction_set(y_true):
            if y_preds is not None:
                raise ValueError(
                    "With a Predictions object, leave y_preds out: it has them."
                )
            # Its classes are known even where its images hold only one.
            negatives = [y_true.negative_label]
            y_preds, pos_label = dict(y_true.y_pred), y_true.pos_label
            y_true = y_true.y_true
        else:
            negatives = None
        if not y_preds:
            raise ValueError("y_preds is empty: give at least one model's predictions.")
        y_true = column_or_1d(y_true)
        if negatives is None:
            pos_label = resolve_pos_label(y_true, pos_label)
            negatives = [
                label for label in np.unique(y_true).tolist() if label != pos_label
            ]
        if len(negatives) != 1:
            raise ValueError(
                "y_true must hold both classes to define a confusion matrix."
            )
        labels = [negatives[0], pos_label]
        matrices = {
            name: confusion_matrix(
                y_true,
                column_or_1d(np.asarray(pred, dtype=object)).astype(y_true.dtype),
                labels=labels,
                normalize=normalize,
            )
            for name, pred in y_preds.items()
        }
        display = cls(
            confusion_matrices=matrices,
            display_labels=[str(v) for v in labels],
            normalize=normalize,
        )
        return display.plot(axes=axes, cmap=cmap)

    @classmethod
    def from_comparison(
        cls, result, *, models=None, repeat=0, normalize=None, axes=None, cmap="Blues"
    ):
        """Plot the pooled out-of-fold confusion matrices of one repeat.

        Parameters
        ----------
        result : ComparisonResult
        models : list of str, default=None
            Models to draw; None means all.
        repeat : int, default=0
            Which repeat's out-of-fold predictions.
        normalize : {None, "true", "pred", "all"}, default=None
            See :meth:`from_predictions`.
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per model.
        cmap : str, default="Blues"
            Colour map.

        Returns
        -------
        display : ConfusionMatricesDisplay
        """
        names = select_models(result, models)
        tables = {name: result.out_of_fold(name, repeat=repeat) for name in names}
        y_true = next(iter(tables.values()))["y_true"].to_numpy()
        return cls.from_predictions(
            y_true,
            {name: table["y_pred"].to_numpy() for name, table in tables.items()},
            pos_label=result.pos_label,
            normalize=normalize,
            axes=axes,
            cmap=cmap,
        )
