"""`fluxhost generate ENDPOINT`: one subcommand per generation endpoint of the catalog
(fluxhost.catalog), its flags generated from the endpoint's wire request model, built when
first named."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from fluxhost.cli import progress
from fluxhost.cli.connection import BaseUrlOption, KeyOption, connect, target
from fluxhost.cli.errors import CliError, ExitCode
from fluxhost.cli.fields import IMAGE_URL_HELP, field_parameters, flag_name
from fluxhost.cli.files import (
    check_format,
    image_field,
    output_path,
    prepare_output,
    write_output,
)
from fluxhost.cli.output import print_json, result_json, submission_json

if TYPE_CHECKING:
    from pydantic import BaseModel

    from fluxhost.catalog import Endpoint

NOISE_NOTE = ("A server on the dev model set (no FLUXHOST_MODELS configured) draws noise: "
              "real output of tiny random networks.")
OUTPUT = "Output"
# The repeatable reference flag of the endpoints with reference images (FLUX.2, Kontext):
# input_image, input_image_2, ... in the order given. Its parameter's name is no field's.
REFERENCES = "references"
REFERENCE_FLAGS = ("--image", "-i")
REFERENCE_FLAG = "-i/--image"


@dataclass(frozen=True)
class Options:
    """The flags every endpoint command has besides the model's fields."""

    out: Path | None
    as_json: bool
    no_wait: bool
    timeout: float
    quiet: bool
    assignments: list[str]
    key: str | None
    base_url: str | None


def _own_parameters() -> list[inspect.Parameter]:
    def option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                 annotation=annotation)

    return [
        option("out", Annotated[Path | None, typer.Option(
            "--out", "-o", metavar="FILE", rich_help_panel=OUTPUT,
            help="where to write the image (default: <task id>.<ext> here; a folder: in it); "
            ".jpg/.jpeg/.png/.webp asks for that output format")], None),
        option("as_json", Annotated[bool, typer.Option(
            "--json", rich_help_panel=OUTPUT,
            help="print the final result as JSON, and nothing else, on stdout")], False),
        option("no_wait", Annotated[bool, typer.Option(
            "--no-wait", rich_help_panel=OUTPUT,
            help="print the submission (id, polling_url) as JSON and return")], False),
        option("timeout", Annotated[float, typer.Option(
            "--timeout", metavar="SECONDS", rich_help_panel=OUTPUT,
            help="how long to wait for the task (it goes on after)")], 600.0),
        option("quiet", Annotated[bool, typer.Option(
            "--quiet", "-q", rich_help_panel=OUTPUT, help="no progress display")], False),
        option("assignments", Annotated[list[str] | None, typer.Option(
            "--set", metavar="NAME=VALUE", rich_help_panel="Other fields",
            help="another request field; VALUE is JSON if it parses as JSON, else a string "
            "(repeatable)")], None),
        option("key", KeyOption, None),
        option("base_url", BaseUrlOption, None),
    ]


def endpoint_command(endpoint: str) -> Any:
    """The click command of `fluxhost generate <endpoint>`."""
    from fluxhost import catalog  # the wire models: only once a command is named

    record = catalog.get(endpoint)
    model, images = record.model, record.image_fields
    own = _own_parameters()
    taken = {p.name for p in own}
    if taken & set(model.model_fields):  # a contract change would shadow a flag
        raise RuntimeError(f"{model.__name__} has fields named like CLI flags: "
                           f"{sorted(taken & set(model.model_fields))}")
    fields = field_parameters(model, images=images, url_images=record.url_fields)
    refs = _references_parameter(record)
    if refs is not None:  # right after the prompt: what these endpoints are about
        at = next((i + 1 for i, p in enumerate(fields) if p.name == "prompt"), 0)
        fields.insert(at, refs)

    def run(**values: Any) -> None:
        _generate(record, values)

    run.__signature__ = inspect.Signature([*fields, *own])  # type: ignore[attr-defined]
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    # With no flags at all it shows the flags rather than submitting an all-defaults request.
    app.command(endpoint, help=_help(record, refs is not None), epilog=NOISE_NOTE,
                short_help=f"POST /v1/{endpoint} ({model.__name__})",
                no_args_is_help=True)(run)
    return typer.main.get_command(app)


def _references_parameter(record: Endpoint) -> inspect.Parameter | None:
    """`-i/--image FILE`, repeatable, for an endpoint with reference images; None for the
    others (and where the model has a field of that name)."""
    names = record.reference_fields
    if not names or {"image", REFERENCES} & set(record.model.model_fields):
        return None
    option = typer.Option(
        *REFERENCE_FLAGS, metavar="FILE",
        help=f"A reference image, repeatable: the first goes in input_image, the next in "
        f"input_image_2, and so on, at most {len(names)} ({names[-1]}). {IMAGE_URL_HELP}")
    return inspect.Parameter(REFERENCES, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[list[str] | None, option])


def _help(record: Endpoint, references: bool) -> str:
    endpoint, model, images = record.name, record.model, record.image_fields
    files = f" Image flags ({', '.join(flag_name(n) for n in images)}) take file paths." \
        if images else ""
    if references:
        refs = record.reference_fields
        files += (f" {REFERENCE_FLAG} FILE, repeated, fills {', '.join(refs[:2])}, ... in "
                  f"order (at most {len(refs)}).")
    return (f"POST /v1/{endpoint} ({model.__name__}), wait with a progress bar, write the "
            f"image and print its path.{files} A flag left out is not sent: the server's "
            "default applies.")


def _generate(record: Endpoint, values: dict[str, Any]) -> None:
    endpoint, model = record.name, record.model
    opts = Options(**{name: values.pop(name) for name in Options.__dataclass_fields__})
    references: list[str] = values.pop(REFERENCES, None) or []
    fields = {name: _wire(v) for name, v in values.items() if v is not None}
    fields.update(parse_assignments(opts.assignments or []))
    slots = _reference_slots(record, references, fields)
    for name in record.image_fields:
        if name in values and isinstance(values[name], str):  # a flag, not a --set value
            fields[name] = image_field(flag_name(name), values[name])
    fields.update((name, image_field(REFERENCE_FLAG, value))
                  for name, value in zip(slots, references, strict=True))
    if opts.out is not None:
        _format_from_name(opts.out, model, fields)
    where = target(opts.base_url, opts.key).require_key()
    with connect(where) as client:
        try:
            submission = client.submit(endpoint, **fields)
        except KeyboardInterrupt:
            raise CliError("interrupted while submitting; the task may have been queued",
                           ExitCode.INTERRUPTED) from None
        if opts.no_wait:
            print_json(submission_json(submission))
            return
        result = progress.wait(client, submission, label="task", timeout=opts.timeout,
                               show=not opts.quiet)
        try:
            data = client.download(result)
        except KeyboardInterrupt:
            raise progress.interrupted(result.id) from None
    path = output_path(opts.out, result.id, data)
    check_format(path, data, result.id)
    write_output(path, data)
    if opts.as_json:
        print_json({**result_json(result), "output_file": str(path)})
    else:
        print(path)


def _reference_slots(record: Endpoint, references: list[str], fields: dict[str, Any]
                    ) -> tuple[str, ...]:
    """The fields the `-i` values go in, checked before any file is read or anything is
    submitted: no more than the endpoint has, none also given by its own flag or --set."""
    names = record.reference_fields
    if len(references) > len(names):
        raise CliError(f"{REFERENCE_FLAG}: {record.name} takes at most {len(names)} reference "
                       f"images ({names[0]} ... {names[-1]}), got {len(references)}; nothing "
                       "was submitted", ExitCode.USAGE)
    slots = names[:len(references)]
    both = [name for name in slots if fields.get(name) is not None]
    if both:
        raise CliError(f"{', '.join(both)} given twice: by {REFERENCE_FLAG} (which fills "
                       f"{', '.join(slots)} in order) and by {flag_name(both[0])} or --set; "
                       "give each image once", ExitCode.USAGE)
    return slots


def _format_from_name(out: Path, model: type[BaseModel], fields: dict[str, Any]) -> None:
    """`-o x.png` asks for a PNG: output_format from the extension unless the command set it,
    and a refusal if it set another (both before anything is submitted)."""
    wanted = prepare_output(out)
    if wanted is None or "output_format" not in model.model_fields:
        return
    given = fields.setdefault("output_format", wanted)
    if str(given).lower() != wanted:
        raise CliError(f"--out {out} names {wanted} but --output-format is {given}",
                       ExitCode.USAGE)


def _wire(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs; VALUE as JSON when it parses (42, true, null), else the string."""

    def no_constants(name: str) -> Any:
        raise ValueError(name)  # NaN/Infinity parse, but are not JSON a server accepts

    fields: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--set expects NAME=VALUE, got {item!r}", ExitCode.USAGE)
        try:
            value: Any = json.loads(raw, parse_constant=no_constants)
        except ValueError:
            value = raw
        fields[name.strip()] = value
    return fields


class EndpointGroup(TyperGroup):
    """`fluxhost generate`: its subcommands are the catalog's endpoints (FLUX.1's fifteen and
    FLUX.2's seven), each built only when named (building them all would slow every start)."""

    def list_commands(self, ctx: Any) -> list[str]:
        from fluxhost import catalog

        return list(catalog.NAMES)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        from fluxhost import catalog

        record = catalog.find(cmd_name)
        return endpoint_command(record.name) if record is not None else None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            raise CliError(f"unknown endpoint {args[0]!r}; known: "
                           f"{', '.join(self.list_commands(ctx))}", ExitCode.USAGE)
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, legacy_args(args))


def legacy_args(args: list[str]) -> list[str]:
    """The earlier form, `generate --finetune-id X [--endpoint E] ...`, as `generate E ...`."""
    if not args or not args[0].startswith("-") or args[0] in ("--help", "-h"):
        return args
    from fluxhost.catalog import FINETUNED_TEXT_TO_IMAGE  # its default endpoint

    rest, endpoint, i = [], FINETUNED_TEXT_TO_IMAGE, 0
    while i < len(args):
        if args[i] == "--endpoint" and i + 1 < len(args):
            endpoint, i = args[i + 1], i + 2
            continue
        if args[i].startswith("--endpoint="):
            endpoint = args[i].partition("=")[2]
        else:
            rest.append(args[i])
        i += 1
    return [endpoint, *rest]


def generate_app() -> typer.Typer:
    app = typer.Typer(cls=EndpointGroup, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False)

    @app.callback()
    def generate() -> None:
        """Generate an image on a server; `fluxhost generate ENDPOINT --help` lists the flags."""

    return app
