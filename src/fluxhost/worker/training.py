"""A training task: read the upload, caption, train, store the LoRA, finish the finetune.

The task's id is the finetune's id. Its LoRA is written to a temporary file and then to the
blob store (write-then-rename in both), and the finetune row turns Ready in the same
transaction that ends the task, so a worker that dies mid-training leaves nothing half-written:
the task is claimed again and training restarts from the beginning."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fluxhost.services import Services
from fluxhost.store.models import Finetune, Task
from fluxhost.store.queue import Outcome
from fluxhost.store.tasks import INPUTS_PARAM
from fluxhost.worker.blobs import BlobUnavailable, retrying
from fluxhost.worker.reasons import BLOB_STORE_UNAVAILABLE, client_reason

if TYPE_CHECKING:
    from fluxhost.engine.interface import TrainingEngine

T = TypeVar("T")


def run_training(
    svc: Services,
    engine: TrainingEngine,
    task: Task,
    on_progress: Callable[[float], None],
    should_stop: Callable[[], bool],
) -> Outcome:
    from fluxhost.training.captions import captions_for
    from fluxhost.training.dataset import DatasetError, read_zip
    from fluxhost.training.trainer import TrainingDiverged, TrainSpec, train

    params = task.params
    upload = params[INPUTS_PARAM]["file_data"]
    try:
        data = _retrying(svc, lambda: svc.blobs.get(upload), "reading the training data", task,
                         should_stop)
    except BlobUnavailable:
        return _unavailable("could not read the uploaded training data", should_stop)
    if data is None:
        return _error("the uploaded training data is missing from storage")
    try:
        samples = read_zip(data)
    except DatasetError as exc:
        return _error(str(exc))
    describe = None
    if params["captioning"] and any(s.caption is None for s in samples):
        captioner = _captioner(svc)
        if captioner is not None:
            def describe(i: int) -> str:
                return str(captioner.caption(samples[i].image))
    captions, source = captions_for(
        [s.caption for s in samples], mode=params["mode"],
        trigger_word=params["trigger_word"], captioning=params["captioning"], describe=describe,
    )
    spec = TrainSpec(
        iterations=int(params["iterations"]),
        learning_rate=params.get("learning_rate"),
        lora_rank=int(params["lora_rank"]),
        finetune_type=params["finetune_type"],
        priority=params["priority"],
        trigger_word=params["trigger_word"],
        seed=int(params.get("seed", 0)),
        # A klein kind (the fluxhost extension); absent: FLUX.1, as every finetune before it.
        base_kind=params.get("base_model"),
    )
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="fluxhost-train-") as tmp:
        try:
            result = train(engine, [(s.image, c) for s, c in zip(samples, captions, strict=True)],
                           spec, Path(tmp) / "lora.safetensors", on_progress=on_progress,
                           should_stop=should_stop)
        except (TrainingDiverged, ValueError) as exc:
            return _error(f"training failed: {exc}")
        blob_key = f"finetunes/{task.id}.safetensors"
        weights = result.path.read_bytes()
        try:
            _retrying(svc, lambda: svc.blobs.put(blob_key, weights), "storing the LoRA weights",
                      task, should_stop)
        except BlobUnavailable:
            return _unavailable("training failed: could not store the LoRA weights",
                                should_stop)
    ended = time.time()
    with svc.store.read() as s:
        row = s.get(Finetune, task.id)
        details = dict(row.details) if row is not None else {}
    details.update(captions=source, trained_iterations=result.iterations,
                   final_loss=round(result.final_loss, 6), training_seconds=round(
                       result.seconds, 3))
    summary = {"finetune_id": task.id, "lora_rank": result.rank,
               "iterations": result.iterations, "captions": source,
               "start_time": started, "end_time": ended, "duration": ended - started}
    return Outcome("Ready", result=summary, finetune={"lora_blob": blob_key, "details": details})


def _captioner(svc: Services) -> Any:
    """The configured captioner; on the dev model set a tiny random one (it writes gibberish
    words, as the dev models draw noise); None when neither applies."""
    from fluxhost.engine.modelset import dev_model_root, torch_device
    from fluxhost.training.captioner import Captioner, build_dev_captioner

    source: str | Path | None = svc.settings.captioner
    if source is None and svc.settings.uses_dev_models:
        source = dev_model_root(svc.settings) / "captioner"
        if not Path(source).is_dir():
            build_dev_captioner(Path(source))
    if source is None:
        return None
    return Captioner.load(source, device=str(torch_device(svc.settings)))


def _retrying(svc: Services, call: Callable[[], T], what: str, task: Task,
              should_stop: Callable[[], bool]) -> T:
    """`call` retried for BLOB_RETRY_SECONDS while the task is ours (worker/blobs.py)."""
    return retrying(call, what=what, budget=svc.settings.blob_retry_seconds,
                    should_stop=should_stop, task_id=task.id)


def _unavailable(doing: str, should_stop: Callable[[], bool]) -> Outcome:
    """The store failed for the whole budget: Error. Cut short because the task stopped being
    ours (lease lost, shutdown): stopped, as training itself would be."""
    from fluxhost.training.trainer import TrainingStopped

    if should_stop():
        raise TrainingStopped(0)
    return _error(f"{doing}: {BLOB_STORE_UNAVAILABLE}")


def _error(reason: str) -> Outcome:
    return Outcome("Error", details={"error": client_reason(reason)})
