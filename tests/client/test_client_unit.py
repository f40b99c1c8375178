"""The client against scripted answers (httpx.MockTransport): behaviour the real server cannot
be made to show on demand, and the import hygiene of the package."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable

import httpx
import pytest

from fluxhost.client import (
    Client,
    FluxhostError,
    Result,
    Submission,
    TaskFailed,
    sign_webhook,
    verify_webhook,
)
from fluxhost.webhooks.signature import compute_signature, verify_signature

Handler = Callable[[httpx.Request], httpx.Response]
HEAVY = ("torch", "diffusers", "transformers", "sqlalchemy", "fastapi")


def client(handler: Handler, key: str | None = "k") -> Client:
    return Client("http://api.test", key, transport=httpx.MockTransport(handler))


def test_import_pulls_no_server_dependencies() -> None:
    code = textwrap.dedent(f"""
        import sys
        import fluxhost.client
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print(",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == ""


def test_submit_sends_key_drops_none_encodes_bytes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "t1", "polling_url": "http://eu.test/poll?id=t1",
                                         "cost": None})

    with client(handler) as c:
        sub = c.submit("/v1/flux-pro-finetuned/", prompt="p", seed=None, image_prompt=b"\x89PNG",
                       width=256)
    assert (sub.id, sub.polling_url) == ("t1", "http://eu.test/poll?id=t1")
    assert sub.raw["cost"] is None
    (req,) = seen
    assert req.method == "POST" and req.url == "http://api.test/v1/flux-pro-finetuned"
    assert req.headers["x-key"] == "k"
    assert json.loads(req.content) == {"prompt": "p", "width": 256,
                                       "image_prompt": base64.b64encode(b"\x89PNG").decode()}


def test_polls_the_polling_url_and_waits_until_terminal() -> None:
    polls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        polls.append(str(request.url))
        if len(polls) < 3:
            return httpx.Response(200, json={"id": "t1", "status": "Pending", "progress": 0.5},
                                  headers={"Retry-After": "1"})
        return httpx.Response(200, json={"id": "t1", "status": "Ready", "result": {
            "sample": "http://cdn.test/s.png?sig=x", "seed": 3}, "progress": None})

    with client(handler) as c:
        result = c.wait(Submission("t1", "http://eu.test/poll?id=t1"), poll_interval=0.01)
    assert polls == ["http://eu.test/poll?id=t1"] * 3
    assert result.is_terminal and result.is_ready
    assert result.sample_url == "http://cdn.test/s.png?sig=x"


def test_get_result_by_id_and_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/get_result"
        return httpx.Response(404, json={"id": request.url.params["id"],
                                         "status": "Task not found", "result": None})

    with client(handler) as c:
        result = c.get_result("nope")
    assert result == Result("nope", "Task not found", raw=result.raw)
    assert result.is_terminal and result.sample_url is None


def test_a_404_without_a_result_body_is_an_error() -> None:
    with client(lambda r: httpx.Response(404, json={"detail": "Not Found"})) as c, \
            pytest.raises(FluxhostError) as info:
        c.get_result("x")
    assert info.value.status_code == 404 and info.value.detail == "Not Found"


def test_wait_times_out_naming_the_task() -> None:
    pending = {"id": "slow-1", "status": "Pending", "progress": None}
    with client(lambda r: httpx.Response(200, json=pending)) as c, \
            pytest.raises(TimeoutError, match="slow-1"):
        c.wait("slow-1", timeout=0.05, poll_interval=0.01)


def test_error_messages_are_readable() -> None:
    detail = [{"type": "missing", "loc": ["body", "prompt"], "msg": "Field required"},
              {"type": "x", "loc": ["body", "width"], "msg": "Input should be a multiple of 32"}]
    assert str(FluxhostError(422, detail)) == (
        "HTTP 422: prompt: Field required; width: Input should be a multiple of 32")
    with client(lambda r: httpx.Response(502, text="<html>bad gateway</html>")) as c, \
            pytest.raises(FluxhostError, match="HTTP 502: <html>bad gateway"):
        c.submit("flux-pro-finetuned", prompt="p")
    failed = TaskFailed(Result("t9", "Error", details={"error": "boom"}))
    assert str(failed) == "task t9 ended with status 'Error': {\"error\": \"boom\"}"
    assert isinstance(failed, FluxhostError)


def test_download_refuses_results_that_are_not_ready() -> None:
    with client(lambda r: httpx.Response(500)) as c, pytest.raises(TaskFailed) as info:
        c.download(Result("t2", "Content Moderated", details={"Moderation Reasons": ["x"]}))
    assert info.value.result.status == "Content Moderated"
    assert "Moderation Reasons" in str(info.value)


def test_download_sends_no_key_to_the_signed_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "x-key" not in request.headers
        return httpx.Response(200, content=b"img", headers={"content-type": "image/png"})

    ready = Result("t3", "Ready", result={"sample": "http://cdn.test/a.png?sig=1"})
    with client(handler) as c:
        sample = c.fetch_sample(ready)
        assert c.download(ready) == b"img"
    assert sample.content_type == "image/png" and sample.extension == "png"


@pytest.mark.parametrize("secret", ["s3cret", "ключ", "x" * 200])
@pytest.mark.parametrize("body", [b"", b'{"id": "t", "status": "SUCCESS"}', bytes(range(256))])
def test_webhook_signature_matches_the_server(body: bytes, secret: str) -> None:
    header = compute_signature(body, secret)
    assert sign_webhook(body, secret) == header
    candidates = [header, header.upper(), f"  {header} ", "SHA256=" + header[7:], None, "",
                  "sha256=", header[:-1], header[:-1] + "0", "md5=" + header[7:], header[7:],
                  sign_webhook(body + b" ", secret), "sha256=é"]
    for candidate in candidates:
        for key in (secret, secret + "x", ""):
            assert verify_webhook(body, key, candidate) == verify_signature(body, key, candidate)
    assert verify_webhook(body, secret, header)
    assert not verify_webhook(body + b"x", secret, header)
    assert not verify_webhook(body, "other", header)
    assert not verify_webhook(body, secret, None)
