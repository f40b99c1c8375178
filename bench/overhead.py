"""Server-side overhead and submit throughput, on loopback, on the dev model.

Overhead per task = submit→Ready minus the engine's own time for that task, and minus the time
it queued behind other tasks' engine work (at 8 in flight one worker is busy with the others):

    overhead = (finished_at - submit_sent) - engine - max(0, worker_free_at - created_at)

`engine` is the worker's own measurement of `Engine.run` for that very task (it logs
`engine_ms`), `finished_at`/`created_at` come from the task row, `submit_sent` from the client.
So overhead holds the HTTP submit, validation, the insert, the wake-up, the claim, the LoRA
lookup, JPEG encoding, the blob write and the finishing transaction.

Throughput: 32 concurrent keep-alive clients POST to /v1/flux-pro-finetuned on API-only
servers (workers=0, so only the submit path is measured): `fluxhost serve` as shipped (the
submit fast path, api/fastpath.py), the same server with the fast path switched off (FastAPI's
own routing dispatches to the same handlers; a bench-only launcher, not a setting), and a bare
FastAPI endpoint under the same uvicorn settings. All three run at once, on one database, and
are loaded in turn for `--rounds` rounds, so drift on a shared machine hits each alike; the
median round is reported. The load generator is `wrk` when installed (`apt-get install wrk`),
otherwise an asyncio httpx client (which itself limits the figures).

Run: `make bench` (or `.venv/bin/python bench/overhead.py [--tasks N] [--seconds S]
[--rounds R] [--throughput-only]`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.e2e.harness import Node, free_port  # noqa: E402

BODY = {"width": 256, "height": 256, "steps": 4, "prompt": "bench", "output_format": "jpeg"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def provision(node: Node) -> tuple[str, str]:
    from fluxhost.engine.devmodels import ensure_dev_model_set
    from fluxhost.engine.families.flux1.dev import make_dev_lora

    ensure_dev_model_set(node.dev_model_dir)
    lora = node.data_dir / "bench-lora.safetensors"
    make_dev_lora(node.dev_model_dir / "base", lora, seed=1)
    key = node.cli("keys", "create", "bench")
    ft = node.cli("finetunes", "import", str(lora), "--owner", "bench")
    return key, ft


def engine_times(node: Node) -> dict[str, float]:
    out = {}
    for path in node.data_dir.glob("serve-*.log"):
        for line in path.read_text().splitlines():
            if '"task finished"' in line:
                rec = json.loads(line)
                if rec.get("engine_ms") is not None:
                    out[rec["task_id"]] = rec["engine_ms"] / 1000
    return out


def task_rows(node: Node) -> dict[str, tuple[float, float, float]]:
    con = sqlite3.connect(node.data_dir / "fluxhost.db")
    rows = con.execute("SELECT id, created_at, started_at, finished_at FROM tasks").fetchall()
    con.close()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def run_in_flight(node: Node, key: str, ft: str, n_tasks: int, in_flight: int) -> dict[str, Any]:
    sent: dict[str, float] = {}
    lock = threading.Lock()
    remaining = [n_tasks]

    def client_loop() -> None:
        with httpx.Client(base_url=node.url, timeout=60) as c:
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                t0 = time.time()
                r = c.post("/v1/flux-pro-finetuned", headers={"x-key": key},
                           json={"finetune_id": ft, **BODY})
                tid = r.json()["id"]
                sent[tid] = t0
                while c.get("/v1/get_result", params={"id": tid}).json()["status"] == "Pending":
                    time.sleep(0.02)  # clients poll far less often; keep our own load small

    threads = [threading.Thread(target=client_loop) for _ in range(in_flight)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.3)  # let the log line of the last task land
    engines, rows = engine_times(node), task_rows(node)
    ordered = sorted((rows[t][1], t) for t in sent)  # by claim time: one worker runs them in turn
    overheads, engine_s, prev_finish = [], [], 0.0
    for _, tid in ordered:
        created, _started, finished = rows[tid]
        queued_behind = max(0.0, prev_finish - created)
        overheads.append((finished - sent[tid]) - engines[tid] - queued_behind)
        engine_s.append(engines[tid])
        prev_finish = finished
    return {"p50": pct(overheads, 0.5), "p95": pct(overheads, 0.95),
            "engine_p50": statistics.median(engine_s), "n": len(overheads)}


BARE_APP = textwrap.dedent("""
    import uuid
    from fastapi import FastAPI, Request
    app = FastAPI()

    @app.post("/bare")
    async def bare(request: Request, body: dict) -> dict:
        task_id = str(uuid.uuid4())
        return {"id": task_id, "polling_url": f"{request.base_url}v1/get_result?id={task_id}"}
""")


def wrk_rps(url: str, key: str, body: dict[str, Any], seconds: int, tmp: Path) -> float:
    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["x-key"] = "{key}"\n'
    )
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    non2xx = [line for line in out.splitlines() if "Non-2xx" in line]
    if non2xx:
        raise RuntimeError(f"errors during load: {non2xx}")
    return float(next(line for line in out.splitlines()
                      if line.startswith("Requests/sec")).split()[1])


async def _httpx_load(url: str, key: str, body: dict[str, Any], seconds: float) -> float:
    done = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(limits=limits, timeout=30) as c:

        async def one() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                r = await c.post(url, headers={"x-key": key}, json=body)
                assert r.status_code == 200, r.text
                done += 1

        t0 = time.monotonic()
        await asyncio.gather(*(one() for _ in range(32)))
        return done / (time.monotonic() - t0)


def rps(url: str, key: str, body: dict[str, Any], seconds: int, tmp: Path) -> float:
    if shutil.which("wrk"):
        return wrk_rps(url, key, body, seconds, tmp)
    return asyncio.run(_httpx_load(url, key, body, seconds))


# `fluxhost serve`, with FluxhostApp.install_fast_path made a no-op: the bench's switch for
# measuring what the fast path buys (not a user setting).
NO_FAST_PATH = textwrap.dedent("""
    import sys
    from fluxhost.api.app import FluxhostApp
    from fluxhost.cli import main

    FluxhostApp.install_fast_path = lambda self, *args: None
    sys.exit(main(sys.argv[1:]))
""")
SERVER_ENV = {"FLUXHOST_MAX_ACTIVE_TASKS_PER_KEY": "1000000000", "FLUXHOST_LOG_LEVEL": "WARNING"}


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start_servers(node: Node, tmp: Path) -> tuple[dict[str, str], list[subprocess.Popen[Any]]]:
    """The three servers, up: {label: submit URL}, and their processes."""
    node.serve(workers=0, **SERVER_ENV)
    plain_port, bare_port = free_port(), free_port()
    (tmp / "bare_app.py").write_text(BARE_APP)
    (tmp / "no_fast_path.py").write_text(NO_FAST_PATH)
    log = open(node.data_dir / "serve-no-fast-path.log", "wb")  # noqa: SIM115
    procs = [
        subprocess.Popen([sys.executable, str(tmp / "no_fast_path.py"), "serve", "--workers",
                          "0"], env=node.env(FLUXHOST_PORT=str(plain_port), **SERVER_ENV),
                         stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port",
                          str(bare_port), "--log-level", "warning", "--no-access-log"], cwd=tmp),
    ]
    wait_up(f"http://127.0.0.1:{plain_port}/health")
    wait_up(f"http://127.0.0.1:{bare_port}/docs")
    return {
        "fast path (as shipped)": f"{node.url}/v1/flux-pro-finetuned",
        "FastAPI routing (no fast path)": f"http://127.0.0.1:{plain_port}/v1/flux-pro-finetuned",
        "bare FastAPI endpoint": f"http://127.0.0.1:{bare_port}/bare",
    }, procs


def throughput(node: Node, key: str, ft: str, seconds: int, rounds: int,
               tmp: Path) -> dict[str, list[float]]:
    """Requests per second of each server, one figure per round."""
    urls, procs = start_servers(node, tmp)
    body = {"finetune_id": ft, **BODY}
    try:
        for url in urls.values():
            rps(url, key, body, 2, tmp)  # warm-up
        figures: dict[str, list[float]] = {label: [] for label in urls}
        for _ in range(rounds):
            for label, url in urls.items():
                figures[label].append(rps(url, key, body, seconds, tmp))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
    return figures


def report_throughput(figures: dict[str, list[float]], seconds: int) -> None:
    tool = "wrk" if shutil.which("wrk") else "httpx asyncio client"
    rounds = len(next(iter(figures.values())))
    print(f"submit throughput, 32 concurrent loopback clients ({tool}, {seconds} s each, "
          f"{rounds} rounds; median [min-max])")
    medians = {label: statistics.median(values) for label, values in figures.items()}
    for label, values in figures.items():
        print(f"  {label + ':':32s} {medians[label]:8.0f} req/s   "
              f"[{min(values):.0f}-{max(values):.0f}]")
    fast, plain, bare = medians.values()
    print(f"  fast path / FastAPI routing: {fast / plain:.2f}")
    print(f"  fast path / bare:            {fast / bare:.2f} (target >= 0.50)")


def overhead(node: Node, key: str, ft: str, n_tasks: int) -> None:
    node.serve(workers=1, FLUXHOST_MAX_ACTIVE_TASKS_PER_KEY="100000", FLUXHOST_LOG_LEVEL="INFO")
    run_in_flight(node, key, ft, 8, 1)  # warm-up: loads the pipeline and the LoRA
    print("server-side overhead per task (dev model, 256x256, 4 steps, 1 worker)")
    for in_flight in (1, 8):
        r = run_in_flight(node, key, ft, n_tasks, in_flight)
        print(f"  {in_flight} in flight: p50 {r['p50'] * 1000:6.1f} ms   "
              f"p95 {r['p95'] * 1000:6.1f} ms   (engine p50 "
              f"{r['engine_p50'] * 1000:.0f} ms, n={r['n']})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=60)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--throughput-only", action="store_true",
                    help="skip the per-task overhead part (no engine work)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        node = Node(data_dir=tmp / "node", dev_model_dir=tmp / "dev-models")
        node.data_dir.mkdir()
        key, ft = provision(node)
        try:
            if not args.throughput_only:
                overhead(node, key, ft, args.tasks)
                node.stop_all()
                node.procs.clear()
            figures = throughput(node, key, ft, args.seconds, args.rounds, tmp)
            report_throughput(figures, args.seconds)
        finally:
            node.stop_all()


if __name__ == "__main__":
    main()
