"""Checkpoints of long fits: resume an interrupted fit after its last completed epoch.

With ``checkpoint_dir`` set, a Keras image classifier writes after every
completed epoch, into that directory:

- ``weights-<n>.weights.h5``: the whole network's weights;
- ``optimizer-<n>.npz``: the variables of the stage's optimizer (step
  count, learning rate, Adam moments, ...), and with early stopping
  ``early-stopping-<n>.npz`` (the best weights so far);
- ``checkpoint.json``: which stages and epochs are done, the history so far,
  the records of finished stages, early-stopping counters, the names of the
  files above, and the identity of the fit (estimator, parameters, seed, a
  digest of the training data, versions).

``<n>`` counts the saves. Each file is written under a temporary name and renamed into place, and
``checkpoint.json`` is replaced only once the files it names are complete; files
of older epochs are removed afterwards. So an interruption at any moment
(exception, ``KeyboardInterrupt``, ``kill -9``, power loss) leaves the
previous epoch's checkpoint loadable.

A later ``fit`` with the same directory, data and parameters restores the
weights, skips the finished stages (DenseNet's freeze schedule), and
continues the interrupted stage after its last completed epoch with the
optimizer and early-stopping state restored. A finished fit's checkpoint
is marked complete: fitting again returns the same model without training.
A checkpoint of another fit (other data, parameters, seed or versions) is
refused with :class:`~mammoclf.exceptions.IncompatibleModelError`.

A resumed fit is not bit-identical to an uninterrupted one: the epochs
after the interruption shuffle the images and draw dropout masks from the
seed anew (Keras's random streams restart with the process), and
``fit_time_`` counts only the resumed part.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mammoclf._version import __version__
from mammoclf.exceptions import IncompatibleModelError
from mammoclf.storage import (
    TEMPORARY_SUFFIX,
    atomic_write,
    content_digest,
    move_into_place,
)

__all__ = ["ResumedStage", "TrainingCheckpoint"]

STATE_FILE = "checkpoint.json"
FORMAT_NAME = "mammoclf-checkpoint"
# 2: every fit, single-stage too, records its stages (records are never None).
FORMAT_VERSION = 2
# Parameters that do not change what is trained: a resumed fit may differ in them.
_NOT_IDENTIFYING = ("callbacks", "verbose", "checkpoint_dir")
_EPOCH_FILE = re.compile(r"^(weights|optimizer|early-stopping)-\d+\.")


def training_identity(keras, estimator, *, seed, arrays):
    """What a checkpoint must match to be resumed: estimator, parameters, seed, data.

    Parameters are compared by ``repr`` (``random_state`` through the seed
    it gave); the data by a SHA-256 digest of the training images, encoded
    labels and sample weights, which also covers their order.
    """
    params = {
        name: repr(value)
        for name, value in sorted(estimator.get_params(deep=False).items())
        if name not in _NOT_IDENTIFYING and name != "random_state"
    }
    return {
        "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        "params": params,
        "seed": int(seed),
        "data": content_digest(*arrays),
        "classes": repr(estimator.classes_.tolist()),
        "mammoclf": __version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
    }


@dataclass
class ResumedStage:
    """Where the stage about to train stands: what its ``_fit_stage`` continues from."""

    epochs: int = 0
    history: dict = field(default_factory=dict)
    # The stage completed, or early stopping ended it: nothing is left to train.
    finished: bool = False
    early_stopping: dict | None = None
    best_weights: list | None = None

    def early_stopping_callback(self, keras, *, patience):
        """Keras's EarlyStopping on ``val_loss``, carrying on from the saved counters."""
        saved = self.early_stopping
        best_weights = self.best_weights

        class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
            def on_train_begin(self, logs=None):
                super().on_train_begin(logs)
                if saved is not None:
                    self.wait = saved["wait"]
                    self.best = saved["best"]
                    self.best_epoch = saved["best_epoch"]
                    self.best_weights = best_weights

            def state(self):
                return {
                    "wait": int(self.wait),
                    "best": None if self.best is None else float(self.best),
                    "best_epoch": int(self.best_epoch),
                }

        return ResumableEarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        )

    def joined_history(self, new_history):
        """The stage's history: the epochs before the interruption, then ``new_history``."""
        names = list(dict.fromkeys([*self.history, *new_history]))
        return {
            name: [*self.history.get(name, []), *new_history.get(name, [])]
            for name in names
        }


class TrainingCheckpoint:
    """The checkpoint directory of one fit; see the module docstring.

    Use :meth:`open` at the start of ``fit``, :meth:`attach` once the network
    is built, :meth:`completed_stage` / :meth:`complete_stage` around each
    stage (a fit has at least one), :meth:`resume_stage` and
    :meth:`epoch_callback` in each stage's ``model.fit``, and :meth:`finish`
    at the end.
    """

    def __init__(self, directory, identity):
        self.directory = Path(directory)
        self.identity = identity
        self.state = None
        self._model = None
        self._stage = 0

    @classmethod
    def open(cls, directory, identity):
        """Open (or create) ``directory``; refuse a checkpoint of another fit."""
        checkpoint = cls(directory, identity)
        path = checkpoint.directory / STATE_FILE
        if checkpoint.directory.exists() and not checkpoint.directory.is_dir():
            raise NotADirectoryError(
                f"checkpoint_dir {os.fspath(directory)!r} exists and is not a directory."
            )
        if path.is_file():
            checkpoint.state = checkpoint._read_state(path)
            checkpoint._check_identity()
        elif checkpoint.directory.is_dir() and any(checkpoint.directory.iterdir()):
            foreign = sorted(
                p.name
                for p in checkpoint.directory.iterdir()
                if not (_EPOCH_FILE.match(p.name) or p.name.endswith(TEMPORARY_SUFFIX))
            )
            if foreign:
                raise IncompatibleModelError(
                    f"checkpoint_dir {os.fspath(directory)!r} holds files that are "
                    f"not a mammoclf checkpoint ({', '.join(foreign[:3])}); give "
                    "an empty or new directory."
                )
        checkpoint.directory.mkdir(parents=True, exist_ok=True)
        return checkpoint

    # ---------------------------------------------------------------- reading
    def _read_state(self, path):
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IncompatibleModelError(
                f"{path} is not a readable mammoclf checkpoint ({exc}); delete the "
                "directory to start the fit from scratch."
            ) from exc
        if (
            state.get("format") != FORMAT_NAME
            or state.get("format_version") != FORMAT_VERSION
        ):
            raise IncompatibleModelError(
                f"{path} is not a version {FORMAT_VERSION} mammoclf checkpoint; delete "
                "the directory to start the fit from scratch."
            )
        state["records"] = [_from_json(record) for record in state["records"]]
        return state

    def _check_identity(self):
        saved, current = self.state["identity"], self.identity
        if saved == current:
            return
        differences = []
        if saved.get("estimator") != current["estimator"]:
            differences.append(f"it is of a {saved.get('estimator')}")
        changed = sorted(
            name
            for name in set(saved.get("params", {})) | set(current["params"])
            if saved.get("params", {}).get(name) != current["params"].get(name)
        )
        if changed:
            differences.append(
                "other parameters: "
                + ", ".join(
                    f"{name}={saved['params'].get(name, '(absent)')} there, "
                    f"{current['params'].get(name, '(absent)')} now"
                    for name in changed
                )
            )
        if saved.get("seed") != current["seed"]:
            differences.append("another random_state")
        if (
            saved.get("data") != current["data"]
            or saved.get("classes") != current["classes"]
        ):
            differences.append(
                "other training data (images, labels, sample weights or their order)"
            )
        for name in ("mammoclf", "keras", "keras_backend"):
            if saved.get(name) != current[name]:
                differences.append(f"{name} {saved.get(name)} (now {current[name]})")
        raise IncompatibleModelError(
            f"checkpoint_dir {os.fspath(self.directory)!r} holds the checkpoint of "
            f"another fit: {'; '.join(differences)}. A checkpoint resumes only the "
            "same fit; use a new checkpoint_dir (one per fit: cross-validation and "
            "grid searches fit many times), or delete it to start from scratch."
        )

    @property
    def complete(self):
        return bool(self.state and self.state["complete"])

    # ------------------------------------------------------------ resumption
    def attach(self, model):
        """Use ``model`` (the whole network) for weights; restore the saved ones."""
        self._model = model
        if self.state is not None:
            try:
                model.load_weights(self._file("weights"))
            except (OSError, ValueError) as exc:
                raise IncompatibleModelError(
                    f"The weights of the checkpoint in {os.fspath(self.directory)!r} "
                    f"cannot be loaded ({exc}); delete the directory to start over."
                ) from exc

    def completed_stage(self, index):
        """``(record, history)`` of stage ``index`` if it finished before, else None."""
        if self.state is None or index >= len(self.state["stage_histories"]):
            return None
        self._stage = index + 1
        return self.state["records"][index], self.state["stage_histories"][index]

    def resume_stage(self, train_model):
        """How far the current stage got; restores ``train_model``'s optimizer state.

        ``train_model`` is the compiled model that trains in this stage (for
        DenseNet, possibly the part above a cached cut).
        """
        if self.state is None:
            return ResumedStage()
        if self._stage < len(self.state["stage_histories"]):
            history = self.state["stage_histories"][self._stage]
            return ResumedStage(
                epochs=len(history.get("loss", [])), history=history, finished=True
            )
        partial = self.state["partial"]
        if partial is None or partial["stage"] != self._stage:
            return ResumedStage()
        optimizer = train_model.optimizer
        optimizer.build(train_model.trainable_variables)
        with np.load(self._file("optimizer"), allow_pickle=False) as saved:
            values = [saved[f"v{i}"] for i in range(len(saved.files))]
        if len(values) != len(optimizer.variables):
            raise IncompatibleModelError(
                f"The checkpoint's optimizer state in {os.fspath(self.directory)!r} has "
                f"{len(values)} variables, the network's optimizer "
                f"{len(optimizer.variables)}; delete the directory to start over."
            )
        for variable, value in zip(optimizer.variables, values):
            variable.assign(value)
        best_weights = None
        if partial["early_stopping"] is not None and self.state["files"].get(
            "early_stopping"
        ):
            with np.load(self._file("early_stopping"), allow_pickle=False) as saved:
                best_weights = [saved[f"w{i}"] for i in range(len(saved.files))]
        resumed = ResumedStage(
            epochs=partial["epochs"],
            history=partial["history"],
            finished=partial["stopped"],
            early_stopping=partial["early_stopping"],
            best_weights=best_weights,
        )
        if resumed.finished and best_weights is not None:
            # Early stopping had ended the stage; its final step, restoring
            # the best weights, may not have run before the interruption.
            train_model.set_weights(best_weights)
        return resumed

    def epoch_callback(self, keras, train_model, resumed, early_stopping=None):
        """A Keras callback that checkpoints after every epoch of this stage.

        It must come after any EarlyStopping callback, whose counters of the
        epoch it saves.
        """
        checkpoint = self

        class SaveEveryEpoch(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.new_history = {}

            def on_epoch_end(self, epoch, logs=None):
                for name, value in (logs or {}).items():
                    self.new_history.setdefault(name, []).append(float(value))
                checkpoint._save_epoch(
                    keras,
                    train_model,
                    epochs=resumed.epochs + len(self.new_history.get("loss", [])),
                    history=resumed.joined_history(self.new_history),
                    stopped=bool(train_model.stop_training),
                    early_stopping=early_stopping,
                )

        return SaveEveryEpoch()

    # ---------------------------------------------------------------- saving
    def complete_stage(self, record, history):
        """Record that the current stage finished, with its final weights."""
        self._write(
            partial=None,
            records=[*self._records(), record],
            stage_histories=[*self._stage_histories(), history],
        )
        self._stage += 1

    def finish(self):
        """Record that the whole fit finished; a new fit then returns this model."""
        self._write(
            partial=None,
            records=self._records(),
            stage_histories=self._stage_histories(),
            complete=True,
        )

    def _records(self):
        return list(self.state["records"]) if self.state else []

    def _stage_histories(self):
        return list(self.state["stage_histories"]) if self.state else []

    def _save_epoch(
        self, keras, train_model, *, epochs, history, stopped, early_stopping
    ):
        optimizer_values = [
            np.asarray(keras.ops.convert_to_numpy(v))
            for v in train_model.optimizer.variables
        ]
        best = None
        if early_stopping is not None:
            best = early_stopping.state()
        partial = {
            "stage": self._stage,
            "epochs": epochs,
            "history": history,
            "stopped": stopped,
            "early_stopping": best,
        }
        best_weights = None if early_stopping is None else early_stopping.best_weights
        self._write(
            partial=partial,
            records=self._records(),
            stage_histories=self._stage_histories(),
            optimizer_values=optimizer_values,
            best_weights=best_weights,
        )

    def _write(
        self,
        *,
        partial,
        records,
        stage_histories,
        complete=False,
        optimizer_values=None,
        best_weights=None,
    ):
        """Write the weights and extra files, then the state naming them; prune."""
        serial = 0 if self.state is None else self.state["serial"] + 1
        files = {"weights": f"weights-{serial:06d}.weights.h5"}
        # Keras picks the format from the suffix: the temporary name keeps it.
        temporary = (
            self.directory / f"weights-{serial:06d}{TEMPORARY_SUFFIX}.weights.h5"
        )
        try:
            self._model.save_weights(temporary)
            move_into_place(temporary, self.directory / files["weights"])
        finally:
            temporary.unlink(missing_ok=True)
        if optimizer_values is not None:
            files["optimizer"] = f"optimizer-{serial:06d}.npz"
            self._write_arrays(files["optimizer"], "v", optimizer_values)
        if best_weights is not None:
            files["early_stopping"] = f"early-stopping-{serial:06d}.npz"
            self._write_arrays(files["early_stopping"], "w", best_weights)
        state = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "identity": self.identity,
            "serial": serial,
            "complete": complete,
            "stage_histories": stage_histories,
            "records": [_to_json(record) for record in records],
            "partial": partial,
            "files": files,
        }
        with atomic_write(self.directory / STATE_FILE, "w") as handle:
            json.dump(state, handle, indent=1)
        state["records"] = list(records)
        self.state = state
        # Files of older epochs, and temporary files a killed process left.
        for path in self.directory.iterdir():
            stale = _EPOCH_FILE.match(path.name) and path.name not in files.values()
            if stale or path.name.endswith(TEMPORARY_SUFFIX):
                path.unlink(missing_ok=True)

    def _write_arrays(self, name, prefix, arrays):
        with atomic_write(self.directory / name) as handle:
            np.savez(
                handle, **{f"{prefix}{i}": np.asarray(a) for i, a in enumerate(arrays)}
            )

    def _file(self, kind):
        return self.directory / self.state["files"][kind]


def _to_json(value):
    """JSON-ready ``value``; tuples are tagged so that they come back as tuples."""
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v) for v in value]}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_json(value):
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_from_json(v) for v in value["__tuple__"])
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value
