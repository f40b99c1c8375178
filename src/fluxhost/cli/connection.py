"""How the client commands reach a server: the --key/--base-url flags, the SDK client, and
the SDK's exceptions as one-line errors with their exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from fluxhost.cli.errors import CliError, ExitCode

if TYPE_CHECKING:
    from fluxhost.client import Client

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# The first set wins. FLUXHOST_KEY and FLUXHOST_URL are the names an earlier release read.
KEY_ENVS = ["FLUXHOST_API_KEY", "BFL_API_KEY", "FLUXHOST_KEY"]
BASE_URL_ENVS = ["FLUXHOST_BASE_URL", "FLUXHOST_URL"]
NO_KEY = "no API key: pass --key or set FLUXHOST_API_KEY (BFL_API_KEY is read too)"

KeyOption = Annotated[str | None, typer.Option(
    "--key", envvar=KEY_ENVS, show_envvar=False, rich_help_panel="Connection",
    help="API key, sent as x-key (default: $FLUXHOST_API_KEY, else $BFL_API_KEY)")]
BaseUrlOption = Annotated[str | None, typer.Option(
    "--base-url", "--url", envvar=BASE_URL_ENVS, show_envvar=False,
    rich_help_panel="Connection",
    help=f"server URL, e.g. https://api.bfl.ai (default: $FLUXHOST_BASE_URL, else "
    f"{DEFAULT_BASE_URL})")]


@dataclass(frozen=True)
class Target:
    """Where to send requests, and with which key."""

    base_url: str
    key: str | None

    def require_key(self) -> Target:
        if not self.key:
            raise CliError(NO_KEY, ExitCode.USAGE)
        return self


def target(base_url: str | None, key: str | None) -> Target:
    return Target((base_url or DEFAULT_BASE_URL).strip(), (key or "").strip() or None)


@contextmanager
def connect(where: Target) -> Iterator[Client]:
    """An SDK client for `where`; inside, the SDK's exceptions become one-line CliErrors."""
    from fluxhost.client import Client

    with sdk_errors(where):
        try:
            client = Client(base_url=where.base_url, api_key=where.key)
        except ValueError as exc:  # a malformed base URL
            raise CliError(f"--base-url: {exc}", ExitCode.USAGE) from exc
        with client:
            yield client


@contextmanager
def sdk_errors(where: Target) -> Iterator[None]:
    import httpx

    from fluxhost.client import FluxhostError, TaskFailed, WaitTimeout

    try:
        yield
    except WaitTimeout as exc:
        raise CliError(f"{exc}; it continues on the server: fluxhost result {exc.task_id}",
                       ExitCode.TIMEOUT) from exc
    except TaskFailed as exc:
        raise CliError(str(exc), ExitCode.TASK_FAILED) from exc
    except FluxhostError as exc:
        # An APIError reads "HTTP 403: <the contract's detail>". One with no status was
        # refused by the SDK before sending (a field the request model rejects): usage.
        code = ExitCode.ERROR if exc.status_code is not None else ExitCode.USAGE
        raise CliError(str(exc), code) from exc
    except httpx.ConnectError as exc:
        raise CliError(f"cannot reach {where.base_url}: {_reason(exc)}") from exc
    except httpx.TimeoutException as exc:
        raise CliError(f"{where.base_url} did not answer in time ({type(exc).__name__})"
                       ) from exc
    except httpx.HTTPError as exc:
        raise CliError(f"talking to {where.base_url} failed: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused (is the server running?)"
    return text or type(exc).__name__
