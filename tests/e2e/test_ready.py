"""Readiness of a real `fluxhost serve` whose configured model cannot load: /ready says why,
the task's details say the same, and the server log has one line per load attempt, no
traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, wait_for


def test_missing_model_directory_over_http(node: Node, dev_lora_file: Path,
                                           tmp_path: Path) -> None:
    source = str(tmp_path / "models" / "FLUX.1-dev")
    node.extra_env["FLUXHOST_MODELS"] = json.dumps({"base": source})
    key, finetune_id = provision(node, dev_lora_file)
    node.serve(workers=1)
    reason = f"cannot load the base model from {source!r}: local directory does not exist"
    d = Deployment(node, key, finetune_id)
    with d.client:
        deadline = time.monotonic() + 60
        while (r := d.client.get("/ready")).json().get("reason", "").startswith("warming up"):
            assert time.monotonic() < deadline, r.json()
            time.sleep(0.1)
        assert r.status_code == 503
        assert r.json()["reason"] == reason and r.json()["status"] == "not ready"
        assert d.client.get("/health").status_code == 200

        task = wait_for(d.client, d.submit(prompt="x").json()["id"])
        assert task["status"] == "Error" and task["details"] == {"error": reason}
        assert d.client.get("/ready").status_code == 503
        assert httpx.get(f"{node.url}/health").json()["status"] == "ok"

    log = "".join(p.read_text() for p in node.data_dir.glob("serve-*.log"))
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    # The start-up memory plan (engine/startup.py: log_plan) names the source once, before
    # anything loads ("(SOURCE: planned as FLUX.1)": no configs there to count); the rest are
    # load attempts.
    failures = [r for r in records if source in r["msg"] and "planned as" not in r["msg"]]
    # One line per attempt: the warm-up's and the task's.
    assert [(r["level"], r["msg"]) for r in failures] == [("error", reason)] * 2
    assert not [r for r in records if "exc" in r], "a traceback was logged"
    assert "Traceback" not in log
