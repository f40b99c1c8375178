"""Does one key's heavy submit slow everyone's poll? `/health` latency (p50/p95) on an API-only
`fluxhost serve` while another key sends Kontext submits with four 4096x4096 PNGs each (a flat
colour: ~60 KB of PNG that says 16.7 MP), against the same `/health` with no such load.

Issue 16 measured p50 4.9 ms -> 3.8 s on the landed main: the submit decoded its images (for
their EXIF) on the event loop. Run it against another checkout with `--src DIR` (its `src/` goes
first on PYTHONPATH), e.g. a `git worktree` of the commit before the fix.

Run: `.venv/bin/python bench/heavy_submits.py [--seconds S] [--senders N] [--src DIR]`."""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.e2e.harness import Node  # noqa: E402


def big_png() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (4096, 4096), (200, 120, 40)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def probe(url: str, seconds: float) -> list[float]:
    """Sequential /health polls, as a monitoring client (another tenant) sends them."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=60) as client:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            client.get(f"{url}/health").raise_for_status()
            times.append(time.perf_counter() - t0)
            time.sleep(0.02)
    return times


def heavy_sender(url: str, key: str, body: dict[str, str], stop: threading.Event,
                 answers: list[int]) -> None:
    with httpx.Client(timeout=120, headers={"x-key": key}) as client:
        while not stop.is_set():
            answers.append(client.post(f"{url}/v1/flux-kontext-pro", json=body).status_code)


def run(seconds: float, senders: int, src: Path | None, request_pixels: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="fluxhost-heavy-"))
    node = Node(data_dir=data / "node", dev_model_dir=data / "models")
    node.data_dir.mkdir(parents=True)
    if src is not None:
        node.extra_env["PYTHONPATH"] = str(src / "src") + os.pathsep + str(src)
    # MAX_REQUEST_PIXELS at 4 x 4096^2 by default, so the four images are decoded (the
    # default 2 x 4096^2 refuses them from their headers, which costs nothing).
    node.extra_env.update(FLUXHOST_MAX_ACTIVE_TASKS_PER_KEY="1000000",
                          FLUXHOST_LOG_LEVEL="WARNING",
                          FLUXHOST_MAX_REQUEST_PIXELS=str(request_pixels))
    key = node.cli("keys", "create", "heavy")
    node.serve(workers=0)
    try:
        image = big_png()
        body = {"prompt": "p", "input_image": image, "input_image_2": image,
                "input_image_3": image, "input_image_4": image}
        print(f"server: {src or ROOT}; body {len(image) * 4 / 1e3:.0f} KB "
              f"(4 x 4096x4096 PNG of {len(image) * 3 / 4 / 1e3:.0f} KB)")
        quiet = probe(node.url, seconds / 2)
        stop = threading.Event()
        answers: list[int] = []
        threads = [threading.Thread(target=heavy_sender, args=(node.url, key, body, stop,
                                                                answers)) for _ in range(senders)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # the senders are in flight
        loaded = probe(node.url, seconds)
        stop.set()
        for t in threads:
            t.join()
        codes = {c: answers.count(c) for c in sorted(set(answers))}
        print(f"/health alone:          p50 {pct(quiet, .5) * 1e3:7.1f} ms   "
              f"p95 {pct(quiet, .95) * 1e3:7.1f} ms   ({len(quiet)} polls)")
        print(f"/health, {senders} heavy senders: p50 {pct(loaded, .5) * 1e3:7.1f} ms   "
              f"p95 {pct(loaded, .95) * 1e3:7.1f} ms   ({len(loaded)} polls; "
              f"heavy submits answered: {codes})")
    finally:
        node.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--src", type=Path, default=None, help="another checkout to serve")
    parser.add_argument("--request-pixels", type=int, default=4 * 4096 * 4096)
    args = parser.parse_args()
    run(args.seconds, args.senders, args.src, args.request_pixels)


if __name__ == "__main__":
    main()
