"""The pipeline kind a task runs on (as stored on its row at submit), as a metric label."""

from __future__ import annotations

from fluxhost.store.tasks import TASK_KINDS, task_kind

OTHER = "other"
_KNOWN = frozenset(TASK_KINDS)


def label(kind: str | None) -> str:
    """A task kind as a label value: base, fill, canny, depth, training, else "other" (bounded:
    an unknown kind never makes a series of its own)."""
    return kind if kind in _KNOWN else OTHER


def kind_of(endpoint: str) -> str:
    return label(task_kind(endpoint))


def all_kinds() -> list[str]:
    """Every label value, so that a gauge reports 0 rather than nothing."""
    return [*TASK_KINDS, OTHER]
