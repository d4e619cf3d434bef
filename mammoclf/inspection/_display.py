"""Grad-CAM overlays, in the style of scikit-learn's ``*Display`` objects."""

import numpy as np

from mammoclf.inspection._grad_cam import grad_cam

__all__ = ["GradCAMDisplay"]

#: Caption of an all-zero heatmap: no region raised the target class's score.
NO_EVIDENCE = "no positive evidence"


class GradCAMDisplay:
    """A grid of images with their Grad-CAM heatmaps laid over them.

    Create it with :meth:`from_estimator`, or directly from images and
    heatmaps you computed with :func:`~mammoclf.inspection.grad_cam`.

    Parameters
    ----------
    images : ndarray of shape (n_samples, H, W) or (n_samples, H, W, C)
        The images the classifier saw (greyscale is shown in grey; only the
        first channel of multi-channel images is drawn).
    heatmaps : ndarray of shape (n_samples, H, W)
        Heatmaps in ``[0, 1]`` at the images' resolution. An all-zero map
        (no region raised the class score) is drawn without an overlay and
        captioned "no positive evidence".
    titles : list of str, default=None
        One caption per image (e.g. true label, prediction, probability).

    Attributes
    ----------
    figure_ : matplotlib.figure.Figure
        The figure, after :meth:`plot`.
    axes_ : ndarray of matplotlib.axes.Axes
        One axes per image (unused grid cells are hidden).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from mammoclf import ScratchCNNClassifier
    >>> from mammoclf.inspection import GradCAMDisplay
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((20, 32, 32)).astype("float32")
    >>> y = np.array(["BENIGN", "MALIGNANT"] * 10)
    >>> clf = ScratchCNNClassifier(filters=(4,), epochs=1, random_state=0).fit(X, y)
    >>> display = GradCAMDisplay.from_estimator(clf, X[:4], y[:4])
    >>> len(display.axes_.ravel())
    4
    """

    def __init__(self, images, heatmaps, *, titles=None):
        self.images = images
        self.heatmaps = heatmaps
        self.titles = titles

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        target=None,
        images=None,
        n_cols=4,
        alpha=0.45,
        cmap="jet",
        figsize=None,
    ):
        """Compute Grad-CAM for ``X`` with a fitted estimator and plot the overlays.

        Parameters
        ----------
        estimator : fitted mammoclf classifier or pipeline ending in one
            See :func:`~mammoclf.inspection.grad_cam`.
        X : array-like or sequence of paths
            Inputs as ``estimator.predict`` takes them.
        y : array-like of shape (n_samples,), default=None
            True labels, shown in the captions when given.
        target : label or None, default=None
            Class whose evidence is shown; None for each image's prediction.
        images : ndarray, default=None
            What to draw under the heatmaps; by default the images the
            classifier sees (``X`` after the pipeline's transformers).
        n_cols : int, default=4
            Grid columns.
        alpha : float, default=0.45
            Opacity of the heatmap.
        cmap : str, default="jet"
            Matplotlib colormap of the heatmap.
        figsize : tuple of float, default=None
            Figure size; by default 3 inches per cell.

        Returns
        -------
        display : GradCAMDisplay
        """
        heatmaps = grad_cam(estimator, X, target=target)
        if images is None:
            steps = getattr(estimator, "steps", None)
            images = estimator[:-1].transform(X) if steps and len(steps) > 1 else X
        proba = estimator.predict_proba(X)
        classes = estimator.classes_
        predicted = classes[proba.argmax(axis=1)]
        titles = []
        for index, label in enumerate(predicted):
            caption = f"pred {label} ({proba[index].max():.2f})"
            if y is not None:
                caption = f"true {np.asarray(y)[index]}\n{caption}"
            titles.append(caption)
        display = cls(np.asarray(images), heatmaps, titles=titles)
        return display.plot(n_cols=n_cols, alpha=alpha, cmap=cmap, figsize=figsize)

    def plot(self, *, n_cols=4, alpha=0.45, cmap="jet", figsize=None):
        """Draw the overlays on a new figure.

        Parameters
        ----------
        n_cols : int, default=4
            Grid columns.
        alpha : float, default=0.45
            Opacity of the heatmap.
        cmap : str, default="jet"
            Matplotlib colormap of the heatmap.
        figsize : tuple of float, default=None
            Figure size; by default 3 inches per cell.

        Returns
        -------
        self : GradCAMDisplay
        """
        import matplotlib.pyplot as plt

        images = np.asarray(self.images)
        heatmaps = np.asarray(self.heatmaps)
        if images.shape[0] != heatmaps.shape[0]:
            raise ValueError(
                f"{images.shape[0]} images but {heatmaps.shape[0]} heatmaps; give one "
                "heatmap per image."
            )
        if images.ndim == 4:
            images = images[..., 0]
        n_images = images.shape[0]
        n_cols = max(1, min(n_cols, n_images))
        n_rows = int(np.ceil(n_images / n_cols))
        figsize = figsize or (3 * n_cols, 3.6 * n_rows)
        figure, axes = plt.subplots(n_rows, n_cols, figsize=figsize, squeeze=False)
        for index, ax in enumerate(axes.ravel()):
            ax.set_axis_off()
            if index >= n_images:
                continue
            ax.imshow(images[index], cmap="gray")
            title = None if self.titles is None else self.titles[index]
            if np.any(heatmaps[index] > 0):
                ax.imshow(heatmaps[index], cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
            else:
                # An all-zero map is an answer, not a drawing failure: say so.
                title = NO_EVIDENCE if title is None else f"{title}\n{NO_EVIDENCE}"
            if title is not None:
                ax.set_title(title, fontsize=9)
        figure.tight_layout()
        self.figure_ = figure
        self.axes_ = axes.ravel()[:n_images]
        return self
