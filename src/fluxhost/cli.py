"""The `fluxhost` command: serve, worker, db, keys, usage, finetunes."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fluxhost.settings import Settings

log = logging.getLogger("fluxhost")

DEV_BANNER = """
==============================================================================
  fluxhost is using the DEV MODEL SET: tiny pipelines with RANDOM weights.
  Every image it makes is noise. Configure real weights with FLUXHOST_MODELS,
  e.g. FLUXHOST_MODELS='{"base": "black-forest-labs/FLUX.1-dev"}'.
==============================================================================
"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"FLUXHOST_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        print(f"error: invalid configuration: {problems}", file=sys.stderr)
        return 2
    from fluxhost.logs import setup_logging

    setup_logging(settings.log_format, settings.log_level)
    try:
        return int(args.func(args, settings) or 0)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


class CliError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fluxhost", description=__doc__)
    sub = p.add_subparsers()

    serve = sub.add_parser("serve", help="run the API server (with embedded workers)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None,
                       help="embedded worker threads (0: API only)")
    serve.add_argument("--dev", action="store_true",
                       help="create a dev key and dev finetune, print a first curl")
    serve.add_argument("--migrate", action="store_true", default=None,
                       help="migrate the schema to head first (see FLUXHOST_AUTO_MIGRATE)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run workers only (no HTTP)")
    worker.add_argument("--concurrency", type=int, default=1)
    worker.add_argument("--no-webhooks", action="store_true",
                        help="leave webhook delivery to other processes")
    worker.add_argument("--kinds", default=None, metavar="KIND,...",
                        help="claim only tasks of these kinds: base, fill, canny, depth, "
                        "kontext, training (default: $FLUXHOST_WORKER_KINDS, else all the model "
                        "set has)")
    worker.add_argument("--migrate", action="store_true", default=None,
                        help="migrate the schema to head first (see FLUXHOST_AUTO_MIGRATE)")
    worker.add_argument("--metrics-port", type=int, default=None,
                        help="serve this process's Prometheus metrics on this port "
                        "(default: $FLUXHOST_METRICS_PORT; unset: none)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema").add_subparsers()
    d = db.add_parser("upgrade", help="migrate the schema to this build's head")
    d.set_defaults(func=cmd_db_upgrade)
    d = db.add_parser("current", help="show the schema revision and this build's head")
    d.add_argument("--check", action="store_true", help="exit 1 unless the schema is at head")
    d.set_defaults(func=cmd_db_current)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers()
    k = keys.add_parser("create", help="create a key; prints it once")
    k.add_argument("name")
    k.set_defaults(func=cmd_keys_create)
    keys.add_parser("list", help="list keys").set_defaults(func=cmd_keys_list)
    k = keys.add_parser("revoke", help="revoke a key")
    k.add_argument("name")
    k.set_defaults(func=cmd_keys_revoke)

    u = sub.add_parser("usage", help="per-key usage: images, megapixels, engine seconds, cost")
    u.add_argument("--key", default=None, help="only this key (by name)")
    u.add_argument("--since", default=None, type=_day, metavar="DATE",
                   help="only days from DATE on (YYYY-MM-DD, UTC)")
    u.add_argument("--json", action="store_true", help="one JSON array of rows")
    u.set_defaults(func=cmd_usage)

    fts = sub.add_parser("finetunes", help="manage finetunes").add_subparsers()
    f = fts.add_parser("import", help="register an existing FLUX LoRA (.safetensors)")
    f.add_argument("file", type=Path)
    f.add_argument("--owner", required=True, help="name of the key that will own it")
    f.add_argument("--comment", default="")
    f.add_argument("--trigger-word", default="TOK")
    f.set_defaults(func=cmd_finetunes_import)

    gen = sub.add_parser("generate", help="generate an image on a server over HTTP (client)")
    gen.add_argument("--url", default=None,
                     help="server URL (default: $FLUXHOST_URL or http://127.0.0.1:8000)")
    gen.add_argument("--key", default=None, help="API key (default: $FLUXHOST_KEY)")
    gen.add_argument("--finetune-id", required=True)
    gen.add_argument("--endpoint", default="flux-pro-finetuned")
    gen.add_argument("--prompt", default=None)
    gen.add_argument("--set", dest="assignments", action="append", default=[],
                     metavar="NAME=VALUE", help="another request field; VALUE is JSON if it "
                     "parses as JSON, else a string (repeatable)")
    gen.add_argument("--out", type=Path, default=None,
                     help="output file (default: <task id>.<ext> from the content type)")
    gen.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the task")
    gen.set_defaults(func=cmd_generate)
    return p


def _services(settings: Settings, migrate: bool | None = None) -> Any:
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


# --- serve / worker ------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from fluxhost.api.app import create_app

    updates = {k: v for k, v in {"host": args.host, "port": args.port,
                                 "workers": args.workers}.items() if v is not None}
    settings = settings.model_copy(update=updates)
    svc = _services(settings, args.migrate)
    app = create_app(settings, svc)
    url = settings.public_base_url or f"http://{settings.host}:{settings.port}"
    if settings.uses_dev_models:
        print(DEV_BANNER, file=sys.stderr, flush=True)
    if args.dev:
        from fluxhost.bootstrap import ensure_dev_setup

        dev = ensure_dev_setup(svc)
        print(_first_steps(url, dev.key, dev.finetune_id), flush=True)
    else:
        print(f"fluxhost serving on {url} (readiness: {url}/ready)", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=int(settings.shutdown_grace_seconds)
                + 5)
    return 0


def _first_steps(url: str, key: str, finetune_id: str) -> str:
    return f"""
fluxhost is up:      {url}
API docs:            {url}/docs
readiness:           {url}/ready (503 with a reason until the worker's model is loaded)
dev key (x-key):     {key}
dev finetune id:     {finetune_id}

Submit a generation, then poll the polling_url it answers with:

  curl -s -X POST {url}/v1/flux-pro-finetuned \\
    -H 'x-key: {key}' -H 'Content-Type: application/json' \\
    -d '{{"finetune_id": "{finetune_id}", "prompt": "a lighthouse at dusk", \
"width": 512, "height": 512, "steps": 8}}'

  curl -s '{url}/v1/get_result?id=<id from above>'

(The dev model draws noise: the image is real output of a tiny random network.)
"""


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from fluxhost.worker.runtime import Runtime

    if args.kinds is not None:
        try:  # validated as the setting is
            kinds = Settings.model_validate({"worker_kinds": args.kinds}).worker_kinds
        except ValidationError as exc:
            raise CliError(f"--kinds: {exc.errors()[0]['msg']}") from exc
        settings = settings.model_copy(update={"worker_kinds": kinds})
    if settings.uses_dev_models:
        print(DEV_BANNER, file=sys.stderr, flush=True)
    svc = _services(settings, args.migrate)
    runtime = Runtime(svc, workers=args.concurrency, dispatch_webhooks=not args.no_webhooks)
    _serve_worker_metrics(runtime, args.metrics_port or settings.metrics_port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal received; shutting down", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime.start()
    log.info("worker started", extra={"concurrency": args.concurrency})
    while not stop.wait(1.0):
        pass
    runtime.stop(grace_seconds=settings.shutdown_grace_seconds)
    return 0


def _serve_worker_metrics(runtime: Any, port: int | None) -> None:
    if port is None:
        return
    from fluxhost.metrics.server import serve_process_metrics

    try:
        serve_process_metrics(runtime, port)
    except OSError as exc:
        raise CliError(f"cannot serve metrics on port {port}: {exc}") from exc
    log.info("metrics served", extra={"port": port, "path": "/metrics"})


# --- db --------------------------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from fluxhost.store.schema import SchemaProblem, open_checked

    try:
        # db.migrate, as `serve --migrate` runs it (one migrator at a time on PostgreSQL).
        open_checked(settings.resolved_database_url, migrate_schema=True).dispose()
    except SchemaProblem as exc:
        raise CliError(str(exc)) from exc
    return cmd_db_current(args, settings)


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
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
    return 1 if problem is not None and getattr(args, "check", False) else 0


# --- usage -----------------------------------------------------------------------------------
def _day(value: str) -> str:
    import datetime as dt

    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def cmd_usage(args: argparse.Namespace, settings: Settings) -> int:
    """Usage rows (store/usage.py) by day, key and endpoint, with a total line."""
    import json

    from fluxhost.store import keys
    from fluxhost.store.usage import read_usage

    store = _services(settings).store
    if args.key is not None and keys.get_key_by_name(store, args.key) is None:
        raise CliError(f"no key named {args.key!r}")
    rows = read_usage(store, key=args.key, since=args.since)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return 0
    header = (f"{'DAY':<10} {'KEY':<20} {'ENDPOINT':<32} {'TASKS':>6} {'IMAGES':>6} "
              f"{'IN_MP':>9} {'OUT_MP':>9} {'ENGINE_S':>10} {'COST':>10}")
    print(header)

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
    return 0


# --- keys ------------------------------------------------------------------------------------
def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from fluxhost.store import keys

    try:
        info, plaintext = keys.create_key(_services(settings).store, args.name)
    except keys.KeyError_ as exc:
        raise CliError(str(exc)) from exc
    print(plaintext)
    print(f"created key {info.name!r} ({info.prefix}...). It is shown only this once.",
          file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt

    from fluxhost.store import keys

    print(f"{'NAME':<24} {'PREFIX':<10} {'CREATED':<20} STATUS")
    for info in keys.list_keys(_services(settings).store):
        created = dt.datetime.fromtimestamp(info.created_at).strftime("%Y-%m-%d %H:%M:%S")
        status = "revoked" if info.revoked_at else "active"
        print(f"{info.name:<24} {info.prefix:<10} {created:<20} {status}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from fluxhost.store import keys

    try:
        keys.revoke_key(_services(settings).store, args.name)
    except keys.KeyError_ as exc:
        raise CliError(str(exc)) from exc
    print(f"revoked key {args.name!r}")
    return 0


# --- finetunes -----------------------------------------------------------------------------
def cmd_finetunes_import(args: argparse.Namespace, settings: Settings) -> int:
    from fluxhost.finetunes import InvalidLora, import_lora
    from fluxhost.store import keys

    svc = _services(settings)
    owner = keys.get_key_by_name(svc.store, args.owner)
    if owner is None or owner.revoked_at is not None:
        raise CliError(f"no active key named {args.owner!r}")
    if not args.file.is_file():
        raise CliError(f"no such file: {args.file}")
    try:
        ft = import_lora(svc, args.file, owner_key_id=owner.id, comment=args.comment,
                         trigger_word=args.trigger_word)
    except InvalidLora as exc:
        raise CliError(str(exc)) from exc
    print(ft.id)
    return 0


# --- generate (client) -----------------------------------------------------------------------
DEFAULT_URL = "http://127.0.0.1:8000"


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    # HTTP only: the client package imports neither torch nor the database layer, so this
    # starts fast on machines that have no engine installed.
    import os

    import httpx

    from fluxhost.client import Client, FluxhostError

    url = args.url or os.environ.get("FLUXHOST_URL") or DEFAULT_URL
    key = args.key or os.environ.get("FLUXHOST_KEY")
    if not key:
        raise CliError("no API key: pass --key or set FLUXHOST_KEY")
    fields: dict[str, Any] = {"finetune_id": args.finetune_id, "prompt": args.prompt}
    fields.update(_parse_assignments(args.assignments))
    try:
        with Client(url, key) as client:
            submission = client.submit(args.endpoint, **fields)
            print(f"task {submission.id}", file=sys.stderr, flush=True)
            result = client.wait(submission, timeout=args.timeout)
            sample = client.fetch_sample(result)
    except (FluxhostError, TimeoutError) as exc:
        raise CliError(str(exc)) from exc
    except httpx.HTTPError as exc:
        raise CliError(f"cannot talk to {url}: {exc}") from exc
    out: Path = args.out or Path(f"{submission.id}.{sample.extension}")
    try:
        out.write_bytes(sample.data)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc}") from exc
    print(out)
    return 0


def _parse_assignments(items: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs; VALUE as JSON when it parses (42, true, null), else the string."""
    import json

    def no_constants(name: str) -> Any:
        raise ValueError(name)  # NaN/Infinity parse, but are not JSON a server accepts

    fields: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"--set expects NAME=VALUE, got {item!r}")
        try:
            value: Any = json.loads(raw, parse_constant=no_constants)
        except ValueError:
            value = raw
        fields[name.strip()] = value
    return fields


if __name__ == "__main__":
    sys.exit(main())
