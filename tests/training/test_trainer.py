"""The LoRA trainer on the dev model set: tiny runs (20 steps at 64², well under a second each)
whose output must load and act through the engine's serving path."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fluxhost.engine import Engine, LoraSpec, TextToImage
from fluxhost.settings import Settings
from fluxhost.training.examples import fit_image
from fluxhost.training.trainables import low_rank
from fluxhost.training.trainer import (
    TrainingStopped,
    TrainResult,
    TrainSpec,
    default_learning_rate,
    resolution_for,
    train,
)

ITERATIONS = 20
# The default 1e-4 barely moves a random 20-step LoRA; 1e-2 makes the effect unmistakable.
LR = 1e-2
Samples = list[tuple[Image.Image, str]]
Generate = Callable[..., np.ndarray]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path) -> Engine:
    data = tmp_path_factory.mktemp("train-data")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data, dev_model_dir=dev_model_dir, models={}
    )
    return Engine(settings)


@pytest.fixture(scope="module")
def samples() -> Samples:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (96, 80, 3), dtype=np.uint8))
    return [
        (noise, "a photo of tok"),
        (Image.new("RGB", (64, 64), (200, 30, 30)), "tok, a red square"),
        (Image.new("RGB", (128, 64), (20, 30, 230)), "tok, a wide blue image"),
    ]


@pytest.fixture(scope="module")
def generate(engine: Engine) -> Generate:
    def run(lora: LoraSpec | None = None) -> np.ndarray:
        req = TextToImage("tok, a red square", 64, 64, steps=2, guidance=3.5, seed=1, lora=lora)
        return np.asarray(engine.run(req), dtype=np.float32)

    return run


@pytest.fixture(scope="module")
def base_pixels(generate: Generate) -> np.ndarray:
    # Generating first also loads the serving pipeline, so training reuses its text encoders
    # and VAE: the tests then also check that training leaves those untouched.
    return generate()


def _spec(finetune_type: str = "lora", **overrides: Any) -> TrainSpec:
    values: dict[str, Any] = {
        "iterations": ITERATIONS,
        "learning_rate": LR,
        "lora_rank": 4,
        "finetune_type": finetune_type,
        "priority": "speed",
        "trigger_word": "tok",
    }
    values.update(overrides)
    return TrainSpec(**values)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _tensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_lora_trains_and_serves(
    engine: Engine, samples: Samples, generate: Generate, base_pixels: np.ndarray, tmp_path: Path
) -> None:
    progress: list[float] = []
    out = tmp_path / "lora.safetensors"
    result = train(engine, samples, _spec(), out, on_progress=progress.append)

    assert isinstance(result, TrainResult)
    assert result.path == out and out.is_file()
    assert (result.rank, result.iterations) == (4, ITERATIONS)
    assert np.isfinite(result.final_loss) and result.seconds > 0
    assert _leftovers(tmp_path) == ["lora.safetensors"], "no temporary files may remain"
    assert len(progress) == ITERATIONS and progress[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(progress))

    tensors = _tensors(out)
    assert all(k.startswith("transformer.") for k in tensors)
    assert {v.shape[0] for k, v in tensors.items() if "lora_A" in k} == {4}

    one = generate(LoraSpec("trained-lora", out, 1.0))
    assert _diff(one, base_pixels) > 4, "the trained LoRA must change the image"
    assert np.array_equal(generate(LoraSpec("trained-lora", out, 0.0)), base_pixels)
    # Training never touched the serving pipeline or the components it shares with it.
    assert np.array_equal(generate(), base_pixels)


def test_full_extracts_lora_of_requested_rank(
    engine: Engine, samples: Samples, generate: Generate, base_pixels: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / "full.safetensors"
    result = train(engine, samples, _spec("full", lora_rank=16), out)
    assert result.rank == 16

    tensors = _tensors(out)
    a_keys = [k for k in tensors if k.endswith(".lora_A.weight")]
    assert a_keys and len(a_keys) * 2 == len(tensors)
    for key in a_keys:
        lora_a, lora_b = tensors[key], tensors[key.replace(".lora_A.", ".lora_B.")]
        assert lora_a.shape[0] == 16 and lora_b.shape[1] == 16
    # The same layers and key names as a peft-trained LoRA: one loading path serves both.
    lora = train(engine, samples[:1], _spec(iterations=1), tmp_path / "ref.safetensors")
    assert sorted(tensors) == sorted(_tensors(lora.path))

    one = generate(LoraSpec("trained-full", out, 1.0))
    assert _diff(one, base_pixels) > 4
    assert np.array_equal(generate(LoraSpec("trained-full", out, 0.0)), base_pixels)


def test_deterministic(engine: Engine, samples: Samples, tmp_path: Path) -> None:
    spec = _spec(iterations=5)
    first = _tensors(train(engine, samples, spec, tmp_path / "a.safetensors").path)
    again = _tensors(train(engine, samples, spec, tmp_path / "b.safetensors").path)
    other = _tensors(
        train(engine, samples, _spec(iterations=5, seed=1), tmp_path / "c.safetensors").path
    )
    assert first.keys() == again.keys()
    assert all(first[k].equal(again[k]) for k in first)
    assert any(not first[k].equal(other[k]) for k in first)


def test_bfloat16_mixed_precision(engine: Engine, samples: Samples, tmp_path: Path) -> None:
    """The half-precision paths CUDA takes, on CPU: float32 LoRA/master weights, bf16 files."""
    import torch

    bf16 = Engine(engine.settings.model_copy(update={"dtype": "bfloat16"}))
    lora = train(bf16, samples, _spec(iterations=3), tmp_path / "lora.safetensors")
    assert {v.dtype for v in _tensors(lora.path).values()} == {torch.bfloat16}
    assert np.isfinite(lora.final_loss)

    # One Adam step moves every weight by ~lr; 1e-5 is far below bf16's resolution at typical
    # weight sizes, so without float32 master weights almost no weight would change. Rank 32 is
    # every dev layer's full rank, so B @ A is the whole change, not an approximation.
    full = train(
        bf16,
        samples,
        _spec("full", iterations=1, learning_rate=1e-5, lora_rank=32),
        tmp_path / "full.safetensors",
    )
    tensors = _tensors(full.path)
    for key in (k for k in tensors if "lora_A" in k):
        delta = tensors[key.replace("lora_A", "lora_B")].float() @ tensors[key].float()
        assert float(delta.abs().median()) == pytest.approx(1e-5, rel=0.1), key


@pytest.mark.parametrize("finetune_type", ["lora", "full"])
def test_should_stop_leaves_no_file(
    engine: Engine, samples: Samples, tmp_path: Path, finetune_type: str
) -> None:
    calls = 0

    def stop_on_fourth_check() -> bool:
        nonlocal calls
        calls += 1
        return calls >= 4

    progress: list[float] = []
    with pytest.raises(TrainingStopped) as info:
        train(
            engine,
            samples,
            _spec(finetune_type),
            tmp_path / "stopped.safetensors",
            on_progress=progress.append,
            should_stop=stop_on_fourth_check,
        )
    assert 0 < info.value.step < ITERATIONS
    assert progress and progress[-1] < 1.0
    assert _leftovers(tmp_path) == []


def test_stop_before_start(engine: Engine, samples: Samples, tmp_path: Path) -> None:
    with pytest.raises(TrainingStopped) as info:
        train(engine, samples, _spec(), tmp_path / "x.safetensors", should_stop=lambda: True)
    assert info.value.step == 0
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("overrides", "samples_count"),
    [
        ({"iterations": 0}, 1),
        ({"lora_rank": 0}, 1),
        ({"learning_rate": 0.0}, 1),
        ({"finetune_type": "dreambooth"}, 1),
        ({"priority": "fastest"}, 1),
        ({}, 0),
    ],
)
def test_invalid_input(
    engine: Engine, samples: Samples, tmp_path: Path, overrides: dict[str, Any], samples_count: int
) -> None:
    with pytest.raises(ValueError):
        train(engine, samples[:samples_count], _spec(**overrides), tmp_path / "x.safetensors")
    assert _leftovers(tmp_path) == []


def test_low_rank_is_truncated_svd() -> None:
    import torch

    gen = torch.Generator().manual_seed(0)
    # A rank-3 change is reproduced exactly, and padded with zeros up to the requested rank.
    exact = torch.randn(40, 3, generator=gen) @ torch.randn(3, 24, generator=gen)
    lora_b, lora_a = low_rank(exact, 16)
    assert lora_b.shape == (40, 16) and lora_a.shape == (16, 24)
    assert torch.allclose(lora_b @ lora_a, exact, atol=1e-4)
    # Narrower than the rank: all 8 directions kept, the rest zero.
    narrow = torch.randn(8, 30, generator=gen)
    lora_b, lora_a = low_rank(narrow, 16)
    assert torch.allclose(lora_b @ lora_a, narrow, atol=1e-4)
    assert not lora_a[8:].any() and not lora_b[:, 8:].any()
    # A full-rank change: the rank-r truncation's error is the discarded singular values.
    full = torch.randn(32, 32, generator=gen)
    lora_b, lora_a = low_rank(full, 4)
    s = torch.linalg.svdvals(full)
    assert torch.isclose(torch.linalg.norm(full - lora_b @ lora_a), s[4:].norm(), rtol=1e-4)


def test_fit_image_keeps_area_and_aspect() -> None:
    assert fit_image(Image.new("RGB", (300, 300)), 64).size == (64, 64)
    wide = fit_image(Image.new("RGB", (400, 200)), 64).size
    assert wide == (96, 48)  # 2:1, about 64² pixels, multiples of 16
    # Beyond 1:2 the image is centre-cropped to 1:2.
    assert fit_image(Image.new("RGB", (100, 1000)), 64).size == (48, 96)


def test_defaults() -> None:
    assert default_learning_rate("lora") == 1e-4
    assert default_learning_rate("full") == 1e-5
    assert [resolution_for(p, dev=False) for p in ("speed", "quality", "high_res_only")] == [
        512,
        1024,
        1024,
    ]
    assert resolution_for("speed", dev=True) < resolution_for("quality", dev=True) <= 128


def test_import_does_not_load_torch() -> None:
    code = (
        "import sys, fluxhost.training.trainer; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'diffusers' not in sys.modules, 'diffusers imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
