"""Post-processing overlaps the next task's engine run: the worker hands a finished image off
and starts its next task while the image is moderated, encoded, stored and its task finished.

A stand-in engine (fast, records when it runs) and a slow stand-in classifier make the overlap
visible; the queue, the store and the worker are the real ones."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image

from fluxhost.moderation import Moderator
from fluxhost.moderation.policy import Policy
from fluxhost.settings import Settings
from fluxhost.store import queue
from fluxhost.store.tasks import get_task, submit_task
from fluxhost.worker.guard import Guard
from fluxhost.worker.postprocess import PostProcessor
from fluxhost.worker.worker import Worker
from tests.conftest import Tenant


class FakeEngine:
    """Records when each generation starts and ends; returns a small grey image."""

    def __init__(self, seconds: float = 0.1) -> None:
        self.seconds = seconds
        self.runs: list[tuple[float, float]] = []

    def available_kinds(self) -> set[str]:
        return {"base"}

    def load(self, kind: str) -> None:
        pass

    def forget_lora(self, key: str) -> None:
        pass

    def resident_loras(self) -> frozenset[str]:
        return frozenset()

    def retry_failed_loads(self) -> None:
        pass

    def run(self, req: Any, on_step: Any = None, should_stop: Any = None) -> Any:
        start = time.perf_counter()
        time.sleep(self.seconds)
        self.runs.append((start, time.perf_counter()))
        return Image.new("RGB", (64, 64), (128, 128, 128))


class SlowScorer:
    """A classifier stand-in that takes `seconds` per image; `fail` raises on the first call."""

    def __init__(self, seconds: float, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.calls: list[tuple[float, float]] = []

    def score(self, image: Any) -> float:
        start = time.perf_counter()
        time.sleep(self.seconds)
        self.calls.append((start, time.perf_counter()))
        if self.fail:
            self.fail = False
            raise RuntimeError("classifier broke")
        return 0.0


Setup = Callable[..., tuple[Any, Worker, FakeEngine, SlowScorer]]


@pytest.fixture
def setup(make_settings: Callable[..., Settings], services: Any) -> Iterator[Setup]:
    from fluxhost.services import build_services

    built: list[Any] = []

    def make(scorer: SlowScorer, **overrides: Any) -> tuple[Any, Worker, FakeEngine, SlowScorer]:
        # Same data dir as `services` (hence the tenant's database), other settings.
        svc = build_services(make_settings(**overrides))
        built.append(svc)
        guard = Guard(svc.settings)
        guard._moderator = Moderator(Policy(), classifier_factory=lambda: scorer)
        engine = FakeEngine()
        return svc, Worker(svc, engine, guard=guard), engine, scorer

    yield make
    for svc in built:
        svc.store.dispose()


def submit(services: Any, tenant: Tenant, seed: int) -> str:
    params = {"finetune_id": tenant.finetune_id, "finetune_strength": 1.0, "steps": 2,
              "guidance": 2.5, "width": 256, "height": 256, "prompt": "a lighthouse",
              "seed": seed, "output_format": "png", "safety_tolerance": 2}
    return submit_task(services.store, key_id=tenant.key_id, endpoint="flux-pro-finetuned",
                       params=params, base_url="http://x", webhook_url=None,
                       webhook_secret=None, active_limit=10)


def run_until_done(svc: Any, worker: Worker, ids: list[str], timeout: float = 20) -> list[Any]:
    """Run the worker loop on its own thread until every task is done; stop it."""
    wake = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(wake,), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            tasks = [get_task(svc.store, t) for t in ids]
            if all(t is not None and t.state == "done" for t in tasks):
                return tasks
            time.sleep(0.02)
        raise AssertionError(f"tasks not done: {[get_task(svc.store, t) for t in ids]}")
    finally:
        worker.stopping.set()
        wake.set()
        thread.join(10)


def test_next_engine_run_starts_before_postprocessing_ends(setup: Setup, tenant: Tenant) -> None:
    svc, worker, engine, scorer = setup(SlowScorer(0.6))
    ids = [submit(svc, tenant, seed) for seed in (1, 2)]
    tasks = run_until_done(svc, worker, ids)
    assert [t.status for t in tasks] == ["Ready", "Ready"], [t.details for t in tasks]
    first_post_end = scorer.calls[0][1]
    assert engine.runs[1][0] < first_post_end  # task 2 denoised while task 1 was moderated
    assert all(svc.blobs.get(t.blob_key) for t in tasks)


def test_sequential_mode_waits_for_postprocessing(setup: Setup, tenant: Tenant) -> None:
    svc, worker, engine, scorer = setup(SlowScorer(0.3), overlap_postprocess=False)
    ids = [submit(svc, tenant, seed) for seed in (1, 2)]
    tasks = run_until_done(svc, worker, ids)
    assert [t.status for t in tasks] == ["Ready", "Ready"]
    assert engine.runs[1][0] > scorer.calls[0][1]


def test_postprocessing_failure_ends_error_and_the_worker_goes_on(setup: Setup,
                                                                  tenant: Tenant) -> None:
    svc, worker, _, _ = setup(SlowScorer(0.05, fail=True))
    ids = [submit(svc, tenant, seed) for seed in (1, 2)]
    failed, ok = run_until_done(svc, worker, ids)
    assert failed.status == "Error"
    assert failed.details == {
        "error": "post-processing failed: RuntimeError: classifier broke"}
    assert failed.blob_key is None
    assert ok.status == "Ready"


def test_lease_is_renewed_while_postprocessing(setup: Setup, tenant: Tenant) -> None:
    # Post-processing takes three lease periods: without heartbeats the task would be
    # recovered and claimed by another worker.
    svc, worker, _, _ = setup(SlowScorer(1.5), lease_seconds=0.5, heartbeat_seconds=0.1)
    task_id = submit(svc, tenant, 1)
    assert worker.run_one(wait=False)
    stolen = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        stolen.append(queue.claim(svc.store, "thief", lease_seconds=0.5, max_attempts=3,
                                  retention_seconds=3600))
        time.sleep(0.1)
    worker.post.close()
    assert stolen == [None] * len(stolen)
    task = get_task(svc.store, task_id)
    assert task is not None and task.status == "Ready" and task.attempts == 1


def test_run_one_waits_for_the_task_to_finish(setup: Setup, tenant: Tenant) -> None:
    svc, worker, _, _ = setup(SlowScorer(0.3))
    task_id = submit(svc, tenant, 1)
    assert worker.run_one()
    task = get_task(svc.store, task_id)
    assert task is not None and task.status == "Ready"


def test_handoff_queue_is_bounded() -> None:
    post = PostProcessor("t", maxsize=1)
    release = threading.Event()
    ran: list[int] = []

    def job(i: int) -> Callable[[], None]:
        def run() -> None:
            release.wait(5)
            ran.append(i)
        return run

    post.submit(job(0))  # taken by the thread
    time.sleep(0.05)
    post.submit(job(1))  # waits in the queue
    third = threading.Thread(target=post.submit, args=(job(2),))
    third.start()
    third.join(0.3)
    assert third.is_alive()  # the hand-off blocks: at most 1 + maxsize images held
    release.set()
    third.join(5)
    post.close()
    assert ran == [0, 1, 2]
