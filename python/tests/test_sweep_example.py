"""Examples/sweep: its units survive SIGKILL anywhere, resume inside themselves and end byte-identical.

Five of the 18 units of Examples/sweep/sweep.yaml run here directly, each
under `resumable run` with its own run directory (what `resumable sweep run`
gives every unit), from the sweep file's directory with its relative
PYTHONPATH and the supervisor's restart limit of sweep.yaml (0). One unit is
SIGKILLed with its whole process group three times at seeded random instants,
each after it committed a checkpoint beyond the last one, and stopped once by
SIGINT; its result must equal the uninterrupted run's byte for byte, and its
executions.log must show every restart resuming mid-way. The `spectral` unit
must fail on its first attempt (the simulated out-of-memory) and succeed on
the second, and two units of one representation must share their features
through the result cache (`resumable cache run`) without changing a result.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "Examples" / "sweep"
EPOCHS = 8
BATCHES = 5  # 400 training samples, batch size 80
KILL_DELAY = 0.5  # seconds per epoch of the interrupted unit
#: (representation, layers) of the units run here; the first is the one interrupted.
UNITS = [("stats", "all_layers"), ("stats", "visual_only"), ("spectral", "all_layers"), ("pca", "visual_only"),
         ("histogram", "all_layers")]
KILLED = UNITS[0]
START = re.compile(r"^start attempt=(\S+) resume_step=(\d+) key=(\S+) pid=(\d+)$")


def name(unit: tuple[str, str]) -> str:
    """A directory name for ``unit``."""
    return f"{unit[0]}-{unit[1]}"


def environment(binary: str, delay: float, cache: Path | None = None) -> dict[str, str]:
    """The unit's environment: this one without the supervisor's and the example's variables, plus sweep.yaml's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESUMABLE_", "SWEEP_"))}
    env.update({"RESUMABLE_BIN": binary, "PYTHONPATH": "../../python", "SWEEP_EPOCHS": str(EPOCHS),
                "SWEEP_EPOCH_DELAY": str(delay)})
    if cache is not None:
        env["RESUMABLE_CACHE_DIR"] = str(cache)
    return env


def start_unit(binary: str, unit_dir: Path, unit: tuple[str, str], log: Path, delay: float = 0.0,
               cache: Path | None = None, key: str | None = None) -> subprocess.Popen[bytes]:
    """``resumable run --run-dir UNIT_DIR -- python experiment.py …`` in its own process group, as sweep.yaml says."""
    command = [binary, "run", "--run-dir", str(unit_dir), "--max-restarts", "0", "--backoff", "0", "--",
               sys.executable, "experiment.py", "--rep", unit[0], "--layers", unit[1],
               "--out", str(unit_dir / "result.json")]
    env = environment(binary, delay, cache)
    if key is not None:
        env["RESUMABLE_UNIT_KEY"] = key
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=EXAMPLE, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def run_unit(binary: str, unit_dir: Path, unit: tuple[str, str], log: Path, delay: float = 0.0,
             cache: Path | None = None, key: str | None = None) -> int:
    """Runs a unit to its end and returns its exit code (its whole process group is killed on a timeout)."""
    process = start_unit(binary, unit_dir, unit, log, delay, cache, key)
    try:
        return process.wait(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def committed_steps(unit_dir: Path) -> list[int]:
    """The steps of the unit's committed checkpoints."""
    directory = unit_dir / "checkpoints"
    if not directory.is_dir():
        return []
    return sorted(int(m.group(1)) for n in os.listdir(directory) if (m := re.fullmatch(r"step-0*(\d+)", n)))


def executions(unit_dir: Path) -> list[str]:
    """The lines of the unit's executions.log."""
    return (unit_dir / "executions.log").read_text().splitlines()


def interrupt_after_new_checkpoint(process: subprocess.Popen[bytes], unit_dir: Path, after: int,
                                   rng: random.Random, how: int, log: Path) -> None:
    """Sends ``how`` to the unit's process group at a random instant once it committed a step beyond ``after``."""
    deadline = time.monotonic() + 120
    while not any(s > after for s in committed_steps(unit_dir)):
        assert process.poll() is None, f"the unit ended (exit {process.returncode}) early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no new checkpoint within 120 s"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, KILL_DELAY))
    assert process.poll() is None, f"the unit finished before it was interrupted:\n{log.read_text()[-3000:]}"
    os.killpg(process.pid, how)


def check_result(path: Path, unit: tuple[str, str]) -> None:
    """The result JSON has the documented shape and its metrics are rounded to 6 decimals."""
    result = json.loads(path.read_text())
    assert set(result) == {"representation", "layers", "epochs", "features", "metrics"}
    assert (result["representation"], result["layers"], result["epochs"]) == (*unit, EPOCHS)
    assert set(result["metrics"]) == {"accuracy", "loss", "train_loss"}
    for value in result["metrics"].values():
        assert isinstance(value, float) and value == round(value, 6)
    assert 0.0 <= result["metrics"]["accuracy"] <= 1.0


def test_units_killed_anywhere_end_byte_identical(binary: str, tmp_path: Path) -> None:
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    log = tmp_path / "units.log"

    # Uninterrupted: every unit once (spectral twice: its first attempt crashes on purpose), with a result cache.
    cache = tmp_path / "cache"
    for unit in UNITS:
        unit_dir = reference / name(unit)
        code = run_unit(binary, unit_dir, unit, log, cache=cache)
        if unit[0] == "spectral":
            assert code == 1, f"spectral's first attempt should crash:\n{log.read_text()[-3000:]}"
            assert "simulated out-of-memory on first attempt" in log.read_text()
            assert (unit_dir / "simulated-oom.marker").is_file()
            assert not (unit_dir / "result.json").exists()
            assert executions(unit_dir) == [executions(unit_dir)[0], "crashed simulated-oom"]
            code = run_unit(binary, unit_dir, unit, log, cache=cache)
            lines = executions(unit_dir)
            assert [START.match(line).group(1) for line in lines if START.match(line)] == ["1", "2"], lines
            assert lines[-1] == "done"
        assert code == 0, f"{unit} exited {code}:\n{log.read_text()[-3000:]}"
        check_result(unit_dir / "result.json", unit)
        lines = executions(unit_dir)
        assert START.match(lines[-2]) and START.match(lines[-2]).group(2) == "0" and lines[-1] == "done", lines
    assert "the command was not run" in log.read_text()  # stats/visual_only reused stats/all_layers' features
    listing = subprocess.run([binary, "cache", "ls", "--dir", str(cache), "--json"], check=True, capture_output=True)
    keys = [e["key"] for e in json.loads(listing.stdout)["entries"]]
    assert len(keys) == 4 and sum(" rep=stats " in k for k in keys) == 1, keys

    # Interrupted (no cache: the same bytes either way): three SIGKILLs and a SIGINT, then to the end.
    rng = random.Random(20261129)
    unit_dir = killed / name(KILLED)
    after = 0
    for how in (signal.SIGKILL, signal.SIGKILL, signal.SIGKILL, signal.SIGINT):
        process = start_unit(binary, unit_dir, KILLED, log, KILL_DELAY, key="00112233aabbccdd")
        try:
            interrupt_after_new_checkpoint(process, unit_dir, after, rng, how, log)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if how == signal.SIGKILL:
            assert code == -signal.SIGKILL, log.read_text()[-3000:]
        else:  # the unit saved at the batch it reached and exited 75; the supervisor stopped with it
            assert code in (75, 128 + signal.SIGINT), f"exit {code}\n{log.read_text()[-3000:]}"
        assert not (unit_dir / "result.json").exists()
        after = max(committed_steps(unit_dir))
    code = run_unit(binary, unit_dir, KILLED, log, delay=KILL_DELAY, key="00112233aabbccdd")
    assert code == 0, log.read_text()[-3000:]
    assert (unit_dir / "result.json").read_bytes() == (reference / name(KILLED) / "result.json").read_bytes()

    lines = executions(unit_dir)
    starts = [m for line in lines if (m := START.match(line))]
    assert len(starts) == 5 and lines[-1] == "done" and lines.count("done") == 1, lines
    assert [m.group(1) for m in starts] == ["1", "2", "3", "4", "5"], lines
    assert all(m.group(3) == "00112233aabbccdd" for m in starts)
    resume_steps = [int(m.group(2)) for m in starts]
    assert resume_steps[0] == 0
    assert all(0 < s < EPOCHS * BATCHES for s in resume_steps[1:]), resume_steps  # every restart resumed mid-way
    assert resume_steps == sorted(resume_steps) and len(set(resume_steps)) == 5, resume_steps
    stopped = [line for line in lines if line.startswith("stopped step=")]
    assert stopped == [f"stopped step={resume_steps[4]}"], lines  # SIGINT saved exactly where it stopped


def test_a_unit_run_by_hand_matches_and_never_crashes(tmp_path: Path, binary: str) -> None:
    """Without a supervisor (no RESUMABLE_RUN_DIR) a unit neither checkpoints nor simulates its crash."""
    out = tmp_path / "by-hand" / "result.json"
    env = environment(binary, 0.0)
    done = subprocess.run([sys.executable, "experiment.py", "--rep", "spectral", "--layers", "visual_only",
                           "--out", str(out)], cwd=EXAMPLE, env=env, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    check_result(out, ("spectral", "visual_only"))
    assert executions(out.parent)[-1] == "done"
    assert not (out.parent / "checkpoints").exists()
