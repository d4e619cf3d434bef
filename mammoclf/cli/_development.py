"""What ``compare`` stores with each saved model for a later ``evaluate``.

Its own module: ``compare`` writes the record and ``evaluate`` reads it, and
neither command imports the other.
"""

import numpy as np

__all__ = ["build_development_record"]


def build_development_record(
    fitted, *, labels, groups, image_size, description, fingerprint=None
):
    """What ``compare`` stores with a model for a later external evaluation.

    Parameters
    ----------
    fitted : fitted estimator or pipeline
        The saved model (its decision threshold is read off it).
    labels, groups : ndarray
        Labels and patient ids of the development data.
    image_size : int
        Side of the square model input, in pixels.
    description : str
        The development data in words.
    fingerprint : dict, default=None
        The development images and patients as salted digests
        (:func:`~mammoclf.cli._overlap.development_fingerprint`), which
        ``evaluate`` checks its test data against.

    Returns
    -------
    record : dict
        JSON values: ``threshold`` (value, response, positive class and
        source of :func:`~mammoclf.model_selection.decision_threshold`),
        ``classes``, ``pos_label``, ``n_images``, ``n_patients``,
        ``n_positive``, ``prevalence``, ``image_size``, ``data`` and
        ``fingerprint`` (when given).
    """
    from mammoclf.metrics import resolve_pos_label
    from mammoclf.model_selection import decision_threshold

    labels = np.asarray(labels)
    classes = np.unique(labels)
    pos_label = resolve_pos_label(classes, "auto")
    stated = decision_threshold(fitted)
    positive = labels == pos_label
    record = {
        "threshold": {
            "value": None if np.isnan(stated.threshold) else float(stated.threshold),
            "response": stated.response,
            "positive_class": str(stated.positive_class),
            "source": stated.source,
        },
        "classes": [str(c) for c in classes],
        "pos_label": str(pos_label),
        "n_images": int(labels.size),
        "n_patients": int(np.unique(groups).size),
        "n_positive": int(positive.sum()),
        "prevalence": float(positive.mean()),
        "image_size": int(image_size),
        "image_shape": [int(image_size), int(image_size)],
        "data": description,
    }
    if fingerprint is not None:
        record["fingerprint"] = fingerprint
    return record
