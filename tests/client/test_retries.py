"""Retries, on both clients: reads and 429s are sent again (Retry-After honoured); a POST that
may have been accepted is never sent again."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from fluxhost.client import RateLimitError, ServerError
from fluxhost.client._retry import RetryPolicy
from tests.client.harness import Harness, script

PENDING = {"id": "t1", "status": "Pending", "progress": 0.5}
QUEUED = {"id": "t1", "polling_url": "http://api.test/v1/get_result?id=t1"}
TIMEOUT = httpx.ReadTimeout("timed out")
REFUSED = httpx.ConnectError("connection refused")


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ok(body: dict[str, object]) -> httpx.Response:
    return httpx.Response(200, json=body)


def refused(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, json={"detail": f"status {status}"}, headers=headers)


def test_reads_retry_transport_errors_with_backoff(flavour: str) -> None:
    h = Harness(flavour, script(REFUSED, TIMEOUT, ok(PENDING)))
    assert h.call("get_result", "t1").status == "Pending"
    assert h.paths == ["GET /v1/get_result"] * 3
    # Jittered exponential backoff: between half and all of 0.5 s, then of 1 s.
    assert 0.25 <= h.sleeps[0] <= 0.5 and 0.5 <= h.sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_reads_retry_server_errors_honouring_retry_after(flavour: str, status: int) -> None:
    h = Harness(flavour, script(refused(status, "2"), ok({"finetunes": ["a", "b"]})))
    assert h.call("my_finetunes") == ["a", "b"]
    assert h.sleeps == [2.0] and len(h.requests) == 2


def test_reads_give_up_after_max_retries(flavour: str) -> None:
    h = Harness(flavour, script(*[refused(503)] * 3), max_retries=2)
    with pytest.raises(ServerError) as info:
        h.call("finetune_details", "ft-1")
    assert info.value.status_code == 503 and len(h.requests) == 3 and len(h.sleeps) == 2
    h = Harness(flavour, script(TIMEOUT), max_retries=0)
    with pytest.raises(httpx.ReadTimeout):
        h.call("get_result", "t1")
    assert len(h.requests) == 1 and h.sleeps == []


def test_a_429_is_retried_for_a_post_too_waiting_retry_after(flavour: str) -> None:
    h = Harness(flavour, script(refused(429, "3"), refused(429, "1.5"), ok(QUEUED)))
    assert h.call("submit", "flux-dev", prompt="p").id == "t1"
    assert h.paths == ["POST /v1/flux-dev"] * 3
    assert h.sleeps == [3.0, 1.5]


def test_retry_after_as_an_http_date(flavour: str) -> None:
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    h = Harness(flavour, script(refused(429, soon), ok(QUEUED)))
    h.call("submit", "flux-dev", prompt="p")
    (waited,) = h.sleeps
    assert 25 <= waited <= 31  # the date has whole seconds


def test_a_429_without_retry_after_backs_off(flavour: str) -> None:
    h = Harness(flavour, script(refused(429), ok(QUEUED)))
    h.call("submit", "flux-dev", prompt="p")
    assert len(h.sleeps) == 1 and 0.25 <= h.sleeps[0] <= 0.5


def test_a_long_retry_after_is_raised_not_waited(flavour: str) -> None:
    h = Harness(flavour, script(refused(429, "3600")))
    with pytest.raises(RateLimitError) as info:
        h.call("submit", "flux-dev", prompt="p")
    assert info.value.retry_after == 3600 and info.value.status_code == 429
    assert len(h.requests) == 1 and h.sleeps == []


def test_429s_give_up_after_max_retries(flavour: str) -> None:
    h = Harness(flavour, script(*[refused(429, "1")] * 4))
    with pytest.raises(RateLimitError):
        h.call("submit", "flux-dev", prompt="p")
    assert len(h.requests) == 4 and h.sleeps == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("answer", [TIMEOUT, httpx.RemoteProtocolError("dropped"),
                                    httpx.ReadError("reset")])
def test_a_post_that_may_have_been_sent_is_not_resubmitted(flavour: str,
                                                           answer: Exception) -> None:
    h = Harness(flavour, script(answer))
    with pytest.raises(type(answer)):
        h.call("submit", "flux-pro-finetuned", finetune_id="f", prompt="p")
    assert len(h.requests) == 1 and h.sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_post_answered_5xx_is_not_resubmitted(flavour: str, status: int) -> None:
    for method, args in [("submit", ("flux-dev",)), ("delete_finetune", ("ft-1",)),
                         ("finetune", (b"PK",))]:
        h = Harness(flavour, script(refused(status, "1")))
        kwargs = {"finetune_comment": "c"} if method == "finetune" else {}
        with pytest.raises(ServerError) as info:
            h.call(method, *args, **kwargs)
        assert info.value.status_code == status and info.value.retry_after == 1
        assert len(h.requests) == 1 and h.sleeps == [], method


def test_a_post_that_never_connected_is_sent_again(flavour: str) -> None:
    h = Harness(flavour, script(REFUSED, httpx.ConnectTimeout("slow"), ok(QUEUED)))
    assert h.call("submit", "flux-dev", prompt="p").id == "t1"
    assert len(h.requests) == 3 and len(h.sleeps) == 2


def test_wait_polls_through_transient_failures(flavour: str) -> None:
    ready = {"id": "t1", "status": "Ready", "result": {"sample": "http://cdn.test/s.jpg"}}
    h = Harness(flavour, script(ok(PENDING), TIMEOUT, refused(502), ok(ready)))
    assert h.call("wait", "t1").status == "Ready"
    assert len(h.requests) == 4


def test_sample_downloads_are_retried(flavour: str) -> None:
    from fluxhost.client import Result

    ready = Result("t1", "Ready", result={"sample": "http://cdn.test/s.png?sig=1"})
    image = httpx.Response(200, content=b"img", headers={"content-type": "image/png"})
    h = Harness(flavour, script(refused(503, "1"), TIMEOUT, image))
    assert h.call("download", ready) == b"img"
    assert h.sleeps[0] == 1.0 and len(h.requests) == 3
    assert all("x-key" not in r.headers for r in h.requests)


def test_policy_refuses_a_negative_retry_count() -> None:
    with pytest.raises(ValueError, match="-1"):
        RetryPolicy(max_retries=-1)
