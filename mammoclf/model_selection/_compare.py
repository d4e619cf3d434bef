"""Cross-validated comparison of several models on identical, patient-grouped folds."""

import contextlib
import sys
import time
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from joblib.parallel import get_active_backend
from sklearn.base import clone
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples

from mammoclf.classifiers import ActivationStore, shared_activation_store
from mammoclf.exceptions import InvalidImageError
from mammoclf.metrics import (
    CLINICAL_METRICS,
    ClinicalScorer,
    clinical_scorers,
    make_clinical_scorer,
    resolve_pos_label,
)
from mammoclf.model_selection._assemble import assemble_result
from mammoclf.model_selection._fit import fit_and_predict
from mammoclf.model_selection._splits import (
    check_splits,
    make_splits,
    warn_if_groups_missing,
)
from mammoclf.utils._orphans import workers_ending_with_parent
from mammoclf.utils._patients import check_patients_per_class
from mammoclf.utils._validation import check_finite_images, validate_params

__all__ = ["compare_models"]


def _named_estimators(estimators):
    """``[(name, estimator), ...]`` from a dict, a list of pairs or of estimators."""
    if isinstance(estimators, dict):
        pairs = list(estimators.items())
    elif isinstance(estimators, (list, tuple)) and all(
        isinstance(e, tuple) and len(e) == 2 for e in estimators
    ):
        pairs = list(estimators)
    elif isinstance(estimators, (list, tuple)):
        # Name by class, numbering repeats: ScratchCNNClassifier-1, -2, ...
        names = [type(e).__name__ for e in estimators]
        pairs = [
            ((f"{n}-{names[: i + 1].count(n)}" if names.count(n) > 1 else n), e)
            for i, (n, e) in enumerate(zip(names, estimators))
        ]
    else:
        raise TypeError(
            "estimators must be a dict {name: estimator}, a list of (name, estimator) "
            f"pairs or a list of estimators; got {type(estimators).__name__}."
        )
    if not pairs:
        raise ValueError("estimators is empty: give at least one model to evaluate.")
    names = [name for name, _ in pairs]
    if not all(isinstance(name, str) and name for name in names):
        raise TypeError(f"Model names must be non-empty strings; got {names}.")
    if len(set(names)) != len(names):
        raise ValueError(f"Model names must be unique; got {names}.")
    for name, estimator in pairs:
        if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
            raise TypeError(
                f"Model {name!r} ({estimator!r}) has no fit/predict methods."
            )
    return pairs


def _scorers(scoring, pos_label):
    if scoring is None:
        return clinical_scorers(pos_label=pos_label)
    if isinstance(scoring, str):
        scoring = [scoring]
    if isinstance(scoring, dict):
        items = list(scoring.items())
    elif isinstance(scoring, (list, tuple)) and all(
        isinstance(s, str) for s in scoring
    ):
        items = [(name, name) for name in scoring]
    else:
        raise TypeError(
            "scoring must be None, a clinical metric name, a list of names or a dict "
            f"{{name: name or ClinicalScorer}}; got {scoring!r}."
        )
    scorers = {}
    for name, scorer in items:
        if isinstance(scorer, str):
            if scorer not in CLINICAL_METRICS:
                raise ValueError(
                    f"scoring: unknown clinical metric {scorer!r}; choose from "
                    f"{list(CLINICAL_METRICS)} or pass a scorer from "
                    "mammoclf.metrics.make_clinical_scorer."
                )
            scorer = make_clinical_scorer(scorer, pos_label=pos_label)
        elif not isinstance(scorer, ClinicalScorer):
            raise TypeError(
                f"scoring[{name!r}] is {scorer!r}: compare_models scores stored "
                "out-of-fold predictions, so it needs a clinical metric name or a "
                "scorer from mammoclf.metrics.make_clinical_scorer, not an "
                "estimator-calling scikit-learn scorer."
            )
        scorers[name] = scorer
    if not scorers:
        raise ValueError("scoring is empty.")
    return scorers


@validate_params(
    {
        "estimators": [dict, list, tuple],
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like"],
        "groups": ["array-like", None],
        "cv": ["cv_object"],
        "scoring": [str, list, tuple, dict, None],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "pos_label": "no_validation",  # checked by resolve_pos_label
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "return_estimators": ["boolean"],
        "measure_memory": ["boolean"],
        "share_activations": ["boolean"],
        "verbose": ["verbose"],
        "metadata": [pd.DataFrame, None],
    },
    # The estimators are the user's: their parameters are validated in fit.
    prefer_skip_nested_validation=False,
)
def compare_models(
    estimators,
    X,
    y,
    *,
    groups=None,
    cv=None,
    scoring=None,
    n_repeats=1,
    pos_label="auto",
    n_jobs=None,
    random_state=None,
    return_estimators=False,
    measure_memory=True,
    share_activations=True,
    verbose=0,
    metadata=None,
):
    """Cross-validate several models on the same patient-grouped folds.

    Every model (estimator or pipeline) is cloned and fitted on exactly the
    same training folds and scored on the same test folds. The folds are
    computed once, from ``y`` and ``groups`` only, never from an estimator's
    ``is_classifier`` tag, so wrappers such as scikeras's ``KerasClassifier``
    get the same stratified folds as everything else. Scores are computed
    here, from out-of-fold predicted labels and positive-class scores, with
    :mod:`mammoclf.metrics`.

    Augmentation and resampling belong inside the models (e.g. an
    imbalanced-learn pipeline ending in a classifier): each is cloned and
    fitted on the training fold only, so nothing of a test fold leaks into
    training.

    Parameters
    ----------
    estimators : dict, list of (name, estimator) or list of estimators
        The models. Unnamed ones are named after their class.
    X : array-like of shape (n_samples, ...) or sequence of paths
        Images ``(n, H, W[, C])``, flattened images, a DataFrame, or a list
        of file paths for pipelines that start with a loader. Indexed with
        scikit-learn's ``_safe_indexing``.
    y : array-like of shape (n_samples,)
        Labels of two classes.
    groups : array-like of shape (n_samples,), default=None
        Patient id of each image; folds then never split a patient. When
        None, a :class:`GroupLeakageWarning` is issued: nothing in image
        arrays says which images share a patient, so the warning is always
        given (with a count of repeated ``P_xxxxx`` ids when ``X`` holds
        CBIS-DDSM file paths). Pass ``groups=np.arange(n_samples)`` to state
        that each image is a different patient. Estimators whose ``fit``
        consumes ``groups`` through scikit-learn's metadata routing (e.g.
        ``TunedThresholdClassifierCV(cv=StratifiedGroupKFold())``, whose
        threshold is then tuned on patient-grouped inner folds) get the
        training fold's patient ids.
    cv : None, int, splitter or iterable of (train, test), default=None
        None means 5 folds. An int ``k`` gives ``StratifiedGroupKFold(k,
        shuffle=True)`` with ``groups`` (``StratifiedKFold`` without), with
        a new seed for each repeat. A splitter object or an iterable of
        index pairs is used as given; splits that put a group on both sides
        are refused.
    scoring : str, list of str or dict, default=None
        Clinical metric names (see :data:`mammoclf.metrics.CLINICAL_METRICS`)
        or a dict ``{name: metric name or ClinicalScorer}``. None scores all
        clinical metrics.
    n_repeats : int, default=1
        Repeats of k-fold CV with reshuffled folds (``cv`` None or int).
    pos_label : "auto" or label, default="auto"
        The positive (malignant) class, see
        :func:`mammoclf.metrics.resolve_pos_label`.
    n_jobs : int, default=None
        Parallel (model, split) fits through joblib; None means 1 unless in
        a ``joblib.parallel_backend`` context. Each task is one picklable
        fit, so the Dask backend can distribute them.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling of the folds (one seed per repeat). Models are
        seeded by their own ``random_state``; they are not modified.
    return_estimators : bool, default=False
        Keep every fitted model in ``result.estimators`` (memory!).
    measure_memory : bool, default=True
        Sample the resident memory (RSS) of the fitting process during each
        fit (needs psutil). This measures the whole process, misses spikes
        shorter than the 20 ms sampling interval, counts concurrent fits in
        one process together (threading backend) and excludes GPU memory.
    share_activations : bool, default=True
        All fits share one :func:`~mammoclf.classifiers.shared_activation_store`:
        a frozen backbone part (``DenseNetTransferClassifier``) runs once per
        image for the whole comparison, in memory, or in a temporary
        directory that worker processes share when fits run in other
        processes (inside a ``shared_activation_store`` block, that store,
        if it can reach them). Results are those of separate fits; the
        compute table's ``activations_shared`` column gives the fraction of
        a fit's frozen activations read from the store. False: every fit
        caches for itself (``frozen_cache="off"`` on a model opts it out
        of caching altogether).
    verbose : int, default=0
        0 silent; 1 prints one line per finished fit with its score and an
        estimate of the remaining time.
    metadata : pandas.DataFrame of shape (n_samples, n_columns), default=None
        What is known about each image, row for row with ``X``, kept on the
        result for its summary: a ``laterality`` column (``"L"``/``"R"``,
        see :func:`mammoclf.metrics.laterality_from_metadata`) adds
        breast-level scores, and every other column is a subgroup variable
        (breast density, abnormality type, ...) whose values get their own
        metrics. Only the rows' order matters (the index is dropped). No fit
        sees it.

    Returns
    -------
    result : ComparisonResult
        Per-split scores, out-of-fold predictions and scores, timings,
        epochs, memory, folds, each split's decision threshold (see
        :func:`~mammoclf.model_selection.decision_threshold`), the metadata
        and, optionally, the fitted models.
        ``print(mammoclf.evaluation.summarize(result))`` gives Table 1 and
        the tests.

    Raises
    ------
    ValueError
        For labels that are not binary, splits that leak a patient or lack
        a class in training, and unusable ``scoring``.

    See Also
    --------
    mammoclf.evaluation.pairwise_tests : Tests across the compared models.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from mammoclf.model_selection import compare_models
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5))
    >>> y = np.where(X[:, 0] + 0.5 * rng.normal(size=60) > 0, "MALIGNANT", "BENIGN")
    >>> patients = np.arange(60) // 2              # two images per patient
    >>> result = compare_models(
    ...     {"logreg": LogisticRegression(), "knn": KNeighborsClassifier(15)},
    ...     X, y, groups=patients, cv=3, random_state=0)
    >>> result.fold_scores("roc_auc").shape        # 3 folds x 2 models
    (3, 2)
    >>> result.scores.columns.tolist()[:3]
    ['accuracy', 'sensitivity', 'specificity']
    >>> from mammoclf.evaluation import summarize
    >>> table = summarize(result).scores            # Table 1 as a DataFrame
    >>> table.loc["roc_auc"].columns.tolist()
    ['mean', 'sd', 'ci_low', 'ci_high', 'n_splits', 'n_defined']
    """
    inputs = _check_inputs(
        estimators, X, y, groups, scoring, pos_label, cv, metadata=metadata
    )
    splits, description = make_splits(
        cv, inputs.y, inputs.groups, n_repeats=n_repeats, random_state=random_state
    )
    check_splits(splits, inputs.y, inputs.groups)
    with _study_store(share_activations, n_jobs) as store:
        outputs = _run_fits(
            inputs,
            X,
            splits,
            description,
            n_jobs=n_jobs,
            store=store,
            measure_memory=measure_memory,
            return_estimators=return_estimators,
            verbose=verbose,
        )
    return assemble_result(
        inputs, splits, description, outputs, return_estimators=return_estimators
    )


@dataclass(frozen=True)
class _CheckedInputs:
    """The validated arguments of :func:`compare_models` that every step needs."""

    pairs: list
    y: np.ndarray
    groups: np.ndarray | None
    classes: np.ndarray
    pos_label: object
    scorers: dict
    metadata: pd.DataFrame | None = None

    @property
    def names(self):
        return [name for name, _ in self.pairs]


def _check_inputs(estimators, X, y, groups, scoring, pos_label, cv, metadata=None):
    """Validate the models, images, labels, groups and scoring of a comparison."""
    pairs = _named_estimators(estimators)
    n_samples = _num_samples(X)
    if n_samples == 0:
        raise InvalidImageError("compare_models got 0 images (X is empty).")
    if isinstance(X, np.ndarray) and X.dtype.kind in "fc" and X.ndim >= 2:
        # Here, not in the folds' fits: those would number the images of a fold.
        check_finite_images(X)
    y, classes = _check_binary_labels(y, n_samples)
    if groups is None:
        warn_if_groups_missing(X, n_samples)
    else:
        groups = column_or_1d(groups)
        if groups.shape[0] != n_samples:
            raise ValueError(
                f"groups has {groups.shape[0]} entries for {n_samples} images."
            )
        # Folds made here (cv None or int) need cv patients per class.
        n_folds = 5 if cv is None else (cv if isinstance(cv, Integral) else None)
        check_patients_per_class(
            y, groups, n_folds=n_folds, folds_option=f"cv={5 if cv is None else cv}"
        )
    pos_label = resolve_pos_label(classes, pos_label)
    scorers = _scorers(scoring, pos_label)
    if any(s.response == "score" for s in scorers.values()):
        _check_score_methods(pairs)
    if metadata is not None:
        if len(metadata) != n_samples:
            raise ValueError(
                f"metadata has {len(metadata)} rows for {n_samples} images; it needs "
                "one row per image, in the order of X."
            )
        metadata = metadata.reset_index(drop=True)
    return _CheckedInputs(pairs, y, groups, classes, pos_label, scorers, metadata)


def _check_binary_labels(y, n_samples):
    y = column_or_1d(y)
    check_classification_targets(y)
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(
            f"compare_models compares binary classifiers; y has {classes.size} "
            f"class(es): {classes.tolist()}."
        )
    if n_samples != y.shape[0]:
        raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]} labels.")
    return y, classes


def _check_score_methods(pairs):
    for name, estimator in pairs:
        if not (
            hasattr(estimator, "predict_proba")
            or hasattr(estimator, "decision_function")
        ):
            raise ValueError(
                f"Model {name!r} has neither predict_proba nor decision_function, "
                "so score-based metrics (roc_auc) cannot be computed; drop them "
                "from scoring."
            )


def _run_fits(
    inputs,
    X,
    splits,
    description,
    *,
    n_jobs,
    store,
    measure_memory,
    return_estimators,
    verbose,
):
    """Fit every model on every split through joblib; the per-split outputs."""
    tasks = [
        (name, estimator, index)
        for name, estimator in inputs.pairs
        for index in range(len(splits))
    ]
    if verbose:
        print(
            f"[compare_models] {len(inputs.pairs)} model(s) x {len(splits)} splits = "
            f"{len(tasks)} fits; {description}",
            file=sys.stderr,
            flush=True,
        )
    jobs = (
        delayed(fit_and_predict)(
            clone(estimator),
            X,
            inputs.y,
            splits[index].train,
            splits[index].test,
            model=name,
            split_index=index,
            pos_label=inputs.pos_label,
            measure_memory=measure_memory,
            return_estimator=return_estimators,
            describe=f"repeat {splits[index].repeat}, fold {splits[index].fold}",
            groups=inputs.groups,
            activation_store=store,
        )
        for name, estimator, index in tasks
    )
    # Results stream in as fits finish, for the progress lines, where the
    # joblib backend can stream them; Ray's and "multiprocessing" cannot and
    # hand them over when all fits are done (the result is the same).
    backend, _ = get_active_backend()
    streams = backend.supports_return_generator
    if verbose and not streams:
        print(
            f"[compare_models] the joblib backend {type(backend).__name__} returns "
            "results only when all fits are done: progress lines come then.",
            file=sys.stderr,
            flush=True,
        )
    started = time.perf_counter()
    outputs = []
    for output in Parallel(
        n_jobs=n_jobs,
        return_as="generator" if streams else "list",
        backend=workers_ending_with_parent(),
    )(jobs):
        outputs.append(output)
        if verbose:
            _report_progress(output, inputs, splits, len(outputs), len(tasks), started)
    return outputs


def _study_store(share_activations, n_jobs):
    """The activation store of this comparison (a context manager), or a null one."""
    if not share_activations:
        return contextlib.nullcontext()
    # Fits in other processes reach the store through its directory.
    backend, _ = get_active_backend()
    in_process = effective_n_jobs(n_jobs) == 1 or getattr(
        backend, "uses_threads", False
    )
    outer = ActivationStore.active()
    if outer is not None and (in_process or outer.storage == "disk"):
        return shared_activation_store(outer)
    return shared_activation_store(storage="auto" if in_process else "disk")


def _report_progress(output, inputs, splits, done, total, started):
    split = splits[output.split_index]
    scorers = inputs.scorers
    name, scorer = next(iter(scorers.items()))
    if "roc_auc" in scorers and output.y_score is not None:
        name, scorer = "roc_auc", scorers["roc_auc"]
    score = scorer.score_predictions(
        inputs.y[split.test],
        y_pred=output.y_pred,
        y_score=output.y_score,
        pos_label=inputs.pos_label,
    )
    elapsed = time.perf_counter() - started
    remaining = elapsed / done * (total - done)
    print(
        f"[compare_models] {done:>{len(str(total))}}/{total} {output.model} repeat "
        f"{split.repeat} fold {split.fold}: fit {output.fit_time:.1f} s, {name} "
        f"{score:.3f}; elapsed {elapsed:.0f} s, ~{remaining:.0f} s left",
        file=sys.stderr,
        flush=True,
    )
