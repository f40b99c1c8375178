from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Node


class Deployment:
    """A running server with a key and a finetune, reachable over loopback HTTP."""

    def __init__(self, node: Node, key: str, finetune_id: str) -> None:
        self.node = node
        self.key = key
        self.finetune_id = finetune_id
        self.client = httpx.Client(base_url=node.url, timeout=30)

    @property
    def headers(self) -> dict[str, str]:
        return {"x-key": self.key}

    def submit(self, path: str = "/v1/flux-pro-finetuned", **body: object) -> httpx.Response:
        payload = {"finetune_id": self.finetune_id, "width": 256, "height": 256, "steps": 4,
                   **body}
        return self.client.post(path, headers=self.headers, json=payload)


def provision(node: Node, dev_lora_file: Path, name: str = "e2e") -> tuple[str, str]:
    """A key and a finetune, made with the real CLI commands."""
    key = node.cli("keys", "create", name)
    finetune_id = node.cli("finetunes", "import", str(dev_lora_file), "--owner", name,
                           "--comment", "e2e finetune", "--trigger-word", "TOK")
    return key, finetune_id


@pytest.fixture
def node(tmp_path: Path, dev_model_dir: Path) -> Iterator[Node]:
    n = Node(data_dir=tmp_path / "node", dev_model_dir=dev_model_dir)
    n.data_dir.mkdir(parents=True)
    yield n
    n.stop_all()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path,
               dev_lora_file: Path) -> Iterator[Deployment]:
    """One server with an embedded worker, shared by a module's tests."""
    n = Node(data_dir=tmp_path_factory.mktemp("deploy"), dev_model_dir=dev_model_dir)
    key, finetune_id = provision(n, dev_lora_file)
    n.serve(workers=1)
    d = Deployment(n, key, finetune_id)
    yield d
    d.client.close()
    n.stop_all()
