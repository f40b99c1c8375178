"""Every client operation, written once as a generator that yields what it needs done.

A flow yields a `Call` (and is sent the `httpx.Response`, or thrown the transport error) or a
`Sleep` (and is sent None); its return value is the operation's result. `Client` runs flows
with blocking I/O, `AsyncClient` with `await`: retries, waiting and answer parsing exist once.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from fluxhost.client import _protocol as p
from fluxhost.client._retry import RetryPolicy
from fluxhost.client.errors import FluxhostError, WaitTimeout, task_failure
from fluxhost.client.models import FinetuneSubmission, Result, Sample, Submission
from fluxhost.wire.flux2_finetuned import FinetuneUploaded

T = TypeVar("T")
ProgressCallback = Callable[[Result], None]


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = p.Call | Sleep
Flow = Generator[Step, httpx.Response | None, T]


@dataclass(frozen=True)
class Context:
    """What flows need from their client: the retry policy, a clock and the polling pace."""

    policy: RetryPolicy
    clock: Callable[[], float]
    poll_interval: float = 0.5
    max_poll_interval: float = 5.0


def send(ctx: Context, call: p.Call) -> Flow[httpx.Response]:
    """`call`, sent again as the retry policy allows; the last response (any status)."""
    retries = 0
    while True:
        try:
            response = yield call
        except httpx.TransportError as exc:
            delay = ctx.policy.delay(call, retries, exc)
            if delay is None:
                raise
        else:
            assert response is not None  # a Call is always answered with a response
            delay = ctx.policy.delay(call, retries, response)
            if delay is None:
                return response
        retries += 1
        yield Sleep(delay)


def submit(ctx: Context, endpoint: str, body: dict[str, Any]) -> Flow[Submission]:
    response = yield from send(ctx, p.submit_call(endpoint, body))
    return p.parse_submission(response)


def get_result(ctx: Context, task: str | Submission) -> Flow[Result]:
    response = yield from send(ctx, p.result_call(task))
    return p.parse_result(response, task)


def wait(ctx: Context, task: str | Submission, timeout: float,
         on_progress: ProgressCallback | None, poll_interval: float | None = None
         ) -> Flow[Result]:
    """Poll until the task ends: its Ready result, or the TaskFailed subclass of its status;
    WaitTimeout after `timeout` seconds. The pause between polls grows from `poll_interval`
    by half each time, up to `ctx.max_poll_interval`."""
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0, got {timeout}")
    deadline = ctx.clock() + timeout
    interval = ctx.poll_interval if poll_interval is None else poll_interval
    while True:
        result = yield from get_result(ctx, task)
        if on_progress is not None:
            on_progress(result)
        if result.is_terminal:
            if not result.is_ready:
                raise task_failure(result)
            return result
        remaining = deadline - ctx.clock()
        if remaining <= 0:
            raise WaitTimeout(p.task_id(task), timeout, result)
        yield Sleep(min(interval, remaining))
        interval = min(interval * 1.5, max(ctx.max_poll_interval, interval))


def fetch_sample(ctx: Context, result: Result) -> Flow[Sample]:
    """The image of a Ready result (the TaskFailed of any other)."""
    if not result.is_ready:
        raise task_failure(result)
    url = result.sample_url
    if url is None:
        raise FluxhostError(None, f"task {result.id} is Ready but has no sample URL")
    response = yield from send(ctx, p.sample_call(url))
    return p.parse_sample(response)


def generate(ctx: Context, endpoint: str, body: dict[str, Any], timeout: float,
             on_progress: ProgressCallback | None, poll_interval: float | None = None
             ) -> Flow[Result]:
    submission = yield from submit(ctx, endpoint, body)
    return (yield from wait(ctx, submission, timeout, on_progress, poll_interval))


def finetune(ctx: Context, body: dict[str, Any]) -> Flow[FinetuneSubmission]:
    response = yield from send(ctx, p.finetune_call(body))
    return p.parse_finetune_submission(response)


def upload_finetune(ctx: Context, call: p.Call) -> Flow[FinetuneUploaded]:
    response = yield from send(ctx, call)
    return p.parse_upload(response)


def my_finetunes(ctx: Context) -> Flow[list[str]]:
    response = yield from send(ctx, p.my_finetunes_call())
    return p.parse_my_finetunes(response)


def finetune_details(ctx: Context, finetune_id: str) -> Flow[dict[str, Any]]:
    response = yield from send(ctx, p.finetune_details_call(finetune_id))
    return p.parse_finetune_details(response)


def delete_finetune(ctx: Context, finetune_id: str) -> Flow[dict[str, Any]]:
    response = yield from send(ctx, p.delete_finetune_call(finetune_id))
    return p.parse_delete_finetune(response)
