"""Waiting for a task where a person can see it: a rich progress bar fed from the `progress`
of each poll when stderr is a terminal, one plain line otherwise (pipes and logs stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from fluxhost.cli.errors import CliError, ExitCode

if TYPE_CHECKING:
    from fluxhost.client import Client, Result

PERCENT = 100


class Reporter(Protocol):
    def __call__(self, result: Result) -> None: ...


def interrupted(task_id: str) -> CliError:
    return CliError(f"interrupted; task {task_id} continues on the server: "
                    f"fluxhost result {task_id}", ExitCode.INTERRUPTED)


def wait(client: Client, task_id: Any, *, label: str, timeout: float, show: bool) -> Result:
    """client.wait with a progress display; Ctrl-C is one line naming the task, exit 130.
    `task_id` is an id or the SDK's Submission (whose polling_url is then followed)."""
    tid = getattr(task_id, "id", task_id)
    try:
        with reporter(label, tid, show) as report:
            return client.wait(task_id, timeout=timeout, on_progress=report)
    except KeyboardInterrupt:
        raise interrupted(tid) from None


@contextmanager
def reporter(label: str, task_id: str, show: bool) -> Iterator[Reporter]:
    from rich.console import Console

    console = Console(stderr=True)
    if not show:
        yield _ignore
    elif console.is_terminal:
        with _bar(console, label, task_id) as report:
            yield report
    else:
        print(f"{label} {task_id}: waiting", file=sys.stderr, flush=True)
        yield _ignore


def _ignore(result: Result) -> None:
    pass


@contextmanager
def _bar(console: Any, label: str, task_id: str) -> Iterator[Reporter]:
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        row = bar.add_task(f"{label} {task_id} queued", total=None)

        def report(result: Result) -> None:
            description = f"{label} {task_id} {_state(result)}"
            if result.status == "Ready":
                bar.update(row, total=PERCENT, completed=PERCENT, description=description)
            elif result.progress is None:  # queued (no figure yet: the bar pulses) or ended
                bar.update(row, description=description)
            else:
                done = max(0.0, min(1.0, float(result.progress))) * PERCENT
                bar.update(row, total=PERCENT, completed=done, description=description)

        yield report


def _state(result: Result) -> str:
    if result.status != "Pending":
        return result.status
    return "queued" if result.progress is None else "running"
