"""Error mapping on both clients: refused answers become APIError subclasses carrying the
contract's body; a task's terminal status becomes the TaskFailed subclass for it."""

from __future__ import annotations

import httpx
import pytest

from fluxhost.client import (
    APIError,
    AuthenticationError,
    BadRequestError,
    FluxhostError,
    NotFoundError,
    RateLimitError,
    Result,
    ServerError,
    Submission,
    TaskError,
    TaskFailed,
    TaskModerated,
    TaskNotFound,
    UnprocessableEntityError,
    WaitTimeout,
)
from tests.client.harness import Harness, script

VALIDATION = [{"type": "missing", "loc": ["body", "prompt"], "msg": "Field required"},
              {"type": "multiple_of", "loc": ["body", "width"],
               "msg": "Input should be a multiple of 32"}]


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(("status", "detail", "cls"), [
    (400, "Invalid Host header", BadRequestError),
    (401, "Not authenticated", AuthenticationError),
    (403, "Not authenticated - Invalid Authentication", AuthenticationError),
    (404, "Finetune not found", NotFoundError),
    (422, VALIDATION, UnprocessableEntityError),
    (429, "Too many active tasks: 24 of 24 allowed for this key", RateLimitError),
    (500, "Internal Server Error", ServerError),
    (418, "teapot", APIError),
])
def test_refusals_map_to_typed_errors(flavour: str, status: int, detail: object,
                                      cls: type[APIError]) -> None:
    body = {"detail": detail}
    h = Harness(flavour, script(httpx.Response(status, json=body)), max_retries=0)
    with pytest.raises(cls) as info:
        h.call("submit", "flux-pro-finetuned", finetune_id="f", prompt="p")
    err = info.value
    assert type(err) is cls and isinstance(err, FluxhostError)
    assert (err.status_code, err.detail, err.body) == (status, detail, body)


def test_messages_are_one_readable_line(flavour: str) -> None:
    h = Harness(flavour, script(httpx.Response(422, json={"detail": VALIDATION})))
    with pytest.raises(UnprocessableEntityError) as info:
        h.call("submit", "flux-dev", width=100)
    assert str(info.value) == ("HTTP 422: prompt: Field required; "
                               "width: Input should be a multiple of 32")
    html = httpx.Response(502, text="<html>bad gateway</html>")
    h = Harness(flavour, script(html))
    with pytest.raises(ServerError, match="HTTP 502: <html>bad gateway") as err:
        h.call("submit", "flux-dev", prompt="p")
    assert err.value.body is None


def test_get_result_of_an_unknown_task_is_a_result_not_an_error(flavour: str) -> None:
    gone = {"id": "t0", "status": "Task not found", "result": None}
    h = Harness(flavour, script(httpx.Response(404, json=gone)))
    result = h.call("get_result", "t0")
    assert result == Result("t0", "Task not found", raw=gone) and result.is_terminal
    assert h.requests[0].url.params["id"] == "t0"


def test_a_404_without_a_result_body_is_an_error_not_a_result(flavour: str) -> None:
    h = Harness(flavour, script(httpx.Response(404, json={"detail": "Not Found"})))
    with pytest.raises(NotFoundError):
        h.call("get_result", "t1")


def test_a_success_that_is_not_json_is_an_error(flavour: str) -> None:
    h = Harness(flavour, script(httpx.Response(200, text="<html>captive portal</html>")))
    with pytest.raises(FluxhostError, match="expected a JSON object"):
        h.call("submit", "flux-dev", prompt="p")


@pytest.mark.parametrize(("status", "cls"), [
    ("Request Moderated", TaskModerated),
    ("Content Moderated", TaskModerated),
    ("Error", TaskError),
    ("Task not found", TaskNotFound),
])
def test_wait_raises_per_terminal_status(flavour: str, status: str,
                                         cls: type[TaskFailed]) -> None:
    pending = {"id": "t1", "status": "Pending", "progress": 0.2}
    ended = {"id": "t1", "status": status, "result": None,
             "details": {"Moderation Reasons": ["Derivative Works Filter"]}}
    code = 404 if status == "Task not found" else 200
    h = Harness(flavour, script(httpx.Response(200, json=pending),
                                httpx.Response(code, json=ended)))
    seen: list[Result] = []
    with pytest.raises(cls) as info:
        h.call("wait", Submission("t1", "http://eu.api.test/v1/get_result?id=t1"),
               on_progress=seen.append)
    assert type(info.value) is cls and info.value.result.status == status
    assert info.value.status_code is None
    assert [r.status for r in seen] == ["Pending", status]
    assert [str(r.url) for r in h.requests] == ["http://eu.api.test/v1/get_result?id=t1"] * 2


def test_wait_returns_ready_and_reports_progress(flavour: str) -> None:
    answers = [{"id": "t1", "status": "Pending", "progress": p} for p in (None, 0.25, 0.75)]
    ready = {"id": "t1", "status": "Ready", "progress": 1.0,
             "result": {"sample": "http://cdn.test/s.jpg", "seed": 4}}
    h = Harness(flavour, script(*[httpx.Response(200, json=a) for a in [*answers, ready]]))
    seen: list[Result] = []
    result = h.call("wait", "t1", on_progress=seen.append)
    assert result.is_ready and result.sample_url == "http://cdn.test/s.jpg"
    assert [r.progress for r in seen] == [None, 0.25, 0.75, 1.0]
    # Polls slow down: 0.5 s, then half as long again each time.
    assert h.sleeps == [0.5, 0.75, 1.125]


def test_wait_times_out_with_the_last_poll(flavour: str) -> None:
    pending = httpx.Response(200, json={"id": "slow-1", "status": "Pending", "progress": 0.4})
    h = Harness(flavour, script(*[pending] * 4))
    with pytest.raises(WaitTimeout) as info:
        h.call("wait", "slow-1", timeout=2)
    err = info.value
    assert isinstance(err, TimeoutError) and isinstance(err, FluxhostError)
    assert err.task_id == "slow-1" and err.timeout == 2
    assert err.last is not None and err.last.progress == 0.4
    assert str(err) == "task slow-1 still 'Pending' after 2s"
    assert sum(h.sleeps) == pytest.approx(2)  # it never sleeps past the deadline


def test_generate_submits_then_waits(flavour: str) -> None:
    queued = {"id": "t7", "polling_url": "http://api.test/v1/get_result?id=t7"}
    failed = {"id": "t7", "status": "Error", "details": {"error": "mask is blank"}}
    h = Harness(flavour, script(httpx.Response(200, json=queued),
                                httpx.Response(200, json=failed)))
    with pytest.raises(TaskError, match=r"task t7 ended with status 'Error': .*mask is blank"):
        h.call("generate", "flux-pro-1.0-fill", image="aW1n", timeout=5)
    assert h.paths == ["POST /v1/flux-pro-1.0-fill", "GET /v1/get_result"]


def test_download_refuses_results_that_are_not_ready(flavour: str) -> None:
    h = Harness(flavour, script())
    moderated = Result("t2", "Content Moderated", details={"Moderation Reasons": ["x"]})
    with pytest.raises(TaskModerated, match="Moderation Reasons"):
        h.call("download", moderated)
    with pytest.raises(FluxhostError, match="no sample URL"):
        h.call("download", Result("t3", "Ready", result={}))
    assert h.requests == []
