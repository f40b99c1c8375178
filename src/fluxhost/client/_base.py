"""What `Client` and `AsyncClient` share: configuration, request bodies, and the typed
per-endpoint methods (declared once, generic in what a call returns: a `Submission`, or an
awaitable of one)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from fluxhost import catalog
from fluxhost.catalog import endpoint_model
from fluxhost.client import _flows
from fluxhost.client._config import USER_AGENT, resolve_api_key, resolve_base_url
from fluxhost.client._inputs import encode_fields, validated_body
from fluxhost.client._protocol import Call, upload_finetune_call
from fluxhost.client._retry import RetryPolicy
from fluxhost.client._typed import typed
from fluxhost.client.errors import InvalidRequest
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
from fluxhost.wire.flux2_finetuned import KLEIN_BASES, Flux2KleinFinetunedInputs, name_problem
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
    flux_2_klein_4b_finetuned = typed(Flux2KleinFinetunedInputs)
    flux_2_klein_9b_finetuned = typed(Flux2KleinFinetunedInputs)


def typed_body(endpoint: str, inputs: BaseModel | None, fields: dict[str, Any]
               ) -> dict[str, Any]:
    """The checked body of a typed endpoint call (`references` spread first)."""
    taken = inputs.model_fields_set if inputs is not None else ()
    fields = with_references(endpoint, fields, taken)
    return validated_body(endpoint, endpoint_model(endpoint), inputs, fields)


def generate_body(endpoint: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The body of `generate`: checked as the typed method checks it for an endpoint this SDK
    knows (a misspelt field would otherwise be dropped by the server without a word); sent as
    given, like `submit`'s, for an endpoint newer than the SDK."""
    try:
        model = endpoint_model(endpoint)
    except KeyError:
        return plain_body(endpoint, fields)
    return validated_body(endpoint, model, None, with_references(endpoint, fields))


def plain_body(endpoint: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The body of `submit`: sent as given (any endpoint, any field; the server judges), but
    for `references`, which is no wire field: spread into the reference fields."""
    return encode_fields(endpoint, with_references(endpoint, fields))


REFERENCES = "references"


def reference_field(n: int) -> str:
    """The provider's name of the n-th reference image field: input_image, input_image_2..."""
    return "input_image" if n == 1 else f"input_image_{n}"


def with_references(endpoint: str, fields: dict[str, Any], taken: Collection[str] = ()
                    ) -> dict[str, Any]:
    """`fields` with `references=[a, b, ...]` spread into the endpoint's reference fields in
    order (`input_image=a, input_image_2=b, ...`; a None entry leaves its field out). Each
    entry is what an image field takes: bytes, a Path, a PIL image, or a string (base64, or
    an http(s) URL the server fetches) sent as it is. Refused here (InvalidRequest, nothing
    sent): more references than the endpoint has fields (8 on FLUX.2, 4 on klein and
    Kontext), references on an endpoint that takes none, and a field given both ways
    (`taken`: a model instance's set fields). An endpoint newer than this SDK gets the
    provider's names, unbounded: the server judges."""
    if REFERENCES not in fields:
        return fields
    rest = {name: value for name, value in fields.items() if name != REFERENCES}
    given = fields[REFERENCES]
    if given is None:
        return rest
    if isinstance(given, str | bytes | bytearray | memoryview | Path) or not hasattr(
            given, "__iter__"):
        raise _references_refused(endpoint, "a list of images, not one image: "
                                  "references=[image, ...]", "list_type")
    images = list(given)
    record = catalog.find(endpoint)
    names = record.reference_fields if record is not None else tuple(
        reference_field(n) for n in range(1, len(images) + 1))
    if not names:
        raise _references_refused(endpoint, f"{endpoint} takes no reference images", "extra")
    if len(images) > len(names):
        raise _references_refused(
            endpoint, f"{endpoint} takes at most {len(names)} reference images "
            f"({names[0]} ... {names[-1]}), got {len(images)}", "too_long")
    both = [name for name in names[:len(images)]
            if name in taken or rest.get(name) is not None]
    if both:
        raise _references_refused(endpoint, f"{', '.join(both)} given both as a field and in "
                                  "references; pass each image once", "value_error")
    spread = {name: image for name, image in zip(names, images, strict=False)
              if image is not None}
    body: dict[str, Any] = {}
    for name, value in fields.items():  # the images where `references` was
        if name == REFERENCES:
            body.update(spread)
        elif name not in spread:
            body[name] = value
    return body


def _references_refused(endpoint: str, msg: str, kind: str) -> InvalidRequest:
    return InvalidRequest(endpoint, [{"loc": [REFERENCES], "msg": msg, "type": kind}])


def finetune_body(file_data: bytes | Path | str, *, finetune_comment: str, trigger_word: str,
                  mode: str, iterations: int, fields: dict[str, Any]) -> dict[str, Any]:
    """The checked body of POST /v1/finetune; a folder is zipped (its files, not subfolders)."""
    if isinstance(file_data, Path) and file_data.is_dir():
        file_data = zip_folder(file_data)
    return validated_body("finetune", FinetuneInputs, None, {
        "file_data": file_data, "finetune_comment": finetune_comment,
        "trigger_word": trigger_word, "mode": mode, "iterations": iterations, **fields})


def upload_call(path: str | Path, *, name: str, base: str, trigger_word: str | None) -> Call:
    """The upload of the LoRA file at `path`; a bad name or base is InvalidRequest with
    nothing read or sent. The file is read whole: a retried request sends it again."""
    errors = []
    problem = name_problem(name)
    if problem:
        errors.append({"loc": ["name"], "msg": problem, "type": "value_error"})
    if base not in KLEIN_BASES:
        errors.append({"loc": ["base"], "msg": f"base {base!r} is not one of "
                       f"{', '.join(KLEIN_BASES)}", "type": "value_error"})
    if errors:
        raise InvalidRequest("upload_finetune", errors)
    return upload_finetune_call(Path(path).read_bytes(), name=name, base=base,
                                trigger_word=trigger_word)


def zip_folder(folder: Path) -> bytes:
    """The files directly in `folder` (images and caption .txt files), as a ZIP."""
    import zipfile  # only here: most processes never zip a folder

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                zf.write(path, path.name)
    return buf.getvalue()

