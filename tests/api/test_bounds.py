"""Bounds on what a client's strings and headers may carry before they reach the database:
each one answers the same 4xx on SQLite and PostgreSQL (which refuses NUL, over-long VARCHARs
and so on where SQLite stores them), and nothing is written when it fires."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from fluxhost.api.app import create_app
from fluxhost.api.errors import SUBMISSION_REFUSED
from fluxhost.settings import Settings
from fluxhost.store.models import Finetune, Task
from fluxhost.wire.bounds import MAX_COMMENT_CHARS, MAX_TRIGGER_WORD_CHARS, SEED_MAX, SEED_MIN
from fluxhost.wire.flux2_finetuned import FINETUNE_ID_MAX_CHARS
from tests.api.test_finetunes import make_zip, png
from tests.api.test_validation import png_b64
from tests.conftest import Tenant

PRO = "/v1/flux-pro-finetuned"
FILL = "/v1/flux-pro-1.0-fill-finetuned"
FINETUNE = "/v1/finetune"
NOT_A_ROW = "the database was queried"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.service)])
def settings(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Settings:
    """Every test here runs on both backends: these bounds exist because they differ."""
    if request.param == "sqlite":
        return make_settings()
    return make_settings(database_url=request.getfixturevalue("pg_url"))


@pytest.fixture
def raw_client(settings: Settings, services: Any) -> Iterator[TestClient]:
    """Server errors come back as responses, as a client sees them."""
    with TestClient(create_app(settings, services), raise_server_exceptions=False) as c:
        yield c


def training_body(**fields: Any) -> dict[str, Any]:
    return {"file_data": make_zip({"a.png": png(), "b.png": png()}), "finetune_comment": "c",
            "mode": "general", **fields}


def counts(services: Any) -> tuple[int, int]:
    """(tasks, finetunes) rows in the database."""
    with services.store.read() as s:
        tasks = s.scalar(select(func.count()).select_from(Task))
        finetunes = s.scalar(select(func.count()).select_from(Finetune))
    return int(tasks or 0), int(finetunes or 0)


def blobs(settings: Settings, folder: str) -> list[Path]:
    root = settings.resolved_blob_dir / folder
    return sorted(root.rglob("*")) if root.exists() else []


def blobs_left(settings: Settings, *folders: str, within: float = 10.0) -> list[Path]:
    """The blobs still in `folders` once orphan cleanup had `within` seconds: a refused
    submission's blobs are deleted in the background after the answer (api/blobs.drop_later)."""
    deadline = time.monotonic() + within
    while True:
        left = [path for folder in folders for path in blobs(settings, folder)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def one_error(r: Any) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    (err,) = r.json()["detail"]
    return err


# --- Host and forwarded headers --------------------------------------------------------------

def test_over_long_host_is_400_and_nothing_is_inserted(raw_client: TestClient, services: Any,
                                                       settings: Settings,
                                                       tenant: Tenant) -> None:
    host = "a" * 600 + ".example"
    r = raw_client.post(PRO, headers={**tenant.headers, "host": host},
                        json={"finetune_id": tenant.finetune_id, "image_prompt": png_b64()})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid Host header"}
    r = raw_client.post(FINETUNE, headers={**tenant.headers, "host": host}, json=training_body())
    assert r.status_code == 400 and r.json() == {"detail": "Invalid Host header"}
    assert counts(services) == (0, 1)  # only the tenant's imported finetune
    assert blobs_left(settings, "inputs", "training") == []


@pytest.mark.parametrize("host", [
    "a b", "example.com/path", "example.com?x", "user@example.com", "example.com:99999",
    "example.com:", "example.com:80:80", "-", "[::1", "[zz::1]", "ex\tample", "a" * 260,
])
def test_malformed_host_is_400(raw_client: TestClient, tenant: Tenant, host: str) -> None:
    r = raw_client.post(PRO, headers={**tenant.headers, "host": host},
                        json={"finetune_id": tenant.finetune_id})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid Host header"}


@pytest.mark.parametrize("host", [
    "example.com", "example.com:8080", "127.0.0.1:8000", "[::1]:8000", "[fe80::1%25eth0]",
    "my_service", "example.com.", "x", "a" * 253 + ":65535",
])
def test_well_formed_host_is_used(raw_client: TestClient, tenant: Tenant, host: str) -> None:
    r = raw_client.post(PRO, headers={**tenant.headers, "host": host},
                        json={"finetune_id": tenant.finetune_id})
    assert r.status_code == 200, r.text
    assert r.json()["polling_url"].startswith(f"http://{host}/v1/get_result?id=")


def test_host_is_checked_on_get_result_too(raw_client: TestClient, tenant: Tenant) -> None:
    task_id = raw_client.post(PRO, headers=tenant.headers,
                              json={"finetune_id": tenant.finetune_id}).json()["id"]
    r = raw_client.get("/v1/get_result", params={"id": task_id}, headers={"host": "a b"})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid Host header"}


@pytest.mark.parametrize(("header", "value"), [
    ("x-forwarded-host", "h" * 600),
    ("x-forwarded-host", "evil.com/x"),
    ("x-forwarded-prefix", "@evil.com"),
    ("x-forwarded-prefix", "nolead"),
    ("x-forwarded-prefix", "/a?b"),
    ("x-forwarded-prefix", "/a#b"),
    ("x-forwarded-prefix", "/a b"),
    ("x-forwarded-prefix", "/" + "p" * 200),
    ("x-forwarded-proto", "javascript"),
])
def test_bad_forwarded_header_from_a_trusted_proxy_is_400(
    make_settings: Callable[..., Settings], services: Any, settings: Settings, tenant: Tenant,
    header: str, value: str,
) -> None:
    trusted = make_settings(database_url=settings.database_url,
                            forwarded_allow_ips=["testclient"])
    with TestClient(create_app(trusted, services), raise_server_exceptions=False) as c:
        r = c.post(PRO, headers={**tenant.headers, header: value},
                   json={"finetune_id": tenant.finetune_id})
    name = {"x-forwarded-host": "X-Forwarded-Host", "x-forwarded-prefix": "X-Forwarded-Prefix",
            "x-forwarded-proto": "X-Forwarded-Proto"}[header]
    assert r.status_code == 400 and r.json() == {"detail": f"Invalid {name} header"}
    assert counts(services)[0] == 0


def test_longest_accepted_base_url_fits_its_column(
    make_settings: Callable[..., Settings], services: Any, settings: Settings, tenant: Tenant,
) -> None:
    host, prefix = "h" * 253 + ":65535", "/" + "p" * 199
    trusted = make_settings(database_url=settings.database_url,
                            forwarded_allow_ips=["testclient"])
    headers = {**tenant.headers, "x-forwarded-proto": "HTTPS", "x-forwarded-host": host,
               "x-forwarded-prefix": prefix + "/"}
    with TestClient(create_app(trusted, services)) as c:
        r = c.post(PRO, headers=headers, json={"finetune_id": tenant.finetune_id})
    assert r.status_code == 200, r.text
    base = f"https://{host}{prefix}"
    assert r.json()["polling_url"].startswith(f"{base}/v1/get_result?id=")
    assert len(base) <= 500  # tasks.base_url is VARCHAR(500)


def test_untrusted_peer_forwarded_headers_are_ignored_not_checked(client: TestClient,
                                                                  tenant: Tenant) -> None:
    r = client.post(PRO, headers={**tenant.headers, "x-forwarded-host": "h" * 600},
                    json={"finetune_id": tenant.finetune_id})
    assert r.status_code == 200
    assert r.json()["polling_url"].startswith("http://testserver/")


# --- body strings ----------------------------------------------------------------------------

def test_trigger_word_over_its_column_is_422(raw_client: TestClient, services: Any,
                                             settings: Settings, tenant: Tenant) -> None:
    r = raw_client.post(FINETUNE, headers=tenant.headers,
                        json=training_body(trigger_word="T" * (MAX_TRIGGER_WORD_CHARS + 1)))
    err = one_error(r)
    assert err["type"] == "string_too_long" and err["loc"] == ["body", "trigger_word"]
    assert err["ctx"] == {"max_length": MAX_TRIGGER_WORD_CHARS}
    assert err["msg"] == f"String should have at most {MAX_TRIGGER_WORD_CHARS} characters"
    assert counts(services) == (0, 1) and blobs_left(settings, "training") == []
    ok = raw_client.post(FINETUNE, headers=tenant.headers,
                         json=training_body(trigger_word="T" * MAX_TRIGGER_WORD_CHARS))
    assert ok.status_code == 200, ok.text


def test_comment_over_its_bound_is_422(raw_client: TestClient, tenant: Tenant) -> None:
    r = raw_client.post(FINETUNE, headers=tenant.headers,
                        json=training_body(finetune_comment="c" * (MAX_COMMENT_CHARS + 1)))
    err = one_error(r)
    assert err["type"] == "string_too_long" and err["loc"] == ["body", "finetune_comment"]
    assert err["ctx"] == {"max_length": MAX_COMMENT_CHARS}
    ok = raw_client.post(FINETUNE, headers=tenant.headers,
                         json=training_body(finetune_comment="c" * MAX_COMMENT_CHARS))
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("field", ["finetune_comment", "trigger_word"])
def test_nul_in_finetune_text_is_422(raw_client: TestClient, services: Any, settings: Settings,
                                     tenant: Tenant, field: str) -> None:
    r = raw_client.post(FINETUNE, headers=tenant.headers, json=training_body(**{field: "a\0b"}))
    err = one_error(r)
    assert err["type"] == "value_error" and err["loc"] == ["body", field]
    assert "NUL" in err["msg"] and err["input"] == "a\0b"
    assert counts(services) == (0, 1) and blobs_left(settings, "training") == []


@pytest.mark.parametrize("field", ["prompt", "finetune_id"])
def test_nul_in_generation_text_is_422(raw_client: TestClient, services: Any, tenant: Tenant,
                                       field: str) -> None:
    body = {"finetune_id": tenant.finetune_id, field: "x\0"}
    err = one_error(raw_client.post(PRO, headers=tenant.headers, json=body))
    assert err["type"] == "value_error" and err["loc"] == ["body", field]
    assert counts(services)[0] == 0


def test_nul_in_delete_finetune_id_is_422(raw_client: TestClient, tenant: Tenant) -> None:
    r = raw_client.post("/v1/delete_finetune", headers=tenant.headers,
                        json={"finetune_id": tenant.finetune_id + "\0"})
    err = one_error(r)
    assert err["type"] == "value_error" and err["loc"] == ["body", "finetune_id"]


@pytest.mark.parametrize(("seed", "type_", "ctx"), [
    (SEED_MAX + 1, "less_than_equal", {"le": SEED_MAX}),
    (10**30, "less_than_equal", {"le": SEED_MAX}),
    (SEED_MIN - 1, "greater_than_equal", {"ge": SEED_MIN}),
])
@pytest.mark.parametrize("path", [PRO, "/v1/flux-pro-1.1-ultra-finetuned"])
def test_seed_outside_64_bits_is_422(raw_client: TestClient, tenant: Tenant, path: str,
                                     seed: int, type_: str, ctx: dict[str, int]) -> None:
    err = one_error(raw_client.post(path, headers=tenant.headers,
                                    json={"finetune_id": tenant.finetune_id, "seed": seed}))
    assert err["type"] == type_ and err["loc"] == ["body", "seed"] and err["ctx"] == ctx


@pytest.mark.parametrize("seed", [SEED_MAX, SEED_MIN, 0, None])
def test_seed_within_64_bits_is_accepted(raw_client: TestClient, tenant: Tenant,
                                         seed: int | None) -> None:
    r = raw_client.post(PRO, headers=tenant.headers,
                        json={"finetune_id": tenant.finetune_id, "seed": seed})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", [PRO, FINETUNE])
@pytest.mark.parametrize("secret", ["a\r\nX-Evil: 1", "a\nb", "a\0b", "s" * 1025, "é"])
def test_unsendable_webhook_secret_is_422_on_every_endpoint(
    raw_client: TestClient, tenant: Tenant, path: str, secret: str
) -> None:
    body = training_body() if path == FINETUNE else {"finetune_id": tenant.finetune_id}
    body.update(webhook_url="http://127.0.0.1:9/hook", webhook_secret=secret)
    err = one_error(raw_client.post(path, headers=tenant.headers, json=body))
    assert err["type"] == "value_error" and err["loc"] == ["body", "webhook_secret"]
    assert "printable ASCII" in err["msg"]


# --- ids that cannot exist -------------------------------------------------------------------

# Task ids are uuids only; a finetune_id is a uuid or an uploaded LoRA's per-key name
# (api.validation.plausible_finetune_ref: [a-z0-9_-]{1,64}), so "nope" and "x" * 37 can name a
# finetune (and are looked up) but never a task.
IMPOSSIBLE_IDS = ["x" * 37, "a\0b", "nope", "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
                  "../../etc/passwd", "é"]
IMPOSSIBLE_REFS = ["x" * 65, "a\0b", "Nope", "a b", "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
                   "../../etc/passwd", "é"]
KLEIN = "/v1/flux-2-klein-4b-finetuned"


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every id lookup the handlers make is recorded and refused: the finetune refs looked up
    (each misses), and a task lookup fails loudly."""
    from fluxhost.api.routers import finetunes, generate, results

    seen: list[str] = []

    def find(store: Any, ref: str, key_id: int) -> None:
        seen.append(ref)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(NOT_A_ROW)

    monkeypatch.setattr(generate, "find_owned_finetune", find)
    monkeypatch.setattr(finetunes, "find_owned_finetune", find)
    monkeypatch.setattr(finetunes, "delete_finetune", refuse)
    monkeypatch.setattr(results, "get_task", refuse)
    return seen


def _finetune_refs_not_found(client: TestClient, tenant: Tenant, ref: str) -> None:
    r = client.get("/v1/finetune_details", params={"finetune_id": ref}, headers=tenant.headers)
    assert r.status_code == 404 and r.json() == {"detail": f"Finetune not found: {ref}"}
    if "\0" in ref:
        return  # a NUL in a body string is a 422 (above)
    for path, body in ((PRO, {}), (KLEIN, {"prompt": "x"}), ("/v1/delete_finetune", {})):
        r = client.post(path, headers=tenant.headers, json={"finetune_id": ref, **body})
        if path == KLEIN and len(ref) > FINETUNE_ID_MAX_CHARS:  # bounded by its schema
            assert r.status_code == 422 and one_error(r)["loc"] == ["body", "finetune_id"]
            continue
        assert r.status_code == 404 and r.json() == {"detail": f"Finetune not found: {ref}"}


@pytest.mark.parametrize("bad_id", IMPOSSIBLE_IDS)
def test_impossible_task_ids_are_not_found_without_a_query(raw_client: TestClient,
                                                           lookups: list[str],
                                                           bad_id: str) -> None:
    r = raw_client.get("/v1/get_result", params={"id": bad_id})
    assert r.status_code == 404 and r.json()["status"] == "Task not found"
    assert r.json()["id"] == bad_id


@pytest.mark.parametrize("bad_ref", IMPOSSIBLE_REFS)
def test_impossible_finetune_refs_are_not_found_without_a_query(
        raw_client: TestClient, tenant: Tenant, lookups: list[str], bad_ref: str) -> None:
    _finetune_refs_not_found(raw_client, tenant, bad_ref)
    assert lookups == []


@pytest.mark.parametrize("name", ["nope", "x" * 37, "x" * 64])
def test_plausible_names_are_looked_up_and_not_found(raw_client: TestClient, tenant: Tenant,
                                                     lookups: list[str], name: str) -> None:
    _finetune_refs_not_found(raw_client, tenant, name)
    assert lookups == [name] * 4


# --- no blob outlives a failed insert --------------------------------------------------------

def test_failed_training_insert_leaves_no_zip(raw_client: TestClient, services: Any,
                                              settings: Settings, tenant: Tenant,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from fluxhost.api.routers import finetunes

    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the insert failed")

    monkeypatch.setattr(finetunes, "store_training", failing)
    r = raw_client.post(FINETUNE, headers=tenant.headers, json=training_body())
    assert r.status_code == 500 and r.json() == {"detail": "Internal Server Error"}
    assert blobs_left(settings, "training") == []


def test_failed_task_insert_leaves_no_input_blobs(raw_client: TestClient, services: Any,
                                                  settings: Settings, tenant: Tenant,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(**fields: Any) -> str:
        assert blobs(settings, "inputs"), "inputs are written before the row"
        raise RuntimeError("the insert failed")

    monkeypatch.setattr(services.submitter, "submit", failing)
    body = {"finetune_id": tenant.finetune_id, "image": png_b64(mode="RGBA")}
    r = raw_client.post(FILL, headers=tenant.headers, json=body)
    assert r.status_code == 500 and r.json() == {"detail": "Internal Server Error"}
    assert blobs_left(settings, "inputs") == []


def test_real_insert_failure_leaves_no_blobs(services: Any, settings: Settings, tenant: Tenant,
                                             raw_client: TestClient,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A base URL over its VARCHAR(500) (something the border checks make impossible, forced
    here past them): PostgreSQL refuses the row, and the submission is answered 400 with no
    blob left; SQLite, which does not check VARCHAR lengths, stores it."""
    from fluxhost.api.routers import finetunes, generate

    long_base = "https://example.com/" + "p" * 600
    monkeypatch.setattr(generate, "base_url", lambda *_: long_base)
    monkeypatch.setattr(finetunes, "base_url", lambda *_: long_base)
    fill = raw_client.post(FILL, headers=tenant.headers,
                           json={"finetune_id": tenant.finetune_id, "image": png_b64(mode="RGBA")})
    train = raw_client.post(FINETUNE, headers=tenant.headers, json=training_body())
    if services.store.is_postgres:
        assert fill.status_code == 400 and train.status_code == 400, (fill.text, train.text)
        assert fill.json() == {"detail": SUBMISSION_REFUSED} == train.json()
        assert blobs_left(settings, "inputs", "training") == []
        assert counts(services) == (0, 1)
    else:
        assert fill.status_code == 200 and train.status_code == 200


def test_public_base_url_is_bounded_to_fit_its_column(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError):
        make_settings(public_base_url="https://example.com/" + "p" * 600)
    with pytest.raises(ValidationError):
        make_settings(public_base_url="example.com")
    assert make_settings(public_base_url="https://example.com/api").public_base_url


# --- delivery caching ------------------------------------------------------------------------

def test_download_is_cached_no_longer_than_its_url_lives(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from fluxhost.services import build_services

    short = make_settings(signed_url_ttl_seconds=5)
    svc = build_services(short)
    try:
        svc.blobs.put("results/x.png", png())
        with TestClient(create_app(short, svc)) as c:
            fresh = svc.signer.sign("http://testserver", "results/x.png")
            r = c.get(fresh)
            assert r.status_code == 200 and r.content == png()
            max_age = int(r.headers["cache-control"].split("max-age=")[1])
            assert 3 <= max_age <= 5
            # Signed 3.5 s ago: at most 1.5 s left, so at most 1 whole second of caching.
            older = svc.signer.sign("http://testserver", "results/x.png", now=time.time() - 3.5)
            r = c.get(older)
            assert r.status_code == 200
            assert r.headers["cache-control"] in ("private, max-age=1", "private, max-age=0")
    finally:
        svc.store.dispose()
