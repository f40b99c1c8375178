"""Shared by the queue benches: a throwaway PostgreSQL, task submission straight into the
store (no HTTP: these benches measure the queue and the workers), and row timings."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # tests.pg: the throwaway cluster the test suite uses

from fluxhost.store import Store  # noqa: E402
from fluxhost.store.tasks import submit_task  # noqa: E402


def params(seed: int, finetune_id: str = "none", size: int = 256, steps: int = 4) -> dict[str, Any]:
    """A flux-pro-finetuned task's params, as the API stores them."""
    return {"prompt": "a lighthouse", "width": size, "height": size, "steps": steps,
            "guidance": 2.5, "seed": seed, "finetune_id": finetune_id,
            "finetune_strength": 1.0, "output_format": "jpeg", "safety_tolerance": 6}


def submit(store: Store, seed: int, *, key_id: int | None = None,
           finetune_id: str = "none", **kw: Any) -> str:
    return submit_task(store, key_id=key_id, active_limit=10**6, endpoint="flux-pro-finetuned",
                       params=params(seed, finetune_id, **kw), base_url="http://bench",
                       webhook_url=None, webhook_secret=None)


def wait_done(store: Store, ids: list[str], timeout: float = 600, poll: float = 0.005) -> None:
    from sqlalchemy import func, select

    from fluxhost.store.models import Task

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.read() as s:
            left = s.scalar(select(func.count()).select_from(Task).where(
                Task.id.in_(ids), Task.state != "done"))
        if not left:
            return
        time.sleep(poll)
    raise TimeoutError(f"{left} tasks not done after {timeout} s")


def rows(store: Store, ids: list[str]) -> list[Any]:
    from sqlalchemy import select

    from fluxhost.store.models import Task

    with store.read() as s:
        return list(s.execute(select(Task.created_at, Task.started_at, Task.finished_at,
                                     Task.status, Task.lease_owner).where(Task.id.in_(ids))))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    return (f"p50 {statistics.median(ms):7.1f} ms  p95 {pct(ms, 0.95):7.1f} ms  "
            f"max {max(ms):7.1f} ms  (n={len(ms)})")
