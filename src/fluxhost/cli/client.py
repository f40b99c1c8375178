"""Client commands on the SDK: `fluxhost result` and `fluxhost finetunes create/list/show/
delete` (generate lives in generate.py)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from fluxhost.cli import progress
from fluxhost.cli.connection import BaseUrlOption, KeyOption, connect, target
from fluxhost.cli.errors import CliError, ExitCode
from fluxhost.cli.fields import field_parameters
from fluxhost.cli.files import (
    check_format,
    output_path,
    prepare_output,
    training_set,
    write_output,
)
from fluxhost.cli.lazy import LazyGroup
from fluxhost.cli.output import print_json, result_json, submission_json

FAILED = ("Error", "Request Moderated", "Content Moderated", "Task not found")
# finetune_details key -> column; the comment, free text, goes last.
TABLE_COLUMNS = {"finetune_id": "ID", "status": "STATUS", "trigger_word": "TRIGGER",
                 "mode": "MODE", "finetune_type": "TYPE", "iterations": "ITERATIONS",
                 "timestamp": "CREATED", "finetune_comment": "COMMENT"}


def result(
    task_id: Annotated[str, typer.Argument(metavar="ID", help="a task or finetune id")],
    wait: Annotated[bool, typer.Option("--wait", help="wait (with progress) until it ends")]
    = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="FILE", help="when Ready, also write the image here (a folder: "
        "<task id>.<ext> in it); its extension must name the image's format")] = None,
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="for --wait")] = 600.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")] = False,
    key: KeyOption = None,
    base_url: BaseUrlOption = None,
) -> None:
    """Print a task's result (GET /v1/get_result) as JSON; exit 3 if it did not end Ready."""
    if out is not None:
        prepare_output(out)  # a bad --out is found before waiting, not after
    where = target(base_url, key)
    with connect(where) as client:
        try:
            answer = client.get_result(task_id)
        except KeyboardInterrupt:
            raise progress.interrupted(task_id) from None
        if wait and answer.status == "Pending":
            from fluxhost.client import TaskFailed

            try:
                answer = progress.wait(client, task_id, label="task", timeout=timeout,
                                       show=not quiet)
            except TaskFailed as exc:  # shown below, as the poll's answer
                answer = exc.result
        data = client.download(answer) if out is not None and answer.status == "Ready" else None
    print_json(result_json(answer))
    if data is not None:
        path = output_path(out, answer.id, data)
        check_format(path, data, answer.id)
        write_output(path, data)
    if answer.status in FAILED:
        raise CliError(f"task {task_id}: {answer.status}", ExitCode.TASK_FAILED)


# --- finetunes ---------------------------------------------------------------------------------
def finetunes_list(
    as_json: Annotated[bool, typer.Option("--json", help="a JSON array of details")] = False,
    key: KeyOption = None,
    base_url: BaseUrlOption = None,
) -> None:
    """This key's finetunes, with their details, as a table."""
    where = target(base_url, key).require_key()
    with connect(where) as client:
        rows = [{"finetune_id": fid, **client.finetune_details(fid)}
                for fid in client.my_finetunes()]
    if as_json:
        print_json(rows)
        return
    print_table(rows)


def print_table(rows: list[dict[str, Any]]) -> None:
    """Aligned columns, nothing cut: ids are for copying."""
    header = list(TABLE_COLUMNS.values())
    cells = [[_cell(key, row.get(key)) for key in TABLE_COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header) - 1)]
    for r in [header, *cells]:
        print("  ".join([*(v.ljust(w) for v, w in zip(r, widths, strict=False)), r[-1]]))


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "timestamp":  # ISO 8601: to the second is enough here
        return str(value)[:19].replace("T", " ")
    return " ".join(str(value).split())


def finetunes_show(
    finetune_id: Annotated[str, typer.Argument(metavar="ID")],
    key: KeyOption = None,
    base_url: BaseUrlOption = None,
) -> None:
    """One finetune's details (GET /v1/finetune_details) as JSON."""
    where = target(base_url, key).require_key()
    with connect(where) as client:
        print_json(client.finetune_details(finetune_id))


def finetunes_delete(
    finetune_id: Annotated[str, typer.Argument(metavar="ID")],
    key: KeyOption = None,
    base_url: BaseUrlOption = None,
) -> None:
    """Delete a finetune (its training stops if it is still training)."""
    where = target(base_url, key).require_key()
    with connect(where) as client:
        client.delete_finetune(finetune_id)
    print(f"deleted finetune {finetune_id}")


def create_command() -> Any:
    """`fluxhost finetunes create DIR|ZIP`, its flags from the wire's FinetuneInputs."""
    from fluxhost.wire.finetunes import FinetuneInputs

    source = inspect.Parameter("source", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=
                               Annotated[Path, typer.Argument(
                                   metavar="DIR|ZIP", help="a folder of images (and .txt "
                                   "captions beside them), zipped for you; or a ZIP file")])
    fields = field_parameters(
        FinetuneInputs, skip=("file_data",),
        aliases={"finetune_comment": ("--comment",), "base_model": ("--base",)},
        defaults={"finetune_comment": None, "mode": "general"},
        default_notes={"finetune_comment": "the folder's or ZIP's name"})
    own = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation) for name, annotation, default in (
        ("no_wait", Annotated[bool, typer.Option(
            "--no-wait", help="print the submission and return")], False),
        ("as_json", Annotated[bool, typer.Option(
            "--json", help="print the training's final result as JSON")], False),
        ("timeout", Annotated[float, typer.Option(
            "--timeout", metavar="SECONDS", help="how long to wait for the training")], 3600.0),
        ("quiet", Annotated[bool, typer.Option("--quiet", "-q", help="no progress display")],
         False),
        ("key", KeyOption, None),
        ("base_url", BaseUrlOption, None))]

    def create(**values: Any) -> None:
        _create(values)

    create.__signature__ = inspect.Signature([source, *fields, *own])  # type: ignore[attr-defined]
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("create", help="Train a finetune (POST /v1/finetune) and follow the training "
                "with a progress bar; prints the new finetune's id.")(create)
    return typer.main.get_command(app)


def _create(values: dict[str, Any]) -> None:
    source: Path = values.pop("source")
    no_wait, as_json = values.pop("no_wait"), values.pop("as_json")
    timeout, quiet = values.pop("timeout"), values.pop("quiet")
    where = target(values.pop("base_url"), values.pop("key")).require_key()
    fields = {k: v for k, v in values.items() if v is not None}
    fields.setdefault("finetune_comment", source.stem or source.resolve().name)
    data = training_set(source)
    with connect(where) as client:
        try:
            submission = client.finetune(data, **fields)
        except KeyboardInterrupt:
            raise CliError("interrupted while uploading; the training may have been queued "
                           "(fluxhost finetunes list shows it)", ExitCode.INTERRUPTED) from None
        if no_wait:
            print_json(submission_json(submission))
            return
        done = progress.wait(client, submission.finetune_id, label="training",
                             timeout=timeout, show=not quiet)
    if as_json:
        print_json(result_json(done))
    else:
        print(submission.finetune_id)


class FinetunesGroup(LazyGroup):
    lazy = {"create": create_command}
