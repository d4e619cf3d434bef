"""Trace reuse: one grid search three ways, in one process.

The same ``GridSearchCV`` (a small CNN, 6 candidates over dropout and
learning rate, 5 patient-grouped folds, plus the refit) is run

1. by mammoclf with reuse of traced networks (the default),
2. by mammoclf with ``mammoclf.config_context(reuse_traces=False)``,
3. by scikeras' ``KerasClassifier`` wrapping the same Keras network (with a
   sigmoid output, as scikeras expects probabilities), given explicit folds.

It reports wall time, the time spent running the Python body of
``train_step``/``test_step`` (which runs only while TensorFlow traces them:
a lower bound on tracing time), the number of traced train functions, and
checks that runs 1 and 2 give identical cross-validation scores and refit
predictions. scikeras 0.13 predates scikit-learn 1.6's ``__sklearn_tags__``;
if it fails, the row says so.

``--mode study`` times the study instead: ``compare_models`` of its three
models (``ScratchCNNClassifier``, and ``DenseNetTransferClassifier`` at
``weights=None`` with the ``"frozen"`` and ``"partial"`` schedules) over 5
patient-grouped folds, then a refit of each model on all images, without and
with reuse, and checks that out-of-fold scores, ``history_``/``stages_``
(fit times aside) and the refits' decision functions are identical.

Usage: ``python benchmarks/bench_trace_reuse.py [--mode grid|study|both]
[--size 32] [--n-images 120] [--study-images 40]``
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold

sys.path.insert(0, str(Path(__file__).parent))
from _results import append_row

import mammoclf
from mammoclf import DenseNetTransferClassifier, ScratchCNNClassifier, compare_models
from mammoclf.utils._keras import import_keras

GRID = {"dropout": [0.0, 0.25, 0.5], "learning_rate": [1e-3, 1e-2]}
PARAMS = {"filters": (8, 16), "dense_units": 16, "epochs": 2, "batch_size": 16}


def data(n_images, size):
    rng = np.random.default_rng(0)
    X = rng.random((n_images, size, size), dtype=np.float32) * 0.5
    y = np.array([0, 1] * (n_images // 2))
    X[y == 1, size // 3 : size // 2, size // 3 : size // 2] += 0.5
    groups = np.repeat(np.arange(n_images // 2), 2)
    return X, y, groups


class TraceMeter:
    """Counts traced train functions and times the Python bodies of the steps."""

    def __init__(self, keras):
        self.keras, self.seconds, self.train_functions = keras, 0.0, 0
        self._originals = {}

    def __enter__(self):
        model, meter = self.keras.Model, self
        for name in ("train_step", "test_step"):
            original = getattr(model, name)
            self._originals[name] = original

            def timed(self_, data, _original=original):
                started = time.perf_counter()
                try:
                    return _original(self_, data)
                finally:
                    meter.seconds += time.perf_counter() - started

            setattr(model, name, timed)
        make = model.make_train_function
        self._originals["make_train_function"] = make

        def counting(self_, force=False):
            if force or self_.train_function is None:
                meter.train_functions += 1
            return make(self_, force)

        model.make_train_function = counting
        return self

    def __exit__(self, *exc):
        for name, original in self._originals.items():
            setattr(self.keras.Model, name, original)


def mammoclf_search(X, y, groups, folds, *, reuse):
    keras = import_keras()
    with mammoclf.config_context(reuse_traces=reuse), TraceMeter(keras) as meter:
        started = time.perf_counter()
        search = GridSearchCV(
            ScratchCNNClassifier(**PARAMS, random_state=0), GRID, cv=folds
        ).fit(X, y, groups=groups)
        wall = time.perf_counter() - started
    return search, wall, meter


def scikeras_search(X, y, folds):
    from scikeras.wrappers import KerasClassifier

    keras = import_keras()
    image_shape = (*X.shape[1:], 1)

    def network(dropout, learning_rate):
        template = ScratchCNNClassifier(**PARAMS, dropout=dropout)
        logits = template._build_keras_model(keras, image_shape, 1, seed=0)
        outputs = keras.layers.Activation("sigmoid")(logits.outputs[0])
        model = keras.Model(logits.inputs, outputs)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return model

    clf = KerasClassifier(
        model=network,
        dropout=0.5,
        learning_rate=1e-3,
        epochs=PARAMS["epochs"],
        batch_size=PARAMS["batch_size"],
        verbose=0,
        random_state=0,
    )
    with TraceMeter(keras) as meter:
        started = time.perf_counter()
        try:
            GridSearchCV(clf, GRID, cv=folds).fit(X[..., None], y)
        except (TypeError, AttributeError, ValueError) as exc:  # scikit-learn >= 1.6
            return f"failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        wall = time.perf_counter() - started
    return wall, meter


def study_models():
    """The study's three models, sized for a benchmark on CPU."""
    densenet = {"weights": None, "dense_units": 16, "epochs": 1, "batch_size": 16}
    return {
        "scratch": ScratchCNNClassifier(**PARAMS, random_state=0),
        "frozen": DenseNetTransferClassifier(
            **densenet, freeze_schedule="frozen", random_state=0
        ),
        "partial": DenseNetTransferClassifier(
            **densenet, freeze_schedule="partial", random_state=0
        ),
    }


def _without_times(stages):
    return [
        {k: v for k, v in stage.items() if k not in {"fit_time", "cache_time"}}
        for stage in stages
    ]


def study(X, y, groups, *, reuse):
    """compare_models of the three models on 5 folds, then a refit of each."""
    keras = import_keras()
    folds = list(GroupKFold(n_splits=5).split(X, y, groups))
    with mammoclf.config_context(reuse_traces=reuse), TraceMeter(keras) as meter:
        started = time.perf_counter()
        result = compare_models(
            study_models(), X, y, groups=groups, cv=folds, measure_memory=False
        )
        refits = {name: model.fit(X, y) for name, model in study_models().items()}
        wall = time.perf_counter() - started
    outcome = {
        "scores": {name: np.asarray(v) for name, v in result.y_score.items()},
        "histories": result.histories,
        "stages": {
            name: [_without_times(s) for s in runs]
            for name, runs in result.stages.items()
        },
        "refit": {name: m.decision_function(X) for name, m in refits.items()},
        "refit_fits": {
            name: (m.history_, _without_times(m.stages_)) for name, m in refits.items()
        },
    }
    return outcome, wall, meter


def study_row(args):
    X, y, groups = data(args.study_images, args.size)
    # Process-wide start-up (TensorFlow's first graph) charged to no run.
    with mammoclf.config_context(reuse_traces=False):
        ScratchCNNClassifier(**{**PARAMS, "epochs": 1}, random_state=0).fit(
            X[:8], y[:8]
        )
    off, off_wall, off_meter = study(X, y, groups, reuse=False)
    on, on_wall, on_meter = study(X, y, groups, reuse=True)
    same_scores = all(
        np.array_equal(on["scores"][k], off["scores"][k]) for k in off["scores"]
    )
    same_fits = (
        on["histories"] == off["histories"]
        and on["stages"] == off["stages"]
        and on["refit_fits"] == off["refit_fits"]
    )
    same_refit = all(
        np.array_equal(on["refit"][k], off["refit"][k]) for k in off["refit"]
    )
    numbers = (
        f"compare_models of the study's three models (ScratchCNNClassifier"
        f"(filters=(8, 16), 2 epochs); DenseNetTransferClassifier(weights=None, "
        f"dense_units=16, 1 epoch per stage, batch 16) 'frozen' and 'partial') at "
        f"{args.size} px, {args.study_images} images, 5 grouped folds + a refit of "
        f"each: with reuse {on_wall:.1f} s (step Python {on_meter.seconds:.1f} s, "
        f"{on_meter.train_functions} train functions); without reuse "
        f"{off_wall:.1f} s ({off_meter.seconds:.1f} s, {off_meter.train_functions} "
        f"train functions); x{off_wall / on_wall:.2f}; out-of-fold scores "
        f"identical: {same_scores}, histories and stages identical: {same_fits}, "
        f"refit decision functions identical: {same_refit}"
    )
    append_row("trace reuse, study", numbers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["grid", "study", "both"], default="both")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--n-images", type=int, default=120)
    parser.add_argument("--study-images", type=int, default=40)
    args = parser.parse_args()
    if args.mode in ("study", "both"):
        study_row(args)
    if args.mode in ("grid", "both"):
        grid_row(args)


def grid_row(args):
    X, y, groups = data(args.n_images, args.size)
    folds = list(GroupKFold(n_splits=5).split(X, y, groups))
    # Process-wide start-up (TensorFlow's first graph) charged to no run.
    with mammoclf.config_context(reuse_traces=False):
        ScratchCNNClassifier(**{**PARAMS, "epochs": 1}, random_state=0).fit(
            X[:8], y[:8]
        )
    off, off_wall, off_meter = mammoclf_search(X, y, groups, folds, reuse=False)
    on, on_wall, on_meter = mammoclf_search(X, y, groups, folds, reuse=True)
    same_cv = all(
        np.array_equal(on.cv_results_[key], off.cv_results_[key])
        for key in on.cv_results_
        if key.startswith("split")
    )
    same_refit = np.array_equal(
        on.best_estimator_.decision_function(X),
        off.best_estimator_.decision_function(X),
    )
    peer = scikeras_search(X, y, folds)
    if isinstance(peer, str):
        peer_text = f"scikeras KerasClassifier {peer}"
    else:
        peer_wall, peer_meter = peer
        peer_text = (
            f"scikeras KerasClassifier {peer_wall:.1f} s (step Python {peer_meter.seconds:.1f} s, "
            f"{peer_meter.train_functions} train functions), reuse vs scikeras "
            f"x{peer_wall / on_wall:.2f}"
        )
    numbers = (
        f"GridSearchCV of ScratchCNNClassifier(filters=(8, 16), dense_units=16, "
        f"{PARAMS['epochs']} epochs, batch {PARAMS['batch_size']}) at {args.size} px, "
        f"{args.n_images} images, 6 candidates x 5 grouped folds + refit: "
        f"with reuse {on_wall:.1f} s (step Python, i.e. tracing, {on_meter.seconds:.1f} s, "
        f"{on_meter.train_functions} train functions); without reuse {off_wall:.1f} s "
        f"({off_meter.seconds:.1f} s, {off_meter.train_functions} train functions); "
        f"x{off_wall / on_wall:.2f}; CV scores identical: {same_cv}, refit decision "
        f"function identical: {same_refit}; {peer_text}"
    )
    append_row("trace reuse", numbers)


if __name__ == "__main__":
    main()
