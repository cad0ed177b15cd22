"""The one exception type of the package, carrying the store's exit-code category."""

from __future__ import annotations

__all__ = [
    "ResumableError",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "EXIT_CORRUPT",
    "EXIT_NOT_FOUND",
    "EXIT_CANNOT_CREATE",
    "EXIT_IO",
    "EXIT_INTERRUPTED",
]

#: A failure; for ``commit``: the step already exists; for resume: a refusal.
EXIT_FAILURE = 1
#: A usage error: a bad argument, value or reference.
EXIT_USAGE = 64
#: Corrupt or invalid data: a checksum mismatch, a damaged manifest or tensor file.
EXIT_CORRUPT = 65
#: Not found: no such run, step or file; nothing committed yet.
EXIT_NOT_FOUND = 66
#: A file or directory cannot be created.
EXIT_CANNOT_CREATE = 73
#: An I/O error (disk full, failing device).
EXIT_IO = 74
#: The run is locked by another live process (or a job was interrupted, state saved).
EXIT_INTERRUPTED = 75

_CATEGORIES = {
    EXIT_FAILURE: "failure",
    EXIT_USAGE: "usage error",
    EXIT_CORRUPT: "corrupt or invalid data",
    EXIT_NOT_FOUND: "not found",
    EXIT_CANNOT_CREATE: "cannot create",
    EXIT_IO: "I/O error",
    EXIT_INTERRUPTED: "locked or interrupted",
}


class ResumableError(Exception):
    """An error of the store, with the exit code the ``resumable`` command uses for it.

    ``code`` is one of the ``EXIT_*`` constants (1, 64, 65, 66, 73, 74, 75), so a
    script can exit with it (``sys.exit(error.code)``) and ``resumable run``
    treats it as the command line would. ``message`` says what happened, which
    file, and what to do.
    """

    code: int
    message: str

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def category(self) -> str:
        """The exit code's meaning in words (``"corrupt or invalid data"``)."""
        return _CATEGORIES.get(self.code, f"exit code {self.code}")

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ResumableError(code={self.code}, message={self.message!r})"
