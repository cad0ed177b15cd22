"""Finding and calling the ``resumable`` command line, the one implementation of the store."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sysconfig
from typing import Any, Sequence

from .errors import EXIT_IO, EXIT_NOT_FOUND, EXIT_USAGE, ResumableError

__all__ = ["find_binary", "run_cli", "CLIResult"]

logger = logging.getLogger("resumable")

#: Signals that ask a job to stop. A commit runs with them blocked, so a stop
#: sent to the job's whole process group never cuts a checkpoint short; the
#: job sees them once the commit has returned.
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGUSR1})

_HOW_TO_GET_IT = (
    "install the platform wheel, which carries it (pip install resumable-<version>-py3-none-<platform>.whl, "
    "built by scripts/build-wheel.sh), or build it from the repository "
    "(swift build -c release --product resumable) and put .build/release on PATH or set RESUMABLE_BIN to it"
)


def _executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_binary(explicit: str | os.PathLike[str] | None = None) -> str:
    """The path of the ``resumable`` executable the package calls.

    Looked for, in order: ``explicit``, the ``RESUMABLE_BIN`` environment
    variable, the scripts directory of this Python environment (where the
    platform wheel installs it), then ``PATH``.

    Raises:
        ResumableError: code 66 when it is nowhere, saying how to get it; code 64
            when ``explicit`` or ``RESUMABLE_BIN`` names something that is not an
            executable file.
    """
    for origin, value in (("the binary argument", explicit), ("RESUMABLE_BIN", os.environ.get("RESUMABLE_BIN"))):
        if value:
            path = os.fspath(value)
            if not _executable(path):
                raise ResumableError(
                    EXIT_USAGE, f"{origin} names {path!r}, which is not an executable file: point it at the "
                    f"`resumable` binary, or unset it to use the one on PATH ({_HOW_TO_GET_IT})")
            return os.path.abspath(path)
    scripts = sysconfig.get_path("scripts")
    if scripts and _executable(os.path.join(scripts, "resumable")):
        return os.path.join(scripts, "resumable")
    found = shutil.which("resumable")
    if found:
        return found
    raise ResumableError(EXIT_NOT_FOUND, f"the `resumable` command was not found: {_HOW_TO_GET_IT}")


class CLIResult:
    """What a successful call printed: ``data`` (parsed JSON or text) and its warnings."""

    def __init__(self, data: Any, warnings: list[str]) -> None:
        self.data = data
        self.warnings = warnings


def _parse_stderr(stderr: str) -> tuple[str | None, list[str]]:
    """The error message (with its hint lines) and the warnings of a call's standard error."""
    error_lines: list[str] = []
    warnings: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("resumable: error: "):
            error_lines.append(line[len("resumable: error: "):])
        elif line.startswith("hint: ") or (error_lines and line.startswith("  ")):
            error_lines.append(line)
        elif line.startswith("resumable: warning: "):
            warnings.append(line[len("resumable: warning: "):])
        elif line.startswith("resumable: notice: "):
            warnings.append(line[len("resumable: notice: "):])
    return ("\n".join(error_lines) if error_lines else None), warnings


def _block_stop_signals() -> set[signal.Signals] | None:
    """Blocks the stop signals in this thread (the child inherits the mask); returns the old mask."""
    try:
        return signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    except (AttributeError, OSError, ValueError):  # not POSIX threads: nothing to block
        return None


def run_cli(binary: str, args: Sequence[str], *, json_output: bool = True, shield: bool = False,
            timeout: float | None = None) -> CLIResult:
    """Runs ``resumable ARGS…`` and returns what it printed.

    ``json_output`` adds ``--json`` and parses standard output. ``shield`` blocks
    SIGTERM, SIGINT and SIGUSR1 in the calling thread while the command runs,
    so a stop signal sent to the process group is held until the command
    returns, and the command ignores them from its first instruction
    (``RESUMABLE_IGNORE_STOP_SIGNALS=1``: a blocked mask alone does not cover
    the binary's start-up); a commit is never cut short by them.
    Warnings the command printed (a corrupt checkpoint passed over) are logged
    on the ``resumable`` logger.

    Raises:
        ResumableError: with the command's exit code and its message.
    """
    argv = [binary, *args]
    if json_output:
        argv.insert(2, "--json")
    old_mask = _block_stop_signals() if shield else None
    try:
        env = {**os.environ, "RESUMABLE_IGNORE_STOP_SIGNALS": "1"} if shield else None
        completed = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                                   close_fds=True, env=env)
    except FileNotFoundError as error:
        raise ResumableError(EXIT_NOT_FOUND, f"cannot run {binary!r}: {error.strerror}; {_HOW_TO_GET_IT}") from None
    except subprocess.TimeoutExpired:
        raise ResumableError(1, f"`resumable {' '.join(args)}` did not finish within {timeout} s") from None
    except OSError as error:  # the command never ran: ETXTBSY (being rebuilt), EACCES, ENOMEM
        raise ResumableError(EXIT_IO, f"cannot run {binary!r} for `resumable {args[0]}`: {error.strerror}") from None
    finally:
        if old_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    stderr = completed.stderr.decode("utf-8", errors="replace")
    message, warnings = _parse_stderr(stderr)
    for warning in warnings:
        logger.warning("%s", warning)
    if completed.returncode != 0:
        if message is None:
            tail = stderr.strip().splitlines()[-3:]
            if completed.returncode < 0:
                message = f"`resumable {args[0]}` was killed by signal {-completed.returncode}"
            else:
                message = f"`resumable {args[0]}` failed with exit code {completed.returncode}"
            if tail:
                message += ": " + " / ".join(tail)
        raise ResumableError(completed.returncode if completed.returncode > 0 else 1, message)
    stdout = completed.stdout.decode("utf-8", errors="replace")
    if not json_output:
        return CLIResult(stdout, warnings)
    try:
        return CLIResult(json.loads(stdout), warnings)
    except json.JSONDecodeError as error:
        raise ResumableError(1, f"`resumable {args[0]} --json` printed something that is not JSON ({error}); "
                                f"is {binary} the `resumable` command?") from None
