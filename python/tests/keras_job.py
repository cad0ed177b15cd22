"""A Keras 3 training job on the digits data, for test_keras.py: trains with resumable.keras.Checkpoint.

    python keras_job.py '[{"run": DIR, "out": OUT.npz, "epochs": 3, "save_every": "epoch" | N,
                          "kill_at": "EPOCH:BATCH", "keep_last": N}, …]'

Runs the jobs one after the other in this process (keras.backend.clear_session()
between them, so layer names and variable paths are the same in every job).
Deterministic: every global seed is fixed at the start of each job, one torch
thread. ``kill_at`` sends the process SIGKILL after that batch (0-based Keras
epoch index and batch), so no ``finally``, ``atexit`` or ``on_train_end`` runs.
Each job writes OUT.npz at its end (the final model and optimizer variables in
order, and the history), and OUT.begin.npz when its first epoch begins (after
the callback's restore): the variables, the first epoch fit runs and the
optimizer's iterations.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import keras  # noqa: E402

import resumable.keras  # noqa: E402


def digits() -> tuple[np.ndarray, np.ndarray]:
    """Examples/Digits/digits.csv.gz: 1797 rows of 64 pixel values (0–16) and the label."""
    with gzip.open(ROOT / "Examples" / "Digits" / "digits.csv.gz", "rt") as f:
        data = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return data[:, :64] / 16.0, data[:, 64].astype(np.int64)


def build() -> keras.Model:
    inputs = keras.Input((64,))
    x = keras.layers.Dense(48, activation="relu")(inputs)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def variables(model: keras.Model) -> dict[str, np.ndarray]:
    """w0…: model.weights, o0…: the optimizer's variables, s0…: the seed generators' states (in order)."""
    weights = {id(v) for v in model.weights}
    groups = {"w": model.weights, "o": model.optimizer.variables,
              "s": [v for v in model.variables if id(v) not in weights]}
    return {f"{prefix}{i}": keras.ops.convert_to_numpy(v.value).copy()
            for prefix, group in groups.items() for i, v in enumerate(group)}


class Probe(keras.callbacks.Callback):
    def __init__(self, out: str, kill_at: tuple[int, int] | None) -> None:
        super().__init__()
        self.out, self.kill_at, self.epoch, self.first_epoch = out, kill_at, -1, None

    def on_train_begin(self, logs=None):
        self.begin = variables(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self.first_epoch is None:
            self.first_epoch = epoch
            np.savez(self.out.replace(".npz", ".begin.npz"), first_epoch=epoch,
                     iterations=int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)), **self.begin)

    def on_train_batch_end(self, batch, logs=None):
        if self.kill_at == (self.epoch, batch):
            os.kill(os.getpid(), signal.SIGKILL)


def train(run_dir: str, out: str, *, epochs: int, save_every: str, kill_at: str | None,
          keep_last: int | None) -> None:
    keras.utils.set_random_seed(1234)
    x, y = digits()
    order = np.random.default_rng(0).permutation(len(x))
    train, val = order[:1400], order[1400:]
    model = build()
    every = save_every if save_every == "epoch" else int(save_every)
    kill = tuple(int(p) for p in kill_at.split(":")) if kill_at else None
    checkpoint = resumable.keras.Checkpoint(run_dir, save_every=every, keep_last=keep_last)
    probe = Probe(out, kill)
    history = model.fit(x[train], y[train], batch_size=128, epochs=epochs, validation_data=(x[val], y[val]),
                        callbacks=[checkpoint, probe], verbose=0)
    np.savez(out, history=json.dumps(history.history), **variables(model))


def main() -> None:
    jobs = json.loads(sys.argv[1])
    for n, job in enumerate(jobs):
        if n:
            keras.backend.clear_session()  # the same layer names, so the same variable paths, in every job
        train(job["run"], job["out"], epochs=job.get("epochs", 3), save_every=str(job.get("save_every", "epoch")),
              kill_at=job.get("kill_at"), keep_last=job.get("keep_last"))


if __name__ == "__main__":
    main()
