"""Speed modes as the server reports them (issue 20 item 2): /health lists each served kind's
modes, and a compiled kind is compiled by a warm-up generation before /ready turns 200, so no
client task pays the compile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost.engine import Engine
from tests.api.test_ready import settled_ready
from tests.conftest import Tenant

App = Callable[..., TestClient]
DEFAULTS = {"transformer_quant": "none", "text_encoder_quant": "none", "gguf": None,
            "first_block_cache": 0.0, "compile": False, "attention_backend": "native"}


def test_health_reports_each_kinds_modes(app_with: App, dev_model_dir: Path) -> None:
    client = app_with(compile=False, models={
        "base": {"source": str(dev_model_dir / "base"), "first_block_cache": 0.2},
        "klein-4b": {"source": str(dev_model_dir / "klein-4b"),
                     "attention_backend": "_native_math"},
        "redux": str(dev_model_dir / "redux"),  # no transformer: no modes
    })
    assert client.get("/health").json()["modes"] == {
        "base": {**DEFAULTS, "first_block_cache": 0.2},
        "klein-4b": {**DEFAULTS, "attention_backend": "_native_math"},
    }


def test_health_reports_the_global_defaults_on_the_dev_set(app_with: App) -> None:
    modes = app_with(first_block_cache=0.1).get("/health").json()["modes"]
    assert "redux" not in modes and {"base", "fill", "klein-4b", "flux2-dev"} <= set(modes)
    assert all(m == {**DEFAULTS, "first_block_cache": 0.1} for m in modes.values())


def compiled_graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def wait_for_reason(client: TestClient, reason: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/ready")
        if r.json().get("reason") == reason or time.monotonic() > deadline:
            assert r.status_code == 503 and r.json().get("reason") == reason, r.json()
            body: dict[str, Any] = r.json()
            return body
        time.sleep(0.05)


def test_compiled_kind_warms_up_before_ready(app_with: App, dev_model_dir: Path, tenant: Tenant,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """503 'compiling' while the warm-up generation (held back here) runs; 200 once it ran and
    compiled the blocks; a task at another size then compiles nothing more."""
    gate = threading.Event()
    run = Engine.run
    warmups: list[Any] = []

    def held_run(self: Engine, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.prompt == "warm-up":
            warmups.append(request)
            gate.wait(120)
        return run(self, request, *args, **kwargs)

    monkeypatch.setattr(Engine, "run", held_run)
    # dynamo caches compiled code per code object for the whole process: blocks compiled by an
    # earlier test file in this process (tests/engine/test_speed.py under xdist) would be reused
    # and compile no new graph here.
    import torch._dynamo

    torch._dynamo.reset()
    before = compiled_graphs()
    client = app_with(workers=1, models={
        "base": {"source": str(dev_model_dir / "base"), "compile": True}})
    body = wait_for_reason(client, "warming up: compiling the base model")
    assert body["models"] == {"base": "loaded"}  # loaded first, then compiled
    gate.set()
    body = settled_ready(client, 200, timeout=300)
    assert body["models"] == {"base": "loaded"} and "reason" not in body
    assert [(r.kind, r.steps) for r in warmups] == [("base", 1)]
    compiled = compiled_graphs()
    assert compiled > before

    task_id = client.post("/v1/flux-dev", headers=tenant.headers, json={
        "prompt": "x", "width": 512, "height": 256, "steps": 2}).json()["id"]
    deadline = time.monotonic() + 120
    while (result := client.get("/v1/get_result", params={"id": task_id}).json())["status"] \
            not in ("Ready", "Error") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result["status"] == "Ready", result
    assert compiled_graphs() == compiled  # dynamic shapes: the warm-up's graphs serve 512x256
