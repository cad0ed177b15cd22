"""Keras 3: a callback that makes ``model.fit`` crash-proof.

::

    import keras
    import resumable.keras

    checkpoint = resumable.keras.Checkpoint("runs/digits", keep_last=3)
    model.fit(x, y, epochs=30, validation_data=(xv, yv), callbacks=[checkpoint])

Run the same script again after a crash, a preemption or ``kill -9``: the
callback loads the run's latest good checkpoint when training begins, restores
the weights, the optimizer (iterations, moments, learning rate), the random
generators and its own bookkeeping, and makes ``fit`` start at the epoch after
the last completed one. Nothing else in the script changes.

**How the start epoch reaches Keras.** Keras 3's ``fit`` reads
``model._initial_epoch`` right after calling ``on_train_begin`` and, when it is
set, starts its epoch loop there instead of at ``fit(initial_epoch=…)``
(``keras/src/backend/*/trainer.py``: ``initial_epoch = self._initial_epoch or
initial_epoch``). That is the mechanism Keras' own ``BackupAndRestore``
callback uses, and the callback sets it the same way, so **you do not pass
``initial_epoch`` to ``fit``**. Should you want the number before training (for
a log line, a schedule), :func:`initial_epoch` reads it from the store;
passing it to ``fit(initial_epoch=…)`` is harmless but not needed. The callback
sets ``model._initial_epoch`` back to ``None`` when training ends, so a later
``fit`` on the same model is not affected.

**Mid-epoch checkpoints** (``save_every=N`` batches): a resume starts in the
middle of the epoch it was saved in. With the torch backend the batches of that
epoch that were already trained are passed over without training (the data is
still drawn, in the same shuffled order, because the global random state as of
that epoch's start is restored), so the run continues exactly where it stopped.
With the other backends the epoch is trained again from its first batch (what
``BackupAndRestore`` does), with a warning.

**What a checkpoint holds** (one checkpoint of the store: ``resumable ls``,
``inspect``, ``diff`` and ``verify`` read it):

- ``model.safetensors``: every variable of ``model.weights`` (trainable and
  not: batch-norm statistics too) under its Keras path
  (``sequential/dense/kernel``);
- ``state.json`` + ``state.safetensors``: the optimizer's variables by path
  (``adam/iteration``, ``adam/sequential_dense_kernel_momentum``, the learning
  rate), the model's ``keras.random.SeedGenerator`` states, the compiled
  metrics' accumulators, the global random states (Python ``random``, NumPy,
  torch CPU and initialised CUDA devices, Keras' global seed generator), the
  progress (epoch, step, batch in the epoch) and the callback's own state
  (best score, history);
- the manifest: ``epoch`` (epochs completed), the logs as ``metrics``, and
  ``metadata["epoch_info"]`` — the training summary in the field names of the
  store's own ``training`` summary: ``completed_epochs``, ``total_epochs``,
  ``step``, ``epoch_step``, ``steps_per_epoch``, ``monitor``, ``mode``,
  ``best_score``, ``best_epoch``, ``best_step``, ``finished``,
  ``finish_reason``, ``history`` (per-epoch logs; ``history["epoch"]`` holds the
  1-based epoch numbers).

Epoch numbers in the store are counts of completed epochs: the checkpoint saved
at the end of Keras' epoch index 2 (shown as "Epoch 3/…") has ``epoch`` 3, and
a resume from it starts at Keras' epoch index 3.

Restoring matches variables by path. When the paths differ (a model built
under other layer names, e.g. a second model in the same process) but the
number of variables and their shapes match in order, the variables are
restored in order, with a warning; otherwise the restore is refused (code 64)
naming the variables that do not fit.

Not in a checkpoint: the state of other callbacks (``EarlyStopping``'s
patience, ``ReduceLROnPlateau``'s counters; the learning rate itself is kept),
the position of a data stream when ``fit(steps_per_epoch=…)`` is given (the
epoch's data iterator is recreated), and the TensorFlow backend's global random
generator.
"""

from __future__ import annotations

import math
import os
import random
import sys
import warnings
from typing import Any, Literal, Mapping, Sequence, Union

import keras
import numpy as np

from .errors import EXIT_FAILURE, EXIT_USAGE, ResumableError
from .run import Checkpoint as StoredCheckpoint
from .run import Run, _check_int

__all__ = ["Checkpoint", "initial_epoch", "SaveEvery", "STATE_FORMAT"]

#: ``"epoch"`` or a number of batches.
SaveEvery = Union[Literal["epoch"], int]

#: The ``format`` recorded in the ``state.json`` this callback writes.
STATE_FORMAT = "resumable.keras/1"

_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "fmeasure", "iou", "top_k", "r2")


def _resolve_mode(monitor: str, mode: str) -> str:
    """``min`` or ``max`` for ``monitor``; ``auto`` guesses from its name as Keras' callbacks do."""
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ResumableError(EXIT_USAGE, f"mode must be 'auto', 'min' or 'max', not {mode!r}")
    name = monitor.lower()
    if "loss" in name or "error" in name:
        return "min"
    return "max" if any(word in name for word in _MAX_WORDS) else "min"


def _open_run(run: Run | str | os.PathLike[str] | None, *, monitor: str | None = None, mode: str = "min",
              keep_last: int | None = None) -> Run:
    if isinstance(run, Run):
        return run
    return Run(run, monitor=monitor, mode=mode, keep_last=keep_last)


def initial_epoch(run: Run | str | os.PathLike[str] | None = None) -> int:
    """The epoch ``model.fit`` resumes at: the number of epochs the run's latest checkpoint completed.

    ``run`` is a :class:`~resumable.Run`, a run directory, or ``None`` for the
    run of ``resumable run`` (``RESUMABLE_RUN_DIR``). Under ``resumable run``
    it is the epoch of the checkpoint the supervisor resolved for this attempt;
    otherwise that of the newest checkpoint not listed as corrupt (the
    callback's restore verifies every checksum and may fall back further, and
    then sets the epoch it restored). 0 when there is no checkpoint.

    The :class:`Checkpoint` callback makes ``fit`` start there by itself; this
    is for code that wants the number before training starts.
    """
    opened = _open_run(run)
    rows = [row for row in opened.checkpoints() if row.get("state") != "corrupt"]
    if opened.supervised:
        if opened.resume_from is None:
            return 0
        target = os.path.abspath(opened.resume_from)
        rows = [row for row in rows if os.path.abspath(str(row.get("path", ""))) == target]
    if not rows:
        return 0
    epoch = rows[-1].get("epoch")
    return int(epoch) if isinstance(epoch, int) and not isinstance(epoch, bool) else 0


# Variables ------------------------------------------------------------------------------------


def _unique_names(variables: Sequence[Any]) -> list[str]:
    """Each variable's path (or name), made unique with ``#2``, ``#3``… in order."""
    names: list[str] = []
    seen: set[str] = set()
    for v in variables:
        base = str(getattr(v, "path", None) or getattr(v, "name", None) or "variable")
        name, n = base, 2
        while name in seen:
            name, n = f"{base}#{n}", n + 1
        seen.add(name)
        names.append(name)
    return names


def _to_numpy(variable: Any) -> Any:
    """A copy of a variable's value that training can no longer change, on the host.

    A torch tensor stays one (the package writes torch tensors, bfloat16 included,
    without going through NumPy); other backends' values become NumPy arrays.
    """
    value = variable.value
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True).contiguous()
    return np.array(keras.ops.convert_to_numpy(value), copy=True, order="C")


def _snapshot(variables: Sequence[Any]) -> dict[str, Any]:
    """``{"names": [...], "values": [...]}``: names and values in the variables' order."""
    return {"names": _unique_names(variables), "values": [_to_numpy(v) for v in variables]}


def _assign(variables: Sequence[Any], names: Sequence[str], values: Mapping[str, Any] | Sequence[Any],
            what: str, source: str) -> str | None:
    """Assigns saved values to ``variables``: by name, else in order when the shapes line up.

    ``values`` is a mapping name → array, or a list in the order of ``names``.
    Returns ``None`` when every name matched, else an example of a renamed
    variable (``"'dense_3/kernel' was 'dense/kernel'"``) for the caller's warning.
    """
    saved = dict(values) if isinstance(values, Mapping) else dict(zip(names, values))
    current = _unique_names(variables)
    if len(saved) != len(names):
        raise ResumableError(EXIT_USAGE, f"{source}: the {what} names and values do not match "
                                         f"({len(names)} names, {len(saved)} values)")
    renamed: str | None = None
    if set(current) == set(names):
        pairs = [(v, name, saved[name]) for v, name in zip(variables, current)]
    elif len(current) == len(names) and all(
            tuple(v.shape) == tuple(np.shape(saved[name])) for v, name in zip(variables, names)):
        renamed = next(f"{now!r} was {then!r}" for now, then in zip(current, names) if now != then)
        pairs = [(v, name, saved[name]) for v, name in zip(variables, names)]
    else:
        missing = sorted(set(current) - set(names))
        unexpected = sorted(set(names) - set(current))
        raise ResumableError(
            EXIT_USAGE, f"{source} does not fit this model's {what}: {len(names)} variables saved, "
            f"{len(current)} here; not in the checkpoint: {_few(missing)}; only in the checkpoint: "
            f"{_few(unexpected)}. Build the same model (and optimizer) as the run that saved it, or start "
            "another run directory")
    for v, name, value in pairs:
        if tuple(v.shape) != tuple(np.shape(value)):
            raise ResumableError(
                EXIT_USAGE, f"{source}: {what} variable {name!r} has shape {tuple(np.shape(value))} in the "
                f"checkpoint and {tuple(v.shape)} in this model; build the same model as the run that saved it")
        v.assign(np.array(value, copy=True))
    return renamed


def _few(names: Sequence[str], limit: int = 5) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _seed_generator_variables(model: Any) -> list[Any]:
    """The state variables of the model's ``keras.random.SeedGenerator``s (in ``variables``, not ``weights``)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


# Global random state --------------------------------------------------------------------------


def _keras_global_seed_generator(create: bool = False) -> Any:
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
    except ImportError:  # a Keras that moved its internals: nothing to capture
        return None
    generator = global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)
    if generator is None and create:
        generator = seed_generator.global_seed_generator()
    return generator


def _capture_rng() -> dict[str, Any]:
    """The global random states a training step or a data loader may draw from."""
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(legacy=False)}
    torch = sys.modules.get("torch")
    if torch is not None:
        state["torch"] = torch.get_rng_state().numpy().copy()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["torch_cuda"] = [s.numpy().copy() for s in torch.cuda.get_rng_state_all()]
    generator = _keras_global_seed_generator()
    if generator is not None:
        state["keras_global_seed"] = _to_numpy(generator.state)
    return state


def _restore_rng(state: Mapping[str, Any]) -> None:
    python = state.get("python")
    if python is not None:
        version, internal, gauss = python
        random.setstate((version, tuple(int(x) for x in internal), gauss))
    numpy_state = state.get("numpy")
    if numpy_state is not None:
        numpy_state = dict(numpy_state)
        inner = dict(numpy_state["state"])
        inner["key"] = np.array(inner["key"], dtype=np.uint32)
        numpy_state["state"] = inner
        np.random.set_state(numpy_state)
    torch = sys.modules.get("torch")
    if torch is not None and state.get("torch") is not None:
        torch.set_rng_state(torch.from_numpy(np.array(state["torch"], dtype=np.uint8)))
        cuda = state.get("torch_cuda")
        if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
            torch.cuda.set_rng_state_all([torch.from_numpy(np.array(s, dtype=np.uint8)) for s in cuda])
    if state.get("keras_global_seed") is not None:
        generator = _keras_global_seed_generator(create=True)
        if generator is not None:
            generator.state.assign(np.array(state["keras_global_seed"], copy=True))


def _number(value: Any) -> float | None:
    """A log value as a float, ``None`` when it is not a number."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# The callback ---------------------------------------------------------------------------------


class Checkpoint(keras.callbacks.Callback):
    """Saves ``model.fit``'s whole training state into a Resumable run, and resumes from it.

    Args:
        run: a :class:`~resumable.Run`, a run directory (created at the first
            save), or ``None`` for the run of ``resumable run``
            (``RESUMABLE_RUN_DIR``). A ``Run`` passed in gets ``keep_last`` (when
            given) and, if it has none, the monitor.
        save_every: ``"epoch"`` (at the end of every epoch, after validation), or
            a number N of batches: a checkpoint whenever the global step reaches
            a multiple of N. A multiple reached at an epoch's last batch is saved
            at the end of that epoch instead (so it carries the validation
            logs), and the end of training is always saved.
        monitor: the log that makes a checkpoint better (``"val_loss"``); it
            becomes the run's monitor, by which the store names ``best`` and
            which retention never deletes.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (``max`` for names with
            ``acc``, ``auc``, ``precision``, ``recall``, ``f1``…, ``min``
            otherwise and for any ``loss``).
        save_best_only: save only when ``monitor`` is strictly better than at
            every earlier save point of the run (a NaN never is; a missing
            monitor saves nothing, with a warning). A resume then starts from
            the best checkpoint.
        keep_last: keep the N newest checkpoints (the store's retention,
            ``resumable commit --keep-last``); the latest and the best are
            always kept. ``None`` keeps everything.
        restore: when training begins, resume from the run's latest good
            checkpoint (verified; a corrupt newer one is passed over). With
            ``False``, training starts from scratch, and a run that already has
            checkpoints is refused (``ResumableError`` code 1 naming the run and
            how many) unless ``force``.
        force: with ``restore=False``, delete the run's checkpoints
            (``resumable reset RUN``) instead of refusing.

    Raises:
        ResumableError: code 64 for a bad argument.
    """

    def __init__(self, run: Run | str | os.PathLike[str] | None = None, *, save_every: SaveEvery = "epoch",
                 monitor: str = "val_loss", mode: str = "auto", save_best_only: bool = False,
                 keep_last: int | None = None, restore: bool = True, force: bool = False) -> None:
        super().__init__()
        if save_every != "epoch" and (isinstance(save_every, bool) or not isinstance(save_every, int)
                                      or save_every < 1):
            raise ResumableError(EXIT_USAGE, f"save_every must be 'epoch' or a number of batches ≥ 1, "
                                             f"not {save_every!r}")
        if not isinstance(monitor, str) or not monitor or "=" in monitor:
            raise ResumableError(EXIT_USAGE, f"monitor must be the name of a log, not {monitor!r}")
        if force and restore:
            raise ResumableError(EXIT_USAGE, "force=True deletes the run's checkpoints for a fresh start; "
                                             "it goes with restore=False")
        #: ``"epoch"`` or a number of batches.
        self.save_every: SaveEvery = save_every
        #: The log that makes a checkpoint better.
        self.monitor: str = monitor
        #: ``"min"`` or ``"max"`` (``"auto"`` resolved).
        self.mode: str = _resolve_mode(monitor, mode)
        #: Whether only improvements of ``monitor`` are saved.
        self.save_best_only: bool = bool(save_best_only)
        #: Whether training resumes from the run's latest good checkpoint.
        self.restore: bool = bool(restore)
        #: Whether ``restore=False`` deletes the run's checkpoints instead of refusing.
        self.force: bool = bool(force)
        #: The run checkpoints are saved into.
        self.run: Run = _open_run(run, monitor=monitor, mode=self.mode, keep_last=keep_last)
        if isinstance(run, Run):
            if keep_last is not None:
                run.keep_last = _check_int("keep_last", keep_last, minimum=1)
            if run.monitor is None:
                run.monitor, run.mode = monitor, self.mode
        #: The keep-last retention.
        self.keep_last: int | None = self.run.keep_last
        #: The checkpoint restored when training began (``None``: a fresh start).
        self.restored: StoredCheckpoint | None = None
        self._restored_epochs = 0

        self._started = False
        self._epochs_done = 0      # epochs completed (= Keras' index of the next epoch)
        self._step = 0             # batches trained in the whole run
        self._epoch_step = 0       # batches trained in the epoch in progress
        self._saved_step: int | None = None
        self._deferred_save = False
        self._best: float | None = None
        self._best_epoch: int | None = None
        self._best_step: int | None = None
        self._history: dict[str, list[float | None]] = {"epoch": []}
        self._epoch_start_rng: dict[str, Any] | None = None
        self._last_epoch_logs: dict[str, float] = {}
        self._skip_until = 0       # batches of the resumed epoch to pass over
        self._pending_metrics: dict[str, Any] | None = None
        self._original_train_function: Any = None
        self._pending_rng: Mapping[str, Any] | None = None
        self._warned: set[str] = set()

    # Public helpers ---------------------------------------------------------------------------

    @property
    def initial_epoch(self) -> int:
        """The epoch ``fit`` starts at: the one restored, or (before training) the store's.

        Before ``fit`` it reads the run (see :func:`initial_epoch`); once
        training has begun it is the number of epochs of the checkpoint that was
        restored (0 for a fresh start).
        """
        if self._started:
            return 0 if self.restored is None else self._restored_epochs
        if not self.restore:
            return 0
        return initial_epoch(self.run)

    # Keras hooks --------------------------------------------------------------------------------

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        """Builds the optimizer, then restores the run's latest good checkpoint (or starts afresh)."""
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            # Keras creates the optimizer's variables at the first step; build them now so they can be restored.
            optimizer.build(model.trainable_variables)
        first = not self._started
        self._started = True
        self._skip_until = 0
        self._pending_metrics = None
        if self.restore:
            self.restored = None
            checkpoint = self.run.resume("auto")
            if checkpoint is not None:
                self._restore(checkpoint)
        elif first:
            existing = self.run.checkpoints()
            if existing and not self.force:
                last = existing[-1]
                raise ResumableError(
                    EXIT_FAILURE, f"the run {self.run.dir} already has {len(existing)} checkpoint(s) (up to step "
                    f"{last.get('step')}, epoch {last.get('epoch')}); restore=False would train it from scratch "
                    "over them. Resume it (restore=True), choose another run directory, or pass force=True to "
                    "delete its checkpoints")
            self.run.resume("never", overwrite=self.force)
        if self.restored is not None:
            model._initial_epoch = self._epochs_done
        if self._skip_until:
            self._install_skip()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Notes the epoch and the global random state at its start (mid-epoch checkpoints store it)."""
        if epoch != self._epochs_done:
            # fit(initial_epoch=…) without a checkpoint behind it, or a second fit: follow Keras' count.
            if self._skip_until:
                warnings.warn(f"fit starts at epoch index {epoch}, not at {self._epochs_done} where the checkpoint "
                              "stopped mid-epoch; its batches are not passed over", stacklevel=2)
                self._cancel_skip()
            self._epochs_done = epoch
        if not self._skip_until:
            self._epoch_step = 0
        self._epoch_start_rng = _capture_rng() if self.save_every != "epoch" else None
        if self._pending_metrics is not None:
            # fit reset the metrics just before this; put back what the resumed epoch had accumulated.
            saved, self._pending_metrics = self._pending_metrics, None
            try:
                _assign(self.model.metrics_variables, saved["names"], saved["values"], "metrics",
                        self.restored.path if self.restored is not None else "the checkpoint")
            except ResumableError as error:  # other metrics compiled: only this epoch's logs are affected
                warnings.warn(f"{error.message}; the epoch's metrics restart from its remaining batches",
                              stacklevel=2)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Counts the batch and saves when the global step reaches a multiple of ``save_every``."""
        if batch < self._skip_until:
            return  # a batch of the resumed epoch that the checkpoint already holds
        if self._skip_until:
            self._skip_until = 0
        done = batch + 1 - self._epoch_step
        if done <= 0:
            return
        self._epoch_step = batch + 1
        before, self._step = self._step, self._step + done
        if self.save_every == "epoch" or self._step // self.save_every == before // self.save_every:
            return
        steps = self.params.get("steps") if self.params else None
        if steps and self._epoch_step >= steps:
            self._deferred_save = True  # the epoch's last batch: saved at the epoch's end, with validation
            return
        self._save_point(_logs(logs), epoch_end=False)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Records the epoch's logs and saves (every epoch, or a multiple of ``save_every`` deferred to here)."""
        values = _logs(logs)
        self._epochs_done = epoch + 1
        self._epoch_step = 0
        self._last_epoch_logs = values
        self._history["epoch"].append(epoch + 1)
        length = len(self._history["epoch"])
        for name in set(values) | (set(self._history) - {"epoch"}):
            column = self._history.setdefault(name, [None] * (length - 1))
            column.append(_json_number(values.get(name)))
        if self.save_every == "epoch" or self._deferred_save or self._is_last_epoch():
            self._deferred_save = False
            self._save_point(values, epoch_end=True)
        self._report_progress()

    def _report_progress(self) -> None:
        """Tells ``resumable status`` where training stands (``resumable progress``: epoch x of y).

        Progress is a convenience: a failure to report it warns once and never stops training.
        """
        epochs = self.params.get("epochs") if self.params else None
        if not epochs:
            return
        try:
            self.run.progress(epoch=self._epochs_done, of=max(int(epochs), self._epochs_done), step=self._step)
        except ResumableError as error:
            self._warn_once("progress", f"cannot report progress to {self.run.dir}: {error.message}")

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """Saves the final state if it is not saved yet, and hands the epoch count back to ``fit``'s argument."""
        self._cancel_skip()
        if (not self.save_best_only and self._step > 0 and self._saved_step != self._step
                and self._epoch_step == 0):
            self._save_point(self._last_epoch_logs, epoch_end=True)
        if self.model is not None and getattr(self.model, "_initial_epoch", None) is not None:
            self.model._initial_epoch = None

    # Saving -------------------------------------------------------------------------------------

    def _is_last_epoch(self) -> bool:
        epochs = self.params.get("epochs") if self.params else None
        return bool(epochs) and self._epochs_done >= int(epochs)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=3)

    def _improves(self, value: float | None) -> bool:
        if value is None or math.isnan(value):
            return False
        if self._best is None:
            return True
        return value < self._best if self.mode == "min" else value > self._best

    def _save_point(self, values: dict[str, float], *, epoch_end: bool) -> None:
        """Updates the best score from ``values`` and saves (unless ``save_best_only`` and no improvement)."""
        if self._saved_step == self._step:
            return
        score = values.get(self.monitor)
        if score is None and epoch_end:
            self._warn_once("monitor", f"resumable.keras.Checkpoint: the monitor {self.monitor!r} is not in the "
                            f"logs ({', '.join(sorted(values)) or 'none'}); no checkpoint is better than another"
                            + ("; save_best_only saves nothing" if self.save_best_only else ""))
        improved = self._improves(score)
        if improved:
            self._best = score
            self._best_epoch = self._epochs_done if epoch_end else self._epochs_done + 1
            self._best_step = self._step
        if self.save_best_only and not improved:
            return
        self._save(values, epoch_end=epoch_end)

    def _save(self, values: dict[str, float], *, epoch_end: bool) -> None:
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        weights = list(model.weights)
        weight_names = _unique_names(weights)
        tensors = {name: _to_numpy(v) for name, v in zip(weight_names, weights)}
        steps = self.params.get("steps") if self.params else None
        epochs = self.params.get("epochs") if self.params else None
        progress = {"epoch": self._epochs_done, "epoch_step": self._epoch_step, "step": self._step,
                    "steps_per_epoch": steps, "total_epochs": epochs}
        now = _capture_rng()
        mid_epoch = not epoch_end and self._epoch_start_rng is not None
        state = {
            "format": STATE_FORMAT,
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "progress": progress,
            "model": {"names": weight_names},
            "optimizer": None if optimizer is None else {
                "class": type(optimizer).__name__, **_snapshot(list(optimizer.variables))},
            "seed_generators": _snapshot(_seed_generator_variables(model)),
            "metrics": _snapshot(list(model.metrics_variables)),
            # The global random state when this checkpoint was taken; a mid-epoch one also keeps the state
            # of its epoch's start, from which the data loader drew that epoch's order.
            "rng": now,
            "epoch_begin_rng": self._epoch_start_rng if mid_epoch else None,
            "callback": {"best_score": self._best, "best_epoch": self._best_epoch, "best_step": self._best_step,
                         "monitor": self.monitor, "mode": self.mode, "history": self._history},
        }
        finished = bool(epochs) and epoch_end and self._epochs_done >= int(epochs)
        epoch_info = {
            "completed_epochs": self._epochs_done, "total_epochs": epochs, "step": self._step,
            "epoch_step": self._epoch_step, "steps_per_epoch": steps, "monitor": self.monitor, "mode": self.mode,
            "best_score": _json_number(self._best), "best_epoch": self._best_epoch, "best_step": self._best_step,
            "finished": finished, "finish_reason": "completed" if finished else None,
            "history": self._history,
        }
        metadata = {"epoch_info": epoch_info,
                    "keras": {"version": keras.__version__, "backend": keras.backend.backend(),
                              "save_every": self.save_every, "save_best_only": self.save_best_only}}
        self.run.save(self._step, tensors=tensors, state=state, metrics=values, epoch=self._epochs_done,
                      metadata=metadata)
        self._saved_step = self._step

    # Restoring ----------------------------------------------------------------------------------

    def _restore(self, checkpoint: StoredCheckpoint) -> None:
        model = self.model
        source = checkpoint.path
        state = checkpoint.state
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ResumableError(
                EXIT_USAGE, f"{source} was not written by resumable.keras.Checkpoint (its state.json has no "
                f"format {STATE_FORMAT!r}); restore it yourself with Run.load, or start another run directory")
        names = list(state["model"]["names"])
        missing = [n for n in names if n not in checkpoint.tensors]
        if missing:
            raise ResumableError(EXIT_USAGE, f"{source}: model.safetensors lacks {_few(missing)}")
        renamed = [_assign(list(model.weights), names, {n: checkpoint.tensors[n] for n in names}, "model",
                           source)]
        saved_optimizer = state.get("optimizer")
        optimizer = getattr(model, "optimizer", None)
        if saved_optimizer is not None and optimizer is not None:
            renamed.append(_assign(list(optimizer.variables), saved_optimizer["names"], saved_optimizer["values"],
                                   f"optimizer ({saved_optimizer.get('class')})", source))
        elif saved_optimizer is not None:
            self._warn_once("optimizer", f"{source} holds an optimizer's state but the model has no optimizer; "
                            "only the weights are restored")
        seeds = state.get("seed_generators") or {"names": [], "values": []}
        if seeds["names"]:
            renamed.append(_assign(_seed_generator_variables(model), seeds["names"], seeds["values"],
                                   "seed generator", source))
        examples = [r for r in renamed if r is not None]
        if examples:
            warnings.warn(
                f"{source}: this model's variables have other paths than when they were saved ({examples[0]}: "
                "layers named differently, e.g. a second model built in the same process); their number and "
                "shapes match, so they were restored in order", stacklevel=4)
        epoch_begin_rng = state.get("epoch_begin_rng")
        self._pending_rng = None
        if state["progress"]["epoch_step"] and epoch_begin_rng is not None:
            # Replay the epoch's start (the loader draws the order from it), and once the batches the
            # checkpoint holds are passed over, the state as of the checkpoint (unseeded dropout draws from it).
            _restore_rng(epoch_begin_rng)
            self._pending_rng = state.get("rng") or {}
        else:
            _restore_rng(state.get("rng") or {})
        progress = state["progress"]
        self._epochs_done = int(progress["epoch"])
        self._epoch_step = int(progress["epoch_step"])
        self._step = int(progress["step"])
        self._saved_step = self._step
        self._restored_epochs = self._epochs_done
        callback = state.get("callback") or {}
        if callback.get("monitor") == self.monitor and callback.get("mode") == self.mode:
            self._best = callback.get("best_score")
            self._best_epoch = callback.get("best_epoch")
            self._best_step = callback.get("best_step")
        history = callback.get("history")
        if isinstance(history, dict) and "epoch" in history:
            self._history = {k: list(v) for k, v in history.items()}
        self._last_epoch_logs = dict(checkpoint.metrics) if self._epoch_step == 0 else {}
        self._deferred_save = False
        if self._epoch_step:
            metrics = state.get("metrics") or {"names": [], "values": []}
            self._pending_metrics = metrics if metrics["names"] else None
            self._skip_until = self._epoch_step
        self.restored = checkpoint

    def _install_skip(self) -> None:
        """Passes over the resumed epoch's batches that the checkpoint already holds (torch backend)."""
        model = self.model
        if keras.backend.backend() != "torch" or getattr(model, "train_function", None) is None:
            warnings.warn(f"resumable.keras.Checkpoint: the checkpoint was saved {self._skip_until} batches into "
                          f"epoch {self._epochs_done + 1}; with the {keras.backend.backend()} backend that epoch is "
                          "trained again from its first batch", stacklevel=3)
            self._skip_until = 0
            self._epoch_step = 0
            self._pending_metrics = None  # the epoch's metrics start over with it
            if self._pending_rng is not None:
                _restore_rng(self._pending_rng)
                self._pending_rng = None
            return
        original = model.train_function
        calls = -(-self._skip_until // max(1, int(getattr(model, "steps_per_execution", 1) or 1)))
        remaining = [calls]

        def train_function(*args: Any, **kwargs: Any) -> Any:
            if remaining[0] > 0:
                remaining[0] -= 1
                return model.get_metrics_result()
            model.train_function = original
            if self._pending_rng is not None:
                _restore_rng(self._pending_rng)
                self._pending_rng = None
            return original(*args, **kwargs)

        self._original_train_function = original
        model.train_function = train_function

    def _cancel_skip(self) -> None:
        self._skip_until = 0
        if self._original_train_function is not None and self.model is not None:
            self.model.train_function = self._original_train_function
        self._original_train_function = None


def _logs(logs: Mapping[str, Any] | None) -> dict[str, float]:
    """The numeric entries of Keras' logs, as floats."""
    values: dict[str, float] = {}
    for name, value in (logs or {}).items():
        number = _number(value)
        if number is not None and isinstance(name, str) and name and "=" not in name:
            values[name] = number
    return values

