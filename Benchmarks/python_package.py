#!/usr/bin/env python3
"""Run.save of the Python package against torch.save and safetensors.torch.save_file, in one run.

    RESUMABLE_BIN=.build/release/resumable PYTHONPATH=python .venv/bin/python \
        Benchmarks/python_package.py --dir /var/tmp/pybench [--d-model 768] [--reps 3]

The state is GPT-2 small's weights with Adam's two moments (d-model 768: 124 M
parameters × 3 × 4 bytes = 1.49 GB, 445 tensors: `peers.py`'s layout), as torch tensors on the CPU.
Every method writes the same tensors into a fresh directory and ends with the
data durable: torch.save and save_file are followed by fsync of the file and
its directory; Run.save commits (hashes every byte, fsyncs, renames) through
`resumable commit --move`. The machine's limit is measured in the same run:
`dd conv=fsync` of as many bytes. Background saves: the time `Run.save(...,
background=True)` blocks the caller (the snapshot copy) against a synchronous
save (the first background save of a Run allocates its snapshot buffers; the
later ones reuse them), and the time until the commit is done.

Prints one JSON line per measurement, then a `ratios:` line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "python"), HERE]
from peers import layout  # noqa: E402  (the state the Swift benchmark and the peers save)
from resumable import Run  # noqa: E402


def make_state(d: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {name: torch.randn(shape, generator=g) for name, shape in layout(d, True)}


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(label: str, method: str, work, results: list[dict]) -> float:
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    results.append({"method": method, "phase": label, "seconds": seconds})
    print(json.dumps(results[-1]), flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, help="a scratch directory on the disk to measure (emptied)")
    parser.add_argument("--d-model", type=int, default=768)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    state = make_state(args.d_model)
    total = sum(t.numel() * t.element_size() for t in state.values())
    print(json.dumps({"state_bytes": total, "tensors": len(state), "torch": torch.__version__,
                      "resumable_bin": os.environ.get("RESUMABLE_BIN")}), flush=True)
    results: list[dict] = []
    best: dict[str, float] = {}

    def record(method: str, seconds: float) -> None:
        best[method] = min(best.get(method, float("inf")), seconds)

    for rep in range(args.reps):
        target = os.path.join(args.dir, f"dd-{rep}")
        record("dd", timed("save", "dd", lambda: subprocess.run(
            ["dd", "if=/dev/zero", f"of={target}", "bs=64M", f"count={max(1, total >> 26)}", "conv=fsync"],
            check=True, capture_output=True), results))
        os.unlink(target)

        path = os.path.join(args.dir, f"state-{rep}.pt")

        def torch_save() -> None:
            torch.save(state, path)
            fsync_path(path)
            fsync_path(args.dir)
        record("torch.save", timed("save", "torch.save", torch_save, results))
        os.unlink(path)

        path = os.path.join(args.dir, f"state-{rep}.safetensors")

        def st_save() -> None:
            save_file(state, path)
            fsync_path(path)
            fsync_path(args.dir)
        record("safetensors", timed("save", "safetensors", st_save, results))
        os.unlink(path)

        run = Run(os.path.join(args.dir, f"run-{rep}"))
        record("Run.save", timed("save", "Run.save", lambda: run.save(1, tensors=state), results))

        # The first background save of a Run allocates its snapshot buffers; later ones reuse them.
        for step, label in ((2, "background_first"), (3, "background_block")):
            blocked = timed("block", f"Run.save(background) {label}", lambda: run.save(step, tensors=state,
                                                                                      background=True), results)
            record(label, blocked)
            start = time.perf_counter()
            run.wait()
            done = blocked + time.perf_counter() - start
            results.append({"method": f"Run.save(background) {label}", "phase": "until committed", "seconds": done})
            print(json.dumps(results[-1]), flush=True)
        run.close()
        shutil.rmtree(os.path.join(args.dir, f"run-{rep}"))

    gb = total / 1e9
    faster_peer = min(best["torch.save"], best["safetensors"])
    print(f"GB/s (best of {args.reps}): " + " ".join(
        f"{k}={gb / v:.2f}" for k, v in best.items() if not k.startswith("background")))
    print(f"ratios: run_save/faster_peer={faster_peer / best['Run.save']:.2f} "
          f"run_save/dd={best['dd'] / best['Run.save']:.2f} "
          f"background_block/sync={best['background_block'] / best['Run.save']:.3f} "
          f"background_first/sync={best['background_first'] / best['Run.save']:.3f}")
    shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
