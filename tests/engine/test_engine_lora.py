from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fluxhost.engine import Engine, InvalidLora, LoraSpec
from fluxhost.engine.lora import adapter_name
from fluxhost.settings import Settings

Generate = Callable[..., np.ndarray]


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def test_strength_changes_pixels(
    generate: Generate, base_pixels: np.ndarray, lora_file: Path
) -> None:
    zero = generate(lora=LoraSpec("a", lora_file, 0.0))
    one = generate(lora=LoraSpec("a", lora_file, 1.0))
    two = generate(lora=LoraSpec("a", lora_file, 2.0))
    assert np.array_equal(zero, base_pixels), "strength 0 must be exactly the base model"
    assert _diff(one, base_pixels) > 4
    assert _diff(two, base_pixels) > _diff(one, base_pixels) + 4
    assert _diff(two, one) > 4
    # Applying it again (cached adapter) reproduces the same pixels.
    assert np.array_equal(generate(lora=LoraSpec("a", lora_file, 1.0)), one)


def test_no_lora_after_lora_is_base(
    generate: Generate, base_pixels: np.ndarray, lora_file: Path, lora_file_b: Path
) -> None:
    generate(lora=LoraSpec("a", lora_file, 1.0))
    assert np.array_equal(generate(), base_pixels)
    b = generate(lora=LoraSpec("b", lora_file_b, 1.0))
    assert _diff(b, base_pixels) > 4
    assert _diff(b, generate(lora=LoraSpec("a", lora_file, 1.0))) > 4
    assert np.array_equal(generate(lora=LoraSpec("b", lora_file_b, 0.0)), base_pixels)


def test_lru_eviction(
    make_engine_settings: Callable[..., Settings],
    engine_settings: Settings,
    dev_set: dict[str, Path],
    generate: Generate,
    lora_file: Path,
    lora_file_b: Path,
) -> None:
    engine = Engine(make_engine_settings(engine_settings.data_dir, lora_cache_size=2))
    first = generate(lora=LoraSpec("k1", lora_file, 1.0), eng=engine)
    generate(lora=LoraSpec("k2", lora_file_b, 1.0), eng=engine)
    generate(lora=LoraSpec("k1", lora_file, 1.0), eng=engine)  # k1 now most recent
    generate(lora=LoraSpec("k3", lora_file_b, 0.5), eng=engine)  # evicts k2
    pipe = engine.load("base")
    assert engine._loras.loaded_keys(pipe) == ["k1", "k3"]
    assert sorted(pipe.get_list_adapters()["transformer"]) == sorted(
        [adapter_name("k1"), adapter_name("k3")]
    )
    generate(lora=LoraSpec("k2", lora_file_b, 1.0), eng=engine)  # evicts k1, reloads k2
    assert engine._loras.loaded_keys(pipe) == ["k3", "k2"]
    assert np.array_equal(generate(lora=LoraSpec("k1", lora_file, 1.0), eng=engine), first)


def test_invalid_lora(
    generate: Generate, base_pixels: np.ndarray, tmp_path: Path, lora_file: Path
) -> None:
    with pytest.raises(InvalidLora, match="does not exist"):
        generate(lora=LoraSpec("missing", tmp_path / "nope.safetensors", 1.0))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(InvalidLora) as info:
        generate(lora=LoraSpec("junk", junk, 1.0))
    assert info.value.key == "junk"
    # The failures left the pipeline as it was.
    assert np.array_equal(generate(), base_pixels)
    assert _diff(generate(lora=LoraSpec("a", lora_file, 1.0)), base_pixels) > 4


def test_adapter_names() -> None:
    name = adapter_name("ft/abc.def-1")
    assert name.isidentifier() and "." not in name
    assert adapter_name("a.b") != adapter_name("a_b")
    assert adapter_name("x") == adapter_name("x")
