"""`fluxhost finetunes upload FILE --name N --base klein-4b` against a real server on loopback
(tests/cli/conftest.py: dev model set, klein-4b served): the answer as JSON, the name then
served by flux-2-klein-4b-finetuned and listed by `finetunes list`; a refused file is one line
and exit 1, a bad name or base exit 2 before anything is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Live, assert_one_line_error

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def lora(dev_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxhost.engine.families.flux2.dev_loras import write_layout_lora

    return write_layout_lora(dev_model_dir / "klein-4b",
                             tmp_path_factory.mktemp("l") / "style.safetensors", "ai-toolkit")


def test_upload_then_generate_by_name(live: Live, tmp_path: Path, lora: Path) -> None:
    out = live.run("finetunes", "upload", str(lora), "--name", "cli-style", "--base",
                   "klein-4b", "--trigger-word", "in sks style", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert (answer["finetune_id"], answer["layout"], answer["endpoint"]) == (
        "cli-style", "ai-toolkit", "/v1/flux-2-klein-4b-finetuned")
    listed = json.loads(live.run("finetunes", "list", "--json", cwd=tmp_path).stdout)
    assert "cli-style" in [row["finetune_id"] for row in listed]
    out = live.run("generate", "flux-2-klein-4b-finetuned", "--finetune-id", "cli-style",
                   "--prompt", "a harbour in sks style", "--width", "64", "--height", "64",
                   "--json", "-o", str(tmp_path / "out.jpg"), cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "Ready"
    assert (tmp_path / "out.jpg").stat().st_size > 0


def test_refusals(live: Live, tmp_path: Path) -> None:
    pickled = tmp_path / "model.ckpt"
    pickled.write_bytes(b"\x80\x04\x95\x00\x00")
    assert_one_line_error(live.run("finetunes", "upload", str(pickled), "--name", "p",
                                   "--base", "klein-4b", cwd=tmp_path), 1, "HTTP 422",
                          "is a Python pickle")
    assert_one_line_error(live.run("finetunes", "upload", str(pickled), "--name", "Bad!",
                                   "--base", "klein-7b", cwd=tmp_path), 2, "name 'Bad!'",
                          "base 'klein-7b'")
