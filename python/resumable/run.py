"""A run of the checkpoint store, seen from Python: save, load and resume.

Everything that touches the store goes through the ``resumable`` binary: a
save writes safetensors and JSON files into ``RUN/.incoming/`` and commits them
with ``resumable commit --move`` (hard links: nothing is copied twice; every
file hashed and made durable; the checkpoint appears atomically); a load
resolves its reference with ``resumable inspect --verify`` (the newest
checkpoint whose checksums match) and then maps the files.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import stat
import sys
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, Union

import numpy as np

from . import _safetensors, _state
from ._binary import find_binary, run_cli
from .errors import EXIT_CORRUPT, EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE, ResumableError

__all__ = ["Run", "Checkpoint", "SavedCheckpoint", "Reference"]

logger = logging.getLogger("resumable")

#: A checkpoint reference: ``"latest"``, ``"best"``, ``"step-N"``, a step number, or a checkpoint directory.
Reference = Union[str, int, "os.PathLike[str]"]

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.json"
STATE_TENSORS_FILE = "state.safetensors"
INCOMING = ".incoming"
MAX_STATE_JSON_BYTES = 1 << 30
#: This machine's name in ``RUN/.incoming`` entries (no ``-``, which separates the parts).
_HOST = socket.gethostname().replace("-", "_").replace("/", "_") or "localhost"


@dataclass
class Checkpoint:
    """A checkpoint read back from the store.

    ``tensors`` holds the tensors of the checkpoint's safetensors files
    (``model.safetensors`` and any other, ``state.safetensors`` excepted) as
    NumPy arrays, or torch tensors when loaded with ``framework="pt"``;
    memory-mapped copy-on-write, so reading is zero-copy and writing to them
    never changes the checkpoint. ``state`` is ``state.json`` decoded, with the
    tensors that were inside the saved state put back (``None`` when the
    checkpoint has no ``state.json``).
    """

    path: str
    step: int
    epoch: int | None
    metrics: dict[str, float]
    tags: list[str]
    metadata: dict[str, Any]
    manifest: dict[str, Any]
    tensors: dict[str, Any] = field(repr=False)
    state: Any = field(repr=False)

    @property
    def trackers(self) -> dict[str, dict[str, Any]]:
        """Tracker runs recorded with this checkpoint: ``{"wandb": {"run_id": …}, "mlflow": {…}}``.

        Read from ``metadata["wandb"]``/``metadata["mlflow"]``, and from the
        manifest's top-level ``wandb``/``mlflow`` keys (what ``resumable edit REF
        --set wandb.run_id=ID`` writes), the latter winning.
        """
        found: dict[str, dict[str, Any]] = {}
        for name in ("wandb", "mlflow"):
            merged: dict[str, Any] = {}
            for source in (self.metadata.get(name), self.manifest.get(name)):
                if isinstance(source, dict):
                    merged.update(source)
            if merged:
                found[name] = merged
        return found


@dataclass(frozen=True)
class SavedCheckpoint:
    """What a save committed: the step, the checkpoint directory, its size, and the steps retention pruned."""

    step: int
    path: str
    bytes: int
    pruned: tuple[int, ...] = ()


def _check_int(name: str, value: Any, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ResumableError(EXIT_USAGE, f"{name} must be an integer ≥ {minimum}, not {value!r}")
    return int(value)


def _metric_value(name: str, value: Any) -> str:
    if hasattr(value, "item") and callable(value.item):  # a 0-d tensor or NumPy scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResumableError(EXIT_USAGE, f"metric {name!r} must be a number, not {value!r}")
    return repr(float(value)) if isinstance(value, float) else str(value)


def _metrics_of(manifest: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    raw = manifest.get("metrics")
    for key, value in (raw.items() if isinstance(raw, dict) else ()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[key] = float(value)
        elif value in ("NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"):
            metrics[key] = float(value.replace("Infinity", "inf"))
    return metrics


def _snapshot(value: Any, reuse: Any = None) -> Any:
    """A copy of a tensor that the training loop can no longer change, into ``reuse`` when it fits.

    Reusing the previous save's buffer makes the copy a plain memory copy: a
    fresh allocation costs a page fault per 4 KiB page, several times the copy.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach()
        if (isinstance(reuse, torch.Tensor) and reuse.dtype == t.dtype and reuse.shape == t.shape
                and reuse.device.type == "cpu"):
            return reuse.copy_(t)
        return t.to("cpu", copy=True) if t.device.type == "cpu" else t.cpu()
    array = np.asarray(value)
    if isinstance(reuse, np.ndarray) and reuse.dtype == array.dtype and reuse.shape == array.shape:
        np.copyto(reuse, array)
        return reuse
    return np.array(array, copy=True, order="C")


class Run:
    """A run directory of the checkpoint store: save checkpoints, load them, resume.

    ``Run()`` under ``resumable run`` is the supervised run (``RESUMABLE_RUN_DIR``),
    with its attempt number and resume point from the environment;
    ``Run("runs/x")`` opens (or, at the first save, creates) a run itself.

    Retention (``keep_last``, ``keep_best``, ``keep_every``) is applied by the
    store after each commit; it never deletes the latest, the best or a pinned
    checkpoint. ``monitor``/``mode`` name the metric that makes a checkpoint
    ``best``.

    Use it as a context manager, or call :meth:`close`, so a background save
    finishes and its error is raised.
    """

    def __init__(self, dir: str | os.PathLike[str] | None = None, *, monitor: str | None = None,
                 mode: str = "min", keep_last: int | None = None, keep_best: int | None = None,
                 keep_every: int | None = None, binary: str | os.PathLike[str] | None = None) -> None:
        env_dir = os.environ.get("RESUMABLE_RUN_DIR") or None
        chosen = os.fspath(dir) if dir is not None else env_dir
        if not chosen:
            raise ResumableError(
                EXIT_USAGE, "no run directory: pass one (Run('runs/NAME')) or start the job under "
                "`resumable run --run-dir DIR -- …`, which sets RESUMABLE_RUN_DIR")
        self.dir: str = os.path.abspath(chosen)
        #: Whether this process runs under ``resumable run`` for this very run (which also sets
        #: ``RESUMABLE_ATTEMPT``; a ``RESUMABLE_RUN_DIR`` set by hand alone is not supervision).
        self.supervised: bool = (env_dir is not None and os.path.abspath(env_dir) == self.dir
                                 and bool(os.environ.get("RESUMABLE_ATTEMPT")))
        attempt = os.environ.get("RESUMABLE_ATTEMPT", "") if self.supervised else ""
        #: The attempt number (1-based) under ``resumable run``; 1 otherwise.
        self.attempt: int = int(attempt) if attempt.isdigit() and 0 < int(attempt) < 2**31 else 1
        resume_from = os.environ.get("RESUMABLE_RESUME_FROM", "") if self.supervised else ""
        #: The checkpoint ``resumable run`` resolved as this attempt's start (``None``: start fresh).
        self.resume_from: str | None = resume_from or None
        if mode not in ("min", "max"):
            raise ResumableError(EXIT_USAGE, f"mode must be 'min' or 'max', not {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.keep_last = None if keep_last is None else _check_int("keep_last", keep_last, minimum=1)
        self.keep_best = None if keep_best is None else _check_int("keep_best", keep_best, minimum=1)
        self.keep_every = None if keep_every is None else _check_int("keep_every", keep_every, minimum=1)
        if self.keep_best is not None and monitor is None:
            raise ResumableError(EXIT_USAGE, "keep_best needs a monitor (Run(..., monitor='val_loss', mode='min'))")
        self.binary: str = find_binary(binary)
        self._id: str | None = os.environ.get("RESUMABLE_RUN_ID") or None if self.supervised else None
        self._pending: threading.Thread | None = None
        self._pending_error: BaseException | None = None
        self._snapshot_buffers: dict[tuple[str, str], Any] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"Run({self.dir!r}, attempt={self.attempt})"

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Identity ---------------------------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The run's stable id (``run.json``), the same for every attempt; ``None`` before the first save."""
        if self._id is None:
            try:
                status = run_cli(self.binary, ["status", self.dir, "--events", "0"]).data
                self._id = status.get("identity", {}).get("id") or None
            except ResumableError as error:
                if error.code != EXIT_NOT_FOUND:
                    raise
        return self._id

    # Saving -----------------------------------------------------------------------------------

    def save(self, step: int, *, tensors: Mapping[str, Any] | None = None, state: Any = None,
             metrics: Mapping[str, Any] | None = None, epoch: int | None = None,
             tags: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None,
             background: bool = False, allow_pickle: bool = False) -> SavedCheckpoint | None:
        """Commits a checkpoint at ``step``: atomically, durably, verified.

        Args:
            step: the step this checkpoint is at; a step already committed is refused (code 1).
            tensors: name → NumPy array or torch tensor, written to ``model.safetensors``.
            state: anything JSON holds, with tensors anywhere inside (moved to
                ``state.safetensors``), tuples, NaN; written to ``state.json``.
            metrics: name → number, recorded in the manifest (what ``best`` and retention read).
            epoch: the epoch, recorded in the manifest.
            tags: tags (``pinned`` protects a checkpoint from pruning).
            metadata: a JSON object recorded in the manifest's ``metadata``.
            background: return once the tensors are copied; write and commit on a
                background thread. Its error is raised by the next save, ``wait`` or ``close``.
                The copies are kept and reused by the next background save (one
                extra copy of the tensors in memory), so only the first save
                allocates; at most one save is in flight (the next one waits).
            allow_pickle: store objects JSON cannot hold pickled (with ``torch.save``)
                instead of refusing them; they load only with ``torch.load(weights_only=True)``.

        Returns:
            The committed checkpoint, or ``None`` for a background save.

        Raises:
            ResumableError: with the store's code; ``TypeError`` for a state value
                that is neither JSON nor a tensor (naming its key).
        """
        self._check_open()
        step = _check_int("step", step)
        arguments = ["commit", self.dir, "--step", str(step), "--move"]
        if epoch is not None:
            arguments += ["--epoch", str(_check_int("epoch", epoch))]
        for name, value in (metrics or {}).items():
            if not isinstance(name, str) or not name or "=" in name:
                raise ResumableError(EXIT_USAGE, f"metric name {name!r} must be a non-empty string without '='")
            arguments += ["--metric", f"{name}={_metric_value(name, value)}"]
        for tag in tags or ():
            if not isinstance(tag, str) or not tag:
                raise ResumableError(EXIT_USAGE, f"tag {tag!r} must be a non-empty string")
            arguments += ["--tag", tag]
        for key, value in (metadata or {}).items():
            if not isinstance(key, str) or not key or "=" in key:
                raise ResumableError(EXIT_USAGE, f"metadata key {key!r} must be a non-empty string without '='")
            try:
                arguments += ["--metadata", f"{key}={json.dumps(value, allow_nan=False, sort_keys=True)}"]
            except (TypeError, ValueError) as error:
                raise ResumableError(EXIT_USAGE, f"metadata {key!r} is not JSON: {error}") from None
        arguments += self._retention_arguments()
        state_json: str | None = None
        state_tensors: dict[str, Any] = {}
        if state is not None:
            encoded, state_tensors = _state.encode(state, allow_pickle=allow_pickle)
            state_json = json.dumps(encoded, allow_nan=False, ensure_ascii=False)  # key order kept: dicts are ordered
        model = dict(tensors or {})
        self.wait()  # at most one save in flight; raises the previous one's error
        if not background:
            return self._write_and_commit(step, arguments, model, state_json, state_tensors)
        # The previous background save has committed (wait above): its buffers are free again.
        buffers = self._snapshot_buffers
        model = {k: _snapshot(v, buffers.get(("model", k))) for k, v in model.items()}
        state_tensors = {k: _snapshot(v, buffers.get(("state", k))) for k, v in state_tensors.items()}
        self._snapshot_buffers = {**{("model", k): v for k, v in model.items()},
                                  **{("state", k): v for k, v in state_tensors.items()}}

        def commit_in_background() -> None:
            try:
                self._write_and_commit(step, arguments, model, state_json, state_tensors)
            except BaseException as error:  # surfaced by the next save, wait or close
                self._pending_error = error

        self._pending = threading.Thread(target=commit_in_background, name=f"resumable-save-{step}", daemon=False)
        self._pending.start()
        return None

    def _retention_arguments(self) -> list[str]:
        arguments: list[str] = []
        if self.keep_last is not None:
            arguments += ["--keep-last", str(self.keep_last)]
        if self.keep_best is not None:
            arguments += ["--keep-best", str(self.keep_best)]
        if self.keep_every is not None:
            arguments += ["--keep-every", str(self.keep_every)]
        if self.monitor is not None:
            arguments += ["--monitor", self.monitor, "--mode", self.mode]
        return arguments

    def _incoming(self) -> str:
        """``RUN/.incoming``: a real directory (never a symbolic link) on the run's file system."""
        os.makedirs(self.dir, exist_ok=True)
        info = os.lstat(self.dir)
        if not stat.S_ISDIR(info.st_mode):
            raise ResumableError(EXIT_CORRUPT, f"{self.dir} is not a directory (a symbolic link or a file); "
                                               "a run must be a real directory")
        path = os.path.join(self.dir, INCOMING)
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise ResumableError(EXIT_CORRUPT, f"{path} is not a directory (a symbolic link or a file); "
                                               "remove it: Resumable writes there only into a real directory")
        self._clean_incoming(path)
        return path

    @staticmethod
    def _clean_incoming(path: str) -> None:
        """Removes what saves of dead processes of this host left behind (their files are in no checkpoint).

        Entries are named ``PID@HOST-…``; another host's are left alone (its pid
        says nothing here: a run on a shared file system may be written from
        several machines in turn).
        """
        for entry in os.listdir(path):
            pid_text = entry.split("-", 1)[0]
            if "@" in pid_text:
                pid_text, host = pid_text.split("@", 1)
                if host != _HOST:
                    continue
            if not pid_text.isdigit() or int(pid_text) == os.getpid():
                continue
            try:
                os.kill(int(pid_text), 0)
                continue  # still alive: another process's save in flight
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            target = os.path.join(path, entry)
            if stat.S_ISDIR(os.lstat(target).st_mode):
                shutil.rmtree(target, ignore_errors=True)  # fd-based: never follows a symbolic link
            else:
                os.unlink(target)

    def _write_and_commit(self, step: int, arguments: list[str], model: Mapping[str, Any], state_json: str | None,
                          state_tensors: Mapping[str, Any]) -> SavedCheckpoint:
        directory = os.path.join(self._incoming(), f"{os.getpid()}@{_HOST}-{step}-{uuid.uuid4().hex[:8]}")
        os.mkdir(directory)
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                if model or (state_json is None and not state_tensors):
                    _safetensors.write_file(MODEL_FILE, model, {"format": "pt" if _uses_torch(model) else "np"},
                                            dir_fd=dir_fd)
                if state_tensors:
                    _safetensors.write_file(STATE_TENSORS_FILE, state_tensors,
                                            {"format": "pt" if _uses_torch(state_tensors) else "np"}, dir_fd=dir_fd)
                if state_json is not None:
                    fd = os.open(STATE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644,
                                 dir_fd=dir_fd)
                    with os.fdopen(fd, "wb") as f:
                        f.write(state_json.encode("utf-8"))
            finally:
                os.close(dir_fd)
            result = run_cli(self.binary, [*arguments, directory], shield=True).data
        except OSError as error:
            raise ResumableError(_os_error_code(error), f"cannot write the checkpoint files of step {step} "
                                                        f"in {directory}: {error.strerror}") from None
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        saved = SavedCheckpoint(step=int(result["step"]), path=str(result["path"]), bytes=int(result["bytes"]),
                                pruned=tuple(int(s) for s in result.get("pruned", [])))
        return saved

    def progress(self, *, epoch: int, of: int, step: int | None = None, **counters: Any) -> None:
        """Reports the job's progress to ``RUN/progress.json`` (``resumable progress``).

        ``resumable status`` shows it ("epoch 3 of 8 (37 %)"). Cheap enough to call
        every epoch; it does not wait for a background save or the run's lock.
        ``counters`` are further numbers (``loss=0.31``, ``samples=4096``).
        """
        args = ["progress", "--epoch", str(_check_int("epoch", epoch)), "--of", str(_check_int("of", of, minimum=1))]
        if step is not None:
            args += ["--step", str(_check_int("step", step))]
        for name, value in counters.items():
            args += ["--set", f"{name}={_metric_value(name, value)}"]
        run_cli(self.binary, [*args, "--run-dir", self.dir], json_output=False)

    def wait(self) -> None:
        """Waits for a background save to commit; raises its error, if it had one."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.join()
        error, self._pending_error = self._pending_error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Finishes a background save (raising its error); the run can no longer save."""
        if self._closed:
            return
        self._closed = True
        self._snapshot_buffers = {}
        self.wait()

    def _check_open(self) -> None:
        if self._closed:
            raise ResumableError(EXIT_USAGE, f"{self!r} is closed")

    # Reading ----------------------------------------------------------------------------------

    def checkpoints(self) -> list[dict[str, Any]]:
        """The run's checkpoints as ``resumable ls --json`` lists them (step order), ``[]`` for no run."""
        try:
            listing = run_cli(self.binary, ["ls", self.dir, *self._monitor_arguments()]).data
        except ResumableError as error:
            if error.code == EXIT_NOT_FOUND:
                return []
            raise
        return list(listing.get("checkpoints", []))

    def _monitor_arguments(self) -> list[str]:
        return ["--monitor", self.monitor, "--mode", self.mode] if self.monitor else []

    def _reference(self, ref: Reference) -> str:
        """The command line's reference for ``ref``."""
        if isinstance(ref, bool):
            raise ResumableError(EXIT_USAGE, f"not a checkpoint reference: {ref!r}")
        if isinstance(ref, (int, np.integer)):
            return f"{self.dir}@step-{_check_int('step', ref)}"
        text = os.fspath(ref)
        if text in ("latest", "best"):
            return f"{self.dir}@{text}"
        if text.startswith("step-") and text[5:].isdigit():
            return f"{self.dir}@{text}"
        if os.sep in text or os.path.isdir(text):
            return text
        raise ResumableError(EXIT_USAGE, f"not a checkpoint reference: {text!r} (use 'latest', 'best', 'step-N', "
                                         "a step number, or a checkpoint directory)")

    def load(self, ref: Reference = "latest", *, framework: str = "np", device: str = "cpu", verify: bool = True,
             allow_pickle: bool = False) -> Checkpoint:
        """Loads a checkpoint: its tensors, state, metrics, step and epoch.

        ``ref`` is ``"latest"`` (the newest checkpoint whose checksums match: a
        corrupt newer one is passed over, with a warning naming it), ``"best"``
        (by the run's monitor), ``"step-N"`` or ``N``, or a checkpoint
        directory. With ``verify`` (the default) every file's checksum is
        checked first; an exact reference that does not verify raises code 65.

        Raises:
            ResumableError: 66 when there is no such checkpoint (or none yet),
                65 when it is damaged, 64 for a bad reference.
        """
        reference = self._reference(ref)
        if framework not in ("np", "pt"):
            raise ResumableError(EXIT_USAGE, f"framework must be 'np' or 'pt', not {framework!r}")
        # --verify hashes every file: latest and best fall back past damaged checkpoints,
        # an exact reference that does not verify is exit 65.
        arguments = ["inspect", reference, *self._monitor_arguments(), *(["--verify"] if verify else [])]
        found = run_cli(self.binary, arguments).data
        path = str(found["path"])
        return _read_checkpoint(path, found, framework=framework, device=device, allow_pickle=allow_pickle)

    def resume(self, mode: Reference = "auto", *, framework: str = "np", device: str = "cpu",
               overwrite: bool = False, allow_pickle: bool = False, quiet: bool = False) -> Checkpoint | None:
        """Where this attempt starts: a checkpoint to restore, or ``None`` for a fresh start.

        Modes, as the store defines them:

        - ``"auto"``: the latest good checkpoint if there is one, else a fresh start
          (under ``resumable run``: the checkpoint it resolved, ``RESUMABLE_RESUME_FROM``);
        - ``"must"``: the latest good checkpoint; code 66 when there is none;
        - ``"never"``: a fresh start; refused (code 1) when the run has checkpoints,
          unless ``overwrite=True``, which deletes them (``resumable reset``);
        - a reference (``"best"``, ``"step-N"``, a directory): exactly that
          checkpoint; newer checkpoints of this run are refused (code 1) unless
          ``overwrite=True`` deletes them.

        Prints one line on standard error saying what it did (unless ``quiet``).
        """
        checkpoint: Checkpoint | None
        if mode == "never":
            existing = self.checkpoints()
            if existing:
                if not overwrite:
                    raise ResumableError(
                        EXIT_FAILURE, f"the run {self.dir} already has {len(existing)} checkpoint(s) (up to step "
                        f"{existing[-1]['step']}) and resume mode 'never' would start it over: resume it "
                        "(mode 'auto'), choose another run directory, or pass overwrite=True to delete its checkpoints")
                run_cli(self.binary, ["reset", self.dir], shield=True)
                self._say(quiet, f"starting {self.dir} afresh: deleted its {len(existing)} checkpoint(s)")
            else:
                self._say(quiet, f"starting {self.dir} afresh")
            return None
        if mode in ("auto", "must"):
            try:
                if self.supervised:
                    checkpoint = None if self.resume_from is None else self.load(
                        self.resume_from, framework=framework, device=device, verify=False, allow_pickle=allow_pickle)
                else:
                    checkpoint = self.load("latest", framework=framework, device=device, allow_pickle=allow_pickle)
            except ResumableError as error:
                if error.code != EXIT_NOT_FOUND:
                    raise
                checkpoint = None
            if checkpoint is None:
                if mode == "must":
                    raise ResumableError(EXIT_NOT_FOUND, f"there is nothing to resume in {self.dir}: it has no good "
                                                         "checkpoint; start it with resume mode 'auto' or 'never'")
                self._say(quiet, f"starting {self.dir} afresh: no checkpoint yet (attempt {self.attempt})")
                return None
        else:
            checkpoint = self.load(mode, framework=framework, device=device, allow_pickle=allow_pickle)
            if os.path.dirname(os.path.dirname(os.path.abspath(checkpoint.path))) == self.dir:
                newer = [int(c["step"]) for c in self.checkpoints() if int(c["step"]) > checkpoint.step]
                if newer:
                    if not overwrite:
                        raise ResumableError(
                            EXIT_FAILURE, f"{self.dir} has {len(newer)} checkpoint(s) newer than step "
                            f"{checkpoint.step} (up to step {newer[-1]}); resuming from it would replace them: pass "
                            "overwrite=True to delete them, or resume into another run directory")
                    run_cli(self.binary, ["reset", self.dir, "--to", str(checkpoint.step)], shield=True)
        epoch = "" if checkpoint.epoch is None else f", epoch {checkpoint.epoch}"
        self._say(quiet, f"resuming {self.dir} from step {checkpoint.step}{epoch} (attempt {self.attempt}, "
                         f"{checkpoint.path})")
        return checkpoint

    @staticmethod
    def _say(quiet: bool, message: str) -> None:
        if not quiet:
            print(f"resumable: {message}", file=sys.stderr, flush=True)


def _uses_torch(tensors: Mapping[str, Any]) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and any(isinstance(t, torch.Tensor) for t in tensors.values())


def _os_error_code(error: OSError) -> int:
    import errno
    if error.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
        return 74
    return 73


def _read_checkpoint(path: str, found: Mapping[str, Any], *, framework: str, device: str,
                     allow_pickle: bool) -> Checkpoint:
    """Reads the files of a resolved checkpoint (``found`` is ``resumable inspect --json``)."""
    manifest = found.get("manifest") or {}
    names = [f.get("name") for f in manifest.get("files", []) if isinstance(f, dict)]
    tensors: dict[str, Any] = {}
    state_tensors: dict[str, Any] = {}
    try:
        for name in names:
            if not isinstance(name, str) or "/" in name or not name.endswith(".safetensors"):
                continue
            read = _safetensors.read_file(os.path.join(path, name), framework=framework, device=device)
            if name == STATE_TENSORS_FILE:
                state_tensors = read
                continue
            for key, value in read.items():
                if key in tensors:
                    raise ResumableError(EXIT_CORRUPT, f"{path}: tensor {key!r} is in more than one file; "
                                                       "load the files one by one")
                tensors[key] = value
        state: Any = None
        if STATE_FILE in names:
            fd = _safetensors.open_regular(os.path.join(path, STATE_FILE))
            with os.fdopen(fd, "rb") as f:
                raw = f.read(MAX_STATE_JSON_BYTES + 1)
            if len(raw) > MAX_STATE_JSON_BYTES:
                raise ResumableError(EXIT_CORRUPT, f"{path}/{STATE_FILE} is larger than {MAX_STATE_JSON_BYTES} bytes")
            try:
                decoded_json = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as error:
                raise ResumableError(EXIT_CORRUPT, f"{path}/{STATE_FILE} is not JSON ({error})") from None
            state = _state.decode(decoded_json, state_tensors, allow_pickle=allow_pickle)
    except FileNotFoundError:
        raise ResumableError(EXIT_NOT_FOUND, f"{path} disappeared while it was read (pruned meanwhile?)") from None
    epoch = manifest.get("epoch")
    metadata = manifest.get("metadata")
    tags = manifest.get("tags")
    return Checkpoint(
        path=path, step=int(found.get("step", manifest.get("step", 0))),
        epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
        metrics=_metrics_of(manifest), tags=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        metadata=metadata if isinstance(metadata, dict) else {}, manifest=dict(manifest), tensors=tensors, state=state)

