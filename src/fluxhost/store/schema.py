"""Which schema revision a database is at, and the one this build needs. Shared by /ready,
the startup check of `serve` and `worker`, and `fluxhost db current`."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

if TYPE_CHECKING:
    from fluxhost.store.store import Store


class SchemaProblem(Exception):
    """The database is not at this build's head revision (and no migration was asked for, or it
    failed), or it cannot be read: the process must not start. The message is one line."""


# A revision script's own `revision = "…"` / `down_revision = …` lines (what alembic reads).
_REVISION_LINE = re.compile(
    r"""^(down_)?revision(?:\s*:[^=\n]*)?\s*=\s*(?:None|(['"])([^'"\n]+)\2)\s*$""", re.M)


@functools.cache
def schema_head() -> str | None:
    """The Alembic head revision this build migrates to: the one revision no other names as
    its `down_revision`. Read from the scripts' text rather than through alembic, whose import
    (~0.3 CPU-s) every CLI command, server and worker would pay at start only to learn that
    the database is at head; tests/store/test_schema_head.py holds it to alembic's answer."""
    from fluxhost.store.db import MIGRATIONS_DIR

    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        for down, _, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            if value:
                (parents if down else revisions).add(value)
    heads = revisions - parents
    if len(heads) > 1:
        raise SchemaProblem(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return next(iter(heads), None)


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None when it has no fluxhost schema (no alembic_version).
    Raises when the database cannot be reached."""
    with engine.connect() as conn:
        if not _has_version_table(conn):
            return None
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        conn.rollback()
    return None if revision is None else str(revision)


def _has_version_table(conn: object) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(conn).has_table("alembic_version"))


def behind_message(revision: str | None) -> str | None:
    """Why this build cannot run on a database at `revision`; None when it is at head."""
    head = schema_head()
    if revision == head:
        return None
    at = f"at {revision}" if revision else "empty (no fluxhost schema)"
    return f"database schema is {at}, this build expects {head}"


def ensure_schema(engine: Engine, *, migrate_schema: bool) -> None:
    """Migrate to head when asked; then refuse (SchemaProblem, one line) unless at head."""
    if migrate_schema:
        from fluxhost.store.db import migrate

        try:
            migrate(engine)
        except Exception as exc:  # e.g. a revision this build does not know (a newer build's)
            first = (str(exc) or type(exc).__name__).splitlines()[0]
            raise SchemaProblem(f"cannot migrate the database: {first}") from exc
    problem = behind_message(current_revision(engine))
    if problem is not None:
        hint = "" if migrate_schema else (
            "; run `fluxhost db upgrade` (or start with --migrate)")
        raise SchemaProblem(problem + hint)


def migrates_by_default(url: str, auto_migrate: bool | None) -> bool:
    """Whether a process migrates at start (see Settings.auto_migrate): the embedded SQLite
    database belongs to this one node, so it follows the build (`make serve` works on a fresh
    machine); a PostgreSQL schema is shared by a fleet, where a node of a new build starting
    first must not change the tables under the older nodes still running, so it moves only
    with `fluxhost db upgrade` (or `--migrate`), as a deliberate step."""
    if auto_migrate is not None:
        return auto_migrate
    return url.startswith("sqlite")


def open_checked(url: str, *, migrate_schema: bool) -> Store:
    """A Store on `url` whose schema is at head (migrated first if asked); SchemaProblem, with
    one line saying why, when it is not. A database that cannot be reached is one too."""
    from sqlalchemy.exc import SQLAlchemyError

    from fluxhost.store.store import Store

    store = Store.open(url, migrate_schema=False)
    try:
        ensure_schema(store.engine, migrate_schema=migrate_schema)
    except SQLAlchemyError as exc:
        store.dispose()
        first = (str(getattr(exc, "orig", None) or exc) or type(exc).__name__).splitlines()[0]
        raise SchemaProblem(f"cannot reach the database: {first}") from exc
    except SchemaProblem:
        store.dispose()
        raise
    return store
