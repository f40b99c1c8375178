from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fluxhost.engine import Control, Engine, Fill, InvalidLora, LoraSpec
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


# --- other pipeline kinds -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def x_embedder_lora(dev_set: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base LoRA that also targets x_embedder, the layer that is wider in fill/control."""
    from fluxhost.engine.families.flux1.common import LORA_TARGET_MODULES
    from fluxhost.engine.families.flux1.dev import make_dev_lora

    out = tmp_path_factory.mktemp("loras-x") / "x.safetensors"
    return make_dev_lora(
        dev_set["base"], out, seed=2, target_modules=[*LORA_TARGET_MODULES, "x_embedder"]
    )


@pytest.mark.parametrize("kind", ["fill", "canny", "depth"])
def test_base_lora_applies_to_other_kinds(
    engine: Engine,
    make_fill: Callable[..., Fill],
    make_control: Callable[..., Control],
    lora_file: Path,
    x_embedder_lora: Path,
    kind: str,
) -> None:
    def run(lora: LoraSpec | None = None) -> np.ndarray:
        if kind == "fill":
            image = engine.run(make_fill(lora=lora))
        else:
            image = engine.run(make_control(kind, lora=lora))
        return np.asarray(image).astype(np.int16)

    plain = run()
    for key, path in (("a", lora_file), ("x", x_embedder_lora)):
        assert np.array_equal(run(LoraSpec(key, path, 0.0)), plain)
        one = run(LoraSpec(key, path, 1.0))
        assert _diff(one, plain) > 1, key
        assert np.array_equal(run(LoraSpec(key, path, 1.0)), one)
    assert np.array_equal(run(), plain)
    # Each pipeline keeps its own adapters.
    assert engine._loras.loaded_keys(engine.load(kind)) == ["a", "x"]


def test_x_embedder_lora_is_zero_padded(
    engine: Engine, make_fill: Callable[..., Fill], x_embedder_lora: Path
) -> None:
    engine.run(make_fill(lora=LoraSpec("x", x_embedder_lora, 1.0)))
    layer = engine.load("fill").transformer.x_embedder
    (weight,) = (a.weight for a in layer.lora_A.values())
    assert weight.shape[1] == 384 and layer.base_layer.weight.shape[1] == 384
    # Only the 64 noisy-latent channels are seen by the adapter.
    assert weight[:, :64].abs().sum() > 0 and not weight[:, 64:].any()


def test_wider_lora_is_refused(
    engine: Engine,
    dev_set: dict[str, Path],
    tmp_path: Path,
    generate: Generate,
    base_pixels: np.ndarray,
) -> None:
    from fluxhost.engine.families.flux1.dev import make_dev_lora

    # Made on the canny transformer (x_embedder reads 128 channels): a Control LoRA, in effect.
    control_lora = make_dev_lora(
        dev_set["canny"], tmp_path / "c.safetensors", target_modules=["x_embedder", "proj_out"]
    )
    with pytest.raises(InvalidLora, match="x_embedder"):
        generate(lora=LoraSpec("control", control_lora, 1.0))
    # The base transformer was not widened.
    assert engine.load("base").transformer.x_embedder.in_features == 64
    assert np.array_equal(generate(), base_pixels)


def test_text_encoder_layers_are_ignored(
    generate: Generate, lora_file: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    gen = torch.Generator().manual_seed(0)
    q_proj = "text_encoder.text_model.encoder.layers.0.self_attn.q_proj"
    te_layers = {
        f"{q_proj}.lora_A.weight": torch.randn(4, 32, generator=gen),
        f"{q_proj}.lora_B.weight": torch.randn(32, 4, generator=gen),
    }
    both = tmp_path / "both.safetensors"
    save_file({**load_file(lora_file), **te_layers}, both)
    expected = generate(lora=LoraSpec("a", lora_file, 1.0))
    assert np.array_equal(generate(lora=LoraSpec("both", both, 1.0)), expected)

    te_only = tmp_path / "te.safetensors"
    save_file(te_layers, te_only)
    with pytest.raises(InvalidLora, match="no transformer layers"):
        generate(lora=LoraSpec("te", te_only, 1.0))
