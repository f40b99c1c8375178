"""Adapter loads with and without adapter affinity, in a mixed-finetune run.

    .venv/bin/python bench/affinity.py [--tasks 64] [--finetunes 8] [--cache 2]

Two worker processes (a `Runtime` with one worker each, as `fluxhost worker` runs it, with a
real dev-model engine whose LoRA cache counts its loads) share one queue (SQLite).
64 tasks over 8 dev-model finetunes are queued in a random order,
then the workers start; LORA_CACHE_SIZE is small (2), so without affinity nearly every task
loads an adapter. Loads are counted at the engine's LoRA cache (every adapter load it does).
Each configuration runs on a fresh database with the same task order. Also printed: the longest
created -> claimed wait, which affinity may lengthen by at most AFFINITY_MAX_WAIT_SECONDS plus
the run time of the tasks it took first.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from _queue_common import rows, submit, wait_done


def counting_engine(settings: Any, counter: list[int]) -> Any:
    """A real engine whose LoRA cache counts the adapters it loads."""
    from fluxhost.engine import Engine

    engine = Engine(settings)
    # Loaded here, one engine after the other: diffusers' empty-weights loading patches torch
    # globally, so two engines of one process must not load at the same time.
    engine.load("base")
    cache = engine._loras  # bench instrumentation: count at the cache itself
    load = cache._load

    def counted(*args: Any) -> None:
        counter[0] += 1
        load(*args)

    cache._load = counted  # type: ignore[method-assign]
    return engine


def worker_main() -> None:
    """`--worker`: one worker process with a counting engine; prints its loads on SIGTERM."""
    import signal
    import threading

    import torch

    from fluxhost.services import build_services
    from fluxhost.settings import Settings
    from fluxhost.worker.runtime import Runtime

    torch.set_num_threads(1)  # two processes, two cores
    settings = Settings()
    counter = [0]
    runtime = Runtime(build_services(settings), workers=1, dispatch_webhooks=False,
                      engine_factory=lambda: counting_engine(settings, counter))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runtime.start()
    print("ready", flush=True)
    stop.wait()
    runtime.stop(grace_seconds=5)
    print(counter[0], flush=True)


def run(tmp: Path, dev: Path, loras: list[Path], order: list[int], *, window: int,
        max_wait: float, cache: int) -> tuple[list[int], float, float]:
    import os
    import signal
    import subprocess
    import sys

    from fluxhost.finetunes import import_lora
    from fluxhost.services import build_services
    from fluxhost.settings import Settings
    from fluxhost.store.keys import create_key

    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
    env.update(FLUXHOST_DATA_DIR=str(tmp), FLUXHOST_DEV_MODEL_DIR=str(dev),
               FLUXHOST_LORA_CACHE_SIZE=str(cache), FLUXHOST_AFFINITY_WINDOW=str(window),
               FLUXHOST_AFFINITY_MAX_WAIT_SECONDS=str(max_wait),
               FLUXHOST_MODERATION_ENABLED="false", FLUXHOST_POLL_INTERVAL_SECONDS="0.05",
               FLUXHOST_LOG_LEVEL="WARNING", HF_HUB_OFFLINE="1")
    settings = Settings(_env_file=None, data_dir=tmp, dev_model_dir=dev)  # type: ignore[call-arg]
    svc = build_services(settings)
    key_id = create_key(svc.store, "bench")[0].id
    fts = [import_lora(svc, p, owner_key_id=key_id, comment="", trigger_word="TOK").id
           for p in loras]
    ids = [submit(svc.store, i, key_id=key_id, finetune_id=fts[f], steps=2, size=128)
           for i, f in enumerate(order)]
    start = time.monotonic()
    procs = [subprocess.Popen([sys.executable, __file__, "--worker"], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    wait_done(svc.store, ids, poll=0.05)
    wall = time.monotonic() - start
    for p in procs:
        p.send_signal(signal.SIGTERM)
    loads = [int((p.communicate(timeout=60)[0] or "").split()[-1]) for p in procs]
    got = rows(svc.store, ids)
    assert all(r.status == "Ready" for r in got), {r.status for r in got}
    longest = max(r.started_at - r.created_at for r in got)
    svc.store.dispose()
    return loads, wall, longest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--finetunes", type=int, default=8)
    parser.add_argument("--cache", type=int, default=2, help="LORA_CACHE_SIZE")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main()
        return
    from fluxhost.engine.devmodels import ensure_dev_model_set
    from fluxhost.engine.families.flux1.dev import make_dev_lora

    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        dev = tmp / "dev"
        ensure_dev_model_set(dev)
        loras = []
        for i in range(args.finetunes):
            loras.append(tmp / f"lora-{i}.safetensors")
            make_dev_lora(dev / "base", loras[-1], seed=100 + i)
        rng = random.Random(7)
        order = [rng.randrange(args.finetunes) for _ in range(args.tasks)]
        print(f"{args.tasks} tasks over {args.finetunes} finetunes in random order, 2 worker "
              f"processes, LORA_CACHE_SIZE={args.cache}, dev model 128x128 2 steps")
        for label, window, max_wait in (("no affinity (window 1)", 1, 10.0),
                                        ("affinity window 16, max wait 10 s", 16, 10.0),
                                        ("affinity window 64, max wait 60 s", 64, 60.0)):
            loads, wall, longest = run(tmp / f"run-{window}", dev, loras, order,
                                       window=window, max_wait=max_wait, cache=args.cache)
            print(f"  {label:<36} adapter loads {sum(loads):3d} ({loads[0]} + {loads[1]})  "
                  f"wall {wall:5.1f} s  longest wait {longest:5.1f} s", flush=True)


if __name__ == "__main__":
    main()
