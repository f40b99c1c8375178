"""The operator's commands on the database: db, keys, usage, finetunes import."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fluxhost.cli.config import load_settings
from fluxhost.cli.database import check_database
from fluxhost.cli.errors import CliError, ExitCode
from fluxhost.cli.extras import imports_of
from fluxhost.cli.services import open_services

if TYPE_CHECKING:
    from fluxhost.settings import Settings


@contextmanager
def operator(command: str, *, may_create: bool = False) -> Iterator[Settings]:
    """The settings of a server command, with its missing-extra line armed; names the
    database it worked on when it succeeds (only `may_create` commands may start a new one
    where the working directory decides: see cli/database.py)."""
    settings = load_settings(command)
    with imports_of(command):
        where = check_database(settings, may_create=may_create)
        yield settings
    print(where, file=sys.stderr, flush=True)


# --- db --------------------------------------------------------------------------------------
def db_upgrade() -> None:
    """Migrate the schema to this build's head."""
    with operator("db upgrade", may_create=True) as settings:
        from fluxhost.store.schema import SchemaProblem, open_checked

        try:
            # db.migrate, as `serve --migrate` runs it (one migrator at a time on PostgreSQL).
            open_checked(settings.resolved_database_url, migrate_schema=True).dispose()
        except SchemaProblem as exc:
            raise CliError(str(exc)) from exc
        _show_revision(settings, check=False)


def db_current(
    check: Annotated[bool, typer.Option("--check", help="exit 1 unless the schema is at head")]
    = False,
) -> None:
    """Show the schema revision and this build's head."""
    with operator("db current") as settings:
        _show_revision(settings, check)


def _show_revision(settings: Settings, check: bool) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from fluxhost.store.db import make_engine
    from fluxhost.store.schema import behind_message, current_revision, schema_head

    engine = make_engine(settings.resolved_database_url)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        raise CliError(f"cannot reach the database: {str(exc).splitlines()[0]}") from exc
    finally:
        engine.dispose()
    problem = behind_message(revision)
    print(f"{revision or '(empty)'} ({'head' if problem is None else f'head is {schema_head()}'})")
    if problem is not None and check:
        raise typer.Exit(ExitCode.ERROR)


# --- keys ------------------------------------------------------------------------------------
def keys_create(name: Annotated[str, typer.Argument(help="a name for the key")]) -> None:
    """Create a key; prints it once."""
    with operator("keys create") as settings:
        from fluxhost.store import keys

        try:
            info, plaintext = keys.create_key(open_services(settings).store, name)
        except keys.KeyError_ as exc:
            raise CliError(str(exc)) from exc
        print(plaintext)
        print(f"created key {info.name!r} ({info.prefix}...). It is shown only this once.",
              file=sys.stderr)


def keys_list() -> None:
    """List keys (names and prefixes; a key itself is never shown again)."""
    with operator("keys list") as settings:
        from fluxhost.store import keys

        found = keys.list_keys(open_services(settings).store)
        print(f"{'NAME':<24} {'PREFIX':<10} {'CREATED':<20} STATUS")
        for info in found:
            created = dt.datetime.fromtimestamp(info.created_at).strftime("%Y-%m-%d %H:%M:%S")
            status = "revoked" if info.revoked_at else "active"
            print(f"{info.name:<24} {info.prefix:<10} {created:<20} {status}")


def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Revoke a key."""
    with operator("keys revoke") as settings:
        from fluxhost.store import keys

        try:
            keys.revoke_key(open_services(settings).store, name)
        except keys.KeyError_ as exc:
            raise CliError(str(exc)) from exc
        print(f"revoked key {name!r}")


# --- usage -----------------------------------------------------------------------------------
def _day(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value!r}") from None


def usage(
    key: Annotated[str | None, typer.Option(help="only this key (by name)")] = None,
    since: Annotated[str | None, typer.Option(metavar="DATE", parser=_day,
                                              help="only days from DATE on (YYYY-MM-DD, UTC)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array of rows")] = False,
) -> None:
    """Per-key usage: images, megapixels, engine seconds, cost (by day, key and endpoint)."""
    with operator("usage") as settings:
        from fluxhost.store import keys
        from fluxhost.store.usage import read_usage

        store = open_services(settings).store
        if key is not None and keys.get_key_by_name(store, key) is None:
            raise CliError(f"no key named {key!r}")
        rows = read_usage(store, key=key, since=since)
        if as_json:
            print(json.dumps([r.as_dict() for r in rows], indent=2))
            return
        _print_usage(rows)


def _print_usage(rows: list[Any]) -> None:
    print(f"{'DAY':<10} {'KEY':<20} {'ENDPOINT':<32} {'TASKS':>6} {'IMAGES':>6} "
          f"{'IN_MP':>9} {'OUT_MP':>9} {'ENGINE_S':>10} {'COST':>10}")

    def line(day: str, key: str, endpoint: str, d: dict[str, Any]) -> str:
        cost = "-" if d["cost"] is None else f"{d['cost']:g}"
        return (f"{day:<10} {key:<20} {endpoint:<32} {d['tasks']:>6} {d['images']:>6} "
                f"{d['input_mp']:>9.2f} {d['output_mp']:>9.2f} {d['engine_seconds']:>10.2f} "
                f"{cost:>10}")

    for r in rows:
        print(line(r.day, r.key, r.endpoint, r.as_dict()))
    costs = [r.cost for r in rows if r.cost is not None]
    total = {
        "tasks": sum(r.tasks for r in rows), "images": sum(r.images for r in rows),
        "input_mp": sum(r.input_mp for r in rows), "output_mp": sum(r.output_mp for r in rows),
        "engine_seconds": sum(r.engine_seconds for r in rows),
        "cost": round(sum(costs), 6) if costs else None,
    }
    print(line("TOTAL", "", "", total))


# --- finetunes import ------------------------------------------------------------------------
def finetunes_import(
    file: Annotated[Path, typer.Argument(help="a FLUX LoRA (.safetensors)")],
    owner: Annotated[str, typer.Option(help="name of the key that will own it")],
    comment: Annotated[str, typer.Option(help="the finetune's comment")] = "",
    trigger_word: Annotated[str, typer.Option(help="the finetune's trigger word")] = "TOK",
) -> None:
    """Register an existing FLUX LoRA as a finetune of a key (prints its id)."""
    with operator("finetunes import") as settings:
        from fluxhost.finetunes import InvalidLora, import_lora
        from fluxhost.store import keys

        svc = open_services(settings)
        found = keys.get_key_by_name(svc.store, owner)
        if found is None or found.revoked_at is not None:
            raise CliError(f"no active key named {owner!r}")
        if not file.is_file():
            raise CliError(f"no such file: {file}", ExitCode.USAGE)
        try:
            ft = import_lora(svc, file, owner_key_id=found.id, comment=comment,
                             trigger_word=trigger_word)
        except InvalidLora as exc:
            raise CliError(str(exc)) from exc
        print(ft.id)
