"""The platform wheel, end to end: scripts/build-wheel.sh builds it (a release
build with the Swift runtime linked statically, no fault injection; a few
minutes the first time, reused while no source changes) and
scripts/test-wheel.sh installs it into a clean venv and uses it with no Swift
toolchain on PATH: ``resumable --help``, Run.save/load, ``resumable verify``, and
``resumable run`` restarting a killed Python job.

Part of the normal suite (no marker to opt in): it needs the Swift toolchain to
build, the system python3 with venv, and the package index for numpy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(arguments: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("RESUMABLE_BIN", "PYTHONPATH")}
    completed = subprocess.run(arguments, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=timeout)
    sys.stderr.write(completed.stderr)
    return completed


def test_the_wheel_installs_and_runs_without_swift(tmp_path: Path) -> None:
    built = _run(["bash", "scripts/build-wheel.sh", str(tmp_path / "dist")], timeout=3600)
    assert built.returncode == 0, f"build-wheel.sh failed:\n{built.stderr[-4000:]}"
    wheel = Path(built.stdout.strip().splitlines()[-1])
    assert wheel.is_file() and wheel.parent == tmp_path / "dist", built.stdout
    assert wheel.name.startswith("resumable-") and "-py3-none-manylinux_" in wheel.name, wheel.name

    tested = _run(["bash", "scripts/test-wheel.sh", str(wheel)], timeout=1800)
    assert tested.returncode == 0, f"test-wheel.sh failed:\n{tested.stderr[-4000:]}"
    assert "passed in" in tested.stderr
