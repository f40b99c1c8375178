"""Issue 19 part A over real HTTP: a real `fluxhost serve` (dev set, embedded worker), the SDK
uploads a klein LoRA in the AI-Toolkit layout, generates with it by name and gets a Ready,
downloadable image; another key's upload of the same name is its own."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from fluxhost.client import Client, NotFoundError
from tests.e2e.conftest import Deployment

pytestmark = pytest.mark.service


def test_upload_generate_get_result(deployment: Deployment, tmp_path: Path,
                                    dev_model_dir: Path) -> None:
    from fluxhost.engine.families.flux2.dev_loras import write_layout_lora

    lora = write_layout_lora(dev_model_dir / "klein-4b", tmp_path / "style.safetensors",
                             "ai-toolkit", seed=3)
    with Client(base_url=deployment.node.url, api_key=deployment.key) as client:
        up = client.upload_finetune(lora, name="e2e-style", base="klein-4b",
                                    trigger_word="in e2e style")
        assert (up.finetune_id, up.layout, up.base_model) == ("e2e-style", "ai-toolkit",
                                                              "klein-4b")
        assert "e2e-style" in client.my_finetunes()
        result = client.generate("flux-2-klein-4b-finetuned", finetune_id="e2e-style",
                                 prompt="a lighthouse", width=64, height=64, seed=5,
                                 timeout=300)
        assert result.status == "Ready"
        image = Image.open(io.BytesIO(client.download(result)))
        assert image.size == (64, 64)
        polled = client.get_result(result.id)
        assert polled.status == "Ready"
    other_key = deployment.node.cli("keys", "create", "e2e-other")
    with Client(base_url=deployment.node.url, api_key=other_key) as other, \
            pytest.raises(NotFoundError):
        other.finetune_details("e2e-style")
