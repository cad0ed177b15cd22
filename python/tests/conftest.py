"""Fixtures of the Python suite: the `resumable` binary under test and fresh run directories.

The binary is RESUMABLE_BIN (scripts/test.sh points it at .build/debug/resumable),
else the repository's debug build, else `resumable` on PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))


def _binary() -> str:
    explicit = os.environ.get("RESUMABLE_BIN")
    if explicit:
        return explicit
    built = ROOT / ".build" / "debug" / "resumable"
    if built.is_file():
        os.environ["RESUMABLE_BIN"] = str(built)
        return str(built)
    found = shutil.which("resumable")
    if not found:
        pytest.exit("no `resumable` binary: build it (swift build) or set RESUMABLE_BIN", returncode=2)
    return found


BINARY = _binary()


@pytest.fixture
def binary() -> str:
    """The path of the `resumable` binary the package calls."""
    return BINARY


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory that does not exist yet (the first save creates it)."""
    return tmp_path / "run"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the supervisor's variables of an outer `resumable run`."""
    for name in ("RESUMABLE_RUN_DIR", "RESUMABLE_RUN_ID", "RESUMABLE_ATTEMPT", "RESUMABLE_RESUME_FROM",
                 "RESUMABLE_RESUME_STEP", "RESUMABLE_LOCK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RESUMABLE_BIN", BINARY)
