"""Helpers shared by the displays: lazy matplotlib, axes, model selection."""

import numpy as np

__all__ = [
    "grid_of_axes",
    "import_pyplot",
    "is_prediction_set",
    "select_models",
    "single_axes",
]


def is_prediction_set(obj):
    """Whether ``obj`` is a :class:`mammoclf.evaluation.Predictions` (duck typing).

    Plotting sits below :mod:`mammoclf.evaluation`, so it reads the object's
    public attributes (``model_names``, ``y_true``, ``y_pred``, ``y_score``,
    ``fold``, ``pos_label``) and never imports it.
    """
    return all(
        hasattr(obj, name)
        for name in ("model_names", "y_true", "y_pred", "y_score", "pos_label")
    )


def import_pyplot():
    """Import ``matplotlib.pyplot`` on first use, with an actionable error."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError(
            "mammoclf's plots need matplotlib: `pip install mammoclf[plot]`."
        ) from exc
    return plt


def single_axes(ax):
    """``(figure, ax)``: the given axes' figure, or a new figure with one axes."""
    plt = import_pyplot()
    if ax is None:
        figure, ax = plt.subplots()
        return figure, ax
    return ax.figure, ax


def grid_of_axes(n_panels, axes, *, panel_size=(4.0, 3.6), max_columns=4):
    """``(figure, flat list of n_panels axes)``; extra axes of a new grid are hidden."""
    plt = import_pyplot()
    if axes is not None:
        flat = list(np.ravel(axes))
        if len(flat) < n_panels:
            raise ValueError(f"Need {n_panels} axes, one per panel; got {len(flat)}.")
        return flat[0].figure, flat[:n_panels]
    columns = min(n_panels, max_columns)
    rows = int(np.ceil(n_panels / columns))
    figure, grid = plt.subplots(
        rows,
        columns,
        squeeze=False,
        figsize=(panel_size[0] * columns, panel_size[1] * rows),
    )
    flat = list(grid.ravel())
    for extra in flat[n_panels:]:
        extra.set_visible(False)
    return figure, flat[:n_panels]


def select_models(result, models):
    """The models to plot, in comparison order; all when ``models`` is None."""
    if models is None:
        return list(result.model_names)
    models = [models] if isinstance(models, str) else list(models)
    unknown = [m for m in models if m not in result.model_names]
    if unknown or not models:
        raise ValueError(
            f"Unknown model(s) {unknown}; the comparison has "
            f"{list(result.model_names)}."
        )
    return models
