"""PostgreSQL stopped under a running `fluxhost serve` (API and an embedded worker), then started
again: while it is down every request that needs it is a 503 with Retry-After (never a 500),
/health stays 200 and says the database is unreachable, the log says so in one line with no
traceback (the worker's rounds included); once it is back the same process serves again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from fluxhost.api.errors import UNAVAILABLE_DETAIL
from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, wait_for
from tests.pg import PgInstance, pg_bin, postgres_instance

pytestmark = [pytest.mark.service, pytest.mark.slow]

AUTH_CACHE_SECONDS = 5.0  # api/auth.py: past it, the key lookup itself needs the database


def _assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json() == {"detail": UNAVAILABLE_DETAIL}
    assert int(r.headers["retry-after"]) > 0


def _during_outage(d: Deployment, task_id: str) -> None:
    _assert_unavailable(d.submit())  # key cached: the group commit meets the outage
    _assert_unavailable(d.client.get("/v1/get_result", params={"id": task_id}))
    _assert_unavailable(d.client.get("/v1/my_finetunes", headers=d.headers))
    health = d.client.get("/health")
    assert health.status_code == 200
    assert health.json()["database"] == "unreachable"
    ready = d.client.get("/ready")
    assert ready.status_code == 503 and "database unreachable" in ready.json()["reason"]
    # Past the key cache: the lookup on the event loop meets it. Meanwhile the worker, the
    # webhook dispatcher and the registry keep retrying.
    time.sleep(AUTH_CACHE_SECONDS + 1)
    _assert_unavailable(d.submit())
    _assert_unavailable(d.client.post("/v1/delete_finetune", headers=d.headers,
                                      json={"finetune_id": d.finetune_id}))


@pytest.fixture
def pg() -> Any:
    if pg_bin() is None:
        pytest.skip("PostgreSQL server not installed (scripts/ensure-postgres.sh installs it)")
    with postgres_instance() as instance:  # its own: stopping it disturbs no other test
        yield instance


def test_postgres_outage_is_503_and_the_server_heals(
        pg: PgInstance, tmp_path: Path, dev_model_dir: Path, dev_lora_file: Path) -> None:
    node = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_DATABASE_URL": pg.url})
    node.data_dir.mkdir()
    try:
        key, finetune_id = provision(node, dev_lora_file)
        node.serve(workers=1)
        d = Deployment(node, key, finetune_id)
        first = d.submit()
        assert first.status_code == 200
        assert wait_for(d.client, first.json()["id"], timeout=120)["status"] == "Ready"
        [log_file] = node.data_dir.glob("serve-*.log")
        before = len(log_file.read_text())

        pg.stop("fast")
        _during_outage(d, first.json()["id"])
        outage_log = log_file.read_text()[before:]
        assert outage_log.count('"msg": "database unreachable: ') == 1, outage_log
        assert '"exc"' not in outage_log and "Traceback" not in outage_log, outage_log

        pg.start()
        again = d.submit()
        assert again.status_code == 200, again.text
        assert wait_for(d.client, again.json()["id"], timeout=120)["status"] == "Ready"
        assert d.client.get("/health").json()["database"] == "ok"
        assert d.client.get("/ready").status_code == 200
        after = log_file.read_text()[before:]
        assert '"msg": "database reachable again after' in after, after
        assert '"exc"' not in after and "Traceback" not in after, after
    finally:
        node.stop_all()
