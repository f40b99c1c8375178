"""Memory modes at load, on the dev set through the engine: int8 and float8 weight-only
(torchao) and a .gguf transformer (Q8_0) draw within a stated PSNR of the unquantized output,
with their weights really quantized; a mode that cannot run here is refused by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.engine.ggufwrite import write_gguf

from fluxhost.engine import Engine, Flux2, TextToImage
from fluxhost.engine.quantize import DeviceKind, ModeUnavailable, check_modes, refusal
from fluxhost.modes import KindModes
from fluxhost.settings import Settings

# PSNR of the 8-bit images against float32, measured on the dev set (torch 2.13 CPU, torchao
# 0.18, 64x64, 2 steps): int8 transformer 58.2 dB on base, 51.8 on klein-4b (with int8 text
# encoders 57.8 and 48.6); float8 47.0 and 41.3; a Q8_0 GGUF 57.8 (Q4_0: 40.6). The bounds
# leave room for other builds.
INT8_PSNR = 40.0
FLOAT8_PSNR = 30.0
GGUF_PSNR = 40.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def draw(settings: Settings, kind: str = "base") -> tuple[np.ndarray, Any]:
    engine = Engine(settings)
    try:
        if kind == "base":
            req: Any = TextToImage(prompt="a red apple", width=64, height=64, steps=2,
                                   guidance=3.5, seed=3)
        else:
            req = Flux2(prompt="a red apple", width=64, height=64, steps=2, guidance=3.5,
                        seed=3, kind=kind, references=())
        pixels = np.asarray(engine.run(req))
        return pixels, engine.load(kind)
    finally:
        engine.close()


def weight_class(module: Any) -> str:
    import torch

    linear = next(m for m in module.modules() if isinstance(m, torch.nn.Linear))
    return type(linear.weight).__name__


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path) -> dict[str, Any]:
    from tests.conftest import test_settings

    root = tmp_path_factory.mktemp("plain")
    return {kind: draw(test_settings(root, dev_model_dir), kind)[0]
            for kind in ("base", "klein-4b")}


@pytest.mark.parametrize("kind", ["base", "klein-4b"])
def test_int8_weight_only_draws_close_to_unquantized(
        make_settings: Callable[..., Settings], plain: dict[str, Any], kind: str) -> None:
    pixels, pipe = draw(make_settings(transformer_quant="int8", text_encoder_quant="int8"), kind)
    assert weight_class(pipe.transformer) == "Int8Tensor"
    assert weight_class(pipe.text_encoder) == "Int8Tensor"
    assert psnr(pixels, plain[kind]) >= INT8_PSNR
    assert not np.array_equal(pixels, plain[kind])  # quantized for real, not skipped


def test_float8_weight_only_runs_on_cpu(make_settings: Callable[..., Settings],
                                        plain: dict[str, Any]) -> None:
    pixels, pipe = draw(make_settings(transformer_quant="float8"))
    assert weight_class(pipe.transformer) == "Float8Tensor"
    assert weight_class(pipe.text_encoder) == "Parameter"  # text encoders as configured: none
    assert psnr(pixels, plain["base"]) >= FLOAT8_PSNR


def test_a_gguf_transformer_loads_and_draws_close(
        make_settings: Callable[..., Settings], plain: dict[str, Any], dev_model_dir: Path,
        tmp_path: Path) -> None:
    gguf = write_gguf(dev_model_dir / "base" / "transformer", tmp_path / "base-Q8_0.gguf")
    settings = make_settings(models={"base": {"source": str(dev_model_dir / "base"),
                                              "gguf": str(gguf)}})
    pixels, pipe = draw(settings)
    assert weight_class(pipe.transformer) == "GGUFParameter"
    assert psnr(pixels, plain["base"]) >= GGUF_PSNR


CPU, OLD_GPU, FP8_GPU = DeviceKind("cpu"), DeviceKind("cuda", (8, 6)), DeviceKind("cuda", (9, 0))


def everything(_package: str) -> bool:
    return True


@pytest.mark.parametrize("modes, device, has, reason", [
    (KindModes(transformer_quant="nf4"), CPU, everything,
     "kind 'base': transformer_quant=nf4 cannot run here: bitsandbytes NF4 needs a CUDA GPU; "
     "this device is cpu"),
    (KindModes(text_encoder_quant="nf4"), FP8_GPU, lambda p: p != "bitsandbytes",
     "kind 'base': text_encoder_quant=nf4 cannot run here: the bitsandbytes package is not "
     "installed"),
    (KindModes(transformer_quant="float8"), OLD_GPU, everything,
     "kind 'base': transformer_quant=float8 cannot run here: float8 needs a GPU with FP8 "
     "(compute capability 8.9+: Ada, Hopper, Blackwell); this one is 8.6"),
    (KindModes(transformer_quant="int8"), CPU, lambda p: p != "torchao",
     "kind 'base': transformer_quant=int8 cannot run here: the torchao package is not installed"),
    (KindModes(gguf="/models/flux1-dev-Q8_0.gguf"), CPU, lambda p: p != "gguf",
     "kind 'base': gguf=/models/flux1-dev-Q8_0.gguf cannot run here: the gguf package is not "
     "installed"),
    (KindModes(gguf="/nowhere/flux1-dev-Q8_0.gguf"), CPU, everything,
     "kind 'base': gguf=/nowhere/flux1-dev-Q8_0.gguf cannot run here: no such file"),
    (KindModes(gguf="/models/flux1-dev.safetensors"), CPU, everything,
     "kind 'base': gguf=/models/flux1-dev.safetensors cannot run here: not a .gguf file name"),
])
def test_each_mode_that_cannot_run_is_refused_by_name(
        modes: KindModes, device: DeviceKind, has: Callable[[str], bool], reason: str) -> None:
    why = refusal("base", modes, device, has)
    assert why is not None and why.startswith(reason) and "\n" not in why


@pytest.mark.parametrize("modes, device", [
    (KindModes(transformer_quant="float8"), FP8_GPU),
    (KindModes(transformer_quant="float8", text_encoder_quant="int8"), CPU),
    (KindModes(transformer_quant="nf4", text_encoder_quant="nf4"), FP8_GPU),
    (KindModes(gguf="https://huggingface.co/city96/FLUX.1-dev-gguf/resolve/main/"
                    "flux1-dev-Q8_0.gguf"), CPU),
    (KindModes(), CPU),
])
def test_modes_that_can_run_pass(modes: KindModes, device: DeviceKind) -> None:
    assert refusal("base", modes, device, everything) is None


def test_check_modes_names_the_first_bad_kind() -> None:
    modes = {"fill": KindModes(), "klein-4b": KindModes(transformer_quant="nf4"),
             "base": KindModes(text_encoder_quant="nf4")}
    with pytest.raises(ModeUnavailable, match=r"^kind 'base': text_encoder_quant=nf4"):
        check_modes(modes, modes.__getitem__, CPU, everything)
    check_modes(["fill"], modes.__getitem__, CPU, everything)


def test_finetunes_apply_on_an_int8_transformer(make_settings: Callable[..., Settings],
                                                dev_lora_file: Path) -> None:
    """peft wraps torchao's int8 Linear: a LoRA at strength 1 changes the image as on the
    unquantized model, strength 0 is the int8 model's own image."""
    from fluxhost.engine import LoraSpec

    engine = Engine(make_settings(transformer_quant="int8"))
    try:
        images = [np.asarray(engine.run(TextToImage(
            prompt="a red apple", width=64, height=64, steps=2, guidance=3.5, seed=3,
            lora=None if strength is None else LoraSpec("ft", dev_lora_file, strength))))
            for strength in (None, 0.0, 1.0)]
    finally:
        engine.close()
    assert np.array_equal(images[0], images[1])
    assert psnr(images[0], images[2]) < 40.0
