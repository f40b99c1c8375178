"""What `Client` and `AsyncClient` share: configuration, request bodies, and the typed
per-endpoint methods (declared once, generic in what a call returns: a `Submission`, or an
awaitable of one)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from fluxhost.catalog import endpoint_model
from fluxhost.client import _flows
from fluxhost.client._config import USER_AGENT, resolve_api_key, resolve_base_url
from fluxhost.client._inputs import encode_fields, validated_body
from fluxhost.client._protocol import Call
from fluxhost.client._retry import RetryPolicy
from fluxhost.client._typed import typed
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
from fluxhost.wire.finetunes import FinetuneInputs
from fluxhost.wire.flux2 import Flux2FlexInputs, Flux2Inputs, Flux2KleinInputs
from fluxhost.wire.inputs import (
    FinetuneCannyInputs,
    FinetuneDepthInputs,
    FinetuneFluxProFillInputs,
    FinetuneFluxUltraInput,
    FluxProFinetuneInputs,
)

S = TypeVar("S")


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

    # --- typed endpoints (client/_typed.py): each validates its fields with the wire model,
    # then submits; the endpoint is the catalog's record of the method's name ---------------
    flux_pro_finetuned = typed(FluxProFinetuneInputs)
    flux_pro_1_1_ultra_finetuned = typed(FinetuneFluxUltraInput)
    flux_pro_1_0_fill_finetuned = typed(FinetuneFluxProFillInputs)
    flux_pro_1_0_canny_finetuned = typed(FinetuneCannyInputs)
    flux_pro_1_0_depth_finetuned = typed(FinetuneDepthInputs)
    flux_pro_1_1 = typed(FluxPro11Inputs)
    flux_pro = typed(FluxProInputs)
    flux_dev = typed(FluxDevInputs)
    flux_pro_1_1_ultra = typed(FluxUltraInput)
    flux_pro_1_0_fill = typed(FluxProFillInputs)
    flux_pro_1_0_expand = typed(FluxProExpandInputs)
    flux_pro_1_0_canny = typed(CannyInputs)
    flux_pro_1_0_depth = typed(DepthInputs)
    flux_kontext_pro = typed(FluxKontextProInputs)
    flux_kontext_max = typed(FluxKontextProInputs)
    flux_2_pro = typed(Flux2Inputs)
    flux_2_pro_preview = typed(Flux2Inputs)
    flux_2_max = typed(Flux2Inputs)
    flux_2_flex = typed(Flux2FlexInputs)
    flux_2_klein_4b = typed(Flux2KleinInputs)
    flux_2_klein_9b = typed(Flux2KleinInputs)
    flux_2_klein_9b_preview = typed(Flux2KleinInputs)


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

