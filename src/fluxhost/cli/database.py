"""Which database an operator command works on, said before it does anything.

The default SQLite file lives under FLUXHOST_DATA_DIR, `data` relative to the working
directory: run from another folder, a command would quietly create a new, empty database there
(`keys create` a key no server knows). So a command that must not create one refuses a
SQLite file that is missing where the working directory decides where it is; every command
that succeeds names the database it used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fluxhost.cli.errors import CliError

if TYPE_CHECKING:
    from fluxhost.settings import Settings

SQLITE_FILE = "fluxhost.db"  # Settings.resolved_database_url's file in the data dir


@dataclass(frozen=True)
class Place:
    """Where the database is: `shown` to the operator (an absolute path, or the URL without
    its password); `file`, the absolute SQLite file, when there is one; `relative_to_cwd`, the
    setting that makes it depend on the working directory (None when it does not)."""

    shown: str
    file: Path | None = None
    relative_to_cwd: str | None = None


def database_place(settings: Settings) -> Place:
    if settings.database_url is None:
        file = (settings.data_dir / SQLITE_FILE).resolve()
        relative = None if settings.data_dir.is_absolute() \
            else f"FLUXHOST_DATA_DIR={settings.data_dir}"
        return Place(str(file), file, relative)
    url = settings.database_url
    path = _sqlite_path(url)
    if path is None:
        return Place(_without_password(url))
    file = path.resolve()
    return Place(str(file), file, None if path.is_absolute() else f"FLUXHOST_DATABASE_URL={url}")


def check_database(settings: Settings, *, may_create: bool) -> str:
    """The line naming the database, for stderr once the command is done (an error stays the
    one line on stderr); a refusal (exit 1) when the command would create a SQLite file whose
    place only the working directory decides."""
    place = database_place(settings)
    new = place.file is not None and not place.file.exists()
    if new and not may_create and place.relative_to_cwd is not None:
        raise CliError(
            f"no fluxhost database at {place.shown} ({place.relative_to_cwd}, relative to the "
            "working directory); run from the server's folder, or set FLUXHOST_DATA_DIR or "
            "FLUXHOST_DATABASE_URL (`fluxhost db upgrade` creates a new one)")
    return f"database: {place.shown}{' (new)' if new else ''}"


def _sqlite_path(url: str) -> Path | None:
    """The file of a sqlite:///FILE URL (None for another database or an in-memory one)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "FLUXHOST_DATABASE_URL (unparsable)"
