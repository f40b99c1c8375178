"""Per-process metrics: events counted where they happen, in this process's memory (the
default prometheus_client registry). Every hook is a counter increment or one histogram
observation: nothing here touches the database, and nothing runs per denoising step."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram

from fluxhost.metrics.kinds import task_label

# Seconds, from a small dev-model task (~0.1 s) to a long real-weights one or a training run.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
# Queue waits: an idle fleet claims in milliseconds; a backlog makes it minutes or hours.
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

TASKS_FINISHED = Counter(
    "fluxhost_tasks_finished", "Tasks this process's workers finished, by outcome status.",
    ["kind", "status"],
)
CLAIM_LATENCY = Histogram(
    "fluxhost_claim_latency_seconds", "From a task's creation to its claim by a worker.",
    ["kind"], buckets=WAIT_BUCKETS,
)
TASK_RUN = Histogram(
    "fluxhost_task_run_seconds", "From claim to finish: what a worker spent on a task.",
    ["kind"], buckets=DURATION_BUCKETS,
)
TASK_TOTAL = Histogram(
    "fluxhost_task_duration_seconds", "From creation to finish: what a client waited.",
    ["kind"], buckets=(*DURATION_BUCKETS, 7200, 14400),
)
ENGINE_TIME = Histogram(
    "fluxhost_engine_seconds", "Time in the engine (denoising and decoding) per generation.",
    ["kind"], buckets=DURATION_BUCKETS,
)
ADAPTER_HITS = Counter(
    "fluxhost_adapter_cache_hits", "LoRA requests served by an adapter already loaded.",
)
ADAPTER_LOADS = Counter(
    "fluxhost_adapter_loads", "LoRA adapters loaded into a pipeline (cache misses).",
)
ADAPTER_EVICTIONS = Counter(
    "fluxhost_adapter_evictions", "LoRA adapters unloaded to make room for another.",
)
WEBHOOK_ATTEMPTS = Counter(
    "fluxhost_webhook_attempts",
    "Webhook delivery attempts by this process's dispatcher: delivered, retry (failed, will "
    "retry) or dead (failed, given up).", ["outcome"],
)


def task_claimed(task: Any) -> None:
    started = task.started_at or time.time()
    CLAIM_LATENCY.labels(task_label(task)).observe(max(0.0, started - task.created_at))


def task_finished(task: Any, status: str, engine_ms: float | None) -> None:
    kind = task_label(task)
    now = time.time()
    TASKS_FINISHED.labels(kind, status).inc()
    if task.started_at is not None:
        TASK_RUN.labels(kind).observe(max(0.0, now - task.started_at))
    TASK_TOTAL.labels(kind).observe(max(0.0, now - task.created_at))
    if engine_ms is not None:
        ENGINE_TIME.labels(kind).observe(engine_ms / 1000)

