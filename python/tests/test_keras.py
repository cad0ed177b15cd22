"""resumable.keras.Checkpoint with Keras 3 on the torch backend.

The crash test runs keras_job.py in subprocesses that SIGKILL themselves in the
middle of an epoch and are run again; the rest trains small models in this
process (KERAS_BACKEND is set before keras is imported).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "torch"
import keras  # noqa: E402

assert keras.backend.backend() == "torch", f"keras was imported earlier with the {keras.backend.backend()} backend"

import resumable.keras  # noqa: E402
from resumable import ResumableError, Run  # noqa: E402
from resumable._binary import run_cli  # noqa: E402

from keras_job import build, digits  # noqa: E402

# Keras' own torch backend converts parameters with np.array(x), which numpy 2.4 warns about on every step.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

JOB = Path(__file__).with_name("keras_job.py")
STEPS = 8  # batches per epoch of the in-process fits: 512 samples, batch 64


def _np(variable) -> np.ndarray:
    return variable.value.detach().cpu().numpy()


def _job(jobs: list[dict], *, killed: bool = False) -> None:
    result = subprocess.run([sys.executable, str(JOB), json.dumps(jobs)], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(JOB.parents[1])})
    expected = -signal.SIGKILL if killed else 0
    assert result.returncode == expected, result.stderr[-3000:]


def _steps(run: Path) -> list[int]:
    return [int(c["step"]) for c in Run(run).checkpoints()]


def _cli(binary: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *args], capture_output=True, text=True)


def test_killed_mid_epoch_resumes_bit_identical(tmp_path, binary):
    """(a) SIGKILL mid-epoch, run again: it resumes at the right epoch with the saved state and ends bit-identical
    to an uninterrupted run — with checkpoints every epoch, and every 4 batches (resuming mid-epoch).

    keras_job.py trains 3 epochs of 11 batches (1400 samples, batch 128) with dropout and batch norm."""
    d = tmp_path
    # 1: a baseline saving every epoch, then the same job killed at batch 5 of epoch index 1.
    _job([{"run": str(d / "base-e"), "out": str(d / "base-e.npz")},
          {"run": str(d / "run-e"), "out": str(d / "run-e.npz"), "kill_at": "1:5"}], killed=True)
    assert _steps(d / "run-e") == [11]
    saved_e = Run(d / "run-e").load("latest")
    # 2: the job again resumes; then a baseline saving every 4 batches, and that job killed at batch 7 of
    # epoch index 2 (its last checkpoint: step 28, 6 batches into that epoch).
    _job([{"run": str(d / "run-e"), "out": str(d / "run-e.npz")},
          {"run": str(d / "base-b"), "out": str(d / "base-b.npz"), "save_every": 4},
          {"run": str(d / "run-b"), "out": str(d / "run-b.npz"), "save_every": 4, "kill_at": "2:7"}], killed=True)
    assert _steps(d / "run-b") == [4, 8, 12, 16, 20, 24, 28]
    saved_b = Run(d / "run-b").load("latest")
    assert saved_b.epoch == 2 and saved_b.metadata["epoch_info"]["epoch_step"] == 6
    # 3: the job saving every 4 batches resumes 6 batches into epoch index 2.
    _job([{"run": str(d / "run-b"), "out": str(d / "run-b.npz"), "save_every": 4}])
    assert _steps(d / "run-e") == _steps(d / "base-e") == [11, 22, 33]
    assert _steps(d / "run-b") == _steps(d / "base-b") == [4, 8, 12, 16, 20, 24, 28, 32, 33]

    for name, saved, first_epoch in (("run-e", saved_e, 1), ("run-b", saved_b, 2)):
        base_name = "base-" + name[-1]
        begin = np.load(d / f"{name}.begin.npz")
        assert int(begin["first_epoch"]) == first_epoch
        assert int(begin["iterations"]) == saved.step  # optimizer iterations as saved
        for i, tensor_name in enumerate(saved.state["model"]["names"]):
            assert np.array_equal(begin[f"w{i}"], saved.tensors[tensor_name]), tensor_name
        for i, value in enumerate(saved.state["optimizer"]["values"]):
            assert np.array_equal(begin[f"o{i}"], value), saved.state["optimizer"]["names"][i]
        for i, value in enumerate(saved.state["seed_generators"]["values"]):
            assert np.array_equal(begin[f"s{i}"], value)
        final, base = np.load(d / f"{name}.npz"), np.load(d / f"{base_name}.npz")
        arrays = [k for k in base.files if k != "history"]
        assert arrays and all(np.array_equal(final[k], base[k]) for k in arrays), \
            [k for k in arrays if not np.array_equal(final[k], base[k])]
        # The resumed run's history has the epochs it trained, equal to the baseline's last ones.
        resumed, whole = json.loads(str(final["history"])), json.loads(str(base["history"]))
        assert {k: v[-len(resumed["loss"]):] for k, v in whole.items()} == resumed
        # Every tensor of every checkpoint from the resume on (weights, optimizer, RNG states, metrics' totals)
        # is bitwise equal to the baseline's at the same step.
        for step in _steps(d / name):
            if step >= saved.step:
                diff = _cli(binary, "diff", f"{d / base_name}@{step}", f"{d / name}@{step}")
                assert diff.returncode == 0, diff.stdout[-3000:]
        # (f) every checkpoint verifies.
        for run in (d / name, d / base_name):
            verify = _cli(binary, "verify", str(run), "--all")
            assert verify.returncode == 0, verify.stdout + verify.stderr


# In-process fits ----------------------------------------------------------------------------


class Scripted(keras.callbacks.Callback):
    """Puts a scripted ``val_score`` into each epoch's logs (placed before the checkpoint callback)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_score"] = self.values[epoch]


@pytest.fixture(scope="module")
def data():
    x, y = digits()
    return x[:512], y[:512], x[512:640], y[512:640]


def _fit(data, run_dir, epochs, *, scores=None, **options):
    x, y, xv, yv = data
    keras.backend.clear_session()  # the same layer names (variable paths) as the run that saved
    keras.utils.set_random_seed(7)
    model = build()
    checkpoint = resumable.keras.Checkpoint(run_dir, **options)
    callbacks = ([Scripted(scores)] if scores else []) + [checkpoint]
    model.fit(x, y, batch_size=64, epochs=epochs, validation_data=(xv, yv), callbacks=callbacks, verbose=0)
    return model, checkpoint


def test_keep_last_prunes_but_keeps_the_best(data, run_dir, binary):
    """(b) keep_last=2 keeps the two newest checkpoints and the best by the monitor."""
    _fit(data, run_dir, 5, scores=[0.1, 0.5, 0.4, 0.3, 0.2], monitor="val_score", keep_last=2)
    assert _steps(run_dir) == [STEPS, 4 * STEPS, 5 * STEPS]  # epoch 1 is best (0.1)
    listing = run_cli(binary, ["ls", str(run_dir)]).data
    assert listing["best"] == STEPS and listing["latest"] == 5 * STEPS
    assert _cli(binary, "verify", str(run_dir), "--all").returncode == 0  # (f)


def test_save_best_only_and_epoch_info(data, run_dir, binary):
    """(c) save_best_only saves only improvements; (d) epoch_info in the manifest's metadata."""
    scores = [0.5, 0.4, 0.6, 0.3, 0.35]
    _fit(data, run_dir, 5, scores=scores, monitor="val_score", mode="min", save_best_only=True)
    assert _steps(run_dir) == [STEPS, 2 * STEPS, 4 * STEPS]
    inspected = run_cli(binary, ["inspect", str(run_dir)]).data
    manifest = inspected["manifest"]
    assert manifest["epoch"] == 4
    assert manifest["metrics"]["val_score"] == pytest.approx(0.3)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(manifest["metrics"])
    info = manifest["metadata"]["epoch_info"]
    assert info["completed_epochs"] == 4 and info["total_epochs"] == 5
    assert info["best_epoch"] == 4 and info["best_score"] == pytest.approx(0.3) and info["best_step"] == 4 * STEPS
    assert info["monitor"] == "val_score" and info["mode"] == "min"
    assert info["step"] == 4 * STEPS and info["epoch_step"] == 0 and info["steps_per_epoch"] == STEPS
    assert info["finished"] is False
    assert info["history"]["epoch"] == [1, 2, 3, 4]
    assert info["history"]["val_score"] == pytest.approx(scores[:4])
    assert manifest["metadata"]["keras"]["backend"] == "torch"
    assert set(inspected["state_keys"]) >= {"optimizer", "rng", "progress", "model", "seed_generators"}
    assert _cli(binary, "verify", str(run_dir), "--all").returncode == 0  # (f)


def test_epoch_info_when_finished_and_auto_mode(data, run_dir):
    """(d) the last epoch's checkpoint says finished; mode auto maximises accuracies, minimises losses."""
    _, checkpoint = _fit(data, run_dir, 2, monitor="val_accuracy")
    assert checkpoint.mode == "max"
    assert resumable.keras.Checkpoint(run_dir, monitor="val_loss").mode == "min"
    info = Run(run_dir).load().metadata["epoch_info"]
    assert info["finished"] is True and info["finish_reason"] == "completed" and info["completed_epochs"] == 2
    assert info["monitor"] == "val_accuracy" and info["mode"] == "max"
    # `resumable status` shows where training stands: the callback reported it every epoch.
    progress = json.loads((Path(run_dir) / "progress.json").read_text())
    assert (progress["epoch"], progress["of"]) == (2, 2)


def test_restore_false_refuses_then_force_resets(data, run_dir, binary):
    """(e) restore=False refuses a run with checkpoints (naming it and how many); force=True deletes them."""
    _fit(data, run_dir, 3)
    with pytest.raises(ResumableError) as refused:
        _fit(data, run_dir, 2, restore=False)
    assert refused.value.code == 1
    assert str(run_dir) in refused.value.message and "3 checkpoint(s)" in refused.value.message
    assert "force=True" in refused.value.message
    assert _steps(run_dir) == [STEPS, 2 * STEPS, 3 * STEPS]  # untouched
    with pytest.raises(ResumableError, match="restore=False"):
        resumable.keras.Checkpoint(run_dir, force=True)
    model, checkpoint = _fit(data, run_dir, 2, restore=False, force=True)
    assert checkpoint.restored is None and checkpoint.initial_epoch == 0
    assert _steps(run_dir) == [STEPS, 2 * STEPS]  # the new run's two epochs, nothing of the old one
    latest = Run(run_dir).load()
    assert latest.metadata["epoch_info"]["history"]["epoch"] == [1, 2]
    assert int(_np(model.optimizer.iterations)) == 2 * STEPS


def test_restore_before_the_first_step_builds_the_optimizer(data, run_dir):
    """The optimizer's variables are created at the first step; the callback builds them to restore into."""
    _fit(data, run_dir, 2)
    saved = Run(run_dir).load()
    assert resumable.keras.initial_epoch(run_dir) == 2
    keras.utils.set_random_seed(99)
    model = build()  # other layer names in this process: restored in order, with a warning
    assert not model.optimizer.built
    checkpoint = resumable.keras.Checkpoint(run_dir)
    assert checkpoint.initial_epoch == 2
    checkpoint.set_model(model)
    with pytest.warns(UserWarning, match="restored in order"):
        checkpoint.on_train_begin()
    assert model.optimizer.built
    assert int(_np(model.optimizer.iterations)) == 2 * STEPS == saved.step
    for variable, name in zip(model.weights, saved.state["model"]["names"]):
        assert np.array_equal(_np(variable), saved.tensors[name]), name
    for variable, value in zip(model.optimizer.variables, saved.state["optimizer"]["values"]):
        assert np.array_equal(_np(variable), value)
    assert model._initial_epoch == 2 and checkpoint.initial_epoch == 2
    checkpoint.on_train_end()
    assert model._initial_epoch is None
    assert _steps(run_dir) == [STEPS, 2 * STEPS]  # nothing new saved


def test_fit_continues_after_the_restored_epoch(data, run_dir):
    """A second fit of the same script trains only the remaining epochs, without initial_epoch."""
    _fit(data, run_dir, 2)
    model, checkpoint = _fit(data, run_dir, 4)
    assert checkpoint.restored is not None and checkpoint.initial_epoch == 2
    assert len(model.history.history["loss"]) == 2 and model.history.epoch == [2, 3]
    assert _steps(run_dir) == [STEPS * n for n in (1, 2, 3, 4)]
    # Already finished: fit trains nothing more.
    model, checkpoint = _fit(data, run_dir, 4)
    assert model.history.epoch == [] and _steps(run_dir) == [STEPS * n for n in (1, 2, 3, 4)]


def test_a_model_that_does_not_fit_is_refused(data, run_dir):
    _fit(data, run_dir, 1)
    inputs = keras.Input((64,))
    outputs = keras.layers.Dense(10)(keras.layers.Dense(16, activation="relu")(inputs))
    other = keras.Model(inputs, outputs)
    other.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    checkpoint = resumable.keras.Checkpoint(run_dir)
    checkpoint.set_model(other)
    with warnings.catch_warnings(), pytest.raises(ResumableError) as refused:
        warnings.simplefilter("ignore")
        checkpoint.on_train_begin()
    assert refused.value.code == 64 and "does not fit this model" in refused.value.message


def test_bad_arguments(run_dir):
    for options in ({"save_every": 0}, {"save_every": "step"}, {"mode": "up"}, {"keep_last": 0}, {"monitor": ""}):
        with pytest.raises(ResumableError) as bad:
            resumable.keras.Checkpoint(run_dir, **options)
        assert bad.value.code == 64, options
