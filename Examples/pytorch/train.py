#!/usr/bin/env python3
"""A PyTorch training job that survives crashes and preemption: an MLP on the digits data.

A real torch.nn model (64-32-10 with dropout) trained by Adam with a cosine
learning-rate schedule on the handwritten digits (Examples/Digits/digits.csv.gz),
shuffled by a ResumableSampler. Every checkpoint holds everything the next step
depends on (weights, Adam's moments and step counts, the schedule, the random
generators that drive dropout, the position inside the epoch), saved by
``Run.save(..., **capture(...))`` without pickle, so a run killed anywhere and
resumed ends bit-identical to one that never stopped.

    resumable run --run-dir runs/torch -- .venv/bin/python Examples/pytorch/train.py
    .venv/bin/python Examples/pytorch/train.py --run-dir runs/torch     # without the supervisor

SIGTERM, SIGINT and SIGUSR1 only set a flag: the loop saves at the next step
boundary and exits with 75 ("interrupted, state saved, safe to run again").
At the end it writes nothing else: the final checkpoint holds the model.
"""
from __future__ import annotations

import argparse
import gzip
import os
import random
import signal
import sys
import time
from pathlib import Path

EXIT_PREEMPTED = 75
EX_CONFIG = 78  # a configuration error: `resumable run` does not restart it, restarting would not help
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
HERE = Path(__file__).resolve().parent


def log(message: str) -> None:
    """One progress line on stderr, flushed at once (a Slurm or CI log shows it as it happens)."""
    print(f"train.py: {message}", file=sys.stderr, flush=True)


try:
    import numpy as np
    import torch
    from torch import nn
except ImportError as error:
    log(f"needs numpy and torch: run scripts/setup-python.sh and use .venv/bin/python [{error}]")
    sys.exit(EX_CONFIG)
try:
    from resumable import Run
except ImportError:  # run from a clone without installing the package: use the clone's copy
    sys.path.insert(0, str(HERE.parent.parent / "python"))
    try:
        from resumable import Run
    except ImportError as error:
        log(f"needs the resumable package: pip install ./python, or PYTHONPATH=python [{error}]")
        sys.exit(EX_CONFIG)
from resumable.torch import ResumableDataLoader, ResumableSampler, capture, restore


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--steps", type=int, default=600, help="total optimisation steps")
    p.add_argument("--save-every", type=int, default=50, help="steps between checkpoints")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=32, help="hidden units (the model is 64-HIDDEN-10)")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-fraction", type=float, default=0.2)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1: the same reductions in every attempt, whatever the machine's load)")
    p.add_argument("--keep-last", type=int, default=3, help="checkpoints kept besides the best (retention)")
    p.add_argument("--step-delay", type=float, default=0.0, help="seconds to sleep per step (demos, tests)")
    p.add_argument("--log-every", type=int, default=0,
                   help="steps between progress lines on stderr (default: at each save)")
    p.add_argument("--data", default=str(HERE.parent / "Digits" / "digits.csv.gz"), help="the digits CSV (gzip)")
    p.add_argument("--run-dir", default=os.environ.get("RESUMABLE_RUN_DIR", ""),
                   help="the run to save to (default: $RESUMABLE_RUN_DIR, set by `resumable run`)")
    return p.parse_args()


def load_digits(path: str, validation_fraction: float, seed: int) -> tuple[torch.Tensor, ...]:
    """The 8×8 digits: 64 pixels (0-16, scaled to [0, 1]) and a label per line, split by a fixed seed."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 65:
        raise ValueError(f"{path}: expected 64 pixel values and a label per line")
    x = table[:, :64] / 16.0
    y = table[:, 64].astype(np.int64)
    order = np.random.default_rng(seed + 12345).permutation(len(y))
    n_val = max(1, int(len(y) * validation_fraction))
    val, train = order[:n_val], order[n_val:]
    return (torch.from_numpy(x[train]), torch.from_numpy(y[train]),
            torch.from_numpy(x[val]), torch.from_numpy(y[val]))


class MLP(nn.Module):
    """64 → hidden → 10, ReLU and dropout in between."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Validation loss and accuracy (eval mode: no dropout, no random numbers drawn)."""
    model.eval()
    logits = model(x)
    model.train()
    return float(nn.functional.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def main() -> int:
    args = parse_args()
    if not args.run_dir:
        log("no run directory: run it under `resumable run --run-dir DIR -- …`, or pass --run-dir")
        return EX_CONFIG
    stop: dict[str, int | None] = {"signal": None}

    def request_stop(signum: int, _frame: object) -> None:
        stop["signal"] = signum  # only a flag: the loop saves at the next step boundary

    for s in STOP_SIGNALS:
        signal.signal(s, request_stop)

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    random.seed(args.seed)  # every generator seeded (the checkpoint holds all of them): runs are reproducible
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    try:
        x_train, y_train, x_val, y_val = load_digits(args.data, args.validation_fraction, args.seed)
    except (OSError, ValueError) as error:
        log(f"cannot read the digits data: {error}")
        return EX_CONFIG
    model = MLP(args.hidden, args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps, eta_min=args.lr / 20)
    sampler = ResumableSampler(len(y_train), shuffle=True, seed=args.seed)
    loader = ResumableDataLoader(torch.utils.data.TensorDataset(x_train, y_train), batch_size=args.batch_size,
                                 sampler=sampler, seed=args.seed, num_workers=args.workers)

    run = Run(args.run_dir, monitor="val_loss", mode="min", keep_last=args.keep_last)
    checkpoint = run.resume(framework="pt")
    step = 0
    if checkpoint is not None:
        restore(checkpoint, model, optimizer, scheduler, loader=loader)
        step = checkpoint.step
        del checkpoint  # nothing of it is kept: restore copied what it needs
    log(f"attempt {run.attempt} (pid {os.getpid()}): at step {step} of {args.steps}, epoch {sampler.epoch}, "
        f"{len(loader)} batches an epoch, a checkpoint every {args.save_every} steps")

    saved_step = step if step > 0 else None
    loss = float("nan")
    started, first_step, saves = time.monotonic(), step, 0

    def save() -> None:
        nonlocal saved_step, saves
        val_loss, val_accuracy = evaluate(model, x_val, y_val)
        run.save(step, epoch=sampler.epoch,
                 metrics={"train_loss": loss, "val_loss": val_loss, "val_accuracy": val_accuracy},
                 **capture(model, optimizer, scheduler, loader=loader))
        saved_step, saves = step, saves + 1
        log(f"step {step}/{args.steps} epoch {sampler.epoch} loss {loss:.6f} val_loss {val_loss:.6f} "
            f"val_accuracy {val_accuracy:.4f} (saved)")

    model.train()
    while step < args.steps:
        for xb, yb in loader:  # the rest of the current epoch, then (next time round) the next epoch
            optimizer.zero_grad(set_to_none=True)
            batch_loss = nn.functional.cross_entropy(model(xb), yb)
            batch_loss.backward()
            optimizer.step()
            scheduler.step()
            step, loss = step + 1, float(batch_loss)
            if args.step_delay:
                time.sleep(args.step_delay)
            if step % args.save_every == 0 or step == args.steps:
                save()
            elif args.log_every and step % args.log_every == 0:
                log(f"step {step}/{args.steps} epoch {sampler.epoch} loss {loss:.6f}")
            if stop["signal"] is not None:  # a step boundary: this batch is trained on and counted
                if saved_step != step:
                    save()
                log(f"stopped by signal {stop['signal']} at step {step}, state saved")
                run.close()
                return EXIT_PREEMPTED
            if step >= args.steps:
                break
    run.close()
    log(f"done at step {step}: {step - first_step} steps and {saves} checkpoint(s) in this attempt, "
        f"{time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
