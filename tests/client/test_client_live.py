"""Both clients against a real server on loopback (dev model set: the images are noise, drawn
by tiny random pipelines; the tests check formats, sizes and statuses, not content)."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from fluxhost.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    NotFoundError,
    Result,
    Submission,
    TaskError,
    TaskNotFound,
    UnprocessableEntityError,
)
from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node, free_port

pytestmark = pytest.mark.service

SMALL = {"width": 256, "height": 256, "steps": 4}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path,
               dev_lora_file: Path) -> Iterator[Deployment]:
    node = Node(data_dir=tmp_path_factory.mktemp("client"), dev_model_dir=dev_model_dir)
    key, finetune_id = provision(node, dev_lora_file, name="client")
    node.serve(workers=1)
    d = Deployment(node, key, finetune_id)
    yield d
    d.client.close()
    node.stop_all()


@pytest.fixture
def client(deployment: Deployment) -> Iterator[Client]:
    with Client(deployment.node.url, deployment.key, poll_interval=0.1) as c:
        yield c


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def training_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, colour in enumerate([(220, 20, 20), (20, 220, 20), (20, 20, 220)]):
            img = io.BytesIO()
            Image.new("RGB", (96, 96), colour).save(img, "PNG")
            zf.writestr(f"img{i}.png", img.getvalue())
    return buf.getvalue()


def test_finetuned_endpoint_wait_with_progress_and_download(
        deployment: Deployment, client: Client, tmp_path: Path) -> None:
    sub = client.flux_pro_finetuned(finetune_id=deployment.finetune_id, prompt="a lighthouse",
                                    seed=7, output_format="png", **SMALL)
    assert sub.polling_url == f"{deployment.node.url}/v1/get_result?id={sub.id}"
    seen: list[Result] = []
    result = client.wait(sub, timeout=60, on_progress=seen.append)
    assert result.status == "Ready" and result.result is not None
    assert result.result["seed"] == 7 and seen[-1] == result
    assert all(r.status == "Pending" for r in seen[:-1])
    data = client.download(result, tmp_path)
    assert (tmp_path / f"{sub.id}.png").read_bytes() == data
    img = decode(data)
    assert img.format == "PNG" and img.size == (256, 256)


def test_base_endpoint_generate(client: Client, tmp_path: Path) -> None:
    result = client.generate("flux-dev", prompt="a fox", seed=3, timeout=60, **SMALL)
    assert result.is_ready and result.result is not None and result.result["seed"] == 3
    img = decode(client.download(result, tmp_path / "fox.jpg"))
    assert img.format == "JPEG" and img.size == (256, 256)
    assert decode((tmp_path / "fox.jpg").read_bytes()).size == (256, 256)


def test_polling_url_is_followed_whatever_the_base_url(deployment: Deployment,
                                                       client: Client) -> None:
    sub = client.submit("flux-pro-finetuned", finetune_id=deployment.finetune_id, prompt="p",
                        **SMALL)
    # A client pointed elsewhere still gets there: it polls the URL it was given.
    with Client(f"http://127.0.0.1:{free_port()}", deployment.key) as elsewhere:
        assert elsewhere.wait(sub, timeout=60).is_ready
    assert client.get_result(sub.id).status == "Ready"  # by id, on the base URL


def test_unknown_task_is_not_found(client: Client) -> None:
    task_id = str(uuid.uuid4())
    for task in (task_id, Submission(task_id, None)):
        result = client.get_result(task)
        assert (result.id, result.status, result.result) == (task_id, "Task not found", None)
    with pytest.raises(TaskNotFound) as info:
        client.wait(task_id, timeout=5)
    assert info.value.result.id == task_id and str(info.value) == f"task {task_id} not found"


@pytest.mark.parametrize("key", ["fh_not-a-real-key", None])
def test_bad_or_missing_key(deployment: Deployment, key: str | None,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FLUXHOST_API_KEY", "BFL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with Client(deployment.node.url, key) as c, pytest.raises(AuthenticationError) as info:
        c.flux_pro_finetuned(finetune_id=deployment.finetune_id, prompt="p")
    assert info.value.status_code == 403
    assert str(info.value) == "HTTP 403: Not authenticated - Invalid Authentication"


def test_server_validation_error_carries_the_list(deployment: Deployment,
                                                  client: Client) -> None:
    # submit() sends as given, so the server's own 422 shows (typed methods refuse earlier).
    with pytest.raises(UnprocessableEntityError) as info:
        client.submit("flux-pro-finetuned", finetune_id=deployment.finetune_id, prompt="p",
                      width=100, height=256)
    assert any(e["loc"][-1] == "width" for e in info.value.detail), info.value.detail
    assert str(info.value).startswith("HTTP 422: width: ")


def test_failed_task_raises_task_error(deployment: Deployment, client: Client) -> None:
    buf = io.BytesIO()
    # Opaque everywhere: the alpha channel marks nothing to repaint, which ends the task Error.
    Image.new("RGBA", (64, 64), (255, 255, 255, 255)).save(buf, format="PNG")
    with pytest.raises(TaskError) as info:
        client.generate("flux-pro-1.0-fill-finetuned", timeout=60, steps=15, prompt="edges",
                        finetune_id=deployment.finetune_id, image=buf.getvalue())
    result = info.value.result
    assert result.status == "Error" and "mask is blank" in str(result.details), result
    assert info.value.status_code is None


def test_finetune_submit_list_details_delete(client: Client) -> None:
    sub = client.finetune(training_zip(), finetune_comment="squares", mode="style",
                          iterations=100, finetune_type="lora", lora_rank=16)
    assert sub.finetune_id in client.my_finetunes()
    details = client.finetune_details(sub.finetune_id)
    assert details["finetune_comment"] == "squares" and details["iterations"] == 100
    assert details["images"] == 3
    deleted = client.delete_finetune(sub.finetune_id)
    assert deleted["deleted_finetune_id"] == sub.finetune_id
    assert sub.finetune_id not in client.my_finetunes()
    with pytest.raises(NotFoundError):
        client.finetune_details(sub.finetune_id)


def test_async_client(deployment: Deployment, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with AsyncClient(deployment.node.url, deployment.key, poll_interval=0.1) as c:
            subs = await asyncio.gather(
                c.flux_pro_finetuned(finetune_id=deployment.finetune_id, prompt="a",
                                     output_format="webp", **SMALL),
                c.flux_dev(prompt="b", **SMALL))
            seen: list[Result] = []
            results = await asyncio.gather(*(c.wait(s, timeout=60, on_progress=seen.append)
                                             for s in subs))
            assert [r.status for r in results] == ["Ready", "Ready"] and len(seen) >= 2
            webp = decode(await c.download(results[0], tmp_path / "a.webp"))
            assert webp.format == "WEBP" and webp.size == (256, 256)
            assert decode(await c.download(results[1])).format == "JPEG"
            with pytest.raises(TaskNotFound):
                await c.wait(str(uuid.uuid4()), timeout=5)
            sub = await c.finetune(base64.b64encode(training_zip()).decode(),
                                   finetune_comment="async", iterations=100)
            assert sub.finetune_id in await c.my_finetunes()
            assert (await c.finetune_details(sub.finetune_id))["finetune_comment"] == "async"
            await c.delete_finetune(sub.finetune_id)
            with pytest.raises(NotFoundError):
                await c.finetune_details(sub.finetune_id)

    asyncio.run(scenario())
