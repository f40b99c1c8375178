"""Unit tests of a worker's blob retries (worker/blobs.py) and of the reasons a client is shown
when its task ends Error (worker/reasons.py). The store here is a double that fails on cue;
tests/e2e/test_blob_outage.py runs the same paths against a real S3 server that is frozen or
killed."""

from __future__ import annotations

import pytest

from fluxhost.storage.blobs import BlobStoreError
from fluxhost.worker import blobs
from fluxhost.worker.blobs import BlobUnavailable, retrying
from fluxhost.worker.reasons import MAX_REASON_CHARS, client_reason, describe

LEAKY = ("blob results/0b1c.png: GenericError: Generic S3 error: Error performing PUT "
         "http://10.0.0.7:9000/acme-prod/fleet/blobs/results/0b1c.png in 2.0s\n"
         "Caused by: error sending request\n  for url (http://10.0.0.7:9000/acme-prod/...)")


class Flaky:
    """Fails `failures` times with a store error, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise BlobStoreError(LEAKY)
        return "stored"


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs, "FIRST_PAUSE", 0.01)
    monkeypatch.setattr(blobs, "STOP_POLL", 0.005)


def test_a_store_that_comes_back_within_the_budget_is_retried() -> None:
    call = Flaky(failures=3)
    assert retrying(call, what="storing the result", budget=30) == "stored"
    assert call.calls == 4


def test_a_store_that_stays_down_gives_up_after_the_budget() -> None:
    call = Flaky(failures=10**6)
    with pytest.raises(BlobUnavailable) as raised:
        retrying(call, what="storing the result", budget=0.2)
    assert isinstance(raised.value.__cause__, BlobStoreError)  # the detail, for the log
    assert 2 <= call.calls < 100  # retried with growing pauses, not in a tight loop


def test_retrying_stops_when_the_task_is_no_longer_ours() -> None:
    call = Flaky(failures=10**6)
    with pytest.raises(BlobUnavailable):
        retrying(call, what="storing the result", budget=3600, should_stop=lambda: call.calls >= 2)
    assert call.calls == 2  # not the hour: the lease was lost (or shutdown's grace ended)


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("not a store problem")

    with pytest.raises(ValueError):
        retrying(broken, what="x", budget=30)
    assert len(calls) == 1


def test_client_reasons_are_one_bounded_line_without_urls() -> None:
    upsampler = ("upsampling failed: ConnectError: All connection attempts failed\n"
                 "  while calling http://10.0.0.7:11434/v1/chat/completions\n"
                 "  (s3://acme-prod/fleet/blobs was fine)")
    reason = client_reason(upsampler)
    assert reason == ("upsampling failed: ConnectError: All connection attempts failed while "
                      "calling <url> (<url> was fine)")
    long = client_reason("generation failed: " + "x " * 400)
    assert "\n" not in long and len(long) <= MAX_REASON_CHARS and long.endswith("...")
    assert client_reason("finetune x is not ready (status Pending)") == \
        "finetune x is not ready (status Pending)"  # a plain reason is kept as written


def test_store_and_os_errors_are_described_without_their_detail() -> None:
    assert describe(BlobStoreError(LEAKY)) == "the blob store is unavailable"
    disk = OSError(28, "No space left on device", "/srv/fluxhost/blobs/results/0b1c.png")
    assert describe(disk) == "OSError: No space left on device"
    assert describe(RuntimeError("classifier broke")) == "RuntimeError: classifier broke"
