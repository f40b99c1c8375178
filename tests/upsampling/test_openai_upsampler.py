"""The OpenAI-compatible upsampler against a real chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fluxhost.upsampling import OfflineUpsampler, make_upsampler, upsample
from fluxhost.upsampling.openai import (
    DEFAULT_SYSTEM_PROMPT,
    MAX_PROMPT_CHARS,
    OpenAICompatibleUpsampler,
)

TIMEOUT = 0.3


@dataclass
class FakeChatServer:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # (status, raw body, delay seconds) returned for every request.
    reply: tuple[int, bytes, float] = (200, b"{}", 0.0)

    def answer(self, content: str) -> None:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
        }
        self.reply = (200, json.dumps(body).encode(), 0.0)


@pytest.fixture
def chat_server() -> Iterator[FakeChatServer]:
    state = FakeChatServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
            )
            status, payload, delay = state.reply
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout test); nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def make(
    chat_server: FakeChatServer,
) -> Iterator[Callable[..., OpenAICompatibleUpsampler]]:
    made: list[OpenAICompatibleUpsampler] = []

    def build(api_key: str | None = "sk-test", **kwargs: Any) -> OpenAICompatibleUpsampler:
        upsampler = OpenAICompatibleUpsampler(
            chat_server.base_url + "/", "llama3.2", api_key, TIMEOUT, **kwargs
        )
        made.append(upsampler)
        return upsampler

    yield build
    for upsampler in made:
        upsampler.close()


def test_request_body_auth_and_content_used(chat_server: FakeChatServer, make: Any) -> None:
    chat_server.answer('  "A red fox in fresh snow, soft morning light, shallow focus."\n')
    used, note = upsample("a fox", 42, make())
    assert used == "A red fox in fresh snow, soft morning light, shallow focus."
    assert note is None

    [request] = chat_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "llama3.2"
    assert body["seed"] == 42
    assert body["temperature"] == 0.7
    assert body["max_tokens"] == 300
    assert body["messages"] == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "a fox"},
    ]


def test_no_auth_header_without_key_and_custom_system_prompt(
    chat_server: FakeChatServer, make: Any
) -> None:
    chat_server.answer("a fox, detailed")
    assert make(api_key=None, system_prompt="be brief").upsample("a fox", 1) == "a fox, detailed"
    [request] = chat_server.requests
    assert "Authorization" not in request["headers"]
    assert request["body"]["messages"][0] == {"role": "system", "content": "be brief"}


def test_long_completion_is_bounded(chat_server: FakeChatServer, make: Any) -> None:
    chat_server.answer("word " * 2000)
    assert 0 < len(make().upsample("a fox", 1)) <= MAX_PROMPT_CHARS


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param((200, b"{}", TIMEOUT * 4), id="timeout"),
        pytest.param((500, b'{"error": "boom"}', 0.0), id="http-500"),
        pytest.param((200, b"{not json", 0.0), id="malformed-json"),
        pytest.param((200, b'{"choices": []}', 0.0), id="no-choices"),
        pytest.param((200, b'{"choices": [{"message": {"content": "  "}}]}', 0.0), id="empty"),
    ],
)
def test_failures_fall_back_to_the_original_prompt(
    chat_server: FakeChatServer,
    make: Any,
    caplog: pytest.LogCaptureFixture,
    reply: tuple[int, bytes, float],
) -> None:
    chat_server.reply = reply
    secret_prompt = "a fox named Zephyrine"
    with caplog.at_level(logging.INFO, logger="fluxhost.upsampling"):
        started = time.monotonic()
        used, note = upsample(secret_prompt, 7, make())
        elapsed = time.monotonic() - started
    assert used == secret_prompt
    assert note is not None
    assert elapsed < TIMEOUT * 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "fluxhost.upsampling"
    assert "OpenAICompatibleUpsampler" in warnings[0].getMessage()
    # The prompt is user content: never at warning level.
    assert all("Zephyrine" not in r.getMessage() for r in caplog.records)


def test_unreachable_server_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    upsampler = OpenAICompatibleUpsampler("http://127.0.0.1:9/v1", "m", None, TIMEOUT)
    with caplog.at_level(logging.WARNING, logger="fluxhost.upsampling"):
        assert upsample("a fox", 1, upsampler)[0] == "a fox"
    assert "ConnectError" in caplog.text
    upsampler.close()


def test_explicit_fallback_is_used_when_given(chat_server: FakeChatServer, make: Any) -> None:
    chat_server.reply = (500, b"", 0.0)
    used, note = upsample("a fox", 3, make(), fallback=OfflineUpsampler())
    assert used == OfflineUpsampler().upsample("a fox", 3)
    assert note is not None


def test_make_upsampler_choice() -> None:
    assert isinstance(make_upsampler(None, None, None, 5.0), OfflineUpsampler)
    assert isinstance(make_upsampler("http://x/v1", None, None, 5.0), OfflineUpsampler)
    assert isinstance(make_upsampler(None, "llama3", None, 5.0), OfflineUpsampler)
    chosen = make_upsampler("http://localhost:11434/v1", "llama3", None, 5.0)
    assert isinstance(chosen, OpenAICompatibleUpsampler)
    assert chosen.url == "http://localhost:11434/v1/chat/completions"
    chosen.close()
