"""One worker in-process on the dev model: a task runs to Ready, and bad finetunes end Error
with a reason instead of crashing the worker."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image
from safetensors.torch import save_file

from fluxhost.store.tasks import get_task, submit_task
from fluxhost.worker.worker import Worker
from tests.conftest import Tenant


def submit(services: Any, tenant: Tenant, finetune_id: str | None = None) -> str:
    params = {"finetune_id": finetune_id or tenant.finetune_id, "finetune_strength": 1.0,
              "steps": 2, "guidance": 2.5, "width": 256, "height": 256, "prompt": "w",
              "seed": 3, "output_format": "png"}
    return submit_task(services.store, key_id=tenant.key_id, endpoint="flux-pro-finetuned",
                       params=params, base_url="http://x", webhook_url=None,
                       webhook_secret=None, active_limit=10)


def test_task_runs_to_ready(services: Any, tenant: Tenant, engine: Any) -> None:
    tid = submit(services, tenant)
    assert Worker(services, engine).run_one()
    task = get_task(services.store, tid)
    assert task is not None and task.status == "Ready", task.details if task else None
    assert task.result is not None and task.result["seed"] == 3
    img = Image.open(io.BytesIO(services.blobs.get(task.blob_key)))
    assert img.size == (256, 256) and img.format == "PNG"
    assert not Worker(services, engine).run_one()  # nothing left


def test_lora_for_another_model_ends_error(services: Any, tenant: Tenant, engine: Any,
                                           tmp_path: Path) -> None:
    import torch

    from fluxhost.finetunes import import_lora

    bad = tmp_path / "bad.safetensors"
    save_file({"transformer.single_transformer_blocks.0.attn.to_q.lora_A.weight":
               torch.zeros(4, 999)}, str(bad))
    ft = import_lora(services, bad, owner_key_id=tenant.key_id, comment="bad")
    tid = submit(services, tenant, ft.id)
    assert Worker(services, engine).run_one()
    task = get_task(services.store, tid)
    assert task is not None and task.status == "Error"
    assert ft.id in task.details["error"] and "could not be applied" in task.details["error"]


def test_deleted_finetune_ends_error(services: Any, tenant: Tenant, engine: Any) -> None:
    from fluxhost.store.models import Finetune

    tid = submit(services, tenant)
    with services.store.write() as s:
        s.get(Finetune, tenant.finetune_id).deleted_at = 1.0
    assert Worker(services, engine).run_one()
    task = get_task(services.store, tid)
    assert task is not None and task.status == "Error"
    assert "no longer exists" in task.details["error"]
