"""What every stage of the example pipeline shares: the data, a small MLP, Adam, and the resumable training loop.

The loop checkpoints through the project's Python package (``resumable.Run``)
at the end of every epoch, and at the batch it has reached when SIGTERM or
SIGINT asks it to stop (then it exits 75: "interrupted, state saved, run me
again"). A checkpoint holds everything the next batch depends on: the weights,
Adam's moments and step count, the random generator's state, the epoch, the
batch cursor and the epoch's data order. So a stage killed anywhere (SIGKILL
included) and started again resumes from its latest checkpoint and ends with
outputs byte-identical to a run that never stopped.

Every process start appends ``start attempt=A resume_step=S pid=P`` to
``{stage_dir}/executions.log`` and a successful end appends ``done``; the
tests read it to prove that completed stages never re-ran and that killed
stages resumed mid-way.

Environment: ``PIPELINE_EPOCHS`` (default 6) and ``PIPELINE_EPOCH_DELAY``
(seconds of sleep per epoch, spread over its batches; default 0.3), so a demo
or a test can interrupt a stage at any instant.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Mapping

# One BLAS thread: the same sums in the same order on every run (and a faster start).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

EXIT_DONE = 0
EXIT_STOPPED = 75  # EX_TEMPFAIL: stopped by a signal after saving; safe to run again
EXIT_CONFIG = 78   # EX_CONFIG: the environment is wrong; a restart would not help

try:
    import numpy as np
except ImportError as _error:
    print(f"stage: needs numpy: run scripts/setup-python.sh and set PYTHON=$PWD/.venv/bin/python "
          f"(or pip install numpy) [{_error}]", file=sys.stderr, flush=True)
    sys.exit(EXIT_CONFIG)
try:
    import resumable
    from resumable.errors import EXIT_NOT_FOUND, ResumableError
except ImportError as _error:
    print(f"stage: needs the `resumable` Python package: set PYTHONPATH to the repository's python/ directory "
          f"(pipeline.yaml does) or pip install ./python [{_error}]", file=sys.stderr, flush=True)
    sys.exit(EXIT_CONFIG)

Params = dict[str, np.ndarray]
#: (params, batch indices, generator) → (loss, gradients): one batch of a stage's objective.
Objective = Callable[[Params, np.ndarray, np.random.Generator], "tuple[float, Params]"]

HERE = os.path.dirname(os.path.abspath(__file__))
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def log(stage: str, message: str) -> None:
    """One line on standard error, flushed at once (the runner's log shows it as it happens)."""
    print(f"{stage}: {message}", file=sys.stderr, flush=True)


# Data ---------------------------------------------------------------------------------------------

GRID = 32          # points of the periodic 1-D grid
VISCOSITY = 0.05
HORIZON = 0.5      # the operator maps u(x, 0) to u(x, HORIZON)
SOLVER_STEPS = 100
DATA_SEED = 2026


def burgers_data(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial conditions and their solutions of the viscous Burgers equation ``u_t + u u_x = ν u_xx``.

    Periodic on [0, 2π), explicit central differences in conservative form;
    each initial condition is a sum of three sine modes with random amplitudes
    and phases. Deterministic for a seed (float64, elementwise operations only).

    Returns:
        ``(u0, uT)``, both float32 of shape ``(samples, GRID)``.
    """
    g = np.random.default_rng(seed)
    x = np.arange(GRID) * (2 * np.pi / GRID)
    k = np.arange(1, 4)
    amplitude = g.standard_normal((samples, 3)) * (0.6 / k)
    phase = g.uniform(0, 2 * np.pi, (samples, 3))
    u = np.einsum("sk,skx->sx", amplitude, np.sin(k[None, :, None] * x[None, None, :] + phase[:, :, None]))
    u0 = u.copy()
    dx, dt = 2 * np.pi / GRID, HORIZON / SOLVER_STEPS
    for _ in range(SOLVER_STEPS):
        flux = 0.5 * u * u
        advection = (np.roll(flux, -1, axis=1) - np.roll(flux, 1, axis=1)) / (2 * dx)
        diffusion = (np.roll(u, -1, axis=1) - 2 * u + np.roll(u, 1, axis=1)) / (dx * dx)
        u = u + dt * (VISCOSITY * diffusion - advection)
    return u0.astype(np.float32), u.astype(np.float32)


def training_data() -> tuple[np.ndarray, np.ndarray]:
    """The 256 training pairs every stage trains on."""
    return burgers_data(256, DATA_SEED)


def test_data(samples: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Held-out pairs (another seed) the evaluation reports on."""
    return burgers_data(samples, DATA_SEED + 1)


# Model and optimizer ------------------------------------------------------------------------------

def init_mlp(inputs: int, hidden: int, outputs: int, seed: int) -> Params:
    """A one-hidden-layer tanh MLP, float32, initialised from ``seed``."""
    g = np.random.default_rng(seed)
    return {
        "w1": (g.standard_normal((inputs, hidden)) / np.sqrt(inputs)).astype(np.float32),
        "b1": np.zeros((hidden,), np.float32),
        "w2": (g.standard_normal((hidden, outputs)) / np.sqrt(hidden) * 0.1).astype(np.float32),
        "b2": np.zeros((outputs,), np.float32),
    }


def mlp(p: Params, x: np.ndarray) -> np.ndarray:
    """The MLP's output for a batch ``x``."""
    return np.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def mse_and_grads(p: Params, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
    """Mean squared error of ``mlp(p, x)`` against ``y`` and its gradients."""
    a = np.tanh(x @ p["w1"] + p["b1"])
    diff = a @ p["w2"] + p["b2"] - y
    loss = float(np.mean(diff * diff))
    g_out = (2.0 / diff.size) * diff
    g_z = (g_out @ p["w2"].T) * (1 - a * a)
    grads = {"w1": x.T @ g_z, "b1": g_z.sum(0), "w2": a.T @ g_out, "b2": g_out.sum(0)}
    return loss, {k: v.astype(np.float32) for k, v in grads.items()}


@dataclass
class Adam:
    """Adam with bias correction; its moments and step count are part of every checkpoint."""

    lr: float
    m: Params = field(default_factory=dict)
    v: Params = field(default_factory=dict)
    t: int = 0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def step(self, params: Params, grads: Params) -> None:
        """Updates ``params`` in place."""
        self.t += 1
        c1, c2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t
        for k, g in grads.items():
            m = self.m.get(k, np.zeros_like(g))
            v = self.v.get(k, np.zeros_like(g))
            self.m[k] = (self.beta1 * m + (1 - self.beta1) * g).astype(np.float32)
            self.v[k] = (self.beta2 * v + (1 - self.beta2) * g * g).astype(np.float32)
            update = self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)
            params[k] = (params[k] - update).astype(np.float32)


# Files --------------------------------------------------------------------------------------------

def write_atomically(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Writes ``path`` whole or not at all: a temporary file beside it, fsync, rename, fsync of the directory."""
    directory, name = os.path.split(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it 0600; the output is an ordinary file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_arrays(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Saves ``arrays`` as an ``.npz`` atomically (byte-identical for identical arrays: zip entries carry a fixed date)."""
    write_atomically(path, lambda f: np.savez(f, **{k: arrays[k] for k in sorted(arrays)}))


def load_arrays(path: str) -> Params:
    """An ``.npz`` written by :func:`save_arrays`, loaded whole."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def file_sha256(path: str) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_config(path: str) -> dict[str, Any]:
    """A stage's JSON configuration (relative paths are taken from the pipeline's directory)."""
    with open(path if os.path.isabs(path) else os.path.join(HERE, path), encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict):
        raise SystemExit(f"{path}: a configuration must be a JSON object")
    return config


def _env_number(name: str, default: float, minimum: float, kind: type) -> Any:
    """The environment variable ``name`` as ``kind`` (``default`` when unset); exits 78 when it is not a number ≥ ``minimum``."""
    raw = os.environ.get(name, "")
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        log("stage", f"{name}={raw!r} is not a number ≥ {minimum}")
        sys.exit(EXIT_CONFIG)
    return value


# The stage ----------------------------------------------------------------------------------------

class Stage:
    """One stage's process: its directory, configuration, execution log, stop signals and training loop.

    ``out`` is the stage's directory (the pipeline passes ``{stage_dir}``; the
    runner also sets ``RESUMABLE_RUN_DIR`` to it): its checkpoints, its
    ``executions.log`` and its outputs live there.
    """

    def __init__(self, name: str, out: str, config: Mapping[str, Any], upstream: Mapping[str, str]) -> None:
        self.name = name
        self.out = os.path.abspath(out)
        os.makedirs(self.out, exist_ok=True)
        self.config = dict(config)
        self.upstream = dict(upstream)
        for label, path in self.upstream.items():
            if not os.path.isfile(path):
                log(name, f"missing input {label}: {path} (run the stage that writes it first)")
                sys.exit(1)
        self.epochs: int = _env_number("PIPELINE_EPOCHS", 6, 1, int)
        self.delay: float = _env_number("PIPELINE_EPOCH_DELAY", 0.3, 0.0, float)
        self.stop_signal: int | None = None
        self._progress: threading.Thread | None = None
        self._remove_stale_temporaries()
        for s in STOP_SIGNALS:
            signal.signal(s, self._request_stop)

    def _request_stop(self, signum: int, _frame: Any) -> None:
        self.stop_signal = signum  # only a flag: the loop saves at the next batch boundary

    def _remove_stale_temporaries(self) -> None:
        """Removes half-written outputs (``.NAME.XXXX.tmp``) of a process killed mid-write.

        Only one process runs a stage at a time (the supervisor holds the stage's lock).
        """
        for entry in os.listdir(self.out):
            if entry.startswith(".") and entry.endswith(".tmp") and os.path.isfile(os.path.join(self.out, entry)):
                os.unlink(os.path.join(self.out, entry))

    def key(self) -> str:
        """What this stage's checkpoints are valid for: its name, configuration, epochs and upstream files."""
        text = json.dumps({"stage": self.name, "config": self.config, "epochs": self.epochs,
                           "upstream": {k: file_sha256(p) for k, p in sorted(self.upstream.items())}},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def record(self, line: str) -> None:
        """Appends one line to ``executions.log`` (durably: the tests read it after SIGKILLs)."""
        fd = os.open(os.path.join(self.out, "executions.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def record_start(self, resume_step: int) -> None:
        """The ``start`` line of this process."""
        attempt = os.environ.get("RESUMABLE_ATTEMPT") or "-"
        self.record(f"start attempt={attempt} resume_step={resume_step} pid={os.getpid()}")

    def output(self, file: str) -> str:
        """The path of an output file in the stage's directory."""
        return os.path.join(self.out, file)

    def _run_directory(self) -> str:
        """The checkpoint run: ``RESUMABLE_RUN_DIR`` when it is the stage's directory (spelled as the supervisor does)."""
        supervised = os.environ.get("RESUMABLE_RUN_DIR", "")
        if supervised:
            if os.path.isdir(supervised) and os.path.samefile(supervised, self.out):
                return supervised
            log(self.name, f"warning: RESUMABLE_RUN_DIR is {supervised}, not the stage's directory {self.out}: "
                           "checkpointing into the latter without the supervisor's resume point")
        return self.out

    def _latest_checkpoint(self, run: resumable.Run) -> resumable.Checkpoint | None:
        """Where to resume: the checkpoint `resumable run` chose, or (run by hand) the latest that verifies."""
        if run.supervised and "RESUMABLE_RESUME_FROM" in os.environ:
            return run.resume(quiet=True)
        try:
            return run.load("latest")
        except ResumableError as error:
            if error.code == EXIT_NOT_FOUND:
                return None
            raise

    def train(self, params: Params, objective: Objective, samples: int) -> Params:
        """Trains ``params`` on ``objective`` for ``self.epochs`` epochs, resuming from the latest checkpoint.

        Config keys used: ``lr``, ``batch_size``, ``seed``. Returns the trained
        parameters; exits 75 when a stop signal arrived (after saving).
        """
        batch_size = int(self.config.get("batch_size", 32))
        batches = samples // batch_size
        key = self.key()
        run = resumable.Run(self._run_directory())
        checkpoint = self._latest_checkpoint(run)
        if checkpoint is not None and (checkpoint.state or {}).get("key") != key:
            log(self.name, f"the checkpoints in {self.out} were made with another configuration, epoch count or "
                           "upstream model: starting over")
            run.resume("never", overwrite=True, quiet=True)  # `resumable reset`: deletes them
            checkpoint = None
        optimizer = Adam(lr=float(self.config.get("lr", 1e-3)))
        if checkpoint is None:
            rng = np.random.default_rng(int(self.config.get("seed", 0)))
            perm = rng.permutation(samples)
            step, epoch, batch, loss_sum = 0, 0, 0, 0.0
            log(self.name, f"starting: {self.epochs} epochs of {batches} batches")
        else:
            state = checkpoint.state
            params = {k[len("params."):]: np.array(v) for k, v in checkpoint.tensors.items()
                      if k.startswith("params.")}
            optimizer.t = int(state["adam"]["t"])
            optimizer.m = {k: np.array(v) for k, v in state["adam"]["m"].items()}
            optimizer.v = {k: np.array(v) for k, v in state["adam"]["v"].items()}
            rng = np.random.default_rng()
            rng.bit_generator.state = state["rng"]
            perm = np.array(state["perm"])
            step, epoch, batch, loss_sum = checkpoint.step, int(state["epoch"]), int(state["batch"]), state["loss_sum"]
            log(self.name, f"resuming from step {step} (epoch {epoch} of {self.epochs}, batch {batch} of {batches})")
        self.record_start(step)
        saved_step = step if checkpoint is not None else None
        mean_loss = 0.0  # the last finished epoch's mean loss

        def settle() -> None:
            """Waits for a background save. One cut short by a stop signal is forgotten (saved again below).

            The `resumable` binary can die of a SIGINT/SIGTERM sent to the
            stage's process group while it starts, before its commit ignores
            them; such a commit never happened, so saving again is safe.
            """
            nonlocal saved_step
            try:
                run.wait()
            except ResumableError as error:
                if self.stop_signal is None:
                    raise
                log(self.name, f"a save was cut short by signal {self.stop_signal} ({error}); saving again")
                saved_step = None

        def save(loss: float, background: bool) -> None:
            """Commits the state after ``step``; in the background, the commit overlaps the next epoch.

            A background save copies the tensors and encodes the state at once,
            so the loop may go on changing them.
            """
            nonlocal saved_step
            settle()
            state = {"key": key, "epoch": epoch, "batch": batch, "loss_sum": loss_sum,
                     "rng": rng.bit_generator.state, "perm": perm,
                     "adam": {"t": optimizer.t, "m": optimizer.m, "v": optimizer.v}}
            for tries in range(1, 4):
                try:
                    run.save(step, epoch=epoch, tensors={f"params.{k}": v for k, v in params.items()}, state=state,
                             metrics={"loss": loss}, background=background)
                    break
                except ResumableError as error:
                    if self.stop_signal is None or tries == 3:
                        raise
                    log(self.name, f"the save of step {step} was cut short by signal {self.stop_signal} ({error}); "
                                   "saving again")
            saved_step = step

        while epoch < self.epochs:
            if self.stop_signal is not None:
                settle()
                if saved_step != step and step > 0:
                    save(loss_sum / max(batch, 1), background=False)
                self._report_progress(None)
                log(self.name, f"stopped by signal {self.stop_signal} at step {step} (epoch {epoch}, batch {batch}); "
                               "state saved, run again to resume")
                self.record(f"stopped step={step}")
                sys.exit(EXIT_STOPPED)
            idx = perm[batch * batch_size:(batch + 1) * batch_size]
            loss, grads = objective(params, idx, rng)
            optimizer.step(params, grads)
            step, batch, loss_sum = step + 1, batch + 1, loss_sum + loss
            if self.delay:
                time.sleep(self.delay / batches)
            if batch == batches:
                mean_loss = loss_sum / batches
                epoch, batch, loss_sum = epoch + 1, 0, 0.0
                if epoch < self.epochs:
                    perm = rng.permutation(samples)  # the next epoch's order, drawn before the save
                save(mean_loss, background=True)
                self._report_progress(run, epoch=epoch, of=self.epochs, step=step, loss=mean_loss)
                log(self.name, f"epoch {epoch}/{self.epochs} loss {mean_loss:.6f} (checkpoint at step {step})")
        settle()
        if saved_step != step:  # the last epoch's save was cut short by a stop signal
            save(mean_loss, background=False)
        run.close()
        self._report_progress(None)
        return params

    def _report_progress(self, run: resumable.Run | None, **progress: Any) -> None:
        """Reports progress (``resumable progress``) on a thread, so it overlaps the training and the save.

        Waits for the previous report first; ``run=None`` only waits. A report
        that fails is a warning: progress is for ``status``, never a reason to stop.
        """
        if self._progress is not None:
            self._progress.join()
            self._progress = None
        if run is None:
            return

        def report() -> None:
            try:
                run.progress(**progress)
            except ResumableError as error:
                log(self.name, f"warning: could not report progress: {error}")

        self._progress = threading.Thread(target=report, name="progress", daemon=True)
        self._progress.start()

    def finish(self) -> None:
        """Records a successful end and exits 0."""
        self.record("done")
        log(self.name, "done")
        sys.exit(EXIT_DONE)
