"""In a fleet, a queued task whose kind no live worker serves ends Error after
UNSERVED_TASK_TIMEOUT_SECONDS with a reason, and its key's slot is free again: a real server
whose embedded worker claims only `base`, over loopback HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Node, wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]


def test_unserved_task_ends_error_and_frees_its_slot(tmp_path: Path,
                                                     dev_model_dir: Path) -> None:
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir)
    node.data_dir.mkdir(parents=True)
    key = node.cli("keys", "create", "fleet")
    node.serve(workers=1, FLUXHOST_WORKER_KINDS="base", FLUXHOST_MAX_ACTIVE_TASKS_PER_KEY="1",
               FLUXHOST_UNSERVED_TASK_TIMEOUT_SECONDS="2")
    try:
        with httpx.Client(base_url=node.url, headers={"x-key": key}, timeout=30) as client:
            # Configured (the dev set has kontext) but no live worker claims it.
            r = client.post("/v1/flux-kontext-pro", json={"prompt": "p"})
            assert r.status_code == 200, r.text
            task_id = r.json()["id"]
            full = client.post("/v1/flux-dev", json={"prompt": "p"})
            assert full.status_code == 429  # the waiting task holds the key's one slot
            result = wait_for(client, task_id, timeout=60)
            assert result["status"] == "Error"
            assert result["details"]["error"].startswith(
                "no worker serves this task's kind 'kontext': it waited 2 s")
            r = client.post("/v1/flux-dev", json={"prompt": "p", "width": 256, "height": 256,
                                                  "steps": 2})
            assert r.status_code == 200, r.text
            assert wait_for(client, r.json()["id"], timeout=60)["status"] == "Ready"
    finally:
        node.stop_all()
