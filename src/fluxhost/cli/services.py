"""The server's services for the operator commands, on a schema checked first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fluxhost.cli.errors import CliError

if TYPE_CHECKING:
    from fluxhost.settings import Settings


def open_services(settings: Settings, migrate: bool | None = None) -> Any:
    """The services, on a database whose schema is at this build's head: migrated first when
    `migrate` (or by default, see Settings.auto_migrate), else a one-line refusal."""
    from fluxhost.services import build_services
    from fluxhost.store.schema import SchemaProblem, migrates_by_default, open_checked

    url = settings.resolved_database_url
    if migrate is None:
        migrate = migrates_by_default(url, settings.auto_migrate)
    try:
        store = open_checked(url, migrate_schema=migrate)
    except SchemaProblem as exc:
        raise CliError(str(exc)) from exc
    return build_services(settings, store)
