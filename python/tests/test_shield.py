"""A shielded `resumable` call (a commit) is never cut short by a stop signal sent to the job's group.

Blocking the stop signals in the caller is not enough on its own: while the Swift
runtime starts, the binary's main thread waits in ``sigsuspend`` with an empty mask,
so a pending SIGTERM killed the command. With ``RESUMABLE_IGNORE_STOP_SIGNALS=1``
(set by ``run_cli(shield=True)``) the binary ignores them from its first instruction.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

import resumable
from resumable._binary import STOP_SIGNALS


def _deaths(binary: str, tmp_path: Path, *, shielded: bool, tries: int = 30) -> int:
    """How many of ``tries`` blocked-mask starts of the binary a SIGTERM killed."""
    died = 0
    rng = random.Random(7)
    for _ in range(tries):
        env = dict(os.environ)
        if shielded:
            env["RESUMABLE_IGNORE_STOP_SIGNALS"] = "1"
        old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            child = subprocess.Popen([binary, "verify", str(tmp_path / "no-such-run")], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        time.sleep(rng.uniform(0, 0.03))
        try:
            os.kill(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if child.wait(timeout=60) < 0:
            died += 1
    return died


def test_a_shielded_start_ignores_stop_signals_and_an_unshielded_one_does_not(binary: str, tmp_path: Path) -> None:
    assert _deaths(binary, tmp_path, shielded=False) > 0, "the test must be able to see the window"
    assert _deaths(binary, tmp_path, shielded=True) == 0


def test_the_variable_does_not_reach_what_the_binary_starts(binary: str, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    env = {**os.environ, "RESUMABLE_IGNORE_STOP_SIGNALS": "1"}
    subprocess.run([binary, "run", "--run-dir", str(tmp_path / "r"), "--", "sh", "-c",
                    f"env > {out}; grep SigIgn /proc/$$/status >> {out}"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = out.read_text()
    assert "RESUMABLE_IGNORE_STOP_SIGNALS" not in text
    assert "SigIgn:\t0000000000000000" in text, "a supervised job starts with default dispositions"


def test_run_dir_set_by_hand_resumes_from_the_latest_checkpoint(run_dir: Path, monkeypatch) -> None:
    """RESUMABLE_RUN_DIR without the supervisor's other variables is not supervision: resume finds the latest."""
    with resumable.Run(run_dir) as run:
        run.save(step=5, tensors={"w": np.arange(3, dtype=np.float32)}, state={"epoch": 1})
    monkeypatch.setenv("RESUMABLE_RUN_DIR", str(run_dir))
    with resumable.Run() as run:
        assert not run.supervised
        checkpoint = run.resume(quiet=True)
        assert checkpoint is not None and checkpoint.step == 5
        run.save(step=6, tensors={"w": np.arange(3, dtype=np.float32)}, state={"epoch": 2})
