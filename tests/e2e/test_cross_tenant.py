"""One key's hostile submissions must not touch another key's: over real HTTP, against a real
`fluxhost serve --workers 0` on PostgreSQL (and on SQLite), a hostile key sends over-long Host
headers, NUL characters, over-long or surrogate strings and out-of-range numbers while another
key submits valid work at the same time. Submissions are group-committed, so one row the
database refuses would fail its whole batch: every hostile request must be answered at the
border (4xx, never 500), and the other key must see only 200s.

Then every hostile case is sent once more to both servers, one at a time: the answers must be
the same on SQLite as on PostgreSQL (SQLite stores what PostgreSQL refuses, so a difference
would mean a bound is missing)."""

from __future__ import annotations

import base64
import io
import json
import random
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from tests.e2e.conftest import provision
from tests.e2e.harness import Node

pytestmark = [pytest.mark.service, pytest.mark.slow]

PRO = "/v1/flux-pro-finetuned"
ULTRA = "/v1/flux-pro-1.1-ultra-finetuned"
FILL = "/v1/flux-pro-1.0-fill-finetuned"
FINETUNE = "/v1/finetune"
SMALL = {"width": 256, "height": 256, "steps": 4}


def _png(mode: str) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (64, 64), (200, 30, 30, 0) if mode == "RGBA" else (200, 30, 30)).save(
        buf, "PNG")
    return buf.getvalue()


RGBA = base64.b64encode(_png("RGBA")).decode()  # a fill image that carries its own mask


def _zip() -> str:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", _png("RGB"))
        zf.writestr("b.png", _png("RGB"))
    return base64.b64encode(buf.getvalue()).decode()


ZIP = _zip()


def training(**fields: Any) -> dict[str, Any]:
    return {"file_data": ZIP, "finetune_comment": "c", "mode": "general", **fields}


@dataclass
class Server:
    """A running `fluxhost serve --workers 0` with two keys, each owning a finetune."""

    name: str
    node: Node
    db_url: str
    victim: tuple[str, str]  # (key, finetune id)
    hostile: tuple[str, str]

    def count(self, sql: str) -> int:
        engine = create_engine(self.db_url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(sql)).scalar() or 0)
        finally:
            engine.dispose()

    def blobs(self, folder: str) -> list[Path]:
        root = self.node.data_dir / "blobs" / folder
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _start(name: str, root: Path, dev_model_dir: Path, dev_lora_file: Path,
           db_url: str | None) -> Server:
    env = {"FLUXHOST_MAX_ACTIVE_TASKS_PER_KEY": "100000"}  # workers 0: everything stays queued
    if db_url:
        env["FLUXHOST_DATABASE_URL"] = db_url
    node = Node(data_dir=root / name, dev_model_dir=dev_model_dir, extra_env=env)
    node.data_dir.mkdir(parents=True)
    victim = provision(node, dev_lora_file, "victim")
    hostile = provision(node, dev_lora_file, "hostile")
    node.serve(workers=0)
    url = db_url or f"sqlite:///{(node.data_dir / 'fluxhost.db').resolve()}"
    return Server(name, node, url, victim, hostile)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path, dev_lora_file: Path,
            pg_server: str) -> Iterator[dict[str, Server]]:
    import psycopg

    db = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    pg_url = pg_server.rsplit("/", 1)[0] + f"/{db}"
    root = tmp_path_factory.mktemp("cross-tenant")
    started: dict[str, Server] = {}
    try:
        started["postgres"] = _start("postgres", root, dev_model_dir, dev_lora_file, pg_url)
        started["sqlite"] = _start("sqlite", root, dev_model_dir, dev_lora_file, None)
        yield started
    finally:
        for server in started.values():
            server.node.stop_all()


# --- the hostile key's requests --------------------------------------------------------------

Send = Callable[[httpx.Client, str, str], httpx.Response]


def _post(path: str, body: dict[str, Any] | None = None, raw: bytes | None = None,
          headers: dict[str, str] | None = None) -> Send:
    def send(c: httpx.Client, key: str, ft: str) -> httpx.Response:
        data = raw.replace(b'"FT"', f'"{ft}"'.encode()) if raw is not None else json.dumps(
            {k: (ft if v == "FT" else v) for k, v in (body or {}).items()}).encode()
        return c.post(path, content=data, headers={"x-key": key,
                                                   "content-type": "application/json",
                                                   **(headers or {})})
    return send


def _get(path: str, param: str, value: str) -> Send:
    def send(c: httpx.Client, key: str, ft: str) -> httpx.Response:
        return c.get(path, params={param: value}, headers={"x-key": key})
    return send


LONG_HOST = "h" * 600 + ".example"
# name -> (request, the status it must get; None: any 4xx, a bound another module owns)
HOSTILE: dict[str, tuple[Send, int | None]] = {
    "host over 500 chars": (
        _post(PRO, {"finetune_id": "FT", **SMALL}, headers={"host": LONG_HOST}), 400),
    "host not host:port": (_post(PRO, {"finetune_id": "FT"}, headers={"host": "a b/c"}), 400),
    "host bad port": (
        _post(PRO, {"finetune_id": "FT"}, headers={"host": "example.com:99999"}), 400),
    "forwarded host over 500": (
        _post(PRO, {"finetune_id": "FT"}, headers={"x-forwarded-host": LONG_HOST}), 400),
    "forwarded prefix not a path": (
        _post(PRO, {"finetune_id": "FT"}, headers={"x-forwarded-prefix": "@evil.example"}), 400),
    "forwarded prefix over 200": (
        _post(PRO, {"finetune_id": "FT"}, headers={"x-forwarded-prefix": "/" + "p" * 600}), 400),
    "fill with a long host": (
        _post(FILL, {"finetune_id": "FT", "image": RGBA}, headers={"host": LONG_HOST}), 400),
    "training with a long host": (_post(FINETUNE, training(), headers={"host": LONG_HOST}), 400),
    "NUL in prompt": (_post(PRO, {"finetune_id": "FT", "prompt": "a\u0000b"}), 422),
    "NUL in finetune_id": (_post(PRO, {"finetune_id": "x\u0000"}), 422),
    "NUL in comment": (_post(FINETUNE, training(finetune_comment="a\u0000b")), 422),
    "NUL in trigger_word": (_post(FINETUNE, training(trigger_word="T\u0000K")), 422),
    "trigger_word 201 chars": (_post(FINETUNE, training(trigger_word="T" * 201)), 422),
    "comment 100k chars": (_post(FINETUNE, training(finetune_comment="c" * 100_000)), 422),
    "CR/LF webhook secret on training": (
        _post(FINETUNE, training(webhook_url="http://127.0.0.1:9/h",
                                 webhook_secret="s\r\nX-Evil: 1")), 422),
    "CR/LF webhook secret on generation": (
        _post(PRO, {"finetune_id": "FT", "webhook_url": "http://127.0.0.1:9/h",
                    "webhook_secret": "s\r\nX-Evil: 1"}), 422),
    "finetune_id 10k chars": (_post(PRO, {"finetune_id": "f" * 10_000}), 404),
    "seed 10**30": (_post(PRO, {"finetune_id": "FT", "seed": 10**30}), 422),
    "seed below -2**63": (_post(ULTRA, {"finetune_id": "FT", "seed": -(2**63) - 1}), 422),
    "seed of 5000 digits": (_post(PRO, raw=b'{"finetune_id": "FT", "seed": 1' + b"0" * 4999
                                  + b"}"), None),
    "strength 1e400": (_post(PRO, raw=b'{"finetune_id": "FT", "finetune_strength": 1e400}'),
                       None),
    "NaN strength": (_post(PRO, raw=b'{"finetune_id": "FT", "finetune_strength": NaN}'), None),
    "surrogate in prompt": (_post(PRO, raw=b'{"finetune_id": "FT", "prompt": "x\\ud800"}'),
                            None),
    "surrogate in comment": (_post(FINETUNE, raw=json.dumps(training()).encode()[:-1]
                                   + b', "finetune_comment": "\\udfff"}'), None),
    "invalid UTF-8": (_post(PRO, raw=b'{"finetune_id": "FT", "prompt": "\xff\xfe"}'), None),
    "NUL in get_result id": (_get("/v1/get_result", "id", "a\u0000b"), 404),
    "get_result id 10k chars": (_get("/v1/get_result", "id", "i" * 10_000), 404),
    "NUL in finetune_details id": (_get("/v1/finetune_details", "finetune_id", "a\u0000"), 404),
    "NUL in delete id": (_post("/v1/delete_finetune", {"finetune_id": "a\u0000"}), 422),
    "delete id 10k chars": (_post("/v1/delete_finetune", {"finetune_id": "d" * 10_000}), 404),
}

# The other key's valid work: (request, how many times).
VALID: list[tuple[Send, int]] = [
    (_post(PRO, {"finetune_id": "FT", "prompt": "a lighthouse", **SMALL}), 40),
    (_post(ULTRA, {"finetune_id": "FT", "prompt": "a lighthouse", "aspect_ratio": "1:1"}), 10),
    (_post(FILL, {"finetune_id": "FT", "image": RGBA, "prompt": "p"}), 10),
    (_post(FINETUNE, training(finetune_comment="mine", trigger_word="TOK")), 5),
]


def _check_expected(name: str, status: int, expected: int | None, body: str) -> None:
    assert status != 500 and 400 <= status < 500, f"{name}: {status} {body[:300]}"
    if expected is not None:
        assert status == expected, f"{name}: {status} (wanted {expected}) {body[:300]}"


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_hostile_key_does_not_disturb_another_key(servers: dict[str, Server],
                                                  backend: str) -> None:
    server = servers[backend]
    jobs: list[tuple[str, Send, tuple[str, str]]] = []
    for name, (send, _) in HOSTILE.items():
        jobs += [(name, send, server.hostile)] * 4
    for send, n in VALID:
        jobs += [("valid", send, server.victim)] * n
    random.Random(8).shuffle(jobs)

    def run(job: tuple[str, Send, tuple[str, str]]) -> tuple[str, int, str]:
        name, send, (key, ft) = job
        r = send(client, key, ft)
        return name, r.status_code, r.text

    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    with httpx.Client(base_url=server.node.url, timeout=60, limits=limits) as client, \
            ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(run, jobs))

    valid = [(status, body) for name, status, body in answers if name == "valid"]
    assert [s for s, _ in valid] == [200] * len(valid), [b[:300] for s, b in valid if s != 200]
    for name, status, body in answers:
        if name != "valid":
            _check_expected(name, status, HOSTILE[name][1], body)
    logs = server.node.logs()
    for sign_of_a_500 in ("unhandled error", "submission batch failed", "Traceback"):
        assert sign_of_a_500 not in logs, logs

    # Every valid submission is a row; none of the hostile ones is, and no blob is left over.
    victim_tasks = sum(n for _, n in VALID)
    key_of = "(SELECT id FROM api_keys WHERE name = '{}')"
    assert server.count(f"SELECT count(*) FROM tasks WHERE key_id = {key_of.format('victim')}"
                        ) == victim_tasks
    assert server.count(f"SELECT count(*) FROM tasks WHERE key_id = {key_of.format('hostile')}"
                        ) == 0
    assert server.count("SELECT count(*) FROM finetunes") == 2 + 5  # imported + victim's trained
    assert len(server.blobs("training")) == 5
    assert len(server.blobs("inputs")) == 10  # the victim's fill images, one blob each
    assert server.count("SELECT max(length(base_url)) FROM tasks") < 100


def test_every_hostile_case_answers_the_same_on_sqlite_and_postgres(
    servers: dict[str, Server],
) -> None:
    answers: dict[str, dict[str, int]] = {}
    for backend, server in servers.items():
        with httpx.Client(base_url=server.node.url, timeout=60) as client:
            answers[backend] = {}
            for name, (send, expected) in HOSTILE.items():
                r = send(client, *server.hostile)
                _check_expected(f"{backend}: {name}", r.status_code, expected, r.text)
                answers[backend][name] = r.status_code
    assert answers["sqlite"] == answers["postgres"]
