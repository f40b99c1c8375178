"""The seven FLUX.2 endpoints over HTTP, API only (no worker: tasks stay queued): what a body may
hold (the JS SDK's extra fields are ignored), what is stored for the worker, the output size
and price each answer reports, and the 501 where the model set has no FLUX.2 model.

The provider's own answer to `{"width": 65, "height": 65}` on /v1/flux-2-pro, as recorded by a
third party, is `cost 3.0, input_mp 0.0, output_mp 0.0`: the size snapped to 64 x 64, billed as
one megapixel. The last test runs each endpoint through an embedded worker on the dev set's
tiny FLUX.2 pipelines (in process; over HTTP with real processes: tests/e2e, to come)."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fluxhost import catalog
from fluxhost.store.tasks import INPUTS_PARAM, get_task
from fluxhost.wire.flux2 import Flux2BaseInputs
from tests.conftest import Tenant

App = Callable[..., TestClient]
# The klein -finetuned endpoints need a LoRA: tests/api/test_lora_upload.py.
FLUX2 = [e.name for e in catalog.ENDPOINTS
         if issubclass(e.model, Flux2BaseInputs) and not e.finetuned]
KLEIN = [name for name in FLUX2 if "klein" in name]
# An image URL is fetched (tests/api/test_image_urls.py); a private one is refused unfetched.
URL_REFUSED = "Value error, could not fetch input_image_2: the host is a private address; " \
    "only public addresses are fetched"


def png(size: tuple[int, int], colour: tuple[int, int, int] = (120, 80, 40)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def submit(client: TestClient, tenant: Tenant, endpoint: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"/v1/{endpoint}", headers=tenant.headers, json={"prompt": "a cat", **body})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def refused(client: TestClient, tenant: Tenant, endpoint: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"/v1/{endpoint}", headers=tenant.headers, json={"prompt": "a cat", **body})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    return error  # type: ignore[no-any-return]


def stored(client: TestClient, answer: dict[str, Any]) -> dict[str, Any]:
    task = get_task(client.app.state.services.store, answer["id"])  # type: ignore[attr-defined]
    assert task is not None
    return {**task.params, "kind": task.kind}


def figures(answer: dict[str, Any]) -> tuple[Any, Any, Any]:
    return answer["input_mp"], answer["output_mp"], answer["cost"]


@pytest.mark.parametrize("endpoint", FLUX2)
def test_a_prompt_alone_is_accepted(client: TestClient, tenant: Tenant, endpoint: str) -> None:
    answer = submit(client, tenant, endpoint)
    assert set(answer) == {"id", "polling_url", "cost", "input_mp", "output_mp"}
    assert answer["polling_url"].endswith(f"/v1/get_result?id={answer['id']}")
    params = stored(client, answer)
    assert (params["width"], params["height"]) == (0, 0)  # the model picks: 1024 x 1024
    assert answer["output_mp"] == 1.05 and answer["input_mp"] == 0.0
    assert isinstance(params["seed"], int)  # drawn at submit, reported in the result
    assert params["output_format"] == "jpeg" and params["safety_tolerance"] == 2
    assert params["kind"] == catalog.get(endpoint).kind
    poll = client.get("/v1/get_result", params={"id": answer["id"]})
    assert poll.json()["status"] == "Pending"


@pytest.mark.parametrize("endpoint", FLUX2)
def test_the_js_sdk_body_is_accepted_its_extra_fields_ignored(client: TestClient,
                                                              tenant: Tenant,
                                                              endpoint: str) -> None:
    """The popular JS SDK sends these to every model; a model's schema lacks most of them."""
    answer = submit(client, tenant, endpoint, aspect_ratio="16:9", steps=28, guidance=3.5,
                    raw=False, prompt_upsampling=False, safety_tolerance=2,
                    output_format="png", input_image=png((512, 512)),
                    input_image_9=png((1024, 1024)), input_image_10="not even an image")
    params = stored(client, answer)
    for unknown in ("aspect_ratio", "raw", "input_image_9", "input_image_10"):
        assert unknown not in params
    assert params[INPUTS_PARAM] == {"input_image": f"inputs/{answer['id']}-input_image.bin"}
    assert answer["input_mp"] == 0.26 and answer["output_mp"] == 0.26  # the reference's size
    assert params["output_format"] == "png"
    if endpoint == "flux-2-flex":  # its own steps and guidance, and upsampling switch
        assert (params["steps"], params["guidance"], params["prompt_upsampling"]) \
            == (28, 3.5, False)
    else:
        assert "steps" not in params and "guidance" not in params


@pytest.mark.parametrize("endpoint", KLEIN)
def test_references_past_a_models_last_field_are_ignored(client: TestClient, tenant: Tenant,
                                                         endpoint: str) -> None:
    answer = submit(client, tenant, endpoint, input_image_5=png((256, 256)),
                    input_image_8=png((256, 256)))
    assert answer["input_mp"] == 0.0 and stored(client, answer)[INPUTS_PARAM] == {}


def test_references_are_stored_in_field_order(client: TestClient, tenant: Tenant) -> None:
    answer = submit(client, tenant, "flux-2-pro", input_image_3=png((64, 64)),
                    input_image=png((128, 64)), input_image_8=png((64, 128)))
    assert list(stored(client, answer)[INPUTS_PARAM]) == ["input_image", "input_image_3",
                                                          "input_image_8"]
    assert answer["output_mp"] == 0.01  # 128 x 64: the first reference's size


@pytest.mark.parametrize(("body", "output_mp"), [
    ({"width": 4096, "height": 4096}, 4.19),  # capped at 4 MP: 2048 x 2048
    ({"width": 6000, "height": 1000}, 4.18),  # the aspect kept: 5024 x 832
    ({"width": 65, "height": 65}, 0.0),  # snapped to 64 x 64
    ({"width": 1000, "height": None}, 1.03),  # 1008 x 1024
    ({"width": 0, "height": 0}, 1.05),  # an explicit 0: the default, the model picks
    ({"width": 10**30, "height": 10**30}, 4.19),
])
def test_sizes(client: TestClient, tenant: Tenant, body: dict[str, Any],
               output_mp: float) -> None:
    assert submit(client, tenant, "flux-2-pro", **body)["output_mp"] == output_mp


def test_a_side_left_to_the_model_follows_the_first_reference(client: TestClient,
                                                              tenant: Tenant) -> None:
    ref = png((800, 600))
    assert submit(client, tenant, "flux-2-klein-4b", input_image=ref)["output_mp"] == 0.49
    assert submit(client, tenant, "flux-2-klein-4b", input_image=ref,
                  width=1600)["output_mp"] == 1.92  # 1600 x 1200: its aspect kept
    assert submit(client, tenant, "flux-2-klein-4b", input_image=ref, width=512,
                  height=512)["output_mp"] == 0.26  # both given: the reference does not count


@pytest.mark.parametrize(("body", "where", "error"), [
    ({"width": 63}, "width", "greater_than_equal"),
    ({"height": -64}, "height", "greater_than_equal"),
    ({"user": ""}, "user", "string_too_short"),
    ({"user": "u" * 257}, "user", "string_too_long"),
    ({"user": "a\x00b"}, "user", "value_error"),
    ({"seed": 2**64}, "seed", "less_than_equal"),
    ({"safety_tolerance": 6}, "safety_tolerance", "less_than_equal"),
    ({"output_format": "gif"}, "output_format", "enum"),
    ({"disable_pup": 1}, "disable_pup", "bool_type"),
    ({"width": 1024.5}, "width", "int_from_float"),
])
def test_bad_values_are_422_naming_the_field(client: TestClient, tenant: Tenant,
                                            body: dict[str, Any], where: str,
                                            error: str) -> None:
    found = refused(client, tenant, "flux-2-pro", **body)
    assert found["loc"] == ["body", where] and found["type"] == error


def test_flex_ranges(client: TestClient, tenant: Tenant) -> None:
    assert refused(client, tenant, "flux-2-flex", steps=51)["type"] == "less_than_equal"
    assert refused(client, tenant, "flux-2-flex", guidance=1.4)["type"] == "greater_than_equal"
    params = stored(client, submit(client, tenant, "flux-2-flex", steps=None, guidance=None,
                                   prompt_upsampling=None))
    assert (params["steps"], params["guidance"], params["prompt_upsampling"]) == (50, 5.0, True)


def test_image_urls_and_blob_paths_are_refused(client: TestClient, tenant: Tenant) -> None:
    url = refused(client, tenant, "flux-2-pro", input_image_2="https://10.0.0.1/a.png")
    assert url["loc"] == ["body", "input_image_2"] and url["msg"] == URL_REFUSED
    blob = refused(client, tenant, "flux-2-flex", input_image_blob_path="bucket/a.png")
    assert blob["loc"] == ["body", "input_image_blob_path"]
    assert "blob paths of the provider's own storage are not served here" in blob["msg"]
    bad = refused(client, tenant, "flux-2-klein-9b", input_image_4="bm90IGFuIGltYWdl")
    assert bad["loc"] == ["body", "input_image_4"]


@pytest.mark.parametrize(("size", "ok"), [
    ((64, 512), True), ((63, 500), False), ((64, 513), False), ((4096, 512), True)])
def test_references_the_pipelines_take(client: TestClient, tenant: Tenant,
                                       size: tuple[int, int], ok: bool) -> None:
    """Both sides at least 64 px, aspect up to 8:1 (what diffusers' FLUX.2 pipelines take):
    refused at submit, naming the field, rather than failing the task in the worker."""
    body = {"input_image_2": png(size)}
    if ok:
        submit(client, tenant, "flux-2-max", **body)
        return
    error = refused(client, tenant, "flux-2-max", **body)
    assert error["loc"] == ["body", "input_image_2"]
    assert error["msg"] == (f"Value error, the reference image is {size[0]}x{size[1]}; FLUX.2 "
                            "takes both sides at least 64 px and aspect ratios up to 8:1")


@pytest.mark.parametrize(("endpoint", "body", "upsampled"), [
    ("flux-2-pro", {}, True),
    ("flux-2-pro", {"disable_pup": True}, False),
    ("flux-2-pro-preview", {}, True),
    ("flux-2-pro-preview", {"disable_pup": True}, False),
    ("flux-2-max", {"disable_pup": False}, True),
    ("flux-2-flex", {}, True),
    ("flux-2-flex", {"prompt_upsampling": False}, False),
    ("flux-2-flex", {"disable_pup": True}, True),  # not a flex field: ignored
    ("flux-2-klein-4b", {"prompt_upsampling": True}, False),  # not a klein field either
    ("flux-2-klein-9b-preview", {}, False),
])
def test_prompt_upsampling_as_each_endpoint_does_it(client: TestClient, tenant: Tenant,
                                                    endpoint: str, body: dict[str, Any],
                                                    upsampled: bool) -> None:
    params = stored(client, submit(client, tenant, endpoint, **body))
    assert params["prompt_upsampling"] is upsampled


def test_user_is_stored_and_webhooks_answer_with_the_figures(client: TestClient,
                                                             tenant: Tenant) -> None:
    answer = submit(client, tenant, "flux-2-klein-9b", user="end-user-42",
                    webhook_url="https://example.com/hook", webhook_secret="s3cret")
    assert answer["status"] == "Pending" and answer["webhook_url"] == "https://example.com/hook"
    assert figures(answer) == (0.0, 1.05, 1.5)
    assert stored(client, answer)["user"] == "end-user-42"


# The provider's table (credits): 1024 x 1024 out, text to image and with one 1024 x 1024
# reference (an input megapixel at the second rate); and 2048 x 2048 (three further ones).
PRICES = {
    "flux-2-pro": (3.0, 4.5, 7.5),
    "flux-2-pro-preview": (3.0, 4.5, 7.5),
    "flux-2-max": (7.0, 10.0, 16.0),
    "flux-2-flex": (6.0, 12.0, 24.0),
    "flux-2-klein-4b": (1.4, 1.5, 1.7),
    "flux-2-klein-9b": (1.5, 1.7, 2.1),
    "flux-2-klein-9b-preview": (1.5, 1.7, 2.1),
}


@pytest.mark.parametrize("endpoint", FLUX2)
def test_the_providers_prices(client: TestClient, tenant: Tenant, endpoint: str) -> None:
    text, edit, large = PRICES[endpoint]
    assert figures(submit(client, tenant, endpoint)) == (0.0, 1.05, text)
    assert figures(submit(client, tenant, endpoint, input_image=png((1024, 1024)))) \
        == (1.05, 1.05, edit)
    assert submit(client, tenant, endpoint, width=2048, height=2048)["cost"] == large


def test_whole_megapixels_rounded_up_image_by_image(client: TestClient, tenant: Tenant) -> None:
    # 1920 x 1088 out: 1.99 MP, billed 2; 65 x 65 -> 64 x 64: billed 1 (the provider's answer).
    assert figures(submit(client, tenant, "flux-2-pro", width=1920, height=1080)) \
        == (0.0, 2.09, 4.5)
    assert figures(submit(client, tenant, "flux-2-pro", width=65, height=65)) == (0.0, 0.0, 3.0)
    # Two small references (at least one megapixel each) and one of 1025 x 1024 (two).
    answer = submit(client, tenant, "flux-2-pro", width=1024, height=1024,
                    input_image=png((64, 64)), input_image_2=png((64, 64)),
                    input_image_3=png((1025, 1024)))
    assert answer["cost"] == 3.0 + 1.5 * 4


def test_operator_prices_come_first(app_with: App, tenant: Tenant) -> None:
    client = app_with(prices={"flux-2-pro": {"flat": 5},
                              "flux-2-max": {"first_mp": 1, "per_output_mp": 0.5},
                              "*": {"flat": 2}})
    assert submit(client, tenant, "flux-2-pro", width=2048, height=2048)["cost"] == 5
    assert submit(client, tenant, "flux-2-max", width=2048, height=2048)["cost"] == 2.5
    assert submit(client, tenant, "flux-2-klein-4b")["cost"] == 2  # "*", over the built-in
    assert submit(client, tenant, "flux-2-flex", input_image=png((64, 64)))["cost"] == 2


def test_served_on_the_emoji_demo_set_by_its_klein(app_with: App, services: Any,
                                                   tenant: Tenant) -> None:
    """The demo has no FLUX.2 [dev] and no KV-cache kind: every FLUX.2 endpoint is accepted and
    stored with the klein kind that serves it; canny and depth, which it lacks, answer 501."""
    client = app_with(model_set="emoji")
    ready = client.get("/ready").json()
    assert {f"/v1/{name}" for name in FLUX2} <= set(ready["endpoints"])
    assert set(ready["endpoints_unserved"]) == {
        "/v1/flux-pro-1.0-canny", "/v1/flux-pro-1.0-depth", "/v1/flux-pro-1.0-canny-finetuned",
        "/v1/flux-pro-1.0-depth-finetuned"}
    for endpoint in FLUX2:
        if catalog.get(endpoint).finetuned:
            continue
        task = get_task(services.store, submit(client, tenant, endpoint)["id"])
        assert task is not None
        assert task.kind == ("klein-9b" if "9b" in endpoint else "klein-4b"), endpoint
    r = client.post("/v1/flux-pro-1.0-canny", headers=tenant.headers, json={"prompt": "p"})
    assert r.status_code == 501
    assert r.json() == {"detail": "Endpoint /v1/flux-pro-1.0-canny is not served here: this "
                                  "server has no model for its kind 'canny' (FLUXHOST_MODELS); "
                                  "GET /ready lists the endpoints it serves"}


def test_every_endpoint_runs_on_the_dev_set(app_with: App, tenant: Tenant) -> None:
    """Through an embedded worker: Ready, an image of the size the answer announced, the prompt
    upsampled where the endpoint does it."""
    client = app_with(workers=1)
    cases = {
        "flux-2-pro": {"width": 128, "height": 96},
        "flux-2-pro-preview": {"width": 96, "height": 96, "disable_pup": True},
        "flux-2-max": {"input_image": png((96, 64)), "input_image_4": png((64, 64))},
        "flux-2-flex": {"steps": 2, "input_image": png((96, 64)), "prompt_upsampling": False},
        "flux-2-klein-4b": {"input_image": png((64, 128)), "input_image_3": png((64, 64))},
        "flux-2-klein-9b": {"width": 64, "height": 64, "output_format": "png"},
        "flux-2-klein-9b-preview": {"input_image": png((80, 64)), "height": 128},
    }
    answers = {name: submit(client, tenant, name, prompt="a red door", **body)
               for name, body in cases.items()}
    deadline = time.monotonic() + 600
    for name, answer in answers.items():
        while (result := client.get("/v1/get_result", params={"id": answer["id"]}).json())[
                "status"] == "Pending":
            assert time.monotonic() < deadline, f"{name} did not finish"
            time.sleep(0.1)
        assert result["status"] == "Ready", (name, result)
        image = Image.open(io.BytesIO(client.get(result["result"]["sample"]).content))
        assert round(image.width * image.height / 1e6, 2) == answer["output_mp"], name
        upsampled = result["result"]["prompt"] != "a red door"
        assert upsampled == stored(client, answer)["prompt_upsampling"], name
        assert image.format == ("PNG" if name == "flux-2-klein-9b" else "JPEG"), name
