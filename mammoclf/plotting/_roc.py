"""ROC curves of several models, averaged over folds, with confidence bands."""

import numpy as np
from scipy import stats as _st
from sklearn.metrics import auc, roc_curve
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import HasMethods

from mammoclf.metrics import resolve_pos_label
from mammoclf.plotting._common import is_prediction_set, select_models, single_axes
from mammoclf.utils._validation import CONFIDENCE_LEVEL, validate_params

__all__ = ["RocCurvesDisplay"]

_GRID_POINTS = 201


def _fold_curves(y_true, y_score, fold_ids, pos_label, grid):
    """TPR on ``grid`` and AUC of each fold (folds lacking a class are an error)."""
    tprs, aucs = [], []
    for fold in np.unique(fold_ids):
        in_fold = fold_ids == fold
        positive = y_true[in_fold] == pos_label
        if positive.all() or not positive.any():
            raise ValueError(
                f"Fold {fold} has a single class, so it has no ROC curve; use "
                "stratified folds."
            )
        fpr, tpr, _ = roc_curve(positive, y_score[in_fold])
        aucs.append(auc(fpr, tpr))
        curve = np.interp(grid, fpr, tpr)
        curve[0] = 0.0  # every ROC curve starts at (0, 0)
        tprs.append(curve)
    return np.array(tprs), np.array(aucs)


def _from_prediction_set(predictions, y_scores, fold_ids):
    """Labels, scores of the scored models, folds and positive class of a Predictions."""
    if y_scores is not None or fold_ids is not None:
        raise ValueError(
            "With a Predictions object, leave y_scores and fold_ids out: it has them."
        )
    scores = {
        model: predictions.y_score[model]
        for model in predictions.model_names
        if predictions.y_score[model] is not None
    }
    folds = predictions.fold
    if folds is None:  # held out: one curve per model
        folds = np.zeros(predictions.y_true.shape[0], dtype=int)
    return predictions.y_true, scores, folds, predictions.pos_label


class RocCurvesDisplay:
    """ROC curves of several models: mean over folds with a pointwise CI band.

    For each model, the ROC curve of every test fold (all repeats) is
    interpolated on a common false-positive-rate grid; the line is the mean
    true positive rate and the band a pointwise t interval of that mean,
    ``mean +/- t_(J-1) sd / sqrt(J)`` over the ``J`` folds. The band is
    pointwise (not a simultaneous band for the whole curve), treats folds as
    independent (so it is somewhat narrow, as for the naive t-test), and is
    drawn clipped to [0, 1]. The legend gives the mean and standard
    deviation of the fold AUCs.

    Build it with :meth:`from_comparison` or :meth:`from_predictions`; the
    constructor takes precomputed curves.

    Parameters
    ----------
    fpr : ndarray of shape (n_points,)
        Common false positive rate grid.
    tprs : dict of str to ndarray of shape (n_folds, n_points)
        Interpolated true positive rates per model and fold.
    fold_aucs : dict of str to ndarray of shape (n_folds,)
        AUC of each fold per model.
    confidence_level : float, default=0.95
        Level of the bands.

    Attributes
    ----------
    mean_tpr_ : dict of str to ndarray
        Mean curve per model.
    tpr_low_, tpr_high_ : dict of str to ndarray
        Band limits per model (unclipped).
    lines_ : dict of str to matplotlib.lines.Line2D
        The mean curves.
    bands_ : dict of str to matplotlib.collections.PolyCollection
        The confidence bands.
    chance_line_ : matplotlib.lines.Line2D
        The diagonal.
    ax_ : matplotlib.axes.Axes
    figure_ : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from mammoclf.plotting import RocCurvesDisplay
    >>> rng = np.random.default_rng(0)
    >>> y = np.tile(["BENIGN", "MALIGNANT"], 50)
    >>> folds = np.repeat(np.arange(5), 20)
    >>> scores = {"sharp": (y == "MALIGNANT") + rng.normal(scale=0.5, size=100),
    ...           "noisy": (y == "MALIGNANT") + rng.normal(scale=2.0, size=100)}
    >>> display = RocCurvesDisplay.from_predictions(y, scores, fold_ids=folds)
    >>> sorted(display.lines_)
    ['noisy', 'sharp']
    >>> bool(display.fold_aucs["sharp"].mean() > display.fold_aucs["noisy"].mean())
    True
    """

    def __init__(self, *, fpr, tprs, fold_aucs, confidence_level=0.95):
        self.fpr = fpr
        self.tprs = tprs
        self.fold_aucs = fold_aucs
        self.confidence_level = confidence_level

    def plot(self, *, ax=None, show_folds=False):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on; a new figure when None.
        show_folds : bool, default=False
            Also draw every fold's curve, thin and translucent.

        Returns
        -------
        self : RocCurvesDisplay
        """
        figure, ax = single_axes(ax)
        self.mean_tpr_, self.tpr_low_, self.tpr_high_ = {}, {}, {}
        self.lines_, self.bands_ = {}, {}
        for name, tprs in self.tprs.items():
            n_folds = tprs.shape[0]
            mean = tprs.mean(axis=0)
            half = (
                (
                    _st.t.ppf(0.5 + self.confidence_level / 2, n_folds - 1)
                    * tprs.std(axis=0, ddof=1)
                    / np.sqrt(n_folds)
                )
                if n_folds > 1
                else 0.0
            )
            self.mean_tpr_[name], self.tpr_low_[name] = mean, mean - half
            self.tpr_high_[name] = mean + half
            aucs = self.fold_aucs[name]
            sd = f" ± {aucs.std(ddof=1):.3f}" if aucs.size > 1 else ""
            (line,) = ax.plot(
                self.fpr, mean, lw=2, label=f"{name} (AUC {aucs.mean():.3f}{sd})"
            )
            self.lines_[name] = line
            self.bands_[name] = ax.fill_between(
                self.fpr,
                np.clip(mean - half, 0, 1),
                np.clip(mean + half, 0, 1),
                color=line.get_color(),
                alpha=0.2,
                lw=0,
            )
            if show_folds:
                for curve in tprs:
                    ax.plot(self.fpr, curve, color=line.get_color(), lw=0.5, alpha=0.3)
        (self.chance_line_,) = ax.plot(
            [0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance"
        )
        level = round(100 * self.confidence_level)
        one_curve = all(tprs.shape[0] == 1 for tprs in self.tprs.values())
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.01),
            xlabel="False positive rate (1 - specificity)",
            ylabel="True positive rate (sensitivity)",
            title="ROC"
            if one_curve
            else f"ROC, mean over folds with pointwise {level}% CI",
        )
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize="small")
        self.ax_, self.figure_ = ax, figure
        return self

    @classmethod
    @validate_params(
        {
            "y_true": ["array-like", HasMethods(["to_frame"])],
            "y_scores": [dict, None],
            "fold_ids": ["array-like", None],
            "pos_label": "no_validation",  # a label, resolved against y_true
            "confidence_level": CONFIDENCE_LEVEL,
            "ax": [HasMethods(["plot"]), None],
            "show_folds": ["boolean"],
        },
        prefer_skip_nested_validation=True,
    )
    def from_predictions(
        cls,
        y_true,
        y_scores=None,
        *,
        fold_ids=None,
        pos_label="auto",
        confidence_level=0.95,
        ax=None,
        show_folds=False,
    ):
        """Plot from positive-class scores and the fold of each sample.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,) or Predictions
            True labels; or a :class:`mammoclf.evaluation.Predictions`, which
            gives the labels, the scores of every scored model, the folds
            (out-of-fold predictions; a held-out set is one curve per model)
            and the positive class, so that the other data arguments are
            left out.
        y_scores : dict of str to array-like of shape (n_samples,)
            Positive-class scores per model, e.g. out-of-fold probabilities.
        fold_ids : array-like of shape (n_samples,)
            Test fold of each sample; one curve per fold.
        pos_label : "auto" or label, default="auto"
            The positive class, see :func:`mammoclf.metrics.resolve_pos_label`.
        confidence_level : float, default=0.95
            Level of the bands.
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on.
        show_folds : bool, default=False
            Also draw every fold's curve.

        Returns
        -------
        display : RocCurvesDisplay
        """
        if is_prediction_set(y_true):
            y_true, y_scores, fold_ids, pos_label = _from_prediction_set(
                y_true, y_scores, fold_ids
            )
        if y_scores is None or fold_ids is None:
            raise ValueError("Give y_scores and fold_ids (or a Predictions object).")
        y_true = column_or_1d(y_true)
        fold_ids = column_or_1d(fold_ids)
        pos_label = resolve_pos_label(y_true, pos_label)
        if not y_scores:
            raise ValueError("y_scores is empty: give at least one model's scores.")
        grid = np.linspace(0, 1, _GRID_POINTS)
        tprs, aucs = {}, {}
        for name, scores in y_scores.items():
            scores = column_or_1d(scores).astype(np.float64)
            if scores.shape != y_true.shape or not np.all(np.isfinite(scores)):
                raise ValueError(
                    f"Scores of {name!r} must be {y_true.shape[0]} finite values."
                )
            tprs[name], aucs[name] = _fold_curves(
                y_true, scores, fold_ids, pos_label, grid
            )
        display = cls(
            fpr=grid, tprs=tprs, fold_aucs=aucs, confidence_level=confidence_level
        )
        return display.plot(ax=ax, show_folds=show_folds)

    @classmethod
    def from_comparison(
        cls, result, *, models=None, confidence_level=0.95, ax=None, show_folds=False
    ):
        """Plot the out-of-fold ROC curves of a :func:`~mammoclf.compare_models` run.

        Every split of every repeat contributes one curve.

        Parameters
        ----------
        result : ComparisonResult
        models : list of str, default=None
            Models to draw; None means all.
        confidence_level : float, default=0.95
            Level of the bands.
        ax : matplotlib.axes.Axes, default=None
            Axes to draw on.
        show_folds : bool, default=False
            Also draw every fold's curve.

        Returns
        -------
        display : RocCurvesDisplay
        """
        grid = np.linspace(0, 1, _GRID_POINTS)
        tprs, aucs = {}, {}
        for name in select_models(result, models):
            if result.score_method[name] is None:
                raise ValueError(
                    f"{name!r} has no positive-class scores to draw a ROC curve from."
                )
            curves, fold_aucs = [], []
            for repeat in range(result.n_repeats):
                tested = result.fold_ids[repeat] >= 0
                repeat_curves, repeat_aucs = _fold_curves(
                    result.y_true[tested],
                    result.y_score[name][repeat, tested],
                    result.fold_ids[repeat, tested],
                    result.pos_label,
                    grid,
                )
                curves.append(repeat_curves)
                fold_aucs.append(repeat_aucs)
            tprs[name] = np.concatenate(curves)
            aucs[name] = np.concatenate(fold_aucs)
        display = cls(
            fpr=grid, tprs=tprs, fold_aucs=aucs, confidence_level=confidence_level
        )
        return display.plot(ax=ax, show_folds=show_folds)
