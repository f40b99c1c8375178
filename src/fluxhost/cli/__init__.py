"""The `fluxhost` command.

Server commands (serve, worker, db, keys, usage, finetunes import) import the server lazily,
inside the command; client commands (generate, result, finetunes create/list/show/delete)
need only the SDK. Every error ends as one line on stderr with an exit code (errors.ExitCode).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from fluxhost import __version__
from fluxhost.cli import admin, client, doctor, server, uploads
from fluxhost.cli.errors import CliError, ExitCode, one_line, print_error
from fluxhost.cli.generate import generate_app

__all__ = ["CliError", "ExitCode", "app", "main"]


def _show_version(value: bool) -> None:
    if value:
        print(f"fluxhost {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="print the version and exit")]
    = False,
) -> None:
    """fluxhost: a self-hostable server for the FLUX finetune image API, and its client."""


def _hide_flag_types() -> None:
    """typer 0.29's rich help prints a type beside every option, flags too (`--version
    <bool>`, `--help <bool>`), although a flag takes no value; its plain help leaves flags
    bare, and so does this (for every command: generate's are built later, on demand)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "fluxhost_flags_bare", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag or self.count else shown(self, ctx)

    display_type_rich.fluxhost_flags_bare = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def build_app() -> typer.Typer:
    _hide_flag_types()
    settings: dict[str, Any] = {"no_args_is_help": True, "add_completion": False,
                                "pretty_exceptions_enable": False}
    root = typer.Typer(name="fluxhost", **settings)
    root.callback()(_root)
    root.command("serve")(server.serve)
    root.command("worker")(server.worker)
    root.command("doctor")(doctor.doctor)
    db = typer.Typer(help="Database schema.", **settings)
    db.command("upgrade")(admin.db_upgrade)
    db.command("current")(admin.db_current)
    root.add_typer(db, name="db")
    keys = typer.Typer(help="Manage API keys (on the server's database).", **settings)
    keys.command("create")(admin.keys_create)
    keys.command("list")(admin.keys_list)
    keys.command("revoke")(admin.keys_revoke)
    root.add_typer(keys, name="keys")
    root.command("usage")(admin.usage)
    finetunes = typer.Typer(cls=client.FinetunesGroup, help="Manage finetunes: create, list, "
                            "show, delete, upload (a klein LoRA) over HTTP; import on the "
                            "server.", **settings)
    finetunes.command("import")(admin.finetunes_import)
    finetunes.command("list")(client.finetunes_list)
    finetunes.command("show")(client.finetunes_show)
    finetunes.command("delete")(client.finetunes_delete)
    finetunes.command("upload")(uploads.finetunes_upload)
    root.add_typer(finetunes, name="finetunes")
    root.add_typer(generate_app(), name="generate")
    root.command("result")(client.result)
    return root


app = build_app()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code (see errors.ExitCode)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = typer.main.get_command(app)
        rv = command.main(args=args, prog_name="fluxhost", standalone_mode=False)
    except CliError as exc:
        if exc.code == ExitCode.INTERRUPTED:
            print(one_line(exc.message), file=sys.stderr, flush=True)
        else:
            print_error(exc.message)
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `fluxhost finetunes list | head -1`: the reader had enough
        _silence_stdout()
        return ExitCode.ERROR
    except Exception as exc:
        code = _usage_error_code(exc)
        if code is None:
            raise
        message = _usage_message(exc)
        if message:  # empty when typer printed the help instead (no arguments)
            print_error(message)
        return code
    return rv if isinstance(rv, int) else ExitCode.OK


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; pointed at /dev/null that flush cannot fail.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _usage_error_code(exc: Exception) -> int | None:
    # typer's parser errors (unknown option, bad value, missing argument) carry an exit_code
    # and format_message(); matched by shape because their classes live in typer's private,
    # vendored copy of click.
    code = getattr(exc, "exit_code", None)
    return code if isinstance(code, int) and hasattr(exc, "format_message") else None


def _usage_message(exc: Exception) -> str:
    message: str = exc.format_message()  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    return f"{message} (see: {path} --help)" if message and path else message
