#!/usr/bin/env python3
"""A small NumPy training job that survives crashes and preemption under `resumable run`.

It trains a two-layer network by SGD with momentum on synthetic data. Everything
the next step depends on is saved at each checkpoint: weights, momentum
buffers, the step and epoch, the position inside the epoch's data order (the
epoch's permutation and the batch index) and the random generator's state.
So a run killed anywhere and resumed ends bit-identical to one that never stopped.

Checkpoints are written to a temporary directory (model.safetensors +
state.json) and committed with `resumable commit`, which hashes every file,
makes it durable and renames it into place atomically. On start the script
resumes from RESUMABLE_RESUME_FROM, which `resumable run` sets to the newest
checkpoint that verifies (empty on a fresh start).

    resumable run --run-dir runs/demo -- python train.py --steps 600

SIGTERM, SIGINT and SIGUSR1 only set a flag: the loop saves at the next step
boundary and exits with 75 ("interrupted, state saved, safe to run again").
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

EXIT_PREEMPTED = 75
EX_CONFIG = 78  # a configuration error: `resumable run` does not restart it, restarting would not help

try:
    import numpy as np
    from safetensors.numpy import load_file, save_file
except ImportError as error:
    print(f"train.py: needs numpy and safetensors: run scripts/setup-python.sh and use .venv/bin/python "
          f"(or pip install numpy safetensors) [{error}]", file=sys.stderr, flush=True)
    sys.exit(EX_CONFIG)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


def log(message):
    """One progress line on stderr, flushed at once (a Slurm or CI log shows it as it happens)."""
    print(f"train.py: {message}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=600, help="total optimisation steps")
    p.add_argument("--save-every", type=int, default=50, help="steps between checkpoints")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step-delay", type=float, default=0.0, help="seconds to sleep per step (demos, tests)")
    p.add_argument("--log-every", type=int, default=0,
                   help="steps between progress lines on stderr (default: --save-every; 0 there too: only saves)")
    p.add_argument("--run-dir", default=os.environ.get("RESUMABLE_RUN_DIR", ""),
                   help="the run to commit to (default: $RESUMABLE_RUN_DIR)")
    return p.parse_args()


def make_data(seed, n=512, d=8):
    """A fixed synthetic regression problem (the same for every attempt)."""
    g = np.random.default_rng(seed + 1000)
    x = g.standard_normal((n, d)).astype(np.float32)
    w = g.standard_normal((d, 1)).astype(np.float32)
    y = np.tanh(x @ w) + 0.1 * g.standard_normal((n, 1)).astype(np.float32)
    return x, y.astype(np.float32)


def init_params(seed, d=8, h=16):
    g = np.random.default_rng(seed)
    return {
        "w1": (g.standard_normal((d, h)) / np.sqrt(d)).astype(np.float32),
        "b1": np.zeros((h,), np.float32),
        "w2": (g.standard_normal((h, 1)) / np.sqrt(h)).astype(np.float32),
        "b2": np.zeros((1,), np.float32),
    }


def loss_and_grads(p, x, y):
    z = x @ p["w1"] + p["b1"]
    a = np.tanh(z)
    out = a @ p["w2"] + p["b2"]
    diff = out - y
    loss = float(np.mean(diff ** 2))
    g_out = (2.0 / len(x)) * diff
    grads = {"w2": a.T @ g_out, "b2": g_out.sum(0)}
    g_a = g_out @ p["w2"].T
    g_z = g_a * (1 - a ** 2)
    grads["w1"] = x.T @ g_z
    grads["b1"] = g_z.sum(0)
    return loss, {k: v.astype(np.float32) for k, v in grads.items()}


def rng_state_to_json(rng):
    s = rng.bit_generator.state
    # PCG64 state holds 128-bit integers: keep them as strings so any JSON reader can load them.
    return {"bit_generator": s["bit_generator"], "state": {k: str(v) for k, v in s["state"].items()},
            "has_uint32": s["has_uint32"], "uinteger": s["uinteger"]}


def rng_from_json(saved):
    rng = np.random.default_rng()
    rng.bit_generator.state = {"bit_generator": saved["bit_generator"],
                               "state": {k: int(v) for k, v in saved["state"].items()},
                               "has_uint32": saved["has_uint32"], "uinteger": saved["uinteger"]}
    return rng


def resumable_binary():
    return os.environ.get("RESUMABLE_BIN") or shutil.which("resumable") or "resumable"


def ignore_stop_signals():
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def save_checkpoint(run_dir, step, epoch, batch, perm, params, velocity, rng, loss):
    """Writes the checkpoint files to a temporary directory and commits them."""
    tmp = tempfile.mkdtemp(prefix=f"ckpt-{step}-")
    try:
        tensors = {f"params.{k}": v for k, v in params.items()}
        tensors.update({f"momentum.{k}": v for k, v in velocity.items()})
        tensors["data.permutation"] = perm.astype(np.int64)
        save_file(tensors, os.path.join(tmp, "model.safetensors"), metadata={"format": "np"})
        state = {"step": step, "epoch": epoch, "batch": batch, "rng": rng_state_to_json(rng), "loss": loss}
        with open(os.path.join(tmp, "state.json"), "w") as f:
            json.dump(state, f, sort_keys=True)
        # The commit runs with the stop signals ignored: `resumable run` forwards them to the
        # whole process group, and a commit cut short (safe, but lost) would waste the save.
        subprocess.run([resumable_binary(), "commit", run_dir, "--step", str(step), "--epoch", str(epoch),
                        "--metric", f"loss={loss!r}", tmp], check=True, stdout=subprocess.DEVNULL,
                       preexec_fn=ignore_stop_signals)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = parse_args()
    if not args.run_dir:
        sys.exit("train.py: no run directory: run it under `resumable run`, or pass --run-dir")
    stop = {"signal": None}

    def request_stop(signum, _frame):
        stop["signal"] = signum  # only a flag: the loop saves at the next step boundary

    for s in STOP_SIGNALS:
        signal.signal(s, request_stop)

    x, y = make_data(args.seed)
    batches_per_epoch = len(x) // args.batch_size
    resume = os.environ.get("RESUMABLE_RESUME_FROM", "")
    if resume:
        t = load_file(os.path.join(resume, "model.safetensors"))
        with open(os.path.join(resume, "state.json")) as f:
            state = json.load(f)
        params = {k[len("params."):]: v for k, v in t.items() if k.startswith("params.")}
        velocity = {k[len("momentum."):]: v for k, v in t.items() if k.startswith("momentum.")}
        perm = t["data.permutation"]
        rng = rng_from_json(state["rng"])
        step, epoch, batch, loss = state["step"], state["epoch"], state["batch"], state["loss"]
        log(f"attempt {os.environ.get('RESUMABLE_ATTEMPT', '?')}: resuming from step {step} of {args.steps} "
            f"(epoch {epoch}, loss {loss:.6f}, {resume})")
    else:
        params = init_params(args.seed)
        velocity = {k: np.zeros_like(v) for k, v in params.items()}
        rng = np.random.default_rng(args.seed)
        perm = rng.permutation(len(x))
        step, epoch, batch, loss = 0, 0, 0, float("nan")
        log(f"attempt {os.environ.get('RESUMABLE_ATTEMPT', '?')}: starting fresh: {args.steps} steps, "
            f"{batches_per_epoch} batches an epoch, a checkpoint every {args.save_every} steps")
    saved_step = step if resume else None
    log_every = args.log_every or args.save_every
    started, first_step, saves = time.monotonic(), step, 0

    while step < args.steps:
        if stop["signal"] is not None:
            if saved_step != step:
                save_checkpoint(args.run_dir, step, epoch, batch, perm, params, velocity, rng, loss)
            log(f"stopped by signal {stop['signal']} at step {step}, state saved")
            return EXIT_PREEMPTED
        if batch == batches_per_epoch:  # next epoch: a new order of the data
            epoch, batch = epoch + 1, 0
            perm = rng.permutation(len(x))
        idx = perm[batch * args.batch_size:(batch + 1) * args.batch_size]
        xb = x[idx] + 0.01 * rng.standard_normal(x[idx].shape).astype(np.float32)  # input noise
        loss, grads = loss_and_grads(params, xb, y[idx])
        for k in params:
            velocity[k] = (args.momentum * velocity[k] + grads[k]).astype(np.float32)
            params[k] = (params[k] - args.lr * velocity[k]).astype(np.float32)
        step, batch = step + 1, batch + 1
        if args.step_delay:
            time.sleep(args.step_delay)
        saving = step % args.save_every == 0 or step == args.steps
        if saving:
            save_checkpoint(args.run_dir, step, epoch, batch, perm, params, velocity, rng, loss)
            saved_step, saves = step, saves + 1
        if saving or (log_every > 0 and step % log_every == 0):
            log(f"step {step}/{args.steps} epoch {epoch} loss {loss:.6f}" + (" (saved)" if saving else ""))
    elapsed = time.monotonic() - started
    log(f"done at step {step}, loss {loss:.6f}: {step - first_step} steps and {saves} checkpoint(s) "
        f"in this attempt, {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
