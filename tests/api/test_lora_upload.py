"""Bring a FLUX.2 [klein] LoRA (issue 19 part A): POST /v1/fluxhost/finetunes/upload, every
refusal with its status and message, names per key (isolation by name and by id), the
provider-shaped listing, details and delete, and the -finetuned endpoints serving an upload
in each key layout (an embedded worker on the dev set: strength 1 draws other pixels than
strength 0, and strength 0 draws the base klein endpoint's pixels for the same seed)."""

from __future__ import annotations

import io
import pickle
import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageChops

from fluxhost.store.keys import create_key
from fluxhost.store.tasks import get_task
from fluxhost.wire.flux2_finetuned import KLEIN_BASES

App = Callable[..., TestClient]
UPLOAD = "/v1/fluxhost/finetunes/upload"
LAYOUTS = ("diffusers", "peft", "ai-toolkit", "kohya")


@pytest.fixture(scope="module")
def lora_dir(dev_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random LoRA per layout for the dev klein-4b, and one (diffusers) for the klein-9b."""
    from fluxhost.engine.families.flux2.dev_loras import write_layout_lora

    out = tmp_path_factory.mktemp("klein-loras")
    for number, layout in enumerate(LAYOUTS):
        write_layout_lora(dev_model_dir / "klein-4b", out / f"{layout}.safetensors", layout,
                          seed=number)
    write_layout_lora(dev_model_dir / "klein-9b", out / "klein-9b.safetensors", "diffusers")
    return out


class Key:
    def __init__(self, services: Any, name: str) -> None:
        info, self.key = create_key(services.store, name)
        self.id = info.id
        self.headers = {"x-key": self.key}


@pytest.fixture
def keys(services: Any) -> tuple[Key, Key]:
    return Key(services, "ann"), Key(services, "bob")


def upload(client: TestClient, key: Key, data: bytes, status: int = 200,
           **params: Any) -> dict[str, Any]:
    query = {"name": "style", "base": "klein-4b", **params}
    r = client.post(UPLOAD, params=query, content=data,
                    headers={**key.headers, "content-type": "application/octet-stream"})
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def safetensors(header: dict[str, Any], data: bytes = b"") -> bytes:
    import json

    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def test_an_upload_is_named_listed_shown_and_deleted(client: TestClient, keys: tuple[Key, Key],
                                                      lora_dir: Path) -> None:
    alice, _ = keys
    answer = upload(client, alice, (lora_dir / "kohya.safetensors").read_bytes(),
                    trigger_word="in sks style", comment="mine")
    assert answer["finetune_id"] == "style" and answer["base_model"] == "klein-4b"
    assert (answer["layout"], answer["rank"], answer["modules"]) == ("kohya", 4, 15)
    assert answer["endpoint"] == "/v1/flux-2-klein-4b-finetuned"
    listed = client.get("/v1/my_finetunes", headers=alice.headers).json()
    assert listed == {"finetunes": ["style"]}
    for ref in ("style", answer["id"]):
        details = client.get("/v1/finetune_details", params={"finetune_id": ref},
                             headers=alice.headers).json()["finetune_details"]
        assert details["finetune_id"] == "style" and details["id"] == answer["id"]
        assert (details["base_model"], details["trigger_word"], details["finetune_comment"],
                details["status"], details["lora_rank"]) == ("klein-4b", "in sks style", "mine",
                                                            "Ready", 4)
    r = client.post("/v1/delete_finetune", json={"finetune_id": "style"}, headers=alice.headers)
    assert r.status_code == 200 and r.json()["deleted_finetune_id"] == "style"
    assert client.get("/v1/my_finetunes", headers=alice.headers).json() == {"finetunes": []}
    # The name is free again.
    upload(client, alice, (lora_dir / "diffusers.safetensors").read_bytes())


def test_names_are_per_key_and_isolated(client: TestClient, keys: tuple[Key, Key],
                                        lora_dir: Path) -> None:
    alice, bob = keys
    data = (lora_dir / "diffusers.safetensors").read_bytes()
    mine = upload(client, alice, data)
    theirs = upload(client, bob, data)  # the same name under another key: another finetune
    assert mine["id"] != theirs["id"]
    upload(client, alice, data, status=409)  # taken for alice
    body = {"prompt": "a cat", "seed": 1}
    for ref in ("style", mine["id"]):
        # bob's "style" is his own; alice's id is nobody's to bob.
        r = client.post("/v1/flux-2-klein-4b-finetuned", headers=bob.headers,
                        json={**body, "finetune_id": ref})
        task = get_task(client.app.state.services.store, r.json()["id"]) \
            if r.status_code == 200 else None  # type: ignore[attr-defined]
        if ref == "style":
            assert task is not None and task.params["finetune_id"] == theirs["id"]
        else:
            assert r.status_code == 404 and r.json() == {"detail": f"Finetune not found: {ref}"}
        assert client.get("/v1/finetune_details", params={"finetune_id": mine["id"]},
                          headers=bob.headers).status_code == 404
    r = client.post("/v1/delete_finetune", json={"finetune_id": mine["id"]}, headers=bob.headers)
    assert r.status_code == 404
    assert client.get("/v1/my_finetunes", headers=alice.headers).json() == {"finetunes": ["style"]}
    r = client.post("/v1/delete_finetune", json={"finetune_id": "style"}, headers=bob.headers)
    assert r.status_code == 200  # bob's own
    assert client.get("/v1/finetune_details", params={"finetune_id": "style"},
                      headers=alice.headers).status_code == 200


def test_a_lora_for_another_base_is_refused_at_submit(client: TestClient, keys: tuple[Key, Key],
                                                      lora_dir: Path, tenant: Any) -> None:
    alice, _ = keys
    upload(client, alice, (lora_dir / "diffusers.safetensors").read_bytes())
    body = {"prompt": "a cat", "finetune_id": "style"}
    r = client.post("/v1/flux-2-klein-9b-finetuned", headers=alice.headers, json=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == ("Value error, finetune 'style' is a FLUX.2 [klein-4b] "
                                            "LoRA; /v1/flux-2-klein-9b-finetuned serves FLUX.2 "
                                            "[klein-9b] LoRAs")
    r = client.post("/v1/flux-pro-finetuned", headers=alice.headers, json=body)
    assert r.status_code == 422 and "/v1/flux-pro-finetuned serves FLUX.1 finetunes" in r.text
    # A FLUX.1 finetune (the tenant's) on a klein endpoint.
    r = client.post("/v1/flux-2-klein-4b-finetuned", headers=tenant.headers,
                    json={"prompt": "a cat", "finetune_id": tenant.finetune_id})
    assert r.status_code == 422 and "is a FLUX.1 finetune" in r.text


REFUSALS = [
    (b"", 422, "the body is empty"),
    (b"\x80\x04\x95" + pickle.dumps({"a": 1})[3:], 422, "is a Python pickle"),
    (b"PK\x03\x04" + b"\x00" * 40, 422, "is a zip archive"),
    (b"abc", 422, "too short for a safetensors file"),
    (struct.pack("<Q", 10**9) + b"{}", 422, "header length 1000000000 does not fit"),
    (struct.pack("<Q", 4) + b"nope", 422, "its header is not JSON"),
    (safetensors({"__metadata__": {}}), 422, "holds no tensors"),
    (safetensors({"w": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8), 422,
     "has dtype 'I64'"),
    (safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 4), 422,
     "data offsets [0, 16] outside the file"),
    (safetensors({"transformer_blocks.0.attn.to_q.weight": {
        "dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), 422,
     "not a LoRA: no lora_A/lora_B"),
    (safetensors({"x.lokr_w1": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                  "x.lora_A.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                 b"\0" * 4), 422, "LoKr/LoHa adapter, not a LoRA"),
]


@pytest.mark.parametrize(("data", "status", "message"), REFUSALS,
                         ids=[m.split()[1] + str(i) for i, (_, _, m) in enumerate(REFUSALS)])
def test_bad_files_are_refused_naming_the_problem(client: TestClient, keys: tuple[Key, Key],
                                                  data: bytes, status: int, message: str) -> None:
    alice, _ = keys
    assert message in upload(client, alice, data, status=status)["detail"]
    assert client.get("/v1/my_finetunes", headers=alice.headers).json() == {"finetunes": []}


def test_wrong_shapes_and_modules_are_refused(client: TestClient, keys: tuple[Key, Key],
                                              lora_dir: Path) -> None:
    alice, _ = keys
    detail = upload(client, alice, (lora_dir / "klein-9b.safetensors").read_bytes(),
                    status=422)["detail"]
    assert detail == ("LoRA refused for klein-4b: layer 'context_embedder' does not fit "
                      "klein-4b: the LoRA has A (4, 72) and B (32, 4), the transformer's Linear "
                      "is 32x48 (out x in) -- a LoRA for another base?")
    # The klein-9b file is a klein-9b LoRA all right.
    upload(client, alice, (lora_dir / "klein-9b.safetensors").read_bytes(), base="klein-9b")
    from safetensors.torch import load, save

    state = load((lora_dir / "diffusers.safetensors").read_bytes())
    flux1 = {k.replace("transformer_blocks.0.ff.linear_in", "transformer_blocks.0.ff.net.0.proj"):
             v for k, v in state.items()}
    detail = upload(client, alice, save(flux1), status=422, name="flux1")["detail"]
    assert "layer 'transformer_blocks.0.ff.net.0.proj' is not a Linear of the klein-4b" in detail
    lonely = {k: v for k, v in state.items() if "to_q.lora_B" not in k}
    detail = upload(client, alice, save(lonely), status=422, name="lonely")["detail"]
    assert "layer 'transformer_blocks.0.attn.to_q' has only one of lora_A and lora_B" in detail


def test_bad_parameters_and_limits(app_with: App, keys: tuple[Key, Key],
                                   lora_dir: Path) -> None:
    client = app_with(lora_upload_max_mb=1, max_loras_per_key=1)
    alice, _ = keys
    data = (lora_dir / "diffusers.safetensors").read_bytes()
    r = client.post(UPLOAD, params={"name": "Bad Name!", "base": "klein-2b"}, content=data,
                    headers=alice.headers)
    assert r.status_code == 422
    assert [(e["loc"], e["msg"]) for e in r.json()["detail"]] == [
        (["query", "name"], "Value error, name 'Bad Name!' must be 1-64 characters of "
         "lowercase letters, digits, '-' and '_'"),
        (["query", "base"], "Value error, base 'klein-2b' is not one of klein-4b, klein-9b")]
    uuid_name = "0b6f3a56-1f2e-4c3d-9a8b-7c6d5e4f3a2b"
    assert "has the shape of a finetune id" in upload(client, alice, data, 422,
                                                      name=uuid_name)["detail"][0]["msg"]
    assert client.post(UPLOAD, params={"name": "x", "base": "klein-4b"}, content=data
                       ).status_code == 403
    big = data + b"\0" * (1024 * 1024)
    assert "the limit is 1048576 bytes" in upload(client, alice, big, 413)["detail"]
    upload(client, alice, data)
    assert "the limit (MAX_LORAS_PER_KEY)" in upload(client, alice, data, 429,
                                                     name="second")["detail"]


def test_an_unserved_base_is_501(app_with: App, keys: tuple[Key, Key], lora_dir: Path,
                                 dev_model_dir: Path) -> None:
    client = app_with(models={"base": str(dev_model_dir / "base")})  # no klein
    detail = upload(client, keys[0], (lora_dir / "diffusers.safetensors").read_bytes(),
                    status=501)["detail"]
    assert detail.startswith("base klein-4b is not served here")


def _image(client: TestClient, key: Key, endpoint: str, **body: Any) -> Image.Image:
    r = client.post(f"/v1/{endpoint}", headers=key.headers,
                    json={"prompt": "a red door", "seed": 7, "width": 64, "height": 64,
                          "output_format": "png", **body})
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 300
    while (result := client.get("/v1/get_result", params={"id": r.json()["id"]}).json())[
            "status"] == "Pending":
        assert time.monotonic() < deadline, f"{endpoint} {body} did not finish"
        time.sleep(0.05)
    assert result["status"] == "Ready", result
    return Image.open(io.BytesIO(client.get(result["result"]["sample"]).content)).convert("RGB")


def test_each_layout_is_served_at_its_strength(app_with: App, keys: tuple[Key, Key],
                                               lora_dir: Path) -> None:
    client = app_with(workers=1)
    alice, _ = keys
    base = _image(client, alice, "flux-2-klein-4b")
    for layout in LAYOUTS:
        upload(client, alice, (lora_dir / f"{layout}.safetensors").read_bytes(), name=layout)
        full = _image(client, alice, "flux-2-klein-4b-finetuned", finetune_id=layout)
        off = _image(client, alice, "flux-2-klein-4b-finetuned", finetune_id=layout,
                     finetune_strength=0.0)
        assert ImageChops.difference(full, off).getbbox() is not None, layout
        assert ImageChops.difference(off, base).getbbox() is None, layout  # exactly the base
    assert set(KLEIN_BASES) == {"klein-4b", "klein-9b"}


def test_the_strength_range(client: TestClient, keys: tuple[Key, Key]) -> None:
    alice, _ = keys
    for strength, status in ((2.0, 404), (2.01, 422), (-0.1, 422), (True, 422)):
        r = client.post("/v1/flux-2-klein-4b-finetuned", headers=alice.headers,
                        json={"prompt": "x", "finetune_id": "none", "finetune_strength": strength})
        assert r.status_code == status, (strength, r.text)


def test_a_zip_named_safetensors_is_still_a_zip(client: TestClient, keys: tuple[Key, Key]
                                                ) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    assert "is a zip archive" in upload(client, keys[0], buf.getvalue(), 422)["detail"]
