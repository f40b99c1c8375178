"""x-key authentication and the per-key active task limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fluxhost.api.app import create_app
from fluxhost.store.keys import create_key, revoke_key
from tests.conftest import Tenant

PRO = "/v1/flux-pro-finetuned"
FORBIDDEN = {"detail": "Not authenticated - Invalid Authentication"}


@pytest.mark.parametrize("headers", [{}, {"x-key": "wrong"}, {"x-key": ""}])
def test_missing_or_bad_key_is_403(client: TestClient, tenant: Tenant,
                                   headers: dict[str, str]) -> None:
    r = client.post(PRO, headers=headers, json={"finetune_id": tenant.finetune_id})
    assert r.status_code == 403
    assert r.json() == FORBIDDEN


def test_header_name_is_case_insensitive(client: TestClient, tenant: Tenant) -> None:
    r = client.post(PRO, headers={"X-Key": tenant.key}, json={"finetune_id": tenant.finetune_id})
    assert r.status_code == 200


def test_auth_comes_before_validation(client: TestClient) -> None:
    # As the provider (auth is a dependency solved before the body): 403 whatever the body.
    assert client.post(PRO, json={}).status_code == 403
    assert client.post(PRO, content=b"{not json", headers={"x-key": "bad"}).status_code == 403
    r = client.post(PRO, headers={"x-key": "bad"}, json={"finetune_id": "x", "steps": 999})
    assert r.status_code == 403


def test_revoked_key_is_403(client: TestClient, services: Any) -> None:
    _, plaintext = create_key(services.store, "temp")
    revoke_key(services.store, "temp")
    r = client.post(PRO, headers={"x-key": plaintext}, json={"finetune_id": "x"})
    assert r.status_code == 403


def test_keys_are_stored_only_as_hashes(services: Any) -> None:
    from sqlalchemy import text

    _, plaintext = create_key(services.store, "hashed")
    with services.store.read() as s:
        rows = s.execute(text("SELECT * FROM api_keys")).all()
    assert rows and all(plaintext not in str(tuple(row)) for row in rows)


def test_active_task_limit_is_429(make_settings: Any, services: Any,
                                  make_tenant: Callable[[str], Tenant]) -> None:
    alice, bob = make_tenant("alice"), make_tenant("bob")
    settings = make_settings(max_active_tasks_per_key=2)
    with TestClient(create_app(settings, services)) as c:
        for _ in range(2):
            assert c.post(PRO, headers=alice.headers,
                          json={"finetune_id": alice.finetune_id}).status_code == 200
        r = c.post(PRO, headers=alice.headers, json={"finetune_id": alice.finetune_id})
        assert r.status_code == 429
        assert r.json() == {"detail": "Too many active tasks: 2 of 2 allowed for this key"}
        # Another key is not affected.
        assert c.post(PRO, headers=bob.headers,
                      json={"finetune_id": bob.finetune_id}).status_code == 200


def test_default_limit_is_24(settings: Any) -> None:
    assert settings.max_active_tasks_per_key == 24
