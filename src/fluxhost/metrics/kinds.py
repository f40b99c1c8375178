"""The pipeline kind a task runs on (as stored on its row at submit), as a metric label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fluxhost.catalog import TASK_KINDS, task_kind

OTHER = "other"
_KNOWN = frozenset(TASK_KINDS)
# The operator-defined kinds of this process's FLUXHOST_MODELS (bounded by its configuration).
_custom: set[str] = set()


def register(kinds: Iterable[str]) -> None:
    """Give the operator-defined kinds series of their own (build_services calls this)."""
    _custom.update(kinds)


def label(kind: str | None) -> str:
    """A task kind as a label value: base, fill, canny, depth, kontext, training, a registered
    operator-defined kind, else "other" (bounded: an unknown kind never makes a series of its
    own, e.g. one only another node's configuration defines)."""
    return kind if kind is not None and (kind in _KNOWN or kind in _custom) else OTHER


def kind_of(endpoint: str) -> str:
    return label(task_kind(endpoint))


def task_label(task: Any) -> str:
    """A task's label: the kind stored on its row (FLUXHOST_ENDPOINT_KINDS may have moved its
    endpoint off the default), else its endpoint's default kind."""
    return label(task.kind) if getattr(task, "kind", None) else kind_of(task.endpoint)


def all_kinds() -> list[str]:
    """Every label value, so that a gauge reports 0 rather than nothing."""
    return [*TASK_KINDS, *sorted(_custom), OTHER]
