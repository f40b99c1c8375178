"""Settings for the server commands: invalid ones are one line naming the variable, exit 2."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fluxhost.cli.errors import CliError, ExitCode
from fluxhost.cli.extras import require

if TYPE_CHECKING:
    from fluxhost.settings import Settings

ENV_PREFIX = "FLUXHOST_"
MAX_SHOWN_INPUT = 60


def load_settings(command: str) -> Settings:
    """Settings() from the environment (and .env), with logging set up as they say."""
    require(command, "server")
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from fluxhost.logs import setup_logging
    from fluxhost.settings import Settings

    try:
        settings = Settings()  # type: ignore[call-arg]  # the fields come from the environment
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise CliError(f"invalid configuration: {problems}", ExitCode.USAGE) from exc
    except SettingsError as exc:
        raise CliError(f"invalid configuration: {_describe_settings_error(exc)}",
                       ExitCode.USAGE) from exc
    setup_logging(settings.log_format, settings.log_level)
    return settings


def _describe(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    name = ENV_PREFIX + loc[0].upper() if loc else "settings"
    where = f" at {'.'.join(loc[1:])}" if len(loc) > 1 else ""
    shown = repr(error.get("input"))
    if len(shown) > MAX_SHOWN_INPUT:
        shown = shown[:MAX_SHOWN_INPUT] + "..."
    return f"{name}{where}: {error.get('msg', 'invalid')} (got {shown})"


def _describe_settings_error(exc: Exception) -> str:
    # pydantic-settings says `error parsing value for field "models" from source ...` and
    # keeps the JSON decoder's complaint as the cause: name the variable and give that.
    text = str(exc)
    name = text.split('"')[1] if text.count('"') >= 2 else ""
    variable = ENV_PREFIX + name.upper() if name else "a FLUXHOST_ variable"
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, json.JSONDecodeError):
        reason = f"not valid JSON ({cause})"
    else:
        reason = str(cause) if cause is not None else text
    return f"{variable}: {reason}"
