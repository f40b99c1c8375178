"""Shared fixtures: the dev model set is built once per session; every test gets its own data
directory, database and blob store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fluxhost.settings import Settings

# The wire contract this repository implements (a copy of the provider's sources, kept in-tree
# so that a clone tests itself anywhere).
CONTRACT_DIR = Path(__file__).resolve().parents[1] / "contract"

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _name in list(os.environ):
    if _name.startswith("FLUXHOST_"):
        del os.environ[_name]
# One compute thread per process, inherited by every server and worker the tests start: the
# suite runs several pytest-xdist processes, each with servers and workers, on few cores, and
# torch's OpenMP threads spin while they wait, so N processes x cores threads slow each other
# down tens of times (a two-worker PostgreSQL test: 143 s at torch's default, 24 s at one
# thread). Set before anything imports torch. An operator's equivalent is FLUXHOST_TORCH_THREADS.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

# The longest files first (from `--durations`): with `--dist loadfile` a process takes a whole
# file, so a long file started last would run alone at the end.
LONGEST_FIRST = (
    "tests/e2e/test_emoji_finetune.py",
    "tests/e2e/test_chaos.py",
    "tests/api/test_schemathesis.py",
    "tests/api/test_schemathesis_postgresql.py",
    "tests/e2e/test_training.py",
    "tests/e2e/test_scaleout.py",
    "tests/e2e/test_custom_kinds_e2e.py",
    "tests/e2e/test_durability.py",
    "tests/e2e/test_playground_browser.py",
    "tests/engine/test_emoji_adherence.py",
    "tests/e2e/test_lifecycle.py",
    "tests/e2e/test_wakeup.py",
    "tests/e2e/test_blob_outage.py",
    "tests/e2e/test_fleet_s3.py",
    "tests/cli/test_db.py",
    "tests/engine/test_speed.py",
    "tests/cli/test_server_cli.py",
    "tests/e2e/test_endpoints.py",
    "tests/cli/test_client_cli.py",
    "tests/worker/test_klein_training.py",
    "tests/cli/test_doctor.py",
    "tests/api/test_speed_modes_ready.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order inside a file and among the rest is kept


@pytest.fixture(scope="session")
def dev_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxhost.engine.devmodels import ensure_dev_model_set

    root = tmp_path_factory.mktemp("dev-models")
    ensure_dev_model_set(root)
    return root


def test_settings(root: Path, dev_model_dir: Path, **overrides: Any) -> Settings:
    """The tests' Settings: data under `root`/data, the session's dev model set, no workers."""
    values: dict[str, Any] = {
        "data_dir": root / "data",
        "dev_model_dir": dev_model_dir,
        "ultra_megapixels": 0.0625,
        "webhook_allow_private": True,
        "heartbeat_seconds": 0.2,
        "workers": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


test_settings.__test__ = False  # type: ignore[attr-defined]  # a builder, not a test


@pytest.fixture
def make_settings(tmp_path: Path, dev_model_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return test_settings(tmp_path, dev_model_dir, **overrides)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def sqlite_at_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database migrated to head once per test process, by the real migrations
    (tests/store checks those on empty databases of both engines)."""
    from sqlalchemy import create_engine

    from fluxhost.store.db import migrate

    path = tmp_path_factory.mktemp("schema") / "fluxhost.db"
    engine = create_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


def open_services(settings: Settings, sqlite_at_head: Path) -> Any:
    """build_services on `settings`, its SQLite database a copy of a migrated one instead of
    migrated per test (~50 ms each under load): the store's start then finds the schema at head
    with one SELECT."""
    import shutil

    from fluxhost.services import build_services

    db = settings.data_dir / "fluxhost.db"
    if settings.database_url is None and not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_at_head, db)
    return build_services(settings)


@pytest.fixture
def services(settings: Settings, sqlite_at_head: Path) -> Iterator[Any]:
    svc = open_services(settings, sqlite_at_head)
    yield svc
    svc.store.dispose()


@pytest.fixture(scope="session")
def dev_lora_file(dev_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxhost.engine.families.flux1.dev import make_dev_lora

    out = tmp_path_factory.mktemp("lora") / "dev-lora.safetensors"
    make_dev_lora(dev_model_dir / "base", out, seed=1234)
    return out


@pytest.fixture(scope="session")
def other_base_checkpoint(dev_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another FLUX-architecture checkpoint, as an operator's own would be: the dev base
    pipeline with a transformer of other weights (same encoders and VAE), saved with
    save_pretrained so the stock diffusers loader reads it."""
    import shutil

    from fluxhost.engine.families.flux1.dev_components import build_transformer

    out = tmp_path_factory.mktemp("other-checkpoint") / "my-flux"
    shutil.copytree(dev_model_dir / "base", out)
    shutil.rmtree(out / "transformer")
    build_transformer(seed=99).save_pretrained(out / "transformer")
    return out


class Tenant:
    """A key and a finetune it owns."""

    def __init__(self, key: str, key_id: int, finetune_id: str) -> None:
        self.key = key
        self.key_id = key_id
        self.finetune_id = finetune_id

    @property
    def headers(self) -> dict[str, str]:
        return {"x-key": self.key}


def new_tenant(services: Any, lora_file: Path, name: str) -> Tenant:
    """A new key on `services`, owning a finetune made from `lora_file`."""
    from fluxhost.finetunes import import_lora
    from fluxhost.store.keys import create_key

    info, plaintext = create_key(services.store, name)
    ft = import_lora(services, lora_file, owner_key_id=info.id, comment=f"{name}-ft")
    return Tenant(plaintext, info.id, ft.id)


@pytest.fixture
def make_tenant(services: Any, dev_lora_file: Path) -> Callable[[str], Tenant]:
    def make(name: str) -> Tenant:
        return new_tenant(services, dev_lora_file, name)

    return make


@pytest.fixture
def tenant(make_tenant: Callable[[str], Tenant]) -> Tenant:
    return make_tenant("alice")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL cluster for the whole session (Debian's server, started here)."""
    from tests.pg import pg_bin, postgres_cluster

    if pg_bin() is None:
        pytest.skip("PostgreSQL server not installed (scripts/ensure-postgres.sh installs it)")
    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3-protocol server (moto's, a real HTTP server in its own process) for the session;
    yields its endpoint URL."""
    from tests.s3 import moto_available, s3_server_process

    if not moto_available():
        if os.environ.get("CI"):
            raise RuntimeError("moto[server] is not installed (the dev extra installs it)")
        pytest.skip("moto[server] not installed (the dev extra installs it)")
    with s3_server_process() as endpoint:
        yield endpoint


@pytest.fixture
def s3_url(s3_server: str) -> str:
    """A fresh, empty bucket on the session's S3 server: `s3://BUCKET/PREFIX`."""
    from tests.s3 import create_bucket

    return create_bucket(s3_server)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's cluster."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.rsplit("/", 1)[0] + f"/{name}"


App = Callable[..., Any]


@pytest.fixture
def app_with(make_settings: Callable[..., Settings], services: Any) -> Iterator[App]:
    """`app_with(**settings)`: the app on `services`, started (lifespan and embedded workers),
    as a TestClient; stopped at the end of the test."""
    from fastapi.testclient import TestClient

    from fluxhost.api.app import create_app

    clients: list[TestClient] = []

    def start(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides), services))
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)
