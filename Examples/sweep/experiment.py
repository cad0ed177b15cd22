"""One unit of the example ablation: a representation's features, a layer set, a small classifier, its metrics.

``python experiment.py --rep REPRESENTATION --layers LAYER_SET --out RESULT.json``

The unit takes the features of its representation (features.py; through
``resumable cache run`` when ``RESUMABLE_CACHE_DIR`` is set, as it is under
``resumable sweep run``, so the two layer sets of a representation compute
them once), keeps the layers of its layer set, trains a softmax regression
with SGD and momentum for ``SWEEP_EPOCHS`` epochs and writes its test
accuracy and loss to RESULT.json (atomically: a temporary file, fsync,
rename)::

    {"epochs": 8, "features": 96, "layers": "visual_only",
     "metrics": {"accuracy": 0.87, "loss": 0.351234, "train_loss": 0.298765},
     "representation": "spectral"}

Under a supervisor (``RESUMABLE_RUN_DIR``: ``resumable sweep run`` gives
every unit its own) it checkpoints at the end of every epoch with the
``resumable`` package, and at the batch it reached when SIGTERM or SIGINT asks
it to stop (then it exits 75). A unit killed anywhere, SIGKILL included,
resumes inside itself from its latest checkpoint and writes a result
byte-identical to an uninterrupted run's: the weights, the momentum, the epoch
and batch cursor are in the checkpoint, each epoch's order is drawn from a
generator seeded by the epoch, and the metrics are rounded to 6 decimals.

Every start appends ``start attempt=A resume_step=S key=K pid=P`` to
``$RESUMABLE_RUN_DIR/executions.log`` and a successful end ``done``.

The ``spectral`` units crash on their first attempt ("simulated
out-of-memory", exit 1) when ``RESUMABLE_ATTEMPT`` is 1 and their run
directory has no ``simulated-oom.marker`` yet (the marker is written before
the crash), so a sweep with ``retries: 1`` shows a failure and its retry.

Environment: ``SWEEP_EPOCHS`` (default 8), ``SWEEP_EPOCH_DELAY`` (seconds of
sleep per epoch, spread over its batches; default 0.1) to make a unit long
enough to interrupt. Exit codes: 0 done, 1 failed (the simulated crash, an
error), 75 stopped by a signal after saving, 78 NumPy or ``resumable`` missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any

# Until the training loop takes over (class Stop), a stop signal ends the process at once: nothing to save yet.
for _signal in (signal.SIGTERM, signal.SIGINT):
    signal.signal(_signal, lambda *_: sys.exit(75))

import features as ft  # noqa: E402 (sets one BLAS thread before NumPy loads; exits 78 without NumPy)
from features import EXIT_CONFIG, EXIT_STOPPED, np  # noqa: E402

try:  # noqa: E402
    import resumable
    from resumable.errors import EXIT_NOT_FOUND, ResumableError
except ImportError as _error:
    print(f"experiment: needs the `resumable` Python package: set PYTHONPATH to the repository's python/ directory "
          f"(sweep.yaml does) or pip install ./python [{_error}]", file=sys.stderr, flush=True)
    sys.exit(EXIT_CONFIG)

HERE = os.path.dirname(os.path.abspath(__file__))
EXIT_FAILED = 1
BATCH_SIZE = 80
BATCHES = ft.TRAIN // BATCH_SIZE
LEARNING_RATE = 0.1
MOMENTUM = 0.9
TRAIN_SEED = 7
CRASHING = "spectral"
CRASH_MARKER = "simulated-oom.marker"


def log(message: str) -> None:
    """One line on standard error, flushed at once (the sweep's unit log shows it as it happens)."""
    print(f"experiment: {message}", file=sys.stderr, flush=True)


def env_number(name: str, default: float, minimum: float, kind: type) -> Any:
    """The environment variable ``name`` as ``kind`` (``default`` when unset); exits 78 unless it is a number ≥ ``minimum``."""
    raw = os.environ.get(name, "")
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        log(f"{name}={raw!r} is not a number ≥ {minimum}")
        sys.exit(EXIT_CONFIG)
    return value


# Files --------------------------------------------------------------------------------------------

def write_atomically(path: str, data: bytes) -> None:
    """Writes ``path`` whole or not at all: a temporary file beside it, fsync, rename, fsync of the directory."""
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it 0600; the result is an ordinary file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
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


def append_line(path: str, line: str) -> None:
    """Appends one line to ``path`` durably (the tests read it after SIGKILLs)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def code_version() -> str:
    """The SHA-256 of this file and features.py: checkpoints of other code are not resumed."""
    digest = hashlib.sha256()
    for name in ("experiment.py", "features.py"):
        with open(os.path.join(HERE, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


# Features -----------------------------------------------------------------------------------------

def representation_features(representation: str, scratch: str) -> np.ndarray:
    """All layers' features of ``representation``: from the result cache when there is one, else computed here.

    With ``RESUMABLE_CACHE_DIR`` set (``resumable sweep run`` sets it to
    ``RUN/cache``), ``resumable cache run KEY --output F -- python features.py …``
    computes them once for every unit that asks (the two layer sets of a
    representation, a rerun, a resumed unit) and copies the stored value to
    ``F`` otherwise. The bytes are the same either way, so the result is too.
    """
    cache_dir = os.environ.get("RESUMABLE_CACHE_DIR", "")
    binary = os.environ.get("RESUMABLE_BIN") or shutil.which("resumable")
    if not cache_dir or not binary:
        return ft.features(representation)
    os.makedirs(scratch, exist_ok=True)
    output = os.path.join(scratch, f".features-{representation}.npy")
    command = [binary, "cache", "run", ft.cache_key(representation), "--output", output, "--",
               sys.executable, os.path.join(HERE, "features.py"), "--rep", representation, "--out", output]
    code = subprocess.run(command, stdin=subprocess.DEVNULL).returncode
    if code != 0:
        raise CacheFailure(code)
    try:
        return np.load(output, allow_pickle=False)
    finally:
        os.unlink(output)


class CacheFailure(Exception):
    """``resumable cache run`` exited ``code`` (75 when it was stopped by a signal)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"`resumable cache run` for the features exited {code}")
        self.code = code


def design_matrix(representation: str, layers: str, scratch: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: the layer set's features, standardised by the training set's statistics."""
    all_layers = representation_features(representation, scratch)
    x = all_layers[:, list(ft.LAYER_SETS[layers])].reshape(ft.SAMPLES, -1)
    _, y = ft.dataset()
    mean, std = x[:ft.TRAIN].mean(0), x[:ft.TRAIN].std(0)
    x = (x - mean) / np.where(std > 1e-12, std, 1.0)
    return x[:ft.TRAIN], y[:ft.TRAIN], x[ft.TRAIN:], y[ft.TRAIN:]


# The model ----------------------------------------------------------------------------------------

def softmax_loss(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Mean cross-entropy of a softmax regression, its gradients and the predicted probabilities."""
    logits = x @ w + b
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    loss = float(-np.log(p[np.arange(len(y)), y]).mean())
    g = p.copy()
    g[np.arange(len(y)), y] -= 1.0
    g /= len(y)
    return loss, x.T @ g, g.sum(0), p


class Stop:
    """Remembers a SIGTERM/SIGINT; the loop saves at the next batch boundary and exits 75."""

    def __init__(self) -> None:
        self.signal: int | None = None
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signal = signum


@dataclass
class TrainingState:
    """Everything the next batch depends on: the weights, the momentum, the cursor and the epoch's loss so far."""

    w: np.ndarray
    b: np.ndarray
    vw: np.ndarray
    vb: np.ndarray
    step: int = 0
    epoch: int = 0
    batch: int = 0
    loss_sum: float = 0.0
    #: The last finished epoch's mean training loss.
    last_loss: float | None = None

    @staticmethod
    def fresh(inputs: int) -> "TrainingState":
        """The state before the first batch: zero weights and momentum."""
        w, b = np.zeros((inputs, ft.CLASSES)), np.zeros(ft.CLASSES)
        return TrainingState(w, b, np.zeros_like(w), np.zeros_like(b))

    @staticmethod
    def restore(checkpoint: resumable.Checkpoint) -> "TrainingState":
        """The state a checkpoint holds (its tensors copied out of the memory-mapped files)."""
        t, state = checkpoint.tensors, checkpoint.state
        w, b, vw, vb = (np.array(t[k], np.float64) for k in ("w", "b", "velocity.w", "velocity.b"))
        last = state["last_loss"]
        return TrainingState(w, b, vw, vb, step=checkpoint.step, epoch=int(state["epoch"]), batch=int(state["batch"]),
                             loss_sum=float(state["loss_sum"]), last_loss=None if last is None else float(last))

    def tensors(self) -> dict[str, np.ndarray]:
        """The checkpoint's tensors."""
        return {"w": self.w, "b": self.b, "velocity.w": self.vw, "velocity.b": self.vb}

    def json(self, key: str) -> dict[str, Any]:
        """The checkpoint's state (JSON), with the key of what it is valid for."""
        return {"key": key, "epoch": self.epoch, "batch": self.batch, "loss_sum": self.loss_sum,
                "last_loss": self.last_loss}


class Unit:
    """One unit's process: its run directory, execution log, checkpoints and training loop."""

    def __init__(self, representation: str, layers: str, out: str) -> None:
        self.representation = representation
        self.layers = layers
        self.out = os.path.abspath(out)
        self.epochs: int = env_number("SWEEP_EPOCHS", 8, 1, int)
        self.delay: float = env_number("SWEEP_EPOCH_DELAY", 0.1, 0.0, float)
        supervised = os.environ.get("RESUMABLE_RUN_DIR", "")
        #: The checkpoint run (None: run by hand without a supervisor, no checkpoints).
        self.run: resumable.Run | None = resumable.Run(supervised) if supervised else None
        self.directory = self.run.dir if self.run else os.path.dirname(self.out)
        os.makedirs(self.directory, exist_ok=True)
        self._remove_stale_temporaries()
        self.stop = Stop()
        self.saved_step: int | None = None
        self.progress: threading.Thread | None = None
        text = json.dumps({"representation": representation, "layers": layers, "epochs": self.epochs,
                           "code": code_version()}, sort_keys=True)
        #: What this unit's checkpoints are valid for.
        self.key = hashlib.sha256(text.encode()).hexdigest()

    def _remove_stale_temporaries(self) -> None:
        """Removes a half-written result (``.result.json.XXXX.tmp``) or features file of a process killed mid-write.

        Only one process runs a unit at a time (the sweep's claim on the unit,
        the supervisor's lock on its run directory).
        """
        result = os.path.basename(self.out)
        for directory, prefixes in ((os.path.dirname(self.out), (f".{result}.",)), (self.directory, (".features-",))):
            if not os.path.isdir(directory):
                continue
            for entry in os.listdir(directory):
                path = os.path.join(directory, entry)
                if entry.startswith(prefixes) and entry.endswith((".tmp", ".npy")) and os.path.isfile(path):
                    os.unlink(path)

    def record(self, line: str) -> None:
        """Appends ``line`` to ``executions.log`` in the unit's directory."""
        append_line(os.path.join(self.directory, "executions.log"), line)

    def record_start(self, resume_step: int) -> None:
        """The ``start`` line of this process."""
        attempt = os.environ.get("RESUMABLE_ATTEMPT") or "-"
        key = os.environ.get("RESUMABLE_UNIT_KEY") or "-"
        self.record(f"start attempt={attempt} resume_step={resume_step} key={key} pid={os.getpid()}")

    def crash_on_first_attempt(self) -> None:
        """The ``spectral`` units' simulated out-of-memory: exit 1 on attempt 1 of a run without the marker."""
        if self.representation != CRASHING or self.run is None or os.environ.get("RESUMABLE_ATTEMPT") != "1":
            return
        marker = os.path.join(self.directory, CRASH_MARKER)
        if os.path.exists(marker):
            return
        self.record_start(0)
        write_atomically(marker, b"the first attempt crashed on purpose (examples/sweep experiment.py)\n")
        self.record("crashed simulated-oom")
        log(f"{self.representation}/{self.layers}: simulated out-of-memory on first attempt "
            "(a retry succeeds: the marker is written)")
        sys.exit(EXIT_FAILED)

    def latest_checkpoint(self) -> resumable.Checkpoint | None:
        """Where to resume: the checkpoint `resumable run` chose, or the latest that verifies; None for a fresh start."""
        if self.run is None:
            return None
        if self.run.supervised and "RESUMABLE_RESUME_FROM" in os.environ:
            checkpoint = self.run.resume(quiet=True)
        else:
            try:
                checkpoint = self.run.load("latest")
            except ResumableError as error:
                if error.code != EXIT_NOT_FOUND:
                    raise
                checkpoint = None
        if checkpoint is not None and (checkpoint.state or {}).get("key") != self.key:
            log(f"the checkpoints in {self.directory} were made by other code or another epoch count: starting over")
            self.run.resume("never", overwrite=True, quiet=True)  # `resumable reset`: deletes them
            checkpoint = None
        return checkpoint

    def settle(self) -> None:
        """Waits for a background save. One cut short by a stop signal is forgotten (saved again before exiting).

        The `resumable` binary shares the unit's process group: a Ctrl-C can
        kill it while it starts, before its commit ignores signals; such a
        commit never happened, so saving again is safe.
        """
        assert self.run is not None
        try:
            self.run.wait()
        except ResumableError as error:
            if self.stop.signal is None:
                raise
            log(f"a save was cut short by signal {self.stop.signal} ({error}); saving again")
            self.saved_step = None

    def save(self, state: TrainingState, background: bool) -> None:
        """Commits ``state``; in the background, the commit overlaps the next epoch (the tensors are copied first)."""
        assert self.run is not None
        self.settle()
        loss = state.loss_sum / state.batch if state.batch else state.last_loss
        for tries in range(1, 4):
            try:
                self.run.save(state.step, epoch=state.epoch, tensors=state.tensors(), state=state.json(self.key),
                              metrics={} if loss is None else {"loss": loss}, background=background)
                break
            except ResumableError as error:
                if self.stop.signal is None or tries == 3:
                    raise
                log(f"the save of step {state.step} was cut short by signal {self.stop.signal} ({error}); saving again")
        self.saved_step = state.step

    def report_progress(self, epoch: int | None = None, step: int = 0, loss: float = 0.0) -> None:
        """Reports progress (``resumable progress``; ``resumable status`` shows it) on a thread.

        Waits for the previous report first; ``epoch=None`` only waits. A
        report that fails is a warning: progress is never a reason to stop.
        """
        if self.progress is not None:
            self.progress.join()
            self.progress = None
        if epoch is None or self.run is None:
            return
        run, of = self.run, self.epochs

        def report() -> None:
            try:
                run.progress(epoch=epoch, of=of, step=step, loss=loss)
            except ResumableError as error:
                log(f"warning: could not report progress: {error}")

        self.progress = threading.Thread(target=report, name="progress", daemon=True)
        self.progress.start()

    def train(self) -> dict[str, Any]:
        """Trains (or resumes) the classifier and returns the result object."""
        self.crash_on_first_attempt()
        checkpoint = self.latest_checkpoint()
        x_train, y_train, x_test, y_test = design_matrix(self.representation, self.layers, self.directory)
        if self.stop.signal is not None:  # stopped while the features were computed: nothing new to save
            self.stopped(checkpoint.step if checkpoint else 0)
        s = TrainingState.fresh(x_train.shape[1]) if checkpoint is None else TrainingState.restore(checkpoint)
        if checkpoint is not None:
            log(f"resuming from step {s.step} (epoch {s.epoch} of {self.epochs}, batch {s.batch} of {BATCHES})")
        self.record_start(s.step)
        self.saved_step = s.step if checkpoint is not None else None
        while s.epoch < self.epochs:
            if self.stop.signal is not None:
                if self.run is not None:
                    self.settle()
                    if self.saved_step != s.step and s.step > 0:
                        self.save(s, background=False)
                self.report_progress()
                self.stopped(s.step)
            order = np.random.default_rng([TRAIN_SEED, s.epoch]).permutation(ft.TRAIN)
            idx = order[s.batch * BATCH_SIZE:(s.batch + 1) * BATCH_SIZE]
            loss, gw, gb, _ = softmax_loss(s.w, s.b, x_train[idx], y_train[idx])
            s.vw = MOMENTUM * s.vw - LEARNING_RATE * gw
            s.vb = MOMENTUM * s.vb - LEARNING_RATE * gb
            s.w, s.b = s.w + s.vw, s.b + s.vb
            s.step, s.batch, s.loss_sum = s.step + 1, s.batch + 1, s.loss_sum + loss
            if self.delay:
                time.sleep(self.delay / BATCHES)
            if s.batch == BATCHES:
                s.epoch, s.batch, s.last_loss, s.loss_sum = s.epoch + 1, 0, s.loss_sum / BATCHES, 0.0
                if self.run is not None:
                    self.save(s, background=True)
                    self.report_progress(s.epoch, s.step, s.last_loss)
                log(f"{self.representation}/{self.layers}: epoch {s.epoch}/{self.epochs} train loss {s.last_loss:.6f}")
        if self.run is not None:
            self.settle()
            if self.saved_step != s.step:  # the last epoch's save was cut short by a stop signal
                self.save(s, background=False)
            self.run.close()
        self.report_progress()
        test_loss, _, _, p = softmax_loss(s.w, s.b, x_test, y_test)
        accuracy = float((p.argmax(1) == y_test).mean())
        return {"representation": self.representation, "layers": self.layers, "epochs": self.epochs,
                "features": int(x_train.shape[1]),
                "metrics": {"accuracy": round(accuracy, 6), "loss": round(test_loss, 6),
                            "train_loss": round(float(s.last_loss or 0.0), 6)}}

    def stopped(self, step: int) -> None:
        """Exits 75 after a stop signal (the state is saved)."""
        saved = "state saved, run again to resume" if self.run else "no RESUMABLE_RUN_DIR: nothing saved"
        log(f"stopped by signal {self.stop.signal} at step {step}; {saved}")
        self.record(f"stopped step={step}")
        sys.exit(EXIT_STOPPED)


def main(argv: list[str] | None = None) -> int:
    """Runs one unit; see the module's documentation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rep", required=True, choices=list(ft.REPRESENTATIONS), help="the feature representation")
    parser.add_argument("--layers", required=True, choices=list(ft.LAYER_SETS), help="the layer set")
    parser.add_argument("--out", required=True, help="the result JSON to write")
    args = parser.parse_args(argv)
    unit = Unit(args.rep, args.layers, args.out)
    try:
        result = unit.train()
    except CacheFailure as failure:
        if unit.stop.signal is not None or failure.code == EXIT_STOPPED:
            unit.stopped(0)
        log(str(failure))
        return EXIT_FAILED
    if unit.run is not None:
        unit.run.close()
    write_atomically(unit.out, (json.dumps(result, indent=2, sort_keys=True) + "\n").encode())
    unit.record("done")
    metrics = result["metrics"]
    log(f"{args.rep}/{args.layers}: accuracy {metrics['accuracy']:.4f}, test loss {metrics['loss']:.4f} → {unit.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
