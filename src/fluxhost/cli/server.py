"""`fluxhost serve` and `fluxhost worker`: the long-running server processes."""

from __future__ import annotations

import json
import logging
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fluxhost.cli.config import load_settings
from fluxhost.cli.connection import DEFAULT_BASE_URL
from fluxhost.cli.doctor import DEVICE_HELP, with_device
from fluxhost.cli.errors import CliError, ExitCode
from fluxhost.cli.extras import imports_of, require
from fluxhost.cli.listen import bind
from fluxhost.cli.services import open_services
from fluxhost.kinds import WORKER_KINDS

if TYPE_CHECKING:
    from fluxhost.settings import Settings

log = logging.getLogger("fluxhost")

DEV_BANNER = """
==============================================================================
  fluxhost is using the DEV MODEL SET: tiny pipelines with RANDOM weights.
  Every image it makes is noise. Configure real weights with FLUXHOST_MODELS,
  e.g. FLUXHOST_MODELS='{"base": "black-forest-labs/FLUX.1-dev"}'.
==============================================================================
"""
MIGRATE_HELP = "migrate the schema to head first (see FLUXHOST_AUTO_MIGRATE)"
# The first request `serve --dev` prints goes to the first endpoint of catalog.FIRST_REQUEST the
# model set serves: plain text to image needs no input image and no finetune. Its body by
# /health's model_set. emoji64 knows emoji names only and draws them best at the settings of
# its documented figures (docs/emoji64.md: 20 steps, true CFG 4); other sets get the server's
# default steps and guidance.
DEMO_EXAMPLE: dict[str, str | int] = {"prompt": "red apple", "width": 512, "height": 512,
                                      "steps": 20, "guidance": 4}
PLAIN_EXAMPLE: dict[str, str | int] = {"prompt": "a lighthouse at dusk", "width": 512,
                                       "height": 512}
MODEL_NOTES = {
    "emoji64": "emoji64 demo (64x64, trained on emoji; not FLUX): prompts are emoji names; "
               "FLUX.2 endpoints also edit ('make it blue')",
    "dev": "dev model set, RANDOM weights: every image is noise, whatever the prompt",
}


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default: "
                                             "$FLUXHOST_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: $FLUXHOST_PORT or 8000)")]
    = None,
    workers: Annotated[int | None, typer.Option(
        help="embedded worker threads (0: API only) (default: $FLUXHOST_WORKERS or 1)")] = None,
    dev: Annotated[bool, typer.Option(
        "--dev", help="create a dev key (on the dev model set also a dev finetune), print a "
        "first request")] = False,
    migrate: Annotated[bool | None, typer.Option("--migrate", help=MIGRATE_HELP)] = None,
) -> None:
    """Run the API server (with embedded workers)."""
    settings = load_settings("serve")
    updates = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items()
               if v is not None}
    settings = settings.model_copy(update=updates)
    if settings.workers > 0:  # embedded workers run the models
        require("serve", "engine")
        check_models("serve", settings)
    # Bound before the schema is migrated or a model built: a port in use is one line, now.
    sock = bind(settings.host, settings.port)
    try:
        with imports_of("serve"):
            _run_server(settings, sock, dev, migrate)
    finally:
        sock.close()


def _run_server(settings: Settings, sock: Any, dev: bool, migrate: bool | None) -> None:
    # The schema first: a database this build cannot run on is refused before the web stack
    # is imported (~1 CPU-s).
    svc = open_services(settings, migrate)

    import uvicorn

    from fluxhost.api.app import create_app
    from fluxhost.api.httpserver import uvicorn_options
    from fluxhost.api.routers.health import model_set_name

    app = create_app(settings, svc)
    url = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    print_model_banner(settings)
    if dev:
        from fluxhost.bootstrap import ensure_dev_setup

        made = ensure_dev_setup(svc, with_finetune=settings.uses_dev_models)
        print(first_steps(url, made.key, model_set_name(settings), example_endpoint(settings),
                          made.finetune_id), flush=True)
    else:
        print(f"fluxhost serving on {url} (readiness: {url}/ready)", flush=True)
    # Connections get the grace period too, plus a little: the lifespan's shutdown (which
    # waits for running tasks) only starts once uvicorn has closed them.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                            access_log=False,
                            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
                            **uvicorn_options(settings.max_header_bytes))
    uvicorn.Server(config).run(sockets=[sock])


def print_model_banner(settings: Settings) -> None:
    """Say so on stderr when the models are the dev set (noise) or the emoji demo."""
    if settings.uses_dev_models:
        print(DEV_BANNER, file=sys.stderr, flush=True)
    elif settings.uses_demo_models:
        # Inside: fluxhost.engine pulls torch, which the client commands must not import.
        from fluxhost.engine.demo import DEMO_BANNER

        print(DEMO_BANNER, file=sys.stderr, flush=True)


def _fluxhost_command() -> str:
    """How this shell reached fluxhost (`.venv/bin/fluxhost` under `make serve`, where the
    venv is not on PATH), for a command line the user can paste."""
    invoked = sys.argv[0] if sys.argv else ""
    return shlex.quote(invoked) if Path(invoked).name == "fluxhost" else "fluxhost"


def example_endpoint(settings: Settings) -> str | None:
    """The text-to-image endpoint of the first request, if the model set serves one."""
    from fluxhost.api.routers.health import served_endpoints
    from fluxhost.catalog import FIRST_REQUEST

    served, _ = served_endpoints(settings)
    return next((e for e in FIRST_REQUEST if f"/v1/{e}" in served), None)


def first_steps(url: str, key: str, model_set: str, endpoint: str | None,
                finetune_id: str | None = None) -> str:
    """What `serve --dev` prints: where things are, the key, and requests to paste."""
    note = MODEL_NOTES.get(model_set, "the weights configured in FLUXHOST_MODELS")
    head = f"""
fluxhost is up:      {url}
playground:          {url}/  (paste the key below; generate and train in the browser)
API docs:            {url}/docs
readiness:           {url}/ready (503 with a reason until the worker's model is loaded)
dev key (x-key):     {key}
models:              {note}
"""
    if endpoint is None:
        return head + f"\nNo text-to-image endpoint is served here: {url}/ready lists those " \
                      "that are.\n"
    body = DEMO_EXAMPLE if model_set == "emoji64" else PLAIN_EXAMPLE
    steps = head + _first_request(url, key, endpoint, body)
    if finetune_id is not None:
        steps += _finetune_example(url, key, finetune_id)
    return steps


def _first_request(url: str, key: str, endpoint: str, body: dict[str, str | int]) -> str:
    return f"""
Submit a generation, then poll the polling_url it answers with:

  curl -s -X POST {url}/v1/{endpoint} \\
    -H 'x-key: {key}' -H 'Content-Type: application/json' \\
    -d {shlex.quote(json.dumps(body))}

  curl -s '{url}/v1/get_result?id=<id from above>'

Or with the CLI, which waits, shows progress and writes the image:

  {_cli_env(url, key)} {_fluxhost_command()} generate {endpoint} \\
    {_flags(body)}
"""


def _finetune_example(url: str, key: str, finetune_id: str) -> str:
    from fluxhost.catalog import FINETUNED_TEXT_TO_IMAGE

    body = {"finetune_id": finetune_id, **PLAIN_EXAMPLE}
    return f"""
A finetuned endpoint, with the dev finetune (a random LoRA on the random models: noise too):

  {_cli_env(url, key)} {_fluxhost_command()} generate {FINETUNED_TEXT_TO_IMAGE} \\
    {_flags(body)}
"""


def _cli_env(url: str, key: str) -> str:
    """The CLI's connection settings: the base URL only where the client's default misses
    this server (another port, a public base URL)."""
    base = "" if url.rstrip("/") == DEFAULT_BASE_URL else f" FLUXHOST_BASE_URL={shlex.quote(url)}"
    return f"FLUXHOST_API_KEY={key}{base}"


def _flags(body: dict[str, str | int]) -> str:
    """`body` as `fluxhost generate` flags (a field's flag is its name, dashed)."""
    return " ".join(f"--{name.replace('_', '-')} {shlex.quote(str(value))}"
                    for name, value in body.items())


def worker(
    concurrency: Annotated[int, typer.Option(help="worker threads")] = 1,
    no_webhooks: Annotated[bool, typer.Option(
        "--no-webhooks", help="leave webhook delivery to other processes")] = False,
    kinds: Annotated[str | None, typer.Option(
        metavar="KIND,...", help=f"claim only tasks of these kinds: {', '.join(WORKER_KINDS)}, "
        "or a kind FLUXHOST_MODELS defines (default: $FLUXHOST_WORKER_KINDS, else all the "
        "model set has)")]
    = None,
    migrate: Annotated[bool | None, typer.Option("--migrate", help=MIGRATE_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(
        help="serve this process's Prometheus metrics on this port "
        "(default: $FLUXHOST_METRICS_PORT; unset: none)")] = None,
    device: Annotated[str | None, typer.Option(
        help=f"{DEVICE_HELP}; one worker process per GPU: --device cuda:0, cuda:1, ...")]
    = None,
) -> None:
    """Run workers only (no HTTP), anywhere that reaches the database."""
    settings = with_device(load_settings("worker"), device)
    require("worker", "engine")
    check_models("worker", settings)
    if kinds is not None:
        settings = settings.model_copy(update={"worker_kinds": _kinds(kinds)})
    with imports_of("worker"):
        print_model_banner(settings)
        _run_worker(settings, concurrency, not no_webhooks, metrics_port, migrate)


def check_models(command: str, settings: Settings) -> None:
    """Stop in one line (exit 2) when a configured memory or speed mode cannot run here;
    log the memory plan of configured weights."""
    with imports_of(command):
        from fluxhost.engine.quantize import ModeUnavailable
        from fluxhost.engine.startup import check, log_plan

        try:
            check(settings)
        except ModeUnavailable as exc:
            raise CliError(str(exc), ExitCode.USAGE) from exc
        log_plan(settings)


def _kinds(value: str) -> Any:
    from pydantic import ValidationError

    from fluxhost.settings import Settings

    try:  # validated as the setting is
        return Settings.model_validate({"worker_kinds": value}).worker_kinds
    except ValidationError as exc:
        raise CliError(f"--kinds: {exc.errors()[0]['msg']}", 2) from exc


def _run_worker(settings: Settings, concurrency: int, webhooks: bool, metrics_port: int | None,
                migrate: bool | None) -> None:
    from fluxhost.worker.runtime import Runtime

    svc = open_services(settings, migrate)
    runtime = Runtime(svc, workers=concurrency, dispatch_webhooks=webhooks)
    _serve_worker_metrics(runtime, metrics_port or settings.metrics_port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal received; shutting down", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime.start()
    log.info("worker started", extra={"concurrency": concurrency})
    while not stop.wait(1.0):
        pass
    runtime.stop(grace_seconds=settings.shutdown_grace_seconds)


def _serve_worker_metrics(runtime: Any, port: int | None) -> None:
    if port is None:
        return
    from fluxhost.metrics.server import serve_process_metrics

    try:
        serve_process_metrics(runtime, port)
    except OSError as exc:
        raise CliError(f"cannot serve metrics on port {port}: {exc}") from exc
    log.info("metrics served", extra={"port": port, "path": "/metrics"})
