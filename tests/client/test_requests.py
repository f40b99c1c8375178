"""What the clients send: typed endpoint methods checked by the wire models before any request,
images from bytes or files, the finetune calls, and where requests go (env, hosted API)."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest

from fluxhost.client import (
    ENDPOINT_MODELS,
    IMAGE_FIELDS,
    AsyncClient,
    Client,
    FinetuneSubmission,
    InvalidRequest,
    method_name,
)
from fluxhost.wire import FluxDevInputs
from tests.client.harness import Harness, script

QUEUED = {"id": "t1", "polling_url": "http://api.test/v1/get_result?id=t1"}
PNG = b"\x89PNG\r\n\x1a\nfake"


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def queued() -> httpx.Response:
    return httpx.Response(200, json=QUEUED)


def sent(request: httpx.Request) -> dict[str, object]:
    body = json.loads(request.content)
    assert isinstance(body, dict)
    return body


def test_every_served_endpoint_has_a_typed_method() -> None:
    from fluxhost.api.routers.generate import router
    from fluxhost.catalog import ENDPOINT_KINDS

    routes = {r.path: r.openapi_extra["requestBody"]["content"]["application/json"]["schema"]
              for r in router.routes}
    assert set(ENDPOINT_MODELS) == set(ENDPOINT_KINDS)
    assert routes == {f"/v1/{e}": {"$ref": f"#/components/schemas/{m.__name__}"}
                      for e, m in ENDPOINT_MODELS.items()}
    assert set(IMAGE_FIELDS) == set(ENDPOINT_MODELS.values())
    for cls in (Client, AsyncClient):
        for endpoint in ENDPOINT_MODELS:
            assert callable(getattr(cls, method_name(endpoint))), (cls, endpoint)


@pytest.mark.parametrize("endpoint", list(ENDPOINT_MODELS))
def test_typed_methods_post_to_their_endpoint(flavour: str, endpoint: str) -> None:
    model = ENDPOINT_MODELS[endpoint]
    # The smallest valid body: the model's required fields.
    required = {name: "ZmFrZQ==" if name in IMAGE_FIELDS[model] else "x"
                for name, info in model.model_fields.items() if info.is_required()}
    fields = {**required, "seed": 3}
    h = Harness(flavour, script(queued()))
    submission = h.call(method_name(endpoint), **fields)
    assert submission.id == "t1"
    (request,) = h.requests
    assert (request.method, request.url.path) == ("POST", f"/v1/{endpoint}")
    assert sent(request) == fields and request.headers["x-key"] == "k"


def test_bad_fields_raise_before_any_request(flavour: str) -> None:
    h = Harness(flavour, script())
    with pytest.raises(InvalidRequest) as info:
        h.call("flux_pro_1_1", prompt="p", width=100, heigth=512)
    err = info.value
    assert isinstance(err, ValueError) and err.status_code is None
    assert [e["loc"] for e in err.detail] == [["heigth"], ("width",)]
    assert str(err) == ("invalid request for flux-pro-1.1: heigth: unknown field for "
                        "FluxPro11Inputs (did you mean 'height'?); width: Input should be a "
                        "multiple of 32")
    with pytest.raises(InvalidRequest, match="finetune_id: Field required"):
        h.call("flux_pro_finetuned", prompt="p")
    with pytest.raises(InvalidRequest, match="aspect_ratio"):
        h.call("flux_kontext_max", prompt="p", aspect_ratio="50:1")
    assert h.requests == []


def test_generate_checks_a_known_endpoints_fields_before_sending(flavour: str) -> None:
    # A misspelt field was sent as given, and the server dropped it: an empty prompt.
    h = Harness(flavour, script())
    with pytest.raises(InvalidRequest) as info:
        h.call("generate", "flux-dev", promt="a lighthouse", timeout=5)
    assert str(info.value) == ("invalid request for flux-dev: promt: unknown field for "
                               "FluxDevInputs (did you mean 'prompt'?)")
    with pytest.raises(InvalidRequest, match="width: Input should be a multiple of 32"):
        h.call("generate", "/v1/flux-pro-1.1", prompt="p", width=100)
    with pytest.raises(InvalidRequest, match=r"^invalid request for flux-dev: colour: "
                       r"unknown field for FluxDevInputs$"):  # nothing close: no guess
        h.call("generate", "flux-dev", prompt="p", colour="red")
    assert h.requests == []


def test_generate_sends_an_unknown_endpoints_fields_as_given(flavour: str) -> None:
    ready = {"id": "t1", "status": "Ready", "result": {"sample": "http://api.test/s"}}
    h = Harness(flavour, script(queued(), httpx.Response(200, json=ready)))
    result = h.call("generate", "flux-pro-next", prompt="p", future_field=1, timeout=5)
    assert result.is_ready and h.paths[0] == "POST /v1/flux-pro-next"
    assert sent(h.requests[0]) == {"prompt": "p", "future_field": 1}


def test_a_model_instance_is_sent_as_its_set_fields(flavour: str) -> None:
    h = Harness(flavour, script(queued()))
    h.call("flux_dev", FluxDevInputs(prompt="a fox", width=512), seed=9)
    assert sent(h.requests[0]) == {"prompt": "a fox", "width": 512, "seed": 9}
    with pytest.raises(InvalidRequest, match="expected FluxPro11Inputs, got FluxDevInputs"):
        h.call("flux_pro_1_1", FluxDevInputs(prompt="a fox"))


def test_images_as_bytes_paths_or_base64(flavour: str, tmp_path: Path) -> None:
    image = tmp_path / "in.png"
    image.write_bytes(PNG)
    b64 = base64.b64encode(PNG).decode()
    h = Harness(flavour, script(queued(), queued()))
    h.call("flux_pro_1_0_fill", image=image, mask=bytearray(PNG), prompt="p", seed=None)
    h.call("submit", "flux-kontext-pro", prompt="p", input_image=PNG,
           input_image_2="https://example.test/a.png")
    assert sent(h.requests[0]) == {"image": b64, "mask": b64, "prompt": "p"}
    assert sent(h.requests[1]) == {"prompt": "p", "input_image": b64,
                                   "input_image_2": "https://example.test/a.png"}
    with pytest.raises(InvalidRequest, match=r"control_image: cannot read .*missing\.png"):
        h.call("flux_pro_1_0_canny", prompt="p", control_image=tmp_path / "missing.png")


def test_submit_sends_fields_as_given(flavour: str) -> None:
    h = Harness(flavour, script(queued()))
    sub = h.call("submit", "/v1/flux-pro-next/", prompt="p", future_field=[1, 2], seed=None)
    assert h.paths == ["POST /v1/flux-pro-next"]
    assert sent(h.requests[0]) == {"prompt": "p", "future_field": [1, 2]}
    assert (sub.polling_url, sub.cost, sub.raw) == (QUEUED["polling_url"], None, QUEUED)


def test_usage_figures_are_read_from_the_answer(flavour: str) -> None:
    answer = {**QUEUED, "cost": 2.5, "input_mp": 0, "output_mp": 1.05}
    h = Harness(flavour, script(httpx.Response(200, json=answer)))
    sub = h.call("submit", "flux-dev", prompt="p")
    assert (sub.cost, sub.input_mp, sub.output_mp) == (2.5, 0.0, 1.05)


def test_finetune_calls(flavour: str, tmp_path: Path) -> None:
    for name, data in [("a.png", PNG), ("a.txt", b"a red square"), (".DS_Store", b"x")]:
        (tmp_path / name).write_bytes(data)
    (tmp_path / "sub").mkdir()
    h = Harness(flavour, script(
        httpx.Response(200, json={"finetune_id": "ft-1"}),
        httpx.Response(200, json={"finetunes": ["ft-1"]}),
        httpx.Response(200, json={"finetune_details": {"trigger_word": "TOK",
                                                       "status": "Pending"}}),
        httpx.Response(200, json={"status": "success", "message": "deleted",
                                  "deleted_finetune_id": "ft-1", "timestamp": "t"}),
    ))
    sub = h.call("finetune", tmp_path, finetune_comment="squares", iterations=100,
                 learning_rate=0.001)
    assert isinstance(sub, FinetuneSubmission) and sub.finetune_id == sub.id == "ft-1"
    assert h.call("my_finetunes") == ["ft-1"]
    assert h.call("finetune_details", "ft-1") == {"trigger_word": "TOK", "status": "Pending"}
    assert h.call("delete_finetune", "ft-1")["deleted_finetune_id"] == "ft-1"
    assert h.paths == ["POST /v1/finetune", "GET /v1/my_finetunes", "GET /v1/finetune_details",
                       "POST /v1/delete_finetune"]
    body = sent(h.requests[0])
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(str(body.pop("file_data")))))
    assert sorted(archive.namelist()) == ["a.png", "a.txt"]
    assert body == {"finetune_comment": "squares", "trigger_word": "TOK", "mode": "general",
                    "iterations": 100, "learning_rate": 0.001}
    assert h.requests[2].url.params["finetune_id"] == "ft-1"
    assert sent(h.requests[3]) == {"finetune_id": "ft-1"}


def test_finetune_fields_are_checked_first(flavour: str) -> None:
    h = Harness(flavour, script())
    with pytest.raises(InvalidRequest, match="mode") as info:
        h.call("finetune", b"PK", finetune_comment="c", mode="portrait", iterations=5)
    assert {e["loc"][0] for e in info.value.detail} == {"mode", "iterations"}
    assert h.requests == []


def test_defaults_come_from_the_environment_at_construction(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLUXHOST_BASE_URL", "FLUXHOST_API_KEY", "BFL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert Client().base_url == "http://127.0.0.1:8000" and not Client().has_key
    monkeypatch.setenv("BFL_API_KEY", "bfl-key")
    monkeypatch.setenv("FLUXHOST_BASE_URL", "https://api.bfl.ai/v1/")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "t1", "polling_url":
                                         "https://api.us1.bfl.ai/v1/get_result?id=t1"})

    client = Client(transport=httpx.MockTransport(handler))
    monkeypatch.setenv("FLUXHOST_API_KEY", "later")  # read at construction, not per call
    client.flux_pro_1_1(prompt="p")
    assert str(seen[0].url) == "https://api.bfl.ai/v1/flux-pro-1.1"
    assert seen[0].headers["x-key"] == "bfl-key"
    assert Client().has_key and Client(api_key="explicit")._key == "explicit"
    assert Client()._key == "later"


@pytest.mark.parametrize("url", ["api.bfl.ai", "ftp://x", "http://", "http://h/?q=1"])
def test_a_bad_base_url_is_refused_by_name(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        Client(url)


def test_no_key_means_no_header(flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLUXHOST_API_KEY", "BFL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    h = Harness(flavour, script(queued()), api_key=None)
    h.call("submit", "flux-dev", prompt="p")
    assert "x-key" not in h.requests[0].headers


def test_download_writes_the_file(flavour: str, tmp_path: Path) -> None:
    from fluxhost.client import Result

    ready = Result("t9", "Ready", result={"sample": "http://cdn.test/s.webp?sig=1"})
    answer = httpx.Response(200, content=b"RIFFwebp", headers={"content-type": "image/webp"})
    h = Harness(flavour, script(answer, answer))
    assert h.call("download", ready, tmp_path / "out.webp") == b"RIFFwebp"
    assert (tmp_path / "out.webp").read_bytes() == b"RIFFwebp"
    h.call("download", ready, tmp_path)  # a folder: <id>.<ext> in it
    assert (tmp_path / "t9.webp").read_bytes() == b"RIFFwebp"
