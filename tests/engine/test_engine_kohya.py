"""External LoRA formats: a kohya-named FLUX LoRA imports and applies (diffusers converts it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from tests.engine.conftest import MakeRequest

from fluxhost.engine import Engine, LoraSpec
from fluxhost.finetunes import check_lora_file

HIDDEN, RANK = 32, 4  # the dev transformer's width


def kohya_lora(path: Path) -> Path:
    """A kohya-style LoRA on the dev model's double block: fused qkv and proj layers."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for part, out in (("img_attn_qkv", 3 * HIDDEN), ("txt_attn_qkv", 3 * HIDDEN),
                      ("img_attn_proj", HIDDEN), ("txt_attn_proj", HIDDEN)):
        name = f"lora_unet_double_blocks_0_{part}"
        state[f"{name}.lora_down.weight"] = torch.randn(RANK, HIDDEN, generator=g)
        state[f"{name}.lora_up.weight"] = torch.randn(out, RANK, generator=g)
        state[f"{name}.alpha"] = torch.tensor(float(RANK))
    save_file(state, str(path))
    return path


def test_kohya_lora_imports_and_changes_pixels(engine: Engine, make_request: MakeRequest,
                                               tmp_path: Path) -> None:
    path = kohya_lora(tmp_path / "kohya.safetensors")
    assert check_lora_file(path) == 12  # accepted by `fluxhost finetunes import`
    base = np.asarray(engine.run(make_request(seed=3))).astype(np.int16)
    lora = LoraSpec(key="kohya-test", path=path, strength=1.0)
    tuned = np.asarray(engine.run(make_request(seed=3, lora=lora))).astype(np.int16)
    assert np.abs(base - tuned).mean() > 1.0
