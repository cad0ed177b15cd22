"""PyTorch Lightning on the checkpoint store: atomic, verified checkpoints and automatic resume.

::

    from lightning.pytorch import Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint
    from resumable.lightning import AutoResume, ResumableCheckpointIO

    io = ResumableCheckpointIO("runs/mnist")              # or () under `resumable run`
    trainer = Trainer(plugins=[io],
                      callbacks=[ModelCheckpoint(monitor="val_loss", save_last=True), AutoResume(io)],
                      logger=WandbLogger(project="mnist"))
    trainer.fit(model)          # no ckpt_path: resumes from the newest checkpoint that verifies

:class:`ResumableCheckpointIO` is a Lightning ``CheckpointIO`` plugin. Every
checkpoint Lightning saves (``ModelCheckpoint``, ``Trainer.save_checkpoint``)
is committed into a Resumable run through :meth:`resumable.Run.save`: the
model's ``state_dict`` to ``model.safetensors``, every other tensor (optimizer
moments, scheduler and callback tensors, RNG states) to ``state.safetensors``
and everything else to ``state.json`` -- no pickle. The Lightning file name
(``epoch=3-step=120.ckpt``, ``last.ckpt``) is recorded in the checkpoint's
manifest (``metadata["lightning"]["paths"]``), and a small JSON *pointer file*
is written at that path so that what Lightning probes on the file system keeps
working: ``ModelCheckpoint``'s exists checks and version counters,
``ckpt_path="last"`` (``_find_last_checkpoints``), ``save_last="link"``
symbolic links, ``ckpt_path="best"``.

The pointer file is not a torch checkpoint: ``torch.load`` and
``LightningModule.load_from_checkpoint`` cannot read it. Load one with
:func:`load_from_checkpoint`, or through a Trainer that has the plugin.

:class:`AutoResume` is a callback that makes ``trainer.fit(model)`` resume by
itself: see its documentation for the mechanism. It also carries the RNG
states (so a resumed run ends bit-identical to an uninterrupted one under
``deterministic=True``) and keeps the experiment tracker run (W&B, MLflow)
going across attempts.
"""

from __future__ import annotations

import inspect
import io as _io
import json
import logging
import os
import random
import re
import stat
import sys
import types
import typing
import warnings
import weakref
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.callbacks import ModelCheckpoint, OnExceptionCheckpoint
from lightning.pytorch.loggers import MLFlowLogger, WandbLogger

import lightning.pytorch as pl

from ._binary import run_cli
from ._safetensors import is_tensor, open_regular
from .errors import EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE, ResumableError
from .run import INCOMING, Run

__all__ = [
    "ResumableCheckpointIO",
    "AutoResume",
    "load_from_checkpoint",
    "fix_hyperparameters",
    "POINTER_FORMAT",
]

logger = logging.getLogger("resumable.lightning")

#: The ``format`` of the JSON pointer file written at each Lightning checkpoint path.
POINTER_FORMAT = "resumable.lightning.pointer"
_POINTER_MAX_BYTES = 1 << 16
_MANIFEST_MAX_BYTES = 64 << 20
#: The file :class:`AutoResume` hands to Lightning as its resume point: ``RUN/.incoming/PID-lightning-resume.ckpt``
#: (PID-prefixed like the package's other files there, so what a dead process left is removed at the next save).
_RESUME_POINTER = "lightning-resume.ckpt"


def _resume_pointer_path(run_dir: str) -> str:
    return os.path.join(run_dir, INCOMING, f"{os.getpid()}-{_RESUME_POINTER}")
_PIN = "pinned"
_UNSET: Any = object()
_DEFAULT_KEEP_LAST = 3


def _step_dir(run_dir: str, step: int) -> str:
    return os.path.join(run_dir, "checkpoints", f"step-{step:012d}")


def _is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _normalize(path: _PATH) -> str:
    text = os.fspath(path)
    if text.startswith("file://"):
        text = text[len("file://"):]
    return text if _is_remote(text) else os.path.abspath(os.path.expanduser(text))


def _read_pointer(path: str) -> Optional[dict[str, Any]]:
    """The pointer at ``path`` (following a ``save_last="link"`` symbolic link), or ``None`` for any other file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = os.read(fd, _POINTER_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(head) > _POINTER_MAX_BYTES or not head.lstrip().startswith(b"{"):
        return None
    try:
        pointer = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if (not isinstance(pointer, dict) or pointer.get("format") != POINTER_FORMAT
            or not isinstance(pointer.get("run"), str) or not isinstance(pointer.get("step"), int)):
        return None
    return pointer


def _write_pointer(path: str, run_dir: str, step: int, temporary: Optional[str] = None) -> None:
    """Writes the pointer file atomically (``temporary``, then rename): a crash leaves the old one or the new one."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    pointer = {
        "format": POINTER_FORMAT, "version": 1, "run": run_dir, "step": step,
        "checkpoint": _step_dir(run_dir, step),
        "note": "This file stands for a Lightning checkpoint kept in a Resumable run (no pickle, verified). "
                "Load it with resumable.lightning.load_from_checkpoint or a Trainer with ResumableCheckpointIO; "
                f"inspect it with `resumable inspect {run_dir}@step-{step}`.",
    }
    temporary = temporary or os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(pointer, f, indent=1)
        f.write("\n")
    os.replace(temporary, path)


def _remove_pointer(path: str) -> None:
    """Removes the pointer (or ``save_last="link"`` symbolic link) at ``path``; any other file is left alone."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or _read_pointer(path) is not None:
        os.unlink(path)
    else:
        logger.info("%s is not a pointer of this plugin; it is left in place", path)


def _float_metric(value: Any) -> Optional[float]:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            return None
        value = value.detach().cpu().item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _capture_rng() -> dict[str, Any]:
    """The states of every random generator training draws from: Python, NumPy, torch (CPU and CUDA)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": _numpy_rng_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def _numpy_rng_state() -> dict[str, Any]:
    state = np.random.get_state(legacy=False)
    assert isinstance(state, dict)
    inner = dict(state["state"])
    inner["key"] = np.asarray(inner["key"], dtype=np.int64)  # uint32 does not round-trip through torch
    return {**state, "state": inner}


def _restore_rng(state: Mapping[str, Any]) -> None:
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        saved = dict(state["numpy"])
        inner = dict(saved["state"])
        key = inner["key"]
        inner["key"] = np.asarray(key.numpy() if isinstance(key, torch.Tensor) else key, dtype=np.int64).astype(np.uint32)
        saved["state"] = inner
        np.random.set_state(saved)
    if "torch" in state:
        torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).clone())
    if "cuda" in state and torch.cuda.is_available():
        devices = [torch.as_tensor(s, dtype=torch.uint8).clone() for s in state["cuda"]]
        if len(devices) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(devices)
        else:
            logger.warning("the checkpoint holds the RNG states of %d CUDA devices, this machine has %d: "
                           "the CUDA generators are not restored", len(devices), torch.cuda.device_count())


def _split(checkpoint: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's tensors (``model.safetensors``) and the rest of the Lightning checkpoint (``state.json``).

    In the state, each tensor of ``state_dict`` is left as ``None`` under its
    name; :func:`_join` puts it back (other values of ``state_dict`` stay).
    """
    state = dict(checkpoint)
    tensors: dict[str, Any] = {}
    model = checkpoint.get("state_dict")
    if isinstance(model, Mapping):
        rest: dict[Any, Any] = {}
        for key, value in model.items():
            if isinstance(key, str) and key and key != "__metadata__" and is_tensor(value):
                tensors[key] = value
                rest[key] = None
            else:
                rest[key] = value
        state["state_dict"] = rest
    return tensors, state


def _join(tensors: Mapping[str, Any], state: Any) -> dict[str, Any]:
    if not isinstance(state, dict):
        raise ResumableError(65, "the checkpoint's state.json is not a Lightning checkpoint (not an object)")
    checkpoint = dict(state)
    model = checkpoint.get("state_dict")
    if isinstance(model, dict):
        joined = {k: (tensors[k] if v is None and k in tensors else v) for k, v in model.items()}
        for key, value in tensors.items():
            joined.setdefault(key, value)
        checkpoint["state_dict"] = joined
    elif tensors:
        checkpoint["state_dict"] = dict(tensors)
    return checkpoint


def _is_last_name(path: str) -> bool:
    last = re.escape(ModelCheckpoint.CHECKPOINT_NAME_LAST)
    return re.fullmatch(rf"{last}(-v\d+)?{re.escape(ModelCheckpoint.FILE_EXTENSION)}",
                        os.path.basename(path)) is not None


def _restore_last_model_paths(checkpoint: dict[str, Any], paths: list[str]) -> None:
    """Sets ``ModelCheckpoint``'s ``last_model_path`` to the ``last.ckpt`` this checkpoint was also saved as.

    ``ModelCheckpoint`` saves a top-k file and then ``last.ckpt`` at the same
    step, updating ``last_model_path`` in between; the store keeps the first
    save's content, so the second one's ``last_model_path`` is put back here
    (without it a resumed ModelCheckpoint would find ``last.ckpt`` taken and
    write ``last-v1.ckpt``).
    """
    callbacks = checkpoint.get("callbacks")
    if not isinstance(callbacks, dict):
        return
    for key, state in callbacks.items():
        if not (isinstance(key, str) and key.startswith("ModelCheckpoint") and isinstance(state, dict)):
            continue
        directory = state.get("dirpath")
        for path in paths:
            if _is_last_name(path) and isinstance(directory, str) and os.path.dirname(path) == _normalize(directory):
                state["last_model_path"] = path
                break


def _device_of(map_location: Any) -> str:
    if isinstance(map_location, (str, torch.device)):
        return str(map_location)
    return "cpu"  # a function or a mapping: Lightning moves the tensors where they belong


# Hyperparameters ------------------------------------------------------------------------------------


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the annotation ``hint``; annotations this cannot judge pass."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin is Union or (origin is not None and origin is getattr(types, "UnionType", None)):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if origin in (list, tuple, set, frozenset):
        return isinstance(value, (list, tuple, set, frozenset))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return isinstance(value, Mapping)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (list, tuple):
        return isinstance(value, (list, tuple))
    if isinstance(hint, type) and hint.__module__ == "builtins":
        return isinstance(value, hint)
    return True


def fix_hyperparameters(checkpoint: dict[str, Any], cls: type) -> list[tuple[str, str]]:
    """Drops the ``hyper_parameters`` of ``checkpoint`` that ``cls.__init__`` would refuse; returns them with why.

    A key fails when ``cls.__init__`` has no parameter of that name (and no
    ``**kwargs``), or when its value contradicts the parameter's annotation
    (``int``, ``float``, ``str``, ``bool``, ``Optional``/``Union``,
    ``Literal``, containers). This is what an old ``last.ckpt`` trips over
    after an argument of the module was renamed, removed or retyped (a
    LightningCLI refuses it, ``load_from_checkpoint`` fails). Lightning's own
    markers (``_instantiator``, ``_class_path``) are kept. Each drop is logged
    as a warning on the ``resumable.lightning`` logger.
    """
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, Mapping):
        return []
    try:
        signature = inspect.signature(getattr(cls, "__init__"))
    except (TypeError, ValueError):
        return []
    parameters = {name: p for name, p in signature.parameters.items()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    parameters.pop(next(iter(signature.parameters), "self"), None)  # self
    if checkpoint.get("hparams_name") in parameters:
        return []  # the hyperparameters are one argument (a dict or Namespace), not keyword arguments
    takes_any = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    try:
        hints = typing.get_type_hints(getattr(cls, "__init__"))
    except Exception:  # unresolvable forward references: judge names only
        hints = {}
    dropped: list[tuple[str, str]] = []
    fixed = dict(hparams)
    for key, value in hparams.items():
        if key in ("_instantiator", "_class_path"):
            continue
        if key not in parameters:
            if not takes_any:
                dropped.append((str(key), f"{cls.__qualname__}.__init__ has no argument {key!r}"))
        elif key in hints and not _matches(value, hints[key]):
            dropped.append((str(key), f"{value!r} does not fit {cls.__qualname__}.__init__'s annotation "
                                      f"{getattr(hints[key], '__name__', None) or hints[key]}"))
    for key, why in dropped:
        fixed.pop(key, None)
        logger.warning("fix_hparams: dropped hyper_parameters[%r]: %s", key, why)
    if dropped:
        checkpoint["hyper_parameters"] = type(hparams)(fixed) if isinstance(hparams, dict) else fixed
    return dropped


# Trackers -------------------------------------------------------------------------------------------


def _wandb_of(experiment: Any) -> Optional[dict[str, Any]]:
    run_id = getattr(experiment, "id", None)
    if not isinstance(run_id, str) or not run_id:
        return None  # a disabled run
    found: dict[str, Any] = {"run_id": run_id}
    for key in ("project", "entity", "name"):
        value = getattr(experiment, key, None)
        found[key] = value if isinstance(value, str) else None
    return found


def _tracker_metadata(trainer: Optional["pl.Trainer"]) -> dict[str, Any]:
    """``{"wandb": {run_id, project, entity, name}, "mlflow": {run_id, experiment_id}}`` of the trainer's loggers."""
    found: dict[str, Any] = {}
    for each in (trainer.loggers if trainer is not None else []):
        try:
            if isinstance(each, WandbLogger) and "wandb" not in found:
                recorded = _wandb_of(each.experiment)
                if recorded:
                    found["wandb"] = recorded
            elif isinstance(each, MLFlowLogger) and "mlflow" not in found:
                run_id = getattr(each, "_run_id", None) or each.run_id  # the property creates the run if need be
                experiment_id = getattr(each, "_experiment_id", None) or each.experiment_id
                if run_id:
                    found["mlflow"] = {"run_id": str(run_id),
                                       "experiment_id": None if experiment_id is None else str(experiment_id)}
        except Exception as error:  # a tracker that cannot say never stops a checkpoint
            logger.warning("could not read the %s run id: %s", type(each).__name__, error)
    if "wandb" not in found and "wandb" in sys.modules:
        recorded = _wandb_of(getattr(sys.modules["wandb"], "run", None))
        if recorded:
            found["wandb"] = recorded
    return found


def _trackers_of(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Tracker runs recorded in a manifest: ``metadata.wandb`` etc., top-level ``wandb``/``mlflow`` winning."""
    found: dict[str, dict[str, Any]] = {}
    metadata = manifest.get("metadata")
    for name in ("wandb", "mlflow"):
        merged: dict[str, Any] = {}
        for source in ((metadata or {}).get(name) if isinstance(metadata, dict) else None, manifest.get(name)):
            if isinstance(source, dict):
                merged.update(source)
        if isinstance(merged.get("run_id"), str) and merged["run_id"]:
            found[name] = merged
    return found


# The plugin ------------------------------------------------------------------------------------------


class ResumableCheckpointIO(CheckpointIO):
    """A Lightning ``CheckpointIO`` that commits checkpoints into a Resumable run.

    Args:
        run: the run: a :class:`resumable.Run`, a directory, or ``None`` for
            ``$RESUMABLE_RUN_DIR`` (under ``resumable run``).
        allow_pickle: store values JSON cannot hold (a ``Namespace`` in
            ``hyper_parameters``, a ``Path``, …) pickled with ``torch.save``
            instead of refusing the checkpoint; they are loaded only with
            ``torch.load(weights_only=True)``, which refuses anything but
            tensors and plain containers. Without it such a value fails the
            save with a ``TypeError`` naming its key path.
        keep_last, keep_best, keep_every, monitor, mode: the store's retention,
            used when the plugin opens the run itself (a :class:`Run` you pass
            keeps its own). ``keep_last`` defaults to 3.
        pin_named: tag ``pinned`` every checkpoint that carries a Lightning
            file name other than ``last.ckpt`` (ModelCheckpoint's top-k files,
            ``Trainer.save_checkpoint`` files), so retention keeps at least what
            Lightning keeps; the tag goes when Lightning removes the name.

    **Saving.** ``save_checkpoint(checkpoint, path)`` commits the checkpoint at
    step ``checkpoint["global_step"]``, epoch ``checkpoint["epoch"]``, with the
    trainer's logged metrics (when :class:`AutoResume` is in the trainer; else
    ``ModelCheckpoint``'s monitored score) and the tracker runs in the manifest.
    A second save at a step already committed -- ``ModelCheckpoint`` saves
    ``last.ckpt`` right after a top-k file at the same step -- adds the name
    to that checkpoint (``resumable edit``); the content committed first is
    kept (the two differ only in ``ModelCheckpoint.last_model_path``, which
    loading puts back from the names). A name saved again at a later step
    moves there. Then the pointer file is written at ``path``.

    **Removing.** ``remove_checkpoint(path)`` removes the name from its
    checkpoint (and the pointer file); it deletes nothing in the store.
    Checkpoints are deleted by the store's retention after later commits:
    ``keep_last``/``keep_best``/``keep_every``, and the store never deletes the
    latest, the best (by the run's monitor, which defaults to the
    ModelCheckpoint's) or a ``pinned`` checkpoint.

    **Loading.** ``load_checkpoint(path)`` takes a pointer file (or a
    symbolic link to one), a checkpoint directory of a run, a Lightning path
    whose pointer file is gone (looked up by the names in the manifests), or a
    plain torch ``.ckpt`` from before the plugin (loaded with
    ``weights_only=True`` unless Lightning passes ``weights_only=False``).
    The checkpoint is verified (every checksum) unless this process verified
    or committed it already.
    """

    def __init__(self, run: Union[Run, str, "os.PathLike[str]", None] = None, *, allow_pickle: bool = False,
                 keep_last: Optional[int] = _UNSET, keep_best: Optional[int] = _UNSET,
                 keep_every: Optional[int] = _UNSET, monitor: Optional[str] = _UNSET, mode: str = _UNSET,
                 pin_named: bool = True, binary: Optional[str] = None) -> None:
        retention = {"keep_last": keep_last, "keep_best": keep_best, "keep_every": keep_every,
                     "monitor": monitor, "mode": mode}
        given: dict[str, Any] = {k: v for k, v in retention.items() if v is not _UNSET}
        if isinstance(run, Run):
            if given:
                raise TypeError(f"{', '.join(given)} cannot be given with a Run: set them on the Run itself")
            self._run = run
        else:
            given.setdefault("keep_last", _DEFAULT_KEEP_LAST)
            self._run = Run(run, binary=binary, **given)
        self.allow_pickle = allow_pickle
        self.pin_named = pin_named
        self._trainer_ref: Optional[Callable[[], Optional["pl.Trainer"]]] = None
        self._names: Optional[dict[int, list[str]]] = None  # step -> Lightning paths, from the manifests
        self._pinned_by_us: set[int] = set()
        self._verified: set[str] = set()
        #: The LightningModule class whose __init__ hyper_parameters are checked on load (AutoResume(fix_hparams=True)).
        self.fix_hparams_for: Optional[type] = None

    @property
    def run(self) -> Run:
        """The :class:`resumable.Run` the checkpoints are committed to."""
        return self._run

    def __repr__(self) -> str:
        return f"ResumableCheckpointIO({self._run.dir!r})"

    # The trainer, when AutoResume connected it ------------------------------------------------------------

    def _attach(self, trainer: "pl.Trainer") -> None:
        self._trainer_ref = weakref.ref(trainer)

    def _trainer(self) -> Optional["pl.Trainer"]:
        return self._trainer_ref() if self._trainer_ref is not None else None

    # The names index --------------------------------------------------------------------------------------

    def _index(self) -> dict[int, list[str]]:
        """Step → the Lightning paths its manifest lists (read once from the manifests, then kept up to date)."""
        if self._names is None:
            names: dict[int, list[str]] = {}
            for row in self._run.checkpoints():
                if row.get("state") == "corrupt":
                    continue
                step = int(row["step"])
                try:  # never through a symbolic link, never blocking on a FIFO
                    fd = open_regular(os.path.join(str(row["path"]), "manifest.json"))
                    with os.fdopen(fd, "rb") as f:
                        manifest = json.loads(f.read(_MANIFEST_MAX_BYTES).decode("utf-8"))
                except (OSError, ValueError, ResumableError):
                    continue
                lightning = (manifest.get("metadata") or {}).get("lightning") if isinstance(manifest, dict) else None
                paths = lightning.get("paths") if isinstance(lightning, dict) else None
                names[step] = [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
                if isinstance(lightning, dict) and lightning.get("pinned") is True:
                    self._pinned_by_us.add(step)
            self._names = names
        return self._names

    def _holders(self, path: str) -> list[int]:
        """The steps whose manifest names ``path``, newest first."""
        return sorted((s for s, paths in self._index().items() if path in paths), reverse=True)

    def _is_last(self, path: str) -> bool:
        trainer = self._trainer()
        if trainer is not None:
            for callback in trainer.checkpoint_callbacks:
                if isinstance(callback, ModelCheckpoint) and callback.last_model_path and \
                        _normalize(callback.last_model_path) == path:
                    return True
        return _is_last_name(path)

    def _pin_worthy(self, paths: list[str]) -> bool:
        return self.pin_named and any(not self._is_last(p) for p in paths)

    def _edit_names(self, step: int, paths: list[str]) -> None:
        """Rewrites a checkpoint's Lightning names (and our ``pinned`` tag) with ``resumable edit``."""
        pin = self._pin_worthy(paths)
        arguments = ["edit", f"{self._run.dir}@step-{step}",
                     "--set", f"metadata.lightning.paths={json.dumps(paths)}"]
        if pin and step not in self._pinned_by_us:
            arguments += ["--tag", _PIN, "--set", "metadata.lightning.pinned=true"]
        elif not pin and step in self._pinned_by_us:
            arguments += ["--untag", _PIN, "--set", "metadata.lightning.pinned=false"]
        run_cli(self._run.binary, arguments, shield=True)
        self._index()[step] = paths
        if pin:
            self._pinned_by_us.add(step)
        else:
            self._pinned_by_us.discard(step)

    def _release(self, path: str, keep: Optional[int] = None) -> None:
        """Removes ``path`` from every checkpoint that lists it (but ``keep``)."""
        for step in self._holders(path):
            if step == keep:
                continue
            remaining = [p for p in self._index()[step] if p != path]
            try:
                self._edit_names(step, remaining)
            except ResumableError as error:
                if error.code != EXIT_NOT_FOUND:
                    raise
                self._index().pop(step, None)  # pruned meanwhile

    # CheckpointIO -----------------------------------------------------------------------------------------

    def _metrics(self, checkpoint: Mapping[str, Any]) -> dict[str, float]:
        metrics: dict[str, float] = {}
        trainer = self._trainer()
        if trainer is not None:
            for name, value in trainer.callback_metrics.items():
                number = _float_metric(value)
                if number is not None and isinstance(name, str) and name and "=" not in name:
                    metrics[name] = number
            return metrics
        callbacks = checkpoint.get("callbacks")
        for key, state in (callbacks.items() if isinstance(callbacks, Mapping) else ()):
            if isinstance(key, str) and key.startswith("ModelCheckpoint") and isinstance(state, Mapping):
                monitor, score = state.get("monitor"), _float_metric(state.get("current_score"))
                if isinstance(monitor, str) and monitor and "=" not in monitor and score is not None:
                    metrics.setdefault(monitor, score)
        return metrics

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Optional[Any] = None) -> None:
        """Commits ``checkpoint`` as the store's checkpoint at its global step and names it ``path``.

        Raises:
            TypeError: for ``storage_options``, and for a value JSON cannot hold
                (naming its key path) unless ``allow_pickle``.
            ResumableError: the store's error (disk full 74, run locked 75, …).
        """
        if storage_options is not None:
            raise TypeError(f"`Trainer.save_checkpoint(..., storage_options=...)` is not supported by "
                            f"{type(self).__name__}")
        target = _normalize(path)
        step, epoch = checkpoint.get("global_step"), checkpoint.get("epoch")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ResumableError(EXIT_USAGE, f"the Lightning checkpoint for {target} has no global_step")
        names = self._index()
        if step in names or os.path.isdir(_step_dir(self._run.dir, step)):
            self._add_name(step, target)
        else:
            tensors, state = _split(checkpoint)
            paths = [target]
            pin = self._pin_worthy(paths)
            metadata: dict[str, Any] = {"lightning": {"paths": paths, "pinned": pin, "version": getattr(pl, "__version__", None)}}
            metadata.update(_tracker_metadata(self._trainer()))
            try:
                saved = self._run.save(step, tensors=tensors, state=state, metrics=self._metrics(checkpoint),
                                       epoch=epoch if isinstance(epoch, int) and epoch >= 0 else None,
                                       tags=[_PIN] if pin else None, metadata=metadata,
                                       allow_pickle=self.allow_pickle)
            except TypeError as error:
                raise TypeError(f"Lightning checkpoint {os.path.basename(target)} (step {step}): {error}") from None
            except ResumableError as error:
                if error.code != EXIT_FAILURE or not os.path.isdir(_step_dir(self._run.dir, step)):
                    raise
                self._names = None  # committed by an earlier attempt: read it back
                self._add_name(step, target)
            else:
                assert saved is not None
                names[step] = paths
                if pin:
                    self._pinned_by_us.add(step)
                for pruned in saved.pruned:
                    names.pop(pruned, None)
                    self._pinned_by_us.discard(pruned)
                self._verified.add(os.path.realpath(saved.path))
        self._release(target, keep=step)
        if not _is_remote(target):
            _write_pointer(target, self._run.dir, step)

    def _add_name(self, step: int, path: str) -> None:
        names = self._index()
        if step not in names:
            self._names = None
            names = self._index()
        current = names.get(step, [])
        if path not in current:
            self._edit_names(step, [*current, path])

    def _resolve(self, path: _PATH) -> tuple[str, str]:
        """``("store", checkpoint directory)`` or ``("torch", file)`` for a Lightning checkpoint path.

        Raises:
            FileNotFoundError: when nothing is there.
        """
        target = _normalize(path)
        if os.path.isdir(target) and os.path.isfile(os.path.join(target, "manifest.json")):
            return "store", target
        if os.path.isfile(target):
            pointer = _read_pointer(target)
            if pointer is None:
                return "torch", target
            directory = _step_dir(pointer["run"], pointer["step"])
            if not os.path.isdir(directory):
                raise FileNotFoundError(
                    f"{target} stands for step {pointer['step']} of the run {pointer['run']}, which has no such "
                    "checkpoint (pruned by retention, or the run was reset): delete the stale file, or load "
                    "another checkpoint")
            return "store", directory
        holders = self._holders(target) if not os.path.lexists(target) else []
        if not holders:
            name = os.path.basename(target)
            matches = {s for s, paths in self._index().items() for p in paths if os.path.basename(p) == name}
            holders = sorted(matches, reverse=True)
        for step in holders:
            directory = _step_dir(self._run.dir, step)
            if os.path.isdir(directory):
                return "store", directory
        raise FileNotFoundError(f"Checkpoint file not found: {target}")

    def load_checkpoint(self, path: _PATH, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> dict[str, Any]:
        """Loads the Lightning checkpoint ``path`` stands for (verified), as the dict Lightning saved.

        Raises:
            FileNotFoundError: no checkpoint is there.
            ResumableError: 65 when it fails verification.
        """
        kind, target = self._resolve(path)
        if kind == "torch":
            loaded_file: dict[str, Any] = torch.load(
                target, map_location=map_location if map_location is not None else "cpu",
                weights_only=True if weights_only is None else weights_only)
            return loaded_file
        real = os.path.realpath(target)
        loaded = self._run.load(target, framework="pt", device=_device_of(map_location),
                                verify=real not in self._verified, allow_pickle=self.allow_pickle)
        self._verified.add(real)
        checkpoint = _join(loaded.tensors, loaded.state)
        lightning = loaded.metadata.get("lightning")
        paths = lightning.get("paths") if isinstance(lightning, dict) else None
        if isinstance(paths, list):
            _restore_last_model_paths(checkpoint, [p for p in paths if isinstance(p, str)])
        if self.fix_hparams_for is not None:
            fix_hyperparameters(checkpoint, self.fix_hparams_for)
        return checkpoint

    def remove_checkpoint(self, path: _PATH) -> None:
        """Takes the name ``path`` off its checkpoint and removes its pointer file; the store deletes nothing here.

        The checkpoint itself goes when the store's retention no longer keeps
        it (``keep_last``/``keep_best``/``keep_every``; never the latest, the
        best or a pinned one).
        """
        target = _normalize(path)
        self._release(target)
        if not _is_remote(target):
            _remove_pointer(target)

    def teardown(self) -> None:
        """Waits for a save still in flight (raising its error)."""
        self._run.wait()


# Automatic resume -----------------------------------------------------------------------------------------


def _checkpoint_ios(strategy: Any) -> list[Any]:
    found: list[Any] = []
    current = getattr(strategy, "_checkpoint_io", None)
    while current is not None and len(found) < 8:
        found.append(current)
        current = getattr(current, "_checkpoint_io", None) if not isinstance(current, ResumableCheckpointIO) else None
    return found


def _quiet_lightning_warnings() -> None:
    """Silences the two warnings Lightning gives about the resolution AutoResume relies on (they misdescribe it).

    Added again at each construction (``filterwarnings`` keeps one copy), as
    ``warnings.catch_warnings`` blocks (pytest's) drop filters on exit.
    """
    warnings.filterwarnings("ignore", message=r"`\.fit\(ckpt_path=None\)` was called without a model")
    warnings.filterwarnings("ignore", message=r'\.fit\(ckpt_path="last"\) is set, but there is no last checkpoint')


class AutoResume(OnExceptionCheckpoint):
    """Makes ``trainer.fit(model)`` resume from the newest checkpoint that verifies, with no ``ckpt_path``.

    Args:
        io: the :class:`ResumableCheckpointIO` (also pass it in ``plugins=``;
            when the trainer has the default torch plugin, it is installed), a
            run (``Run`` or directory), or ``None`` for ``$RESUMABLE_RUN_DIR``.
        must: raise ``ResumableError`` (66) when there is nothing to resume.
        fix_hparams: on load, drop the checkpoint's ``hyper_parameters`` keys
            that the module's ``__init__`` would refuse (see
            :func:`fix_hyperparameters`), each logged.
        restore_rng: carry the Python, NumPy and torch random generators in the
            checkpoint (this callback's state) and restore them on resume, so the
            resumed run draws what the uninterrupted one would have.
        continue_trackers: continue the tracker runs recorded in the checkpoint
            (W&B, MLflow) instead of starting new ones.

    **The mechanism.** ``Trainer.fit(ckpt_path=None)`` resolves to ``"last"``
    when the trainer has an ``OnExceptionCheckpoint`` callback
    (``_CheckpointConnector._parse_ckpt_path``), and ``"last"`` takes the
    newest existing file among those callbacks' ``ckpt_path`` and
    ``ModelCheckpoint``'s ``last*.ckpt``. This callback is such a callback: its
    ``ckpt_path`` is a pointer, written at that moment (so it is the newest),
    to the checkpoint the store resolves -- ``resumable inspect RUN@latest
    --verify`` (the newest whose checksums match), or under ``resumable run``
    ``$RESUMABLE_RESUME_FROM`` (resolved and verified by the supervisor). With
    no checkpoint yet it names no file and training starts fresh (unless a
    stale ``last.ckpt`` of another run lies in the checkpoint directory). It
    saves nothing on an exception. A ``ckpt_path`` you pass wins, and
    validate/test/predict are not affected.

    Being an ``OnExceptionCheckpoint``, it counts as a checkpoint callback:
    Lightning adds no default ``ModelCheckpoint`` when it is the only one, so
    this callback adds one (Lightning's default) in ``setup``; put it after
    your ``ModelCheckpoint`` so ``trainer.checkpoint_callback`` stays yours (it
    is moved there in ``setup`` otherwise). For the same reason Lightning
    refuses it with ``enable_checkpointing=False``, and
    ``validate(ckpt_path="best")`` warns about several checkpoint callbacks
    (the first, your ModelCheckpoint, is used).

    **Trackers.** The checkpoint to resume from is found when this callback is
    created; its recorded W&B run id (``metadata.wandb.run_id``, or the
    top-level ``wandb.run_id`` that ``resumable edit REF --set
    wandb.run_id=ID`` writes) is put in ``WANDB_RUN_ID`` with
    ``WANDB_RESUME=allow`` until the loggers have created their runs, so a
    ``WandbLogger`` without an ``id`` continues that run. A logger given
    ``id=``/``version=`` keeps its own. Create this callback before anything
    touches ``logger.experiment``. An ``MLFlowLogger`` is pointed at the
    recorded MLflow run (``MLFLOW_RUN_ID`` is set too, for ``mlflow`` itself).
    """

    def __init__(self, io: Union[ResumableCheckpointIO, Run, str, "os.PathLike[str]", None] = None, *,
                 must: bool = False, fix_hparams: bool = False, restore_rng: bool = True,
                 continue_trackers: bool = True) -> None:
        self.io = io if isinstance(io, ResumableCheckpointIO) else ResumableCheckpointIO(io)
        self._progress_failed = False
        super().__init__(dirpath=os.path.join(self.io.run.dir, INCOMING), filename=_RESUME_POINTER[:-5])
        # (dirpath and filename are OnExceptionCheckpoint's; ckpt_path below replaces the path they would make)
        self.must = must
        self.fix_hparams = fix_hparams
        self.restore_rng = restore_rng
        self.continue_trackers = continue_trackers
        self._resolved: Optional[tuple[Optional[str], dict[str, Any]]] = None
        self._environment: dict[str, Optional[str]] = {}
        _quiet_lightning_warnings()
        self._resolve()

    # Where to resume ------------------------------------------------------------------------------------

    def _resolve(self) -> tuple[Optional[str], dict[str, Any]]:
        """The checkpoint directory to resume from (``None``: start fresh) and its manifest; found once."""
        if self._resolved is not None:
            return self._resolved
        run = self.io.run
        directory: Optional[str] = None
        manifest: dict[str, Any] = {}
        if run.supervised:
            if run.resume_from:
                directory = os.path.abspath(run.resume_from)
                found = run_cli(run.binary, ["inspect", directory]).data
                manifest = found.get("manifest") or {}
        else:
            try:
                found = run_cli(run.binary, ["inspect", f"{run.dir}@latest", "--verify"]).data
                directory = os.path.abspath(str(found["path"]))
                manifest = found.get("manifest") or {}
            except ResumableError as error:
                if error.code != EXIT_NOT_FOUND:
                    raise
        if directory is None:
            if self.must:
                raise ResumableError(EXIT_NOT_FOUND, f"there is nothing to resume in {run.dir}: it has no good "
                                                     "checkpoint (AutoResume(must=True))")
            print(f"resumable: starting {run.dir} afresh: no checkpoint yet (attempt {run.attempt})",
                  file=sys.stderr, flush=True)
        else:
            self.io._verified.add(os.path.realpath(directory))
            epoch = manifest.get("epoch")
            print(f"resumable: resuming {run.dir} from step {manifest.get('step')}"
                  f"{'' if epoch is None else f', epoch {epoch}'} (attempt {run.attempt}, {directory})",
                  file=sys.stderr, flush=True)
            if self.continue_trackers:
                self._set_tracker_environment(_trackers_of(manifest))
        self._resolved = (directory, manifest)
        return self._resolved

    def _set_tracker_environment(self, trackers: Mapping[str, Mapping[str, Any]]) -> None:
        wanted: dict[str, str] = {}
        if "wandb" in trackers:
            wanted["WANDB_RUN_ID"] = str(trackers["wandb"]["run_id"])
            if not os.environ.get("WANDB_RESUME"):
                wanted["WANDB_RESUME"] = "allow"
        if "mlflow" in trackers:
            wanted["MLFLOW_RUN_ID"] = str(trackers["mlflow"]["run_id"])
        for name, value in wanted.items():
            if os.environ.get(name) != value:
                self._environment.setdefault(name, os.environ.get(name))
                os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._environment.clear()

    @property
    def ckpt_path(self) -> str:
        """The file Lightning's ``ckpt_path="last"`` resolution finds: a fresh pointer to the resume point.

        When there is nothing to resume, the file does not exist.
        """
        directory, manifest = self._resolve()
        path = _resume_pointer_path(self.io.run.dir)
        if directory is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return path
        self.io.run._incoming()  # a real directory (never a link); dead processes' leftovers removed
        run_dir = os.path.dirname(os.path.dirname(directory))
        _write_pointer(path, run_dir, int(manifest.get("step", 0)), temporary=f"{path}.tmp")
        return path

    @property
    def resume_from(self) -> Optional[str]:
        """The checkpoint directory this fit resumes from, or ``None`` for a fresh start."""
        return self._resolve()[0]

    # Callback hooks ---------------------------------------------------------------------------------------

    @property
    def state_key(self) -> str:
        """``"AutoResume"``: the key of this callback's state (the RNG states) in the checkpoint."""
        return "AutoResume"

    def setup(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", stage: str) -> None:
        """Connects the plugin to the trainer, checks the tracker runs, and fixes the callback order."""
        self._restore_environment()  # the loggers have created their runs by now (call._call_setup_hook)
        self.io._attach(trainer)
        ios = _checkpoint_ios(trainer.strategy)
        if not any(isinstance(each, ResumableCheckpointIO) for each in ios):
            if ios and type(ios[-1]) is not TorchCheckpointIO:
                raise TypeError(f"AutoResume needs ResumableCheckpointIO as the trainer's checkpoint plugin, "
                                f"found {type(ios[-1]).__name__}: pass Trainer(plugins=[io], callbacks=[AutoResume(io)])")
            trainer.strategy.checkpoint_io = self.io
        elif not any(each is self.io for each in ios):
            other = next(each for each in ios if isinstance(each, ResumableCheckpointIO))
            if other.run.dir != self.io.run.dir:
                raise ValueError(f"AutoResume resumes {self.io.run.dir} but the trainer saves into {other.run.dir}: "
                                 "pass the same ResumableCheckpointIO to both")
            other._attach(trainer)
        if self.fix_hparams:
            self.io.fix_hparams_for = type(pl_module)
        if stage != "fit":
            return
        # A new list, not changed in place: Lightning is iterating over the current one (the setup hooks).
        callbacks = [c for c in getattr(trainer, "callbacks") if c is not self]
        if not any(isinstance(c, ModelCheckpoint) for c in callbacks):
            default = ModelCheckpoint()  # what Lightning adds when no checkpoint callback is given
            callbacks.append(default)
            default.setup(trainer, pl_module, stage)
            logger.info("AutoResume: added Lightning's default ModelCheckpoint (no ModelCheckpoint was given)")
        callbacks.append(self)  # after the ModelCheckpoints: trainer.checkpoint_callback stays theirs
        setattr(trainer, "callbacks", callbacks)
        monitored = next((c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor), None)
        if monitored is not None and self.io.run.monitor is None:
            self.io.run.monitor, self.io.run.mode = monitored.monitor, monitored.mode
        if self.continue_trackers:
            self._check_trackers(trainer)

    def _check_trackers(self, trainer: "pl.Trainer") -> None:
        directory, manifest = self._resolve()
        if directory is None:
            return
        trackers = _trackers_of(manifest)
        for each in trainer.loggers:
            if isinstance(each, WandbLogger) and "wandb" in trackers:
                wanted = trackers["wandb"]["run_id"]
                actual = each.version
                if actual is not None and actual != wanted:
                    logger.warning("the checkpoint of step %s belongs to W&B run %s, but the WandbLogger writes to "
                                   "%s (it was given an id, or its run was created before AutoResume)",
                                   manifest.get("step"), wanted, actual)
            elif isinstance(each, MLFlowLogger) and "mlflow" in trackers:
                wanted = str(trackers["mlflow"]["run_id"])
                created = getattr(each, "_run_id", None)
                if created == wanted:
                    continue
                each._run_id = wanted
                experiment_id = trackers["mlflow"].get("experiment_id")
                if experiment_id is not None:
                    each._experiment_id = str(experiment_id)
                if created:
                    try:
                        client = getattr(each, "_mlflow_client", None) or each.experiment
                        client.delete_run(created)  # the empty run the logger created at setup (soft delete)
                    except Exception as error:
                        logger.info("could not delete the empty MLflow run %s: %s", created, error)
                logger.info("continuing MLflow run %s (recorded with step %s)", wanted, manifest.get("step"))

    def state_dict(self) -> dict[str, Any]:
        """The random generators' states, saved with every checkpoint."""
        return {"rng": _capture_rng()} if self.restore_rng else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the random generators' states (Lightning calls it before training starts)."""
        if self.restore_rng and isinstance(state_dict.get("rng"), Mapping):
            _restore_rng(state_dict["rng"])

    def on_train_epoch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        """Tells ``resumable status`` where training stands (``resumable progress``: epoch x of max_epochs).

        Only on the main process and only with a finite ``max_epochs``; a failure to report
        is logged once and never stops training.
        """
        epochs = trainer.max_epochs
        if not trainer.is_global_zero or epochs is None or epochs < 1 or self._progress_failed:
            return
        done = trainer.current_epoch + 1
        try:
            self.io.run.progress(epoch=done, of=max(epochs, done), step=trainer.global_step)
        except ResumableError as error:
            self._progress_failed = True
            logger.warning("cannot report progress to %s: %s", self.io.run.dir, error.message)

    def on_exception(self, trainer: "pl.Trainer", *args: Any, **kwargs: Any) -> None:
        """Saves nothing: the run resumes from its last committed checkpoint."""

    def teardown(self, trainer: "pl.Trainer", *args: Any, **kwargs: Any) -> None:
        """Forgets the resume point, so a later ``fit`` finds the newest checkpoint again."""
        self._restore_environment()
        self._resolved = None
        try:
            os.unlink(_resume_pointer_path(self.io.run.dir))
        except FileNotFoundError:
            pass


def load_from_checkpoint(cls: type["pl.LightningModule"], path: Union[_PATH, int], *, io: Optional[ResumableCheckpointIO] = None,
                         map_location: Any = None, strict: Optional[bool] = None, fix_hparams: bool = False,
                         **kwargs: Any) -> Any:
    """``cls.load_from_checkpoint`` for checkpoints in a Resumable run (pointer files, directories, steps).

    ``path`` is a Lightning path (its pointer file), a checkpoint directory, a
    step of ``io``'s run, or a torch ``.ckpt`` (loaded with ``weights_only=True``). ``fix_hparams`` drops the hyperparameters
    ``cls.__init__`` would refuse (:func:`fix_hyperparameters`). The
    checkpoint is verified, then handed to Lightning's own
    ``load_from_checkpoint`` in memory (tensors and plain data only, loaded
    with ``weights_only=True``).
    """
    if isinstance(path, int) and not isinstance(path, bool):
        if io is None:
            raise TypeError("a step needs io= (the run's ResumableCheckpointIO)")
        path = _step_dir(io.run.dir, path)
    target = _normalize(typing.cast(_PATH, path))
    if io is None:
        pointer = _read_pointer(target) if os.path.isfile(target) else None
        if pointer is not None:
            io = ResumableCheckpointIO(Run(pointer["run"]))
        elif os.path.isdir(target):
            io = ResumableCheckpointIO(Run(os.path.dirname(os.path.dirname(target))))
    if io is not None:
        checkpoint = io.load_checkpoint(target)
    else:  # a torch .ckpt from before the plugin
        checkpoint = torch.load(target, map_location="cpu", weights_only=True)
    if fix_hparams:
        fix_hyperparameters(checkpoint, cls)
    buffer = _io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    return cls.load_from_checkpoint(buffer, map_location=map_location, strict=strict, weights_only=True, **kwargs)
