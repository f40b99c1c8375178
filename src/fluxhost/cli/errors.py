"""Exit codes and the one-line errors every command ends with."""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    """What `fluxhost` exits with (docs/cli.md lists them)."""

    OK = 0
    ERROR = 1  # the server refused, cannot be reached, or a local operation failed
    USAGE = 2  # bad flags, a missing or unreadable input file, invalid settings
    TASK_FAILED = 3  # the task ended Error, Request/Content Moderated, or Task not found
    TIMEOUT = 4  # the task was still running when --timeout ran out (it goes on)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class CliError(Exception):
    """Ends the command with one line on stderr and `code`."""

    def __init__(self, message: str, code: int = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = int(code)


def one_line(text: str) -> str:
    """`text` on one line: a multi-line message (a server's detail, say) would break the
    promise that every error is a single line."""
    return " ".join(text.split())


def print_error(message: str) -> None:
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
