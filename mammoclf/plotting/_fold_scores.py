"""Per-fold score distributions of several models, with the pairing shown."""

import numpy as np

from mammoclf.plotting._common import grid_of_axes, select_models

__all__ = ["FoldScoresDisplay"]


class FoldScoresDisplay:
    """Box plots of fold scores per model, one panel per metric.

    Each fold's scores are drawn as points, joined by a thin grey line across
    models: the models were scored on the same folds, so it is the
    within-fold differences (the slopes of these lines) that paired tests
    judge, not the overlap of the boxes.

    Parameters
    ----------
    scores : dict of str to pandas.DataFrame
        Per metric, a table with one row per fold and one column per model
        (``ComparisonResult.fold_scores(metric)``).

    Attributes
    ----------
    boxplots_ : dict of str to dict
        Per metric, the artists returned by ``Axes.boxplot``.
    points_ : dict of (str, str) to matplotlib.collections.PathCollection
        Per (metric, model), the fold scores as points.
    pair_lines_ : dict of str to list of matplotlib.lines.Line2D
        Per metric, one line per fold across models.
    axes_ : list of matplotlib.axes.Axes
    figure_ : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from mammoclf.plotting import FoldScoresDisplay
    >>> auc = pd.DataFrame({"cnn": [0.71, 0.75, 0.69], "densenet": [0.80, 0.83, 0.77]})
    >>> display = FoldScoresDisplay(scores={"roc_auc": auc}).plot()
    >>> len(display.pair_lines_["roc_auc"])  # one line per fold
    3
    """

    def __init__(self, *, scores):
        self.scores = scores

    def plot(self, *, axes=None, jitter=0.04, random_state=0):
        """Draw the panels.

        Parameters
        ----------
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per metric; a new figure when None.
        jitter : float, default=0.04
            Horizontal spread of the points, so equal scores stay visible.
        random_state : int, default=0
            Seeds the jitter.

        Returns
        -------
        self : FoldScoresDisplay
        """
        if not self.scores:
            raise ValueError("scores is empty: give at least one metric.")
        figure, flat = grid_of_axes(len(self.scores), axes)
        rng = np.random.default_rng(random_state)
        self.boxplots_, self.points_, self.pair_lines_ = {}, {}, {}
        for ax, (metric, table) in zip(flat, self.scores.items()):
            names = [str(c) for c in table.columns]
            values = table.to_numpy(dtype=float)
            positions = np.arange(1, len(names) + 1)
            self.boxplots_[metric] = ax.boxplot(
                [values[:, j] for j in range(len(names))],
                positions=positions,
                widths=0.5,
                showfliers=False,
                medianprops={"color": "black"},
            )
            offsets = rng.uniform(-jitter, jitter, size=values.shape)
            self.pair_lines_[metric] = [
                ax.plot(
                    positions + offsets[i], values[i], color="grey", lw=0.6, alpha=0.5
                )[0]
                for i in range(values.shape[0])
            ]
            for j, name in enumerate(names):
                self.points_[(metric, name)] = ax.scatter(
                    positions[j] + offsets[:, j], values[:, j], s=16, zorder=3
                )
            ax.set_xticks(positions, names, rotation=20)
            ax.set_title(metric)
            ax.set_ylabel(f"{metric} per fold")
        figure.tight_layout()
        self.axes_, self.figure_ = flat, figure
        return self

    @classmethod
    def from_comparison(cls, result, *, metrics=None, models=None, axes=None):
        """Plot the fold scores of a :func:`~mammoclf.compare_models` run.

        Parameters
        ----------
        result : ComparisonResult
        metrics : list of str, default=None
            Metrics to draw, one panel each; None means all scored metrics.
        models : list of str, default=None
            Models to draw; None means all.
        axes : array-like of matplotlib.axes.Axes, default=None
            One axes per metric.

        Returns
        -------
        display : FoldScoresDisplay
        """
        names = select_models(result, models)
        metrics = list(result.metric_names if metrics is None else metrics)
        scores = {metric: result.fold_scores(metric)[names] for metric in metrics}
        return cls(scores=scores).plot(axes=axes)
