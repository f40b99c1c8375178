"""Blob store latency: put and get of a 256x256 PNG on the local disk vs an S3-protocol server
on loopback (moto's standalone server, `python -m moto.server`, as the tests use), through
fluxhost's own stores; and, for the choice of client library, the same round trip with boto3.

moto is a Python (werkzeug) server, so its share of each figure is large: against MinIO or a
real bucket the client's own cost matters less and the network more. The comparison between
clients holds on the same server.

Run: `.venv/bin/python bench/blobs.py [--rounds N]` (needs the s3 and dev extras)."""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.s3 starts the server


def png_256() -> bytes:
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "PNG")  # noise: a worst case for size (~197 kB)
    return buf.getvalue()


def measure(name: str, put: Callable[[str], None], get: Callable[[str], bytes],
            data: bytes, rounds: int) -> None:
    for i in range(20):  # warm-up: connections, caches
        put(f"results/w{i}.png")
        get(f"results/w{i}.png")
    puts, gets = [], []
    for i in range(rounds):
        key = f"results/b{i}.png"
        t = time.perf_counter()
        put(key)
        puts.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert get(key) == data
        gets.append(time.perf_counter() - t)

    def q(xs: list[float]) -> str:
        xs = sorted(xs)
        return (f"p50 {statistics.median(xs) * 1000:6.2f} ms  "
                f"p95 {xs[int(len(xs) * 0.95)] * 1000:6.2f} ms")

    print(f"{name:<28} put {q(puts)} | get {q(gets)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()

    from tests.s3 import create_bucket, s3_server_process

    from fluxhost.storage.blobs import LocalBlobStore
    from fluxhost.storage.s3 import S3BlobStore, parse_s3_url

    data = png_256()
    print(f"256x256 PNG: {len(data)} bytes, {args.rounds} rounds\n")
    with tempfile.TemporaryDirectory() as tmp, s3_server_process() as endpoint:
        local = LocalBlobStore(Path(tmp) / "blobs")
        measure("local disk (LocalBlobStore)", lambda k: local.put(k, data),
                lambda k: local.get(k) or b"", data, args.rounds)
        url = create_bucket(endpoint)
        s3 = S3BlobStore(url, endpoint_url=endpoint, cache_dir=Path(tmp) / "cache")
        measure("S3 via obstore (S3BlobStore)", lambda k: s3.put(k, data),
                lambda k: s3.get(k) or b"", data, args.rounds)
        try:
            import boto3
        except ImportError:
            print("boto3 not installed: no comparison")
            return
        bucket, prefix = parse_s3_url(url)
        client = boto3.client("s3", endpoint_url=endpoint)
        measure("S3 via boto3 (comparison)",
                lambda k: client.put_object(Bucket=bucket, Key=f"{prefix}/{k}", Body=data,
                                            ContentType="image/png"),
                lambda k: client.get_object(Bucket=bucket, Key=f"{prefix}/{k}")["Body"].read(),
                data, args.rounds)


if __name__ == "__main__":
    main()
