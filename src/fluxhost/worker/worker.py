"""One worker: claim a task, run it on the engine, store the image, finish the task.

While a task runs, a heartbeat thread renews the lease and flushes progress; if the lease is
lost (we stalled and another worker took the task) the engine is stopped at the next step and
nothing is written. On shutdown the task is finished if it can be within the grace period,
else released back to the queue without spending an attempt.

Once the engine has produced the image, the rest of the task (output moderation, encoding, the
blob write, the finish) is handed to the worker's PostProcessor and the worker claims its next
task at once; the heartbeat keeps renewing the handed-off task's lease until it is finished."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection
from functools import partial
from typing import TYPE_CHECKING, Any

from fluxhost.metrics.process import task_claimed, task_finished
from fluxhost.services import Services
from fluxhost.store import queue
from fluxhost.store.finetunes import get_owned_finetune
from fluxhost.store.models import Task
from fluxhost.store.outage import log_failure
from fluxhost.worker.blobs import BlobUnavailable, retrying
from fluxhost.worker.guard import Guard
from fluxhost.worker.inputs import InputError
from fluxhost.worker.jobs import Plan, plan
from fluxhost.worker.postprocess import PostProcessor
from fluxhost.worker.reasons import BLOB_STORE_UNAVAILABLE, client_reason, describe
from fluxhost.worker.warmup import Warmup

if TYPE_CHECKING:
    from fluxhost.engine.interface import WorkerEngine
    from fluxhost.engine.types import LoraSpec

log = logging.getLogger(__name__)

# What the engine half of a task hands to the post-processor: the outcome, or the rest of the
# work that makes it (moderation, encoding, blob write), run on the post-processing thread.
Finishing = Callable[[], queue.Outcome]

class Worker:
    def __init__(
        self,
        services: Services,
        engine: WorkerEngine,
        *,
        name: str | None = None,
        on_finished: Callable[[], None] | None = None,
        guard: Guard | None = None,
        warmup: Warmup | None = None,
        kinds: Collection[str] | None = None,
    ) -> None:
        self.svc = services
        self.engine = engine
        self.guard = guard or Guard(services.settings)
        self.owner = name or f"worker-{uuid.uuid4().hex[:12]}"
        self.on_finished = on_finished
        self.warmup = warmup or Warmup(engine)
        self.stopping = threading.Event()  # no new claims
        self.abort = threading.Event()  # stop the running task now (grace period over)
        self.kinds = kinds  # task kinds this worker claims (None: any)
        self.affinity = queue.Affinity(services.settings.affinity_window,
                                       services.settings.affinity_max_wait_seconds)
        self.post = PostProcessor(self.owner, overlap=services.settings.overlap_postprocess)

    # --- loop ----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the process's first pipeline before claiming (once, shared: see Warmup)."""
        self.warmup.run(self.owner)

    def run_forever(self, wake: threading.Event) -> None:
        settings = self.svc.settings
        self.warm_up()
        while not self.stopping.is_set():
            try:
                worked = self.run_one(wait=False)  # the engine moves on; post-processing trails
            except Exception as exc:
                log_failure(log, f"worker {self.owner}: queue error; retrying", exc)
                worked = False
                self.stopping.wait(1.0)
            if not worked:
                self._retry_failed_loads()
                wake.wait(settings.poll_interval_seconds)
                wake.clear()
        self.post.close()  # handed-off tasks finish before the worker exits

    def _retry_failed_loads(self) -> None:
        """While idle, let the engine retry loads that failed (on its own backoff), so a fixed
        problem heals -- and /ready turns 200 -- without waiting for a task of that kind."""
        try:
            self.engine.retry_failed_loads()
        except Exception:
            log.exception("retrying failed model loads")

    def run_one(self, *, wait: bool = True) -> bool:
        """Claim and run one task; with `wait`, also until it is finished (post-processing
        included), else it may still be finishing on the post-processor when this returns."""
        s = self.svc.settings
        task = queue.claim(
            self.svc.store,
            self.owner,
            lease_seconds=s.lease_seconds,
            max_attempts=s.max_attempts,
            retention_seconds=s.result_retention_seconds,
            kinds=self.kinds,
            # Finetunes whose adapter the engine has loaded: the claim prefers their tasks.
            resident=self.engine.resident_loras(),
            affinity=self.affinity,
        )
        if task is None:
            return False
        self.process(task)
        if wait:
            self.post.drain()
        return True

    # --- one task --------------------------------------------------------------------------
    def process(self, task: Task) -> None:
        from fluxhost.engine.types import Interrupted

        state: dict[str, Any] = {"progress": 0.0, "lost": False}
        done = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(task.id, state, done), daemon=True,
            name=f"{self.owner}-heartbeat",
        )
        beat.start()
        log.info("task claimed", extra={"task_id": task.id, "worker": self.owner,
                                         "attempt": task.attempts, "endpoint": task.endpoint})
        task_claimed(task)
        try:
            outcome: queue.Outcome | Finishing | None = self._execute(task, state)
        except Interrupted:
            outcome = None
        except BaseException:
            _stop(done, beat)
            raise
        if state["lost"] or outcome is None:
            _stop(done, beat)
            if state["lost"]:
                log.warning("lease lost; dropping result", extra={"task_id": task.id})
            else:
                released = queue.release(self.svc.store, task.id, self.owner)
                log.info("task released on shutdown", extra={"task_id": task.id,
                                                              "released": released})
            return
        finishing = outcome
        # The heartbeat goes on: the post-processor stops it once the task is finished.
        self.post.submit(lambda: self._complete(task, finishing, state, done, beat))

    def _complete(self, task: Task, finishing: queue.Outcome | Finishing,
                  state: dict[str, Any], done: threading.Event, beat: threading.Thread) -> None:
        """The post-processing half of a task: make the outcome, finish under the same lease,
        then stop the heartbeat. Were this process killed first, the lease would expire and the
        task be retried; an exception here ends the task Error with the reason, never lost."""
        try:
            started = time.perf_counter()
            outcome = self._outcome(task, finishing, state)
            state["post_ms"] = round((time.perf_counter() - started) * 1000, 3)
            if outcome is not None:
                self._finish(task, outcome, state)
        finally:
            _stop(done, beat)

    def _outcome(self, task: Task, finishing: queue.Outcome | Finishing,
                 state: dict[str, Any]) -> queue.Outcome | None:
        if isinstance(finishing, queue.Outcome):
            return finishing
        if state["lost"]:  # another worker has the task: spend nothing on this image
            log.warning("lease lost; dropping result", extra={"task_id": task.id})
            return None
        try:
            return finishing()
        except BlobUnavailable:
            return self._unstored(task, state)
        except Exception as exc:
            log.exception("post-processing failed", extra={"task_id": task.id})
            return _error(f"post-processing failed: {describe(exc)}")

    def _unstored(self, task: Task, state: dict[str, Any]) -> queue.Outcome | None:
        """The result could not be written for the whole retry budget: the task ends Error,
        unless it stopped being ours meanwhile (lease lost: dropped; shutdown: released, so
        another worker draws the same image again)."""
        if state["lost"]:
            log.warning("lease lost; dropping result", extra={"task_id": task.id})
            return None
        if self.abort.is_set():
            released = queue.release(self.svc.store, task.id, self.owner)
            log.info("task released on shutdown", extra={"task_id": task.id,
                                                          "released": released})
            return None
        return _error(f"could not store the result: {BLOB_STORE_UNAVAILABLE}")

    def _finish(self, task: Task, outcome: queue.Outcome, state: dict[str, Any]) -> None:
        s = self.svc.settings
        engine_ms = state.get("engine_ms")
        if queue.finish(self.svc.store, task.id, self.owner, outcome,
                        retention_seconds=s.result_retention_seconds,
                        engine_seconds=None if engine_ms is None else engine_ms / 1000):
            task_finished(task, outcome.status, state.get("engine_ms"))
            log.info("task finished", extra={"task_id": task.id, "status": outcome.status,
                                             "worker": self.owner,
                                             "engine_ms": state.get("engine_ms"),
                                             "post_ms": state.get("post_ms")})
            if self.on_finished and task.webhook_url:
                self.on_finished()
        else:
            log.warning("lease lost before finish; result dropped", extra={"task_id": task.id})

    def _heartbeat(self, task_id: str, state: dict[str, Any], done: threading.Event) -> None:
        s = self.svc.settings
        while not done.wait(s.heartbeat_seconds):
            try:
                ok = queue.heartbeat(self.svc.store, task_id, self.owner,
                                     lease_seconds=s.lease_seconds, progress=state["progress"])
            except Exception as exc:
                log_failure(log, "heartbeat failed", exc, extra={"task_id": task_id})
                continue
            if not ok:
                state["lost"] = True
                return

    def _execute(self, task: Task, state: dict[str, Any]) -> queue.Outcome | Finishing:
        if task.endpoint == queue.TRAINING_ENDPOINT:
            return self._train(task, state)
        try:
            p = plan(task.endpoint, task.params, self.svc.settings, kind=task.kind)
        except (KeyError, ValueError) as exc:
            return _error(f"invalid task parameters: {exc}")
        missing = [k for k in p.kinds if k not in self.engine.available_kinds()]
        if missing:
            from fluxhost.engine.types import MissingPipeline

            return _error(str(MissingPipeline(missing[0])))
        from fluxhost.engine.types import EngineError, Interrupted

        try:
            lora = self._lora(task, p, state)
        except BlobUnavailable:
            return self._unreadable("could not read the finetune's weights", state)
        if isinstance(lora, queue.Outcome):
            return lora
        try:
            return self._generate(task, p, lora, state)
        except Interrupted:
            raise
        except (EngineError, InputError) as exc:  # bad inputs, a LoRA that does not fit: say so
            return _error(str(exc))
        except BlobUnavailable:
            return self._unreadable("could not read the input images", state)
        except Exception as exc:
            log.exception("generation failed", extra={"task_id": task.id})
            return _error(f"generation failed: {describe(exc)}")

    def _unreadable(self, doing: str, state: dict[str, Any]) -> queue.Outcome:
        """A read that failed for the whole retry budget ends the task Error; one cut short
        because the task stopped being ours is Interrupted (dropped, or released)."""
        from fluxhost.engine.types import Interrupted

        if self._stopped(state):
            raise Interrupted()
        return _error(f"{doing}: {BLOB_STORE_UNAVAILABLE}")

    def _stopped(self, state: dict[str, Any]) -> bool:
        """The task is no longer ours to finish: its lease was lost, or the grace period of a
        shutdown is over."""
        return bool(state["lost"]) or self.abort.is_set()

    def _blob_call(self, call: Callable[[], Any], what: str, task: Task,
                   state: dict[str, Any]) -> Any:
        """`call` retried for BLOB_RETRY_SECONDS while the heartbeat holds the lease."""
        return retrying(call, what=what, budget=self.svc.settings.blob_retry_seconds,
                        should_stop=lambda: self._stopped(state), task_id=task.id)

    def _train(self, task: Task, state: dict[str, Any]) -> queue.Outcome:
        from fluxhost.training.trainer import TrainingStopped
        from fluxhost.worker.training import run_training

        def on_progress(fraction: float) -> None:
            state["progress"] = fraction

        def should_stop() -> bool:
            return bool(state["lost"]) or self.abort.is_set()

        from fluxhost.engine.loaderrors import ModelLoadError

        try:
            return run_training(self.svc, self.engine, task, on_progress, should_stop)
        except TrainingStopped as exc:
            from fluxhost.engine.types import Interrupted

            raise Interrupted() from exc  # released, or dropped if the lease was lost
        except ModelLoadError as exc:  # the cause is the message; a traceback adds nothing
            log.error("training failed: %s", exc, extra={"task_id": task.id})
            return _error(f"training failed: {exc}")
        except Exception as exc:
            log.exception("training failed", extra={"task_id": task.id})
            return _error(f"training failed: {describe(exc)}")

    def _lora(self, task: Task, p: Plan,
              state: dict[str, Any]) -> LoraSpec | queue.Outcome | None:
        from fluxhost.engine.types import LoraSpec

        if task.key_id is None or p.finetune_id is None:  # None: a non-finetuned endpoint
            return None
        finetune = get_owned_finetune(self.svc.store, p.finetune_id, task.key_id)
        if finetune is None:
            self.engine.forget_lora(p.finetune_id)  # its adapter may still be resident
            return _error(f"finetune {p.finetune_id} no longer exists")
        if finetune.status != "Ready" or not finetune.lora_blob:
            return _error(f"finetune {p.finetune_id} is not ready (status {finetune.status})")
        # A local file for diffusers: on S3, downloaded once per node into the blob cache.
        blob = finetune.lora_blob
        path = self._blob_call(lambda: self.svc.blobs.local_path(blob),
                               "reading a finetune's LoRA weights", task, state)
        if path is None:
            return _error(f"finetune {p.finetune_id}: its LoRA weights are missing from storage")
        return LoraSpec(key=finetune.id, path=path, strength=p.finetune_strength)

    def _inputs(self, task: Task, p: Plan, state: dict[str, Any]) -> dict[str, bytes]:
        inputs = {}
        for name, blob_key in p.inputs.items():
            data = self._blob_call(partial(self.svc.blobs.get, blob_key),
                                   f"reading input {name}", task, state)
            if data is None:
                raise InputError(f"{name} is missing from storage")
            inputs[name] = data
        return inputs

    def _generate(self, task: Task, p: Plan, lora: LoraSpec | None,
                  state: dict[str, Any]) -> queue.Outcome | Finishing:
        from fluxhost.worker.requests import engine_request, input_images

        start = time.time()
        tolerance = int(task.params.get("safety_tolerance", 2))
        if task.params.get("prompt_upsampling"):
            p = dataclasses.replace(p, prompt=self.guard.upsampled(p.prompt, p.seed, task.id))
        req = engine_request(p, self._inputs(task, p, state), lora)
        moderator = self.guard.moderator()
        if moderator is not None:
            reasons = moderator.check_inputs(p.prompt, input_images(req), tolerance)
            if reasons:
                log.info("request moderated", extra={"task_id": task.id, "reasons": reasons})
                return queue.Outcome("Request Moderated", details={"Moderation Reasons": reasons})
        def on_step(step: int, total: int) -> None:
            state["progress"] = step / total

        def should_stop() -> bool:
            return bool(state["lost"]) or self.abort.is_set()

        t0 = time.perf_counter()
        image = self.engine.run(req, on_step=on_step, should_stop=should_stop)
        state["engine_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        return lambda: self._store_image(task, p, image, moderator, tolerance, start, state)

    def _store_image(self, task: Task, p: Plan, image: Any, moderator: Any, tolerance: int,
                     start: float, state: dict[str, Any]) -> queue.Outcome:
        """After the engine, on the post-processor: moderate the output, encode, store (the
        write retried while the store is down: the image is not given up lightly)."""
        from fluxhost.engine.encode import encode_image

        if moderator is not None:
            reasons = moderator.check_output(image, tolerance)
            if reasons:  # nothing is stored: the image never leaves this worker
                log.info("content moderated", extra={"task_id": task.id, "reasons": reasons})
                return queue.Outcome("Content Moderated", details={"Moderation Reasons": reasons})
        data = encode_image(image, p.output_format)  # type: ignore[arg-type]
        blob_key = f"results/{task.id}.{p.output_format}"
        self._blob_call(partial(self.svc.blobs.put, blob_key, data), "storing the result", task,
                        state)
        end = time.time()
        result = {"prompt": p.prompt, "seed": p.seed, "start_time": start, "end_time": end,
                  "duration": end - start}
        return queue.Outcome("Ready", result=result, blob_key=blob_key)


def _stop(done: threading.Event, beat: threading.Thread) -> None:
    """Stop a task's heartbeat (its task is finished, dropped or released)."""
    done.set()
    beat.join()


def _error(reason: str) -> queue.Outcome:
    return queue.Outcome("Error", details={"error": client_reason(reason)})
