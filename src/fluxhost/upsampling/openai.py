"""Upsampling through any OpenAI-compatible chat-completions endpoint (Ollama, vLLM, OpenAI)."""

from __future__ import annotations

from typing import Any

import httpx

DEFAULT_SYSTEM_PROMPT = (
    "You rewrite short image prompts for a text-to-image model. Given the user's prompt, reply "
    "with a single paragraph that describes the image to generate in concrete visual detail. "
    "Start with the user's main subject, keeping their wording and intent, then add the setting, "
    "composition and camera angle, lighting, colour palette, mood, and artistic style or medium. "
    "Describe only what should be visible; do not add text or watermarks unless the user asked "
    "for them, and do not change the subject or introduce people who were not requested. "
    "Keep it under 120 words. Reply with the description only: no preamble, no title, no "
    "quotation marks, no lists, and no explanation."
)

# Bounds the prompt fed to the text encoders (T5 truncates long prompts anyway) and keeps a
# misbehaving model from filling the task record with pages of text.
MAX_PROMPT_CHARS = 2000

_QUOTES = "\"'`\u201c\u201d\u2018\u2019"


class UpsamplerError(RuntimeError):
    """The endpoint answered, but not with a usable completion."""


def clean_completion(text: str, limit: int = MAX_PROMPT_CHARS) -> str:
    """Strips whitespace and the quotes models like to wrap answers in, then bounds the length."""
    text = text.strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if len(text) > limit:
        # Cut at a word boundary where one is reasonably close, so the prompt doesn't end mid-word.
        cut = text.rfind(" ", 0, limit)
        text = text[: cut if cut > limit // 2 else limit].rstrip(" ,;")
    return text


class OpenAICompatibleUpsampler:
    """POSTs `{base_url}/chat/completions` and uses the first choice's message as the prompt."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout: float,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.system_prompt = system_prompt
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # One client per upsampler so connections are reused across tasks; the timeout applies
        # to connect, read and write alike, so a stalled server cannot hold the worker.
        self._client = httpx.Client(
            headers=headers, timeout=httpx.Timeout(timeout), transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def upsample(self, prompt: str, seed: int) -> str:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": prompt},
            ],
            "temperature": 0.7,
            "seed": seed,
            "max_tokens": 300,
        }
        response = self._client.post(self.url, json=body)
        response.raise_for_status()
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UpsamplerError(f"unexpected chat-completions response: {exc!r}") from exc
        if not isinstance(content, str):
            raise UpsamplerError("chat-completions content is not a string")
        text = clean_completion(content)
        if not text:
            # An empty prompt would silently produce an unrelated image; let the caller fall back.
            raise UpsamplerError("chat-completions returned an empty completion")
        return text
