"""A finetune trained through POST /v1/finetune on the emoji64 demo set, over loopback HTTP,
takes on its icon style at strength 1 and not at 0.

The style: neon outlines (magenta and cyan) on black, six shapes. The demo model draws emoji on
white, so the style is measured as colour: the distance between a generated image's colour
histogram and the training images' shrinks by at least STYLE_RATIO when the LoRA is applied.
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.e2e.harness import Node, wait_for

pytestmark = [pytest.mark.service, pytest.mark.slow]

STYLE_RATIO = 0.75
SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")


def neon_icon(shape: str) -> Image.Image:
    image = Image.new("RGB", (64, 64), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    box = (14, 14, 50, 50)
    outline = {"fill": None, "width": 4}
    if shape in ("circle", "ring"):
        draw.ellipse(box, outline=(255, 0, 220), **outline)
        if shape == "ring":
            draw.ellipse((24, 24, 40, 40), outline=(0, 240, 255), width=3)
    elif shape == "square":
        draw.rectangle(box, outline=(0, 240, 255), width=4)
    elif shape == "triangle":
        draw.polygon([(32, 12), (52, 50), (12, 50)], outline=(255, 0, 220), width=4)
    elif shape == "diamond":
        draw.polygon([(32, 10), (54, 32), (32, 54), (10, 32)], outline=(0, 240, 255), width=4)
    else:
        draw.line((16, 16, 48, 48), fill=(255, 0, 220), width=5)
        draw.line((16, 48, 48, 16), fill=(0, 240, 255), width=5)
    return image


def style_zip() -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for shape in SHAPES:
            png = io.BytesIO()
            neon_icon(shape).save(png, "PNG")
            zf.writestr(f"{shape}.png", png.getvalue())
            zf.writestr(f"{shape}.txt", shape)
    return base64.b64encode(buf.getvalue()).decode()


def histogram(pixels: np.ndarray) -> np.ndarray:
    """Per channel, the share of pixels in each of 16 intensity bins (3 x 16)."""
    channels = pixels.reshape(-1, 3).T // 16
    return np.stack([np.bincount(c, minlength=16) / c.size for c in channels])


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance between the histograms, in intensity levels, summed over R, G, B:
    unlike a bin-by-bin distance it still measures how far apart two disjoint palettes are."""
    return float(np.abs(np.cumsum(a, axis=1) - np.cumsum(b, axis=1)).sum() * 16)


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path) -> Iterator[Node]:
    node = Node(data_dir=tmp_path_factory.mktemp("emoji-node"), dev_model_dir=dev_model_dir,
                extra_env={"FLUXHOST_MODEL_SET": "emoji"})
    node.serve(workers=1)
    yield node
    node.stop_all()


def generate(client: httpx.Client, key: str, finetune_id: str, strength: float) -> np.ndarray:
    r = client.post("/v1/flux-pro-finetuned", headers={"x-key": key}, json={
        "finetune_id": finetune_id, "finetune_strength": strength, "prompt": "TOK, circle",
        "width": 256, "height": 256, "steps": 16, "guidance": 4.0, "seed": 7,
        "output_format": "png"})
    assert r.status_code == 200, r.text
    done = wait_for(client, r.json()["id"], timeout=120)
    assert done["status"] == "Ready", done
    data = client.get(done["result"]["sample"]).content
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.timeout(1200)
def test_a_trained_style_shows_at_strength_1_not_0(demo_node: Node) -> None:
    key = demo_node.cli("keys", "create", "stylist")
    with httpx.Client(base_url=demo_node.url, timeout=30) as client:
        health = client.get("/health").json()
        assert "not FLUX" in health["models"]
        r = client.post("/v1/finetune", headers={"x-key": key}, json={
            "file_data": style_zip(), "finetune_comment": "neon icons", "mode": "style",
            "iterations": 300, "learning_rate": 0.001, "lora_rank": 16,
            "finetune_type": "lora", "priority": "speed"})
        assert r.status_code == 200, r.text
        finetune_id = r.json()["finetune_id"]
        done = wait_for(client, finetune_id, timeout=900)
        assert done["status"] == "Ready", done
        plain = generate(client, key, finetune_id, 0.0)
        styled = generate(client, key, finetune_id, 1.0)
    target = np.mean([histogram(np.asarray(neon_icon(s))) for s in SHAPES], axis=0)
    before, after = distance(histogram(plain), target), distance(histogram(styled), target)
    assert after < STYLE_RATIO * before, (before, after)
