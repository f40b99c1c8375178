"""`input_mp`, `output_mp` and `cost` in submit answers, the price table, and the usage record
that finished tasks leave (in-process app, embedded worker on the dev model)."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError

from fluxhost.api.pricing import cost, megapixels, price_for
from fluxhost.settings import Price, Settings
from fluxhost.store.tasks import get_task
from fluxhost.store.usage import FIGURES_PARAM, day_of, read_usage
from tests.conftest import Tenant

App = Callable[..., TestClient]
PRO = "/v1/flux-pro-finetuned"
ULTRA = "/v1/flux-pro-1.1-ultra-finetuned"
FILL = "/v1/flux-pro-1.0-fill-finetuned"
CANNY = "/v1/flux-pro-1.0-canny-finetuned"
TERMINAL = {"Ready", "Error", "Request Moderated", "Content Moderated"}


def png(size: tuple[int, int], mode: str = "RGB", colour: Any = (120, 80, 40)) -> str:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def post(client: TestClient, tenant: Tenant, path: str = PRO, **body: Any) -> dict[str, Any]:
    r = client.post(path, headers=tenant.headers,
                    json={"finetune_id": tenant.finetune_id, "prompt": "a cat", **body})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def figures(answer: dict[str, Any]) -> tuple[Any, Any, Any]:
    # null figures may be sent as null or left out (exclude_none): both read as None
    return answer.get("input_mp"), answer.get("output_mp"), answer.get("cost")


def test_text_to_image_reports_output_megapixels_and_no_cost(client: TestClient,
                                                             tenant: Tenant) -> None:
    answer = post(client, tenant, width=1024, height=768)
    assert figures(answer) == (0.0, 0.79, None)  # 786432 px; no price table: cost null
    # Ultra: its aspect ratio at ULTRA_MEGAPIXELS (0.0625 in tests), as the worker sizes it:
    # 16:9 -> 320 x 192.
    assert figures(post(client, tenant, ULTRA, aspect_ratio="16:9")) == (0.0, 0.06, None)
    # The figures are kept on the task for its usage record.
    task = get_task(client.app.state.services.store, answer["id"])  # type: ignore[attr-defined]
    assert task is not None
    assert task.params[FIGURES_PARAM] == {"input_mp": 0.0, "output_mp": 0.79, "cost": None}


def test_image_inputs_report_input_megapixels(client: TestClient, tenant: Tenant) -> None:
    # Canny: the output follows the control image, fitted as the worker fits it (608 x 400).
    answer = post(client, tenant, CANNY, control_image=png((600, 400)), steps=15)
    assert figures(answer) == (0.24, 0.24, None)
    # Fill: the mask is not counted as input; a large image is fitted into 1440 per side.
    answer = post(client, tenant, FILL, image=png((2000, 1000)),
                  mask=png((2000, 1000), "L", 255))
    assert figures(answer) == (2.0, 1.04, None)  # 1440 x 720 out
    # An image prompt on text-to-image counts as input.
    answer = post(client, tenant, width=512, height=512, image_prompt=png((500, 500)))
    assert figures(answer) == (0.25, 0.26, None)


def test_webhook_answer_carries_the_figures_too(client: TestClient, tenant: Tenant) -> None:
    answer = post(client, tenant, width=256, height=256, webhook_url="http://127.0.0.1:9/hook")
    assert answer["status"] == "Pending"
    assert figures(answer) == (0.0, 0.07, None)


def test_cost_from_the_price_table(app_with: App, tenant: Tenant) -> None:
    client = app_with(prices={
        "flux-pro-finetuned": {"flat": 1, "per_output_mp": 2.5},
        "flux-pro-1.0-canny-finetuned": {"per_input_mp": 1, "per_output_mp": 1},
        "*": {"flat": 7},
    })
    assert post(client, tenant, width=1024, height=1024)["cost"] == 1 + 2.5 * 1.05
    assert post(client, tenant, CANNY, control_image=png((600, 400)))["cost"] == 0.48
    assert post(client, tenant, ULTRA, aspect_ratio="1:1")["cost"] == 7  # the "*" entry


def test_cost_rules() -> None:
    a, b = Price(flat=0.1, per_output_mp=0.2), Price(per_input_mp=1.0)
    assert cost(a, 1_000_000, []) == 0.3  # no float noise
    assert cost(a, None, []) is None  # a per-megapixel price needs the figure
    assert cost(b, None, [300_000, 200_000]) == 0.5
    assert price_for("c", {"a": a}) is None  # no entry, no "*", no built-in price: null
    assert price_for("c", {"a": a, "*": b}) is b
    assert megapixels(1_048_576) == 1.05


def test_price_table_setting_is_validated(make_settings: Callable[..., Settings]) -> None:
    assert make_settings(prices={"flux-dev": {"flat": 2}}).prices["flux-dev"].flat == 2
    for bad in ({"flux-dev": {"flat": -1}}, {"flux-dev": {"per_mp": 1}},
                {"flux-dev": {"flat": "nan"}}, {"flux-devv": {"flat": 1}}):
        with pytest.raises(ValidationError):
            make_settings(prices=bad)


def test_finished_tasks_are_recorded_as_usage(app_with: App, tenant: Tenant) -> None:
    client = app_with(workers=1, prices={"flux-pro-finetuned": {"per_output_mp": 10}})
    ids = [post(client, tenant, width=256, height=256, steps=2, seed=i)["id"] for i in range(2)]
    deadline = time.monotonic() + 120
    for task_id in ids:
        while client.get("/v1/get_result", params={"id": task_id}).json()["status"] \
                not in TERMINAL:
            assert time.monotonic() < deadline, "task did not finish"
            time.sleep(0.05)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    statuses = {get_task(store, i).status for i in ids}  # type: ignore[union-attr]
    assert statuses == {"Ready"}
    (row,) = [r.as_dict() for r in read_usage(store)]
    assert row["engine_seconds"] > 0
    row.pop("engine_seconds")
    assert row == {"key": "alice", "day": day_of(time.time()), "endpoint": "flux-pro-finetuned",
                   "tasks": 2, "images": 2, "input_mp": 0.0, "output_mp": 0.14, "cost": 1.4}


def exif_rotated_jpeg(size: tuple[int, int]) -> bytes:
    """A JPEG stored `size` wide that EXIF turns a quarter (orientation 6)."""
    img = Image.new("RGB", size, (10, 120, 200))
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def raw_png(size: tuple[int, int], mode: str = "RGB", colour: Any = (120, 80, 40)) -> bytes:
    return base64.b64decode(png(size, mode, colour))


SIZING_CASES: list[tuple[str, dict[str, Any], dict[str, bytes]]] = [
    ("flux-pro-finetuned", {"width": 1024, "height": 768, "steps": 2, "guidance": 3,
                            "finetune_id": "f", "finetune_strength": 1}, {}),
    ("flux-pro-1.1-ultra-finetuned", {"aspect_ratio": "21:9", "finetune_id": "f",
                                      "finetune_strength": 1}, {}),
    ("flux-pro-1.0-fill-finetuned", {"steps": 2, "guidance": 3, "finetune_id": "f",
                                     "finetune_strength": 1},
     {"image": raw_png((2000, 1000)), "mask": raw_png((2000, 1000), "L", 255)}),
    ("flux-pro-1.0-canny", {}, {"control_image": raw_png((300, 200))}),
    ("flux-pro-1.0-depth", {}, {"control_image": raw_png((300, 200)),
                                "preprocessed_image": raw_png((700, 900))}),
    ("flux-pro-1.0-expand", {"top": 100, "bottom": 100, "left": 0, "right": 0},
     {"image": raw_png((512, 512))}),
    ("flux-pro-1.0-expand", {"top": 0, "bottom": 0, "left": 150, "right": 150},
     {"image": exif_rotated_jpeg((600, 300))}),
    ("flux-kontext-pro", {"aspect_ratio": "3:7"}, {}),
    ("flux-kontext-pro", {}, {"input_image": raw_png((400, 200))}),
    ("flux-kontext-max", {}, {"input_image": exif_rotated_jpeg((500, 100)),
                              "input_image_2": raw_png((64, 64))}),
]


@pytest.mark.parametrize(("endpoint", "params", "images"), SIZING_CASES)
def test_output_size_is_what_the_worker_renders(settings: Settings, endpoint: str,
                                                params: dict[str, Any],
                                                images: dict[str, bytes]) -> None:
    """The submit figure against the engine request the worker builds from the same task."""
    from fluxhost.api.pricing import image_sizes, output_size
    from fluxhost.planning import plan
    from fluxhost.store.tasks import INPUTS_PARAM
    from fluxhost.worker.requests import engine_request

    stored = {**params, "seed": 1, INPUTS_PARAM: {name: f"b/{name}" for name in images}}
    req = engine_request(plan(endpoint, stored, settings), images, None)
    assert output_size(endpoint, stored, image_sizes(images), settings) == (req.width,
                                                                            req.height)


@pytest.mark.parametrize(("endpoint", "kind", "images"), [
    ("flux-kontext-pro", "base", {"input_image": raw_png((400, 200))}),
    ("flux-pro-1.0-fill", "myfill", {"image": raw_png((600, 300), "RGBA", (0, 0, 0, 0))}),
    ("flux-pro-1.0-canny", "mycanny", {"control_image": raw_png((300, 500))}),
])
def test_output_size_follows_the_endpoint_on_another_kind(endpoint: str, kind: str,
                                                          images: dict[str, bytes]) -> None:
    """An endpoint moved by FLUXHOST_ENDPOINT_KINDS (to an operator-defined kind, or Kontext to
    base) renders at its own endpoint's size rule: the figure says so too."""
    from fluxhost.api.pricing import image_sizes, output_size
    from fluxhost.planning import plan
    from fluxhost.store.tasks import INPUTS_PARAM
    from fluxhost.worker.requests import engine_request

    models = {"base": "b", "myfill": {"pipeline": "fill", "source": "f"},
              "mycanny": {"pipeline": "canny", "source": "c"}}
    moved = Settings(_env_file=None, models=models,  # type: ignore[call-arg]
                     endpoint_kinds={endpoint: kind}, kontext_megapixels=0.0625)
    stored = {"seed": 1, INPUTS_PARAM: {name: f"b/{name}" for name in images}}
    req = engine_request(plan(endpoint, stored, moved), images, None)
    assert output_size(endpoint, stored, image_sizes(images), moved) == (req.width, req.height)


def test_base_endpoints_report_their_figures(client: TestClient, tenant: Tenant) -> None:
    def base(path: str, **body: Any) -> dict[str, Any]:
        r = client.post(path, headers=tenant.headers, json={"prompt": "a cat", **body})
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    # Kontext (0.0625 MP on the dev set): from aspect_ratio, or the input image's aspect.
    assert figures(base("/v1/flux-kontext-pro", aspect_ratio="1:1")) == (0.0, 0.07, None)
    assert figures(base("/v1/flux-kontext-pro", input_image=png((400, 200)))) \
        == (0.08, 0.06, None)  # 352 x 176 out
    # Expand: the padded canvas (512 x 720), the image counted as input.
    assert figures(base("/v1/flux-pro-1.0-expand", image=png((512, 512)), top=100,
                        bottom=100)) == (0.26, 0.37, None)
    # Canny: a preprocessed image sizes the output.
    assert figures(base("/v1/flux-pro-1.0-canny", preprocessed_image=png((600, 400)))) \
        == (0.24, 0.24, None)
    assert figures(base("/v1/flux-dev", width=512, height=512)) == (0.0, 0.26, None)
