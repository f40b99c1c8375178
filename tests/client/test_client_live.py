"""The client and `fluxhost generate` against a real server on loopback (dev model set)."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from fluxhost.client import Client, FluxhostError, Submission, TaskFailed, TaskNotFound
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
    with Client(deployment.node.url, deployment.key) as c:
        yield c


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_submit_wait_download(deployment: Deployment, client: Client) -> None:
    sub = client.submit("flux-pro-finetuned", finetune_id=deployment.finetune_id,
                        prompt="a lighthouse", seed=7, output_format="png", **SMALL)
    assert sub.polling_url == f"{deployment.node.url}/v1/get_result?id={sub.id}"
    # A client that could not build the URL itself still gets there: it follows polling_url.
    with Client(f"http://127.0.0.1:{free_port()}", deployment.key) as elsewhere:
        result = elsewhere.wait(sub, timeout=60, poll_interval=0.05)
        assert result.status == "Ready" and result.is_terminal, result
        assert result.result is not None and result.result["seed"] == 7
        assert result.sample_url is not None
        img = decode(elsewhere.download(result))
    assert img.format == "PNG" and img.size == (256, 256)
    assert client.get_result(sub.id).status == "Ready"  # by id, on the base URL


def test_generate_end_to_end(deployment: Deployment, client: Client) -> None:
    result = client.generate("flux-pro-finetuned", timeout=60,
                             finetune_id=deployment.finetune_id, prompt="p", **SMALL)
    assert result.status == "Ready" and result.result is not None
    assert result.result["prompt"] == "p" and isinstance(result.result["seed"], int)
    img = decode(client.download(result))
    assert img.format == "JPEG" and img.size == (256, 256)


@pytest.mark.parametrize("key", ["fh_not-a-real-key", None])
def test_bad_or_missing_key_is_403(deployment: Deployment, key: str | None) -> None:
    with Client(deployment.node.url, key) as c, pytest.raises(FluxhostError) as info:
        c.submit("flux-pro-finetuned", finetune_id=deployment.finetune_id, prompt="p")
    assert info.value.status_code == 403
    assert info.value.detail == "Not authenticated - Invalid Authentication"
    assert str(info.value) == "HTTP 403: Not authenticated - Invalid Authentication"


def test_validation_error_carries_the_list(deployment: Deployment, client: Client) -> None:
    with pytest.raises(FluxhostError) as info:
        client.submit("flux-pro-finetuned", finetune_id=deployment.finetune_id, prompt="p",
                      width=100, height=256)
    err = info.value
    assert err.status_code == 422 and isinstance(err.detail, list)
    assert any(e["loc"][-1] == "width" for e in err.detail), err.detail
    assert str(err).startswith("HTTP 422: width: ")


def test_unknown_task_is_not_found(client: Client) -> None:
    task_id = str(uuid.uuid4())
    for task in (task_id, Submission(task_id, None)):
        result = client.get_result(task)
        assert (result.id, result.status, result.result) == (task_id, "Task not found", None)
        assert result.is_terminal
    with pytest.raises(TaskNotFound) as info:
        client.wait(task_id, timeout=5)
    assert info.value.result.id == task_id and str(info.value) == f"task {task_id} not found"


def test_failed_task_raises_task_failed(deployment: Deployment, client: Client) -> None:
    buf = io.BytesIO()
    # Opaque everywhere: the alpha channel marks nothing to repaint, which ends the task Error.
    Image.new("RGBA", (64, 64), (255, 255, 255, 255)).save(buf, format="PNG")
    image = base64.b64encode(buf.getvalue()).decode()
    with pytest.raises(TaskFailed) as info:
        client.generate("flux-pro-1.0-fill-finetuned", timeout=60,
                        finetune_id=deployment.finetune_id, prompt="edges", image=image, steps=15)
    result = info.value.result
    assert result.status == "Error" and "mask is blank" in str(result.details), result
    assert f"task {result.id} ended with status 'Error'" in str(info.value)
    assert info.value.status_code is None
