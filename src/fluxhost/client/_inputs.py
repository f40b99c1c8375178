"""Request bodies: images from bytes, files or PIL images, and validation by the wire
models."""

from __future__ import annotations

import base64
import difflib
import io
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from fluxhost.client.errors import InvalidRequest


def encode_fields(endpoint: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON body for `fields`: None values dropped (the server's default applies), bytes
    and paths base64-encoded (image fields, file_data), a PIL image as a base64 PNG;
    everything else as given."""
    return {name: _encode(endpoint, name, value)
            for name, value in fields.items() if value is not None}


def validated_body(endpoint: str, model: type[BaseModel], inputs: BaseModel | None,
                   fields: dict[str, Any]) -> dict[str, Any]:
    """The body for a typed call: `inputs` (a model instance, its set fields) updated with
    `fields`, checked by `model` before anything is sent. InvalidRequest names the bad fields,
    unknown ones included (the server would silently ignore a misspelt field)."""
    if inputs is not None and not isinstance(inputs, model):
        raise InvalidRequest(endpoint, f"expected {model.__name__}, got {type(inputs).__name__}")
    given = inputs.model_dump(mode="json", exclude_unset=True) if inputs is not None else {}
    body = encode_fields(endpoint, {**given, **fields})
    errors: list[Any] = [
        {"loc": [name], "msg": unknown_field_message(model, name), "type": "extra"}
        for name in sorted(set(body) - set(model.model_fields))]
    try:
        model.model_validate(body)
    except ValidationError as exc:
        errors += exc.errors(include_url=False, include_context=False, include_input=False)
    if errors:
        raise InvalidRequest(endpoint, errors)
    return body


def unknown_field_message(model: type[BaseModel], name: str) -> str:
    """Why `name` is refused, with the field it most likely meant (a typo such as `promt`)."""
    close = difflib.get_close_matches(name, list(model.model_fields), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown field for {model.__name__}{hint}"


def _encode(endpoint: str, name: str, value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Path):
        try:
            data = value.read_bytes()
        except OSError as exc:
            raise InvalidRequest(endpoint, [{"loc": [name], "type": "file",
                                             "msg": f"cannot read {value}: {exc.strerror}"}]
                                 ) from exc
        return base64.b64encode(data).decode("ascii")
    if is_pil_image(value):
        return base64.b64encode(png_bytes(value)).decode("ascii")
    return value


# What a PNG holds as it is; any other mode (CMYK, YCbCr, HSV, F...) is sent as RGB.
PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})


def is_pil_image(value: Any) -> bool:
    """A `PIL.Image.Image`, recognised without importing PIL (the SDK does not depend on it)."""
    return any(cls.__name__ == "Image" and cls.__module__ == "PIL.Image"
               for cls in type(value).__mro__)


def png_bytes(image: Any) -> bytes:
    """A PIL image as PNG bytes: lossless, so the server sees the pixels the caller has."""
    if image.mode not in PNG_MODES:
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
