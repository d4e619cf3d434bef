"""Grad-CAM heatmaps for mammoclf's Keras classifiers (Selvaraju et al., 2017)."""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from mammoclf.exceptions import BackendNotSupportedError
from mammoclf.utils._estimators import final_estimator
from mammoclf.utils._keras import import_keras
from mammoclf.utils._validation import validate_params

__all__ = ["grad_cam"]

_GRADIENT_BACKENDS = ("tensorflow", "jax", "torch")


@validate_params(
    {
        # What the estimator must provide is checked below, naming the contract.
        "estimator": "no_validation",
        "X": ["array-like"],
        "target": "no_validation",  # a label of classes_, checked below
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
    },
    prefer_skip_nested_validation=False,
)
def grad_cam(estimator, X, *, target=None, batch_size=16, normalize=True):
    """Grad-CAM heatmaps: where in each image the network found its evidence.

    For each image, the gradients of the chosen class's logit with respect to
    the last convolutional feature map are averaged over space to weigh that
    map's channels; the ReLU of the weighted sum, upsampled bilinearly to the
    classifier's input resolution, is the heatmap.

    Only the classifiers' public contract is used (as MONAI's CAM takes a
    network and its ``target_layers``): ``model_`` (the Keras network, which
    outputs logits), ``feature_map_layer_`` (the name of its layer whose
    output is the last feature map), ``classes_``, ``model_inputs(X)`` (the
    validated batch ``model_`` takes) and ``decision_function``. Any fitted
    classifier with these works.

    Parameters
    ----------
    estimator : fitted ScratchCNNClassifier, TransferClassifier or Pipeline
        A fitted mammoclf Keras classifier, or a fitted pipeline ending in
        one; the pipeline's earlier steps transform ``X`` first (resamplers
        such as :class:`~mammoclf.Augmenter` are skipped, as at predict time).
        A fitted search is replaced by its ``best_estimator_``.
    X : array-like or sequence of paths
        Images as the estimator's ``predict`` takes them.
    target : label, "predicted" or None, default=None
        Class whose evidence is shown: a label of ``classes_``, or
        None/"predicted" for each image's predicted class.
    batch_size : int, default=16
        Images per gradient computation.
    normalize : bool, default=True
        Scale each heatmap to ``[0, 1]`` by its maximum (a map without any
        positive evidence stays all zero).

    Returns
    -------
    heatmaps : ndarray of shape (n_samples, H, W), dtype float32
        At the resolution of the images the classifier sees.

    Raises
    ------
    BackendNotSupportedError
        If the active Keras backend has no automatic differentiation
        (Grad-CAM works on TensorFlow, JAX and PyTorch).

    Examples
    --------
    >>> import numpy as np
    >>> from mammoclf import ScratchCNNClassifier
    >>> from mammoclf.inspection import grad_cam
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((20, 32, 32)).astype("float32")
    >>> y = np.array([0, 1] * 10)
    >>> clf = ScratchCNNClassifier(filters=(4,), epochs=1, random_state=0).fit(X, y)
    >>> grad_cam(clf, X[:3], target=1).shape
    (3, 32, 32)
    """
    classifier, images = _classifier_and_images(estimator, X)
    keras = import_keras()
    backend = keras.backend.backend()
    if backend not in _GRADIENT_BACKENDS:
        raise BackendNotSupportedError(
            f"Grad-CAM needs gradients, which the {backend!r} Keras backend does not "
            f"provide; set KERAS_BACKEND to one of {list(_GRADIENT_BACKENDS)}."
        )
    feature_model, head_model = _split_at_feature_map(keras, classifier)
    target_index = _target_index(classifier, images, target)
    is_binary = len(classifier.classes_) == 2

    heatmaps = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size]
        features = feature_model(batch, training=False)
        gradients = _GRADIENTS[backend](
            keras,
            head_model,
            features,
            target_index[start : start + batch_size],
            is_binary,
        )
        features = np.asarray(keras.ops.convert_to_numpy(features), dtype=np.float32)
        channel_weights = gradients.mean(axis=(1, 2), keepdims=True)
        cams = np.maximum((channel_weights * features).sum(axis=-1), 0.0)
        heatmaps.append(_upsample(keras, cams, images.shape[1:3]))
    heatmaps = np.concatenate(heatmaps).astype(np.float32)
    if normalize:
        peaks = heatmaps.reshape(len(heatmaps), -1).max(axis=1)
        heatmaps /= np.where(peaks > 0, peaks, 1.0)[:, None, None]
    return heatmaps


def _classifier_and_images(estimator, X):
    if hasattr(estimator, "best_estimator_"):
        estimator = estimator.best_estimator_
    if hasattr(estimator, "steps"):
        check_is_fitted(estimator)
        X = estimator[:-1].transform(X) if len(estimator.steps) > 1 else X
    classifier = final_estimator(estimator)
    if not callable(getattr(classifier, "model_inputs", None)):
        raise TypeError(
            "grad_cam needs a mammoclf Keras classifier (ScratchCNNClassifier, "
            "TransferClassifier on any backbone, DenseNetTransferClassifier) or a "
            f"pipeline ending in one; got "
            f"{type(classifier).__name__}."
        )
    check_is_fitted(classifier)
    if not hasattr(classifier, "feature_map_layer_"):
        raise TypeError(
            f"This {type(classifier).__name__} has no feature_map_layer_ (it was "
            "saved by an older mammoclf): fit it again to use grad_cam."
        )
    return classifier, classifier.model_inputs(X)


def _split_at_feature_map(keras, classifier):
    model = classifier.model_
    feature_map = model.get_layer(classifier.feature_map_layer_).output
    image = model.inputs[0]
    return keras.Model(image, feature_map), keras.Model(feature_map, model.outputs[0])


def _target_index(classifier, images, target):
    if target is None or (isinstance(target, str) and target == "predicted"):
        scores = classifier.decision_function(images)
        if scores.ndim == 1:  # two classes: the logit of classes_[1]
            return (scores > 0).astype(int)
        return scores.argmax(axis=1)
    matches = np.flatnonzero(classifier.classes_ == target)
    if matches.size == 0:
        raise ValueError(
            f"target={target!r} is not a class of this classifier; classes are "
            f"{classifier.classes_.tolist()} (or use target=None for the predicted class)."
        )
    return np.full(images.shape[0], matches[0])


def _class_score(logits, target_index, is_binary, ops):
    """Per-image logit of the target class; a binary model's one logit, negated for class 0."""
    if is_binary:
        sign = ops.convert_to_tensor(
            np.where(target_index == 1, 1.0, -1.0).astype("float32")
        )
        return ops.sum(logits[:, 0] * sign)
    mask = ops.convert_to_tensor(
        np.eye(logits.shape[-1], dtype="float32")[target_index]
    )
    return ops.sum(logits * mask)


def _tensorflow_gradients(keras, head_model, features, target_index, is_binary):
    import tensorflow as tf

    features = tf.convert_to_tensor(features)
    with tf.GradientTape() as tape:
        tape.watch(features)
        score = _class_score(
            head_model(features, training=False), target_index, is_binary, keras.ops
        )
    return tape.gradient(score, features).numpy()


def _jax_gradients(keras, head_model, features, target_index, is_binary):
    import jax

    def score(feature_map):
        return _class_score(
            head_model(feature_map, training=False), target_index, is_binary, keras.ops
        )

    return np.asarray(jax.grad(score)(features))


def _torch_gradients(keras, head_model, features, target_index, is_binary):
    features = features.detach().clone().requires_grad_(True)
    score = _class_score(
        head_model(features, training=False), target_index, is_binary, keras.ops
    )
    score.backward()
    return features.grad.detach().cpu().numpy()


_GRADIENTS = {
    "tensorflow": _tensorflow_gradients,
    "jax": _jax_gradients,
    "torch": _torch_gradients,
}


def _upsample(keras, cams, size):
    resized = keras.ops.image.resize(
        cams[..., np.newaxis].astype("float32"), size, interpolation="bilinear"
    )
    return np.asarray(keras.ops.convert_to_numpy(resized))[..., 0]
