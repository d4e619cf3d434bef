"""Pipelines that apply training-only samplers such as :class:`~mammoclf.Augmenter`.

Augmentation must run while fitting and never at predict or score time, or
evaluation sees augmented copies of its own images. imbalanced-learn's
:class:`imblearn.pipeline.Pipeline` does exactly that with samplers (estimators
with ``fit_resample``): it applies them in ``fit`` and skips them otherwise,
so inside cross-validation they touch the training folds only.

Why a subclass
--------------
:class:`~mammoclf.Augmenter` used in a plain :class:`sklearn.pipeline.Pipeline`
must fail with a message that says what to do. scikit-learn rejects a step
without ``transform`` with its own generic message, so the Augmenter has a
guard ``transform`` that raises a :class:`TypeError` naming
:func:`mammoclf.make_pipeline`. imbalanced-learn's Pipeline, in turn, rejects
any step that has both ``fit_resample`` and ``transform``. The guard is
therefore invisible (``hasattr(step, "transform")`` is False) while this
module's :class:`Pipeline` validates and fits its steps, and visible
everywhere else.

The trade-off: a mammoclf sampler works in :class:`mammoclf.pipeline.Pipeline`
(and :func:`mammoclf.make_pipeline`); in a plain
``imblearn.pipeline.Pipeline`` imbalanced-learn refuses it ("implements
both"); in ``sklearn.pipeline.Pipeline`` it raises our message. Everything
else behaves exactly as imbalanced-learn's Pipeline, ``memory`` caching
included.
"""

import contextlib
import contextvars

from imblearn.pipeline import Pipeline as _ImblearnPipeline
from sklearn.pipeline import _name_estimators
from sklearn.utils._param_validation import HasMethods

from mammoclf.utils._validation import validate_params

__all__ = ["FitOnlyTransformGuard", "Pipeline", "make_pipeline"]

_ACCEPT_FIT_ONLY_SAMPLERS = contextvars.ContextVar(
    "mammoclf_accept_fit_only_samplers", default=False
)


@contextlib.contextmanager
def _fit_only_samplers_accepted():
    token = _ACCEPT_FIT_ONLY_SAMPLERS.set(True)
    try:
        yield
    finally:
        _ACCEPT_FIT_ONLY_SAMPLERS.reset(token)


class FitOnlyTransformGuard:
    """The ``transform`` attribute of a training-only sampler.

    Outside :class:`Pipeline` it is a method that raises a :class:`TypeError`
    saying to use :func:`mammoclf.make_pipeline`; while :class:`Pipeline`
    validates and fits, the attribute does not exist, so the step is treated
    as a pure sampler.
    """

    def __get__(self, instance, owner=None):
        if _ACCEPT_FIT_ONLY_SAMPLERS.get():
            raise AttributeError(
                f"{owner.__name__} is a training-only sampler and has no transform "
                "inside mammoclf.pipeline.Pipeline."
            )
        if instance is None:
            return self
        return _RefusedTransform(type(instance).__name__)


class _RefusedTransform:
    """Bound form of the guard: calling it raises the explanatory TypeError."""

    def __init__(self, sampler_name):
        self._sampler_name = sampler_name

    def __call__(self, X, *args, **kwargs):
        raise TypeError(
            f"{self._sampler_name} augments training data only: it is an "
            "imbalanced-learn sampler (fit_resample) that must run while fitting and "
            "never at predict or score time, so it cannot act as a transformer. "
            "It was called through transform, probably by sklearn.pipeline.Pipeline, "
            "which would apply it at predict time too. Build the pipeline with "
            "mammoclf.make_pipeline(...) (or mammoclf.pipeline.Pipeline) instead."
        )


class Pipeline(_ImblearnPipeline):
    """imbalanced-learn's Pipeline, accepting mammoclf's training-only samplers.

    Samplers (:class:`~mammoclf.Augmenter`, any imbalanced-learn sampler) run
    in ``fit`` only; ``predict``, ``predict_proba``, ``score`` and
    ``transform`` skip them. See the module docstring for why this subclass
    exists. Parameters and methods are those of
    :class:`imblearn.pipeline.Pipeline`.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        The steps in order; the last one is the final estimator.
    transform_input : list of str, default=None
        Metadata parameters transformed by the steps before being passed on.
    memory : str or joblib.Memory, default=None
        Caches fitted transformers and their outputs (see scikit-learn).
        :class:`~mammoclf.DicomLoader` and :class:`~mammoclf.Resizer` are
        deterministic and hash stably, so a repeated fit loads the decoded
        and resized images from the cache.
    verbose : bool, default=False
        Print the time each step took.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from mammoclf import Augmenter
    >>> from mammoclf.pipeline import Pipeline
    >>> X = np.random.default_rng(0).random((8, 16, 16))
    >>> y = np.array([0, 1] * 4)
    >>> flatten = FunctionTransformer(lambda images: images.reshape(len(images), -1))
    >>> pipe = Pipeline([("augment", Augmenter(n_copies=2, random_state=0)),
    ...                  ("flatten", flatten), ("model", LogisticRegression())])
    >>> pipe.fit(X, y).predict(X).shape  # trained on 24 images, predicts 8
    (8,)
    """

    def _validate_steps(self):
        with _fit_only_samplers_accepted():
            return super()._validate_steps()

    def _fit(self, *args, **kwargs):
        with _fit_only_samplers_accepted():
            return super()._fit(*args, **kwargs)


@validate_params(
    {
        "memory": [None, str, HasMethods(["cache"])],
        "transform_input": [list, None],
        "verbose": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_pipeline(*steps, memory=None, transform_input=None, verbose=False):
    """Build a :class:`Pipeline` from estimators, naming the steps automatically.

    The mammoclf counterpart of :func:`imblearn.pipeline.make_pipeline`; use it
    whenever a pipeline contains :class:`~mammoclf.Augmenter`, so that
    augmentation happens inside each training fold only.

    Parameters
    ----------
    *steps : list of estimators
        Transformers and samplers, then a final estimator.
    memory : str or joblib.Memory, default=None
        Cache of fitted transformers (see :class:`Pipeline`).
    transform_input : list of str, default=None
        Metadata parameters transformed by the steps before being passed on.
    verbose : bool, default=False
        Print the time each step took.

    Returns
    -------
    pipeline : Pipeline

    Examples
    --------
    >>> from mammoclf import Augmenter, DicomLoader, Resizer, make_pipeline
    >>> from mammoclf import ScratchCNNClassifier
    >>> pipe = make_pipeline(DicomLoader(), Resizer(size=64),
    ...                      Augmenter(random_state=0), ScratchCNNClassifier())
    >>> [name for name, _ in pipe.steps]
    ['dicomloader', 'resizer', 'augmenter', 'scratchcnnclassifier']
    """
    return Pipeline(
        _name_estimators(steps),
        memory=memory,
        transform_input=transform_input,
        verbose=verbose,
    )
