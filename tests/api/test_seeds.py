"""Seeds: every generation endpoint refuses at submit what torch.Generator.manual_seed refuses
(outside -2**63 .. 2**64 - 1, "Overflow when unpacking long long" in the worker otherwise), and
the extremes it accepts run to Ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost.store.tasks import get_task
from fluxhost.wire.bounds import SEED_MAX, SEED_MIN
from fluxhost.worker.worker import Worker
from tests.conftest import Tenant

GENERATION = [
    "/v1/flux-pro-finetuned",
    "/v1/flux-pro-1.1-ultra-finetuned",
    "/v1/flux-pro-1.0-fill-finetuned",
    "/v1/flux-pro-1.0-canny-finetuned",
    "/v1/flux-pro-1.0-depth-finetuned",
]


@pytest.fixture(scope="module")
def engine(dev_model_dir: Path) -> Any:
    from fluxhost.engine import Engine
    from fluxhost.settings import Settings

    return Engine(Settings(_env_file=None, dev_model_dir=dev_model_dir))  # type: ignore[call-arg]


def test_the_bounds_are_what_manual_seed_accepts() -> None:
    import torch

    for seed in (SEED_MIN, SEED_MAX):
        torch.Generator("cpu").manual_seed(seed)
    for seed in (SEED_MIN - 1, SEED_MAX + 1):
        with pytest.raises((RuntimeError, ValueError)):
            torch.Generator("cpu").manual_seed(seed)


@pytest.mark.parametrize(("seed", "expected"), [
    (2**64, {"type": "less_than_equal", "ctx": {"le": SEED_MAX},
             "msg": f"Input should be less than or equal to {SEED_MAX}"}),
    (-(2**63) - 1, {"type": "greater_than_equal", "ctx": {"ge": SEED_MIN},
                    "msg": f"Input should be greater than or equal to {SEED_MIN}"}),
])
@pytest.mark.parametrize("path", GENERATION)
def test_seed_beyond_manual_seed_is_422(client: TestClient, tenant: Tenant, path: str,
                                        seed: int, expected: dict[str, Any]) -> None:
    r = client.post(path, headers=tenant.headers,
                    json={"finetune_id": tenant.finetune_id, "seed": seed})
    assert r.status_code == 422, r.text
    errors = [e for e in r.json()["detail"] if e["loc"] == ["body", "seed"]]
    assert errors == [{**expected, "loc": ["body", "seed"], "input": seed}]


@pytest.mark.parametrize("seed", [SEED_MAX, SEED_MIN])
def test_extreme_seeds_run_to_ready(client: TestClient, services: Any, tenant: Tenant,
                                    engine: Any, seed: int) -> None:
    r = client.post("/v1/flux-pro-finetuned", headers=tenant.headers,
                    json={"finetune_id": tenant.finetune_id, "seed": seed, "steps": 2,
                          "width": 256, "height": 256})
    assert r.status_code == 200, r.text
    assert Worker(services, engine).run_one()
    task = get_task(services.store, r.json()["id"])
    assert task is not None and task.status == "Ready", task.details if task else None
    answer = client.get("/v1/get_result", params={"id": task.id}).json()
    assert answer["status"] == "Ready" and answer["result"]["seed"] == seed
