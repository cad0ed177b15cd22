"""Examples/pipeline: its stages survive SIGKILL anywhere and end byte-identical to an uninterrupted run.

The stages run in dependency order, each under `resumable run` with the
stage's directory as the run (what `resumable pipeline run` does), from the
pipeline's directory with the relative PYTHONPATH of pipeline.yaml. One stage
(diff_residual) is SIGKILLed with its whole process group three times at
seeded random instants, each after it committed a checkpoint beyond the last
one, and stopped once by SIGINT (Ctrl-C: it saves at the batch it reached and
exits 75). Every output must equal the uninterrupted run's byte for byte, and
executions.log must show the stages that were not interrupted starting once
and the killed one resuming mid-way.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "Examples" / "pipeline"
EPOCHS = 10
BATCHES = 8  # 256 samples, batch size 32
KILLED = "diff_residual"
KILL_DELAY = 0.5  # seconds per epoch of the interrupted stage

#: name → (the stage's output file, upstream flags: flag → (stage, file)), in dependency order.
STAGES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "operator": ("operator.npz", {}),
    "diff_residual": ("diff_residual.npz", {"--operator": ("operator", "operator.npz")}),
    "consistency_distill": ("student.npz", {"--operator": ("operator", "operator.npz"),
                                            "--residual": ("diff_residual", "diff_residual.npz")}),
    "steady_prior": ("steady_prior.npz", {"--operator": ("operator", "operator.npz")}),
    "evaluate": ("report.json", {"--operator": ("operator", "operator.npz"),
                                 "--residual": ("diff_residual", "diff_residual.npz"),
                                 "--student": ("consistency_distill", "student.npz")}),
}
START = re.compile(r"^start attempt=(\S+) resume_step=(\d+) pid=(\d+)$")


def stage_command(run: Path, name: str) -> list[str]:
    """The stage's command as pipeline.yaml writes it, with this interpreter."""
    command = [sys.executable, "stage.py", name, "--out", str(run / "stages" / name)]
    for flag, (upstream, file) in STAGES[name][1].items():
        command += [flag, str(run / "stages" / upstream / file)]
    return command


def environment(binary: str, delay: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESUMABLE_") and not k.startswith("PIPELINE_")}
    env.update({"RESUMABLE_BIN": binary, "PYTHONPATH": "../../python", "PIPELINE_EPOCHS": str(EPOCHS),
                "PIPELINE_EPOCH_DELAY": str(delay)})
    return env


def start_stage(binary: str, run: Path, name: str, delay: float, log: Path) -> subprocess.Popen[bytes]:
    """`resumable run --run-dir {run}/stages/NAME -- python stage.py NAME …` in its own process group."""
    command = [binary, "run", "--run-dir", str(run / "stages" / name), "--max-restarts", "0", "--backoff", "0",
               "--", *stage_command(run, name)]
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=EXAMPLE, env=environment(binary, delay), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def run_stage(binary: str, run: Path, name: str, log: Path, delay: float = 0.0) -> None:
    process = start_stage(binary, run, name, delay, log)
    try:
        code = process.wait(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert code == 0, f"stage {name} exited {code}:\n{log.read_text()[-4000:]}"


def committed_steps(stage_dir: Path) -> list[int]:
    directory = stage_dir / "checkpoints"
    if not directory.is_dir():
        return []
    return sorted(int(m.group(1)) for n in os.listdir(directory) if (m := re.fullmatch(r"step-0*(\d+)", n)))


def executions(stage_dir: Path) -> list[str]:
    return (stage_dir / "executions.log").read_text().splitlines()


def interrupt_after_new_checkpoint(process: subprocess.Popen[bytes], stage_dir: Path, after: int,
                                   rng: random.Random, how: int, log: Path) -> None:
    """Sends ``how`` to the stage's process group at a random instant once it committed a step beyond ``after``."""
    deadline = time.monotonic() + 120
    while not any(s > after for s in committed_steps(stage_dir)):
        assert process.poll() is None, f"the stage ended (exit {process.returncode}) early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no new checkpoint within 120 s"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, KILL_DELAY))
    assert process.poll() is None, f"the stage finished before it was interrupted:\n{log.read_text()[-3000:]}"
    os.killpg(process.pid, how)


def interrupted_run(binary: str, killed: Path, log: Path) -> None:
    """Runs the stages into ``killed``, interrupting KILLED three times by SIGKILL and once by SIGINT."""
    rng = random.Random(20261129)
    for name in STAGES:
        if name != KILLED:
            run_stage(binary, killed, name, log)
            continue
        stage_dir = killed / "stages" / name
        after = 0
        for how in (signal.SIGKILL, signal.SIGKILL, signal.SIGKILL, signal.SIGINT):
            process = start_stage(binary, killed, name, KILL_DELAY, log)
            try:
                interrupt_after_new_checkpoint(process, stage_dir, after, rng, how, log)
                code = process.wait(timeout=60)
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            if how == signal.SIGKILL:
                assert code == -signal.SIGKILL, log.read_text()[-3000:]
            else:  # the stage saved where it was and exited 75; the supervisor stopped with it
                assert code in (75, 128 + signal.SIGINT), f"exit {code}\n{log.read_text()[-3000:]}"
            after = max(committed_steps(stage_dir))
        run_stage(binary, killed, name, log, delay=KILL_DELAY)


def test_stages_killed_anywhere_end_byte_identical(binary: str, tmp_path: Path) -> None:
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    log = tmp_path / "stages.log"
    failures: list[BaseException] = []

    def run_reference() -> None:  # alongside the interrupted run (both mostly wait on fsync and sleeps)
        try:
            for name in STAGES:
                run_stage(binary, reference, name, tmp_path / "reference.log")
        except BaseException as error:
            failures.append(error)

    uninterrupted = threading.Thread(target=run_reference)
    uninterrupted.start()
    try:
        interrupted_run(binary, killed, log)
    finally:
        uninterrupted.join()
    if failures:
        raise failures[0]

    for name, (file, _) in STAGES.items():
        ours = (killed / "stages" / name / file).read_bytes()
        theirs = (reference / "stages" / name / file).read_bytes()
        assert ours == theirs, f"{name}/{file} differs from the uninterrupted run"
        assert f"stages/{name}/{file}" in (EXAMPLE / "pipeline.yaml").read_text(), f"pipeline.yaml does not declare {file}"
    report = json.loads((killed / "stages" / "evaluate" / "report.json").read_text())
    assert set(report["metrics"]) == {"operator", "operator+diff_residual", "consistency_distill"}
    assert report["metrics"]["operator+diff_residual"]["mse"] < report["metrics"]["operator"]["mse"]

    for name in STAGES:  # the uninterrupted stages started once and finished
        for run in (reference, killed):
            if run is killed and name == KILLED:
                continue
            lines = executions(run / "stages" / name)
            assert len(lines) == 2 and START.match(lines[0]) and lines[1] == "done", (run, name, lines)
            assert START.match(lines[0]).group(2) == "0"

    lines = executions(killed / "stages" / KILLED)
    starts = [START.match(line) for line in lines if line.startswith("start")]
    assert all(starts) and len(starts) == 5, lines
    steps = [int(m.group(2)) for m in starts]
    attempts = [int(m.group(1)) for m in starts]
    assert steps[0] == 0 and all(s > 0 for s in steps[1:]), steps  # every restart resumed mid-stage
    assert steps == sorted(steps) and steps[-1] < EPOCHS * BATCHES, steps
    assert attempts == sorted(attempts) and len(set(attempts)) == 5, attempts
    stopped = [int(line.split("=")[1]) for line in lines if line.startswith("stopped step=")]
    assert stopped == [steps[4]], (stopped, steps)  # after SIGINT it resumed exactly where it saved
    assert lines[-1] == "done" and lines.count("done") == 1, lines
    print(f"\n{KILLED} restarted from steps {steps[1:]} ({BATCHES} batches an epoch); SIGINT saved at {stopped[0]}")


def test_changed_configuration_starts_over_and_by_hand_resumes(binary: str, tmp_path: Path) -> None:
    """Checkpoints of another configuration are not resumed; run by hand (no supervisor) a stage resumes too."""
    run = tmp_path / "run"
    env = environment(binary, 0.0)
    stage_dir = run / "stages" / "operator"
    output = stage_dir / "operator.npz"

    def by_hand(*extra: str) -> str:
        result = subprocess.run([*stage_command(run, "operator"), *extra], cwd=EXAMPLE, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stderr

    by_hand()
    first = output.read_bytes()
    assert "resuming from step 80" in by_hand()  # already at the end: nothing trained again, the same bytes
    assert output.read_bytes() == first
    config = tmp_path / "operator.json"
    settings = json.loads((EXAMPLE / "configs" / "operator.json").read_text())
    config.write_text(json.dumps({**settings, "lr": settings["lr"] / 2}))
    assert "starting over" in by_hand("--config", str(config))
    assert output.read_bytes() != first
    lines = executions(stage_dir)
    assert [START.match(line).group(2) for line in lines if line.startswith("start")] == ["0", str(EPOCHS * BATCHES), "0"]
    assert lines.count("done") == 3


def test_missing_numpy_exits_78(tmp_path: Path) -> None:
    """A Python without numpy gets exit 78 (a configuration error the supervisor does not restart)."""
    fake = tmp_path / "no-numpy"
    fake.mkdir()
    (fake / "numpy.py").write_text("raise ImportError('numpy is hidden by the test')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESUMABLE_")}
    env["PYTHONPATH"] = f"{fake}{os.pathsep}../../python"
    result = subprocess.run([sys.executable, "stage.py", "operator", "--out", str(tmp_path / "out")], cwd=EXAMPLE,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 78, result.stderr
    assert "needs numpy" in result.stderr
