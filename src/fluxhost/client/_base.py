"""What `Client` and `AsyncClient` share: configuration, request bodies, and the typed
per-endpoint methods (written once, generic in what a call returns: a `Submission`, or an
awaitable of one)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from fluxhost.client import _flows
from fluxhost.client._config import USER_AGENT, resolve_api_key, resolve_base_url
from fluxhost.client._inputs import encode_fields, validated_body
from fluxhost.client._protocol import Call
from fluxhost.client._retry import RetryPolicy
from fluxhost.wire.base_inputs import (
    CannyInputs,
    DepthInputs,
    FluxDevInputs,
    FluxKontextProInputs,
    FluxPro11Inputs,
    FluxProExpandInputs,
    FluxProFillInputs,
    FluxProInputs,
    FluxUltraInput,
)
from fluxhost.wire.endpoints import endpoint_model
from fluxhost.wire.finetunes import FinetuneInputs
from fluxhost.wire.inputs import (
    FinetuneCannyInputs,
    FinetuneDepthInputs,
    FinetuneFluxProFillInputs,
    FinetuneFluxUltraInput,
    FluxProFinetuneInputs,
)

S = TypeVar("S")


def method_name(endpoint: str) -> str:
    """The client method of `endpoint`: "flux-pro-1.1" -> "flux_pro_1_1"."""
    return endpoint.replace("-", "_").replace(".", "_")


class ClientBase(Generic[S]):
    """Configuration and the typed endpoint methods; subclasses do the I/O."""

    def __init__(self, base_url: str | None, api_key: str | None, *, timeout: float,
                 max_retries: int, poll_interval: float, max_poll_interval: float) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if poll_interval <= 0 or max_poll_interval <= 0:
            raise ValueError(f"poll intervals must be > 0 seconds, got {poll_interval}, "
                             f"{max_poll_interval}")
        self.base_url = resolve_base_url(base_url)
        # The key goes on API calls only, not on the HTTP client: sample URLs are signed and
        # may be on another host, which has no business seeing the key.
        self._key = resolve_api_key(api_key)
        self._policy = RetryPolicy(max_retries=max_retries)
        self._poll_interval = poll_interval
        self._max_poll_interval = max_poll_interval
        # Replaceable (tests): the clock that deadlines are measured on.
        self._clock: Callable[[], float] = time.monotonic

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def _context(self) -> _flows.Context:
        return _flows.Context(self._policy, self._clock, self._poll_interval,
                              self._max_poll_interval)

    def _headers(self, call: Call) -> dict[str, str]:
        return {"x-key": self._key} if call.auth and self._key else {}

    def _http_options(self, timeout: float) -> dict[str, Any]:
        return {"base_url": self.base_url, "timeout": timeout,
                "headers": {"user-agent": USER_AGENT}}

    def _submit_model(self, endpoint: str, inputs: BaseModel | None,
                      fields: dict[str, Any]) -> S:
        raise NotImplementedError

    # --- typed endpoints: each validates its fields with the wire model, then submits ------
    def flux_pro_finetuned(self, inputs: FluxProFinetuneInputs | None = None, /,
                           **fields: Any) -> S:
        """POST /v1/flux-pro-finetuned (body: FluxProFinetuneInputs)."""
        return self._submit_model("flux-pro-finetuned", inputs, fields)

    def flux_pro_1_1_ultra_finetuned(self, inputs: FinetuneFluxUltraInput | None = None, /,
                                     **fields: Any) -> S:
        """POST /v1/flux-pro-1.1-ultra-finetuned (body: FinetuneFluxUltraInput)."""
        return self._submit_model("flux-pro-1.1-ultra-finetuned", inputs, fields)

    def flux_pro_1_0_fill_finetuned(self, inputs: FinetuneFluxProFillInputs | None = None, /,
                                    **fields: Any) -> S:
        """POST /v1/flux-pro-1.0-fill-finetuned (body: FinetuneFluxProFillInputs)."""
        return self._submit_model("flux-pro-1.0-fill-finetuned", inputs, fields)

    def flux_pro_1_0_canny_finetuned(self, inputs: FinetuneCannyInputs | None = None, /,
                                     **fields: Any) -> S:
        """POST /v1/flux-pro-1.0-canny-finetuned (body: FinetuneCannyInputs)."""
        return self._submit_model("flux-pro-1.0-canny-finetuned", inputs, fields)

    def flux_pro_1_0_depth_finetuned(self, inputs: FinetuneDepthInputs | None = None, /,
                                     **fields: Any) -> S:
        """POST /v1/flux-pro-1.0-depth-finetuned (body: FinetuneDepthInputs)."""
        return self._submit_model("flux-pro-1.0-depth-finetuned", inputs, fields)

    def flux_pro_1_1(self, inputs: FluxPro11Inputs | None = None, /,
                     **fields: Any) -> S:
        """POST /v1/flux-pro-1.1 (body: FluxPro11Inputs)."""
        return self._submit_model("flux-pro-1.1", inputs, fields)

    def flux_pro(self, inputs: FluxProInputs | None = None, /,
                 **fields: Any) -> S:
        """POST /v1/flux-pro (body: FluxProInputs)."""
        return self._submit_model("flux-pro", inputs, fields)

    def flux_dev(self, inputs: FluxDevInputs | None = None, /,
                 **fields: Any) -> S:
        """POST /v1/flux-dev (body: FluxDevInputs)."""
        return self._submit_model("flux-dev", inputs, fields)

    def flux_pro_1_1_ultra(self, inputs: FluxUltraInput | None = None, /,
                           **fields: Any) -> S:
        """POST /v1/flux-pro-1.1-ultra (body: FluxUltraInput)."""
        return self._submit_model("flux-pro-1.1-ultra", inputs, fields)

    def flux_pro_1_0_fill(self, inputs: FluxProFillInputs | None = None, /,
                          **fields: Any) -> S:
        """POST /v1/flux-pro-1.0-fill (body: FluxProFillInputs)."""
        return self._submit_model("flux-pro-1.0-fill", inputs, fields)

    def flux_pro_1_0_expand(self, inputs: FluxProExpandInputs | None = None, /,
                            **fields: Any) -> S:
        """POST /v1/flux-pro-1.0-expand (body: FluxProExpandInputs)."""
        return self._submit_model("flux-pro-1.0-expand", inputs, fields)

    def flux_pro_1_0_canny(self, inputs: CannyInputs | None = None, /,
                           **fields: Any) -> S:
        """POST /v1/flux-pro-1.0-canny (body: CannyInputs)."""
        return self._submit_model("flux-pro-1.0-canny", inputs, fields)

    def flux_pro_1_0_depth(self, inputs: DepthInputs | None = None, /,
                           **fields: Any) -> S:
        """POST /v1/flux-pro-1.0-depth (body: DepthInputs)."""
        return self._submit_model("flux-pro-1.0-depth", inputs, fields)

    def flux_kontext_pro(self, inputs: FluxKontextProInputs | None = None, /,
                         **fields: Any) -> S:
        """POST /v1/flux-kontext-pro (body: FluxKontextProInputs)."""
        return self._submit_model("flux-kontext-pro", inputs, fields)

    def flux_kontext_max(self, inputs: FluxKontextProInputs | None = None, /,
                         **fields: Any) -> S:
        """POST /v1/flux-kontext-max (body: FluxKontextProInputs)."""
        return self._submit_model("flux-kontext-max", inputs, fields)


def typed_body(endpoint: str, inputs: BaseModel | None, fields: dict[str, Any]
               ) -> dict[str, Any]:
    """The checked body of a typed endpoint call."""
    return validated_body(endpoint, endpoint_model(endpoint), inputs, fields)


def generate_body(endpoint: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The body of `generate`: checked as the typed method checks it for an endpoint this SDK
    knows (a misspelt field would otherwise be dropped by the server without a word); sent as
    given, like `submit`'s, for an endpoint newer than the SDK."""
    try:
        model = endpoint_model(endpoint)
    except KeyError:
        return plain_body(endpoint, fields)
    return validated_body(endpoint, model, None, fields)


def plain_body(endpoint: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The body of `submit`: sent as given (any endpoint, any field; the server judges)."""
    return encode_fields(endpoint, fields)


def finetune_body(file_data: bytes | Path | str, *, finetune_comment: str, trigger_word: str,
                  mode: str, iterations: int, fields: dict[str, Any]) -> dict[str, Any]:
    """The checked body of POST /v1/finetune; a folder is zipped (its files, not subfolders)."""
    if isinstance(file_data, Path) and file_data.is_dir():
        file_data = zip_folder(file_data)
    return validated_body("finetune", FinetuneInputs, None, {
        "file_data": file_data, "finetune_comment": finetune_comment,
        "trigger_word": trigger_word, "mode": mode, "iterations": iterations, **fields})


def zip_folder(folder: Path) -> bytes:
    """The files directly in `folder` (images and caption .txt files), as a ZIP."""
    import zipfile  # only here: most processes never zip a folder

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                zf.write(path, path.name)
    return buf.getvalue()

