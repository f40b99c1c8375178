"""Command-line flags generated from a wire request model: one `--flag` per field, with its
type, the contract's default and bounds in the help, and image fields taking a file path.

A flag left out is not sent, so the server applies the contract's default, as it would for a
JSON body that omits the field."""

from __future__ import annotations

import inspect
import types
from collections.abc import Collection, Iterator, Mapping
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.markup import escape

IMAGE_HELP = "A file path ('-': stdin), sent base64-encoded."
# The contract's "base64 or URL" fields (Kontext's, FLUX.2's): a URL goes as it is, and the
# server fetches it (api/imagefetch.py; the hosted API does too).
IMAGE_URL_HELP = ("A file path ('-': stdin), sent base64-encoded, or an http(s) URL the server "
                  "fetches.")
BOUND_NAMES = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "multiple_of": "multiple of"}


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def field_parameters(
    model: type[BaseModel],
    *,
    images: Collection[str] = (),
    url_images: Collection[str] = (),
    skip: Collection[str] = (),
    aliases: Mapping[str, tuple[str, ...]] | None = None,
    defaults: Mapping[str, Any] | None = None,
    default_notes: Mapping[str, str] | None = None,
) -> list[inspect.Parameter]:
    """Keyword-only parameters, typer-annotated, for the model's fields (except `skip`).
    `defaults`: a value the CLI fills in itself for a required field, which is then optional
    (None: the command fills it in; `default_notes` says with what)."""
    aliases = aliases or {}
    defaults = defaults or {}
    notes = dict(default_notes or {})
    notes.update({k: str(v) for k, v in defaults.items() if v is not None and k not in notes})
    params = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        image = name in images
        required = info.is_required() and name not in defaults
        help_text = _help(info, image=image, url=name in url_images, note=notes.get(name))
        kind = str if image else _python_type(info.annotation)
        names = (_bool_flags(name) if kind is bool else (flag_name(name),)) + aliases.get(name, ())
        option = typer.Option(*names, help=escape(help_text), show_default=False,
                              metavar="FILE" if image else None)
        annotation = Annotated[kind if required else kind | None, option]  # type: ignore[valid-type]
        default = inspect.Parameter.empty if required else defaults.get(name)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=annotation))
    return params


def _bool_flags(name: str) -> tuple[str, ...]:
    dashed = name.replace("_", "-")
    return (f"--{dashed}/--no-{dashed}",)


def _python_type(annotation: Any) -> Any:
    """The type typer parses a flag's value as: the field's, without None or constraints."""
    inner = _strip(annotation)
    if get_origin(inner) is Literal or (isinstance(inner, type) and issubclass(inner, Enum)):
        return inner
    if inner in (bool, int, float):
        return inner
    return str  # str, URLs and anything else: the server parses and validates the text


def _strip(annotation: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` down to X."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return str
            annotation = rest[0]
        else:
            return annotation


def _constraints(info: FieldInfo) -> Iterator[Any]:
    yield from info.metadata
    stack = [info.annotation]
    while stack:  # bounds inside `Annotated[int, Field(ge=...)] | None`
        annotation = stack.pop()
        args = get_args(annotation)
        if get_origin(annotation) is Annotated:
            for extra in args[1:]:
                yield from extra.metadata if isinstance(extra, FieldInfo) else (extra,)
            stack.append(args[0])
        elif get_origin(annotation) in (Union, types.UnionType):
            stack.extend(args)


def _help(info: FieldInfo, *, image: bool, url: bool, note: str | None) -> str:
    if image:  # the contract's text says "base64"; here the flag takes a file
        parts = [f"{info.title or 'Image'}:", IMAGE_URL_HELP if url else IMAGE_HELP]
    else:
        parts = [info.description or info.title or ""]
    notes = []
    if note is not None:
        notes.append(f"default here: {note}")
    elif not info.is_required() and info.default is not None:
        shown = info.default.value if isinstance(info.default, Enum) else info.default
        notes.append(f"default: {shown}")
    bounds = [f"{symbol} {getattr(c, attr)}" for c in _constraints(info)
              for attr, symbol in BOUND_NAMES.items() if hasattr(c, attr)]
    notes.extend(bounds)
    if notes:
        parts.append(f"[{'; '.join(notes)}]")
    return " ".join(p for p in parts if p)
