"""LoRA training on FLUX.2 [klein] (issue 19): the klein family's objective on the dev set's
klein-4b, and its output loaded by Flux2KleinPipeline through the engine's serving path."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fluxhost.engine import Engine, Flux2, LoraSpec
from fluxhost.engine.families import training_family
from fluxhost.engine.families.flux2.training import SHIFT_STEPS, KleinTraining
from fluxhost.settings import Settings
from fluxhost.training.trainer import TrainResult, TrainSpec, train

ITERATIONS = 12
LR = 1e-2  # as tests/training/test_trainer.py: a short run's effect must be unmistakable
KIND = "klein-4b"
Samples = list[tuple[Image.Image, str]]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, dev_model_dir: Path) -> Engine:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path_factory.mktemp("klein-train"),
        dev_model_dir=dev_model_dir, models={})
    return Engine(settings)


@pytest.fixture(scope="module")
def samples() -> Samples:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (96, 80, 3), dtype=np.uint8))
    return [(noise, "a photo of tok"), (Image.new("RGB", (64, 64), (200, 30, 30)), "tok, red")]


def _spec(**overrides: Any) -> TrainSpec:
    values: dict[str, Any] = {"iterations": ITERATIONS, "learning_rate": LR, "lora_rank": 4,
                              "finetune_type": "lora", "priority": "speed",
                              "trigger_word": "tok", "base_kind": KIND, **overrides}
    return TrainSpec(**values)


def _pixels(engine: Engine, lora: LoraSpec | None = None) -> np.ndarray:
    req = Flux2("tok, red", (), 64, 64, steps=2, guidance=1.0, seed=3, lora=lora, kind=KIND)
    return np.asarray(engine.run(req), dtype=np.float32)


@pytest.fixture(scope="module")
def trained(engine: Engine, samples: Samples,
            tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    # Serve first: training then borrows the loaded Qwen3 and VAE, and must leave them as they
    # were (the base pixels are compared after it).
    _pixels(engine)
    out = tmp_path_factory.mktemp("klein-lora") / "lora.safetensors"
    return train(engine, samples, _spec(), out)


def test_a_klein_lora_trains_on_the_flux2_objective(trained: TrainResult) -> None:
    from safetensors.torch import load_file

    assert trained.iterations == ITERATIONS and math.isfinite(trained.final_loss)
    tensors = load_file(str(trained.path))
    assert tensors and all(k.startswith("transformer.") for k in tensors)
    names = {k.rsplit(".lora_", 1)[0] for k in tensors}
    # Both block types' attention, the text stream's, and the single block's fused projections.
    for module in ("transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_out.0",
                   "transformer_blocks.0.attn.add_k_proj", "transformer_blocks.0.attn.to_add_out",
                   "single_transformer_blocks.0.attn.to_qkv_mlp_proj",
                   "single_transformer_blocks.0.attn.to_out"):
        assert f"transformer.{module}" in names, module
    assert {v.shape[0] for k, v in tensors.items() if "lora_A" in k} == {4}
    # A fresh adapter's B is zero: training moved every one of them.
    assert all(float(v.abs().max()) > 0 for k, v in tensors.items() if "lora_B" in k)


def test_the_trained_lora_serves_on_the_klein_pipeline(engine: Engine,
                                                       trained: TrainResult) -> None:
    base = _pixels(engine)
    one = _pixels(engine, LoraSpec("klein-trained", trained.path, 1.0))
    zero = _pixels(engine, LoraSpec("klein-trained", trained.path, 0.0))
    assert float(np.abs(one - base).mean()) > 1, "the trained LoRA must change the image"
    assert np.array_equal(zero, base), "strength 0 is the base model, borrowed parts untouched"


def test_the_saved_file_loads_into_flux2klein_pipeline(engine: Engine,
                                                       trained: TrainResult) -> None:
    from diffusers import Flux2KleinPipeline

    pipe = Flux2KleinPipeline.from_pretrained(engine.model_sources()[KIND],
                                              local_files_only=True)
    pipe.load_lora_weights(str(trained.path.parent), weight_name=trained.path.name,
                           adapter_name="trained")
    assert pipe.get_list_adapters() == {"transformer": ["trained"]}


def test_full_finetuning_extracts_a_klein_lora(engine: Engine, samples: Samples,
                                               tmp_path: Path) -> None:
    out = tmp_path / "full.safetensors"
    result = train(engine, samples, _spec(finetune_type="full", iterations=3, learning_rate=1e-3),
                   out)
    assert math.isfinite(result.final_loss) and out.is_file()
    one = _pixels(engine, LoraSpec("klein-full", out, 1.0))
    assert float(np.abs(one - _pixels(engine)).mean()) > 0


@pytest.mark.parametrize("kind", ["klein-9b-kv", "flux2-dev", "kontext", "no-such-kind"])
def test_a_base_kind_no_family_trains_on_is_named(engine: Engine, samples: Samples,
                                                  tmp_path: Path, kind: str) -> None:
    with pytest.raises(ValueError, match=kind if kind == "no-such-kind" else "pipeline"):
        train(engine, samples, _spec(base_kind=kind), tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_the_time_shift_is_the_samplers() -> None:
    from diffusers.pipelines.flux2.pipeline_flux2_klein import compute_empirical_mu

    family = KleinTraining()
    dynamic = {"use_dynamic_shifting": True, "shift": 3.0}
    for tokens in (16, 1024, 4096):
        assert family.time_shift(dynamic, tokens) == pytest.approx(
            math.exp(compute_empirical_mu(tokens, SHIFT_STEPS)))
    assert family.time_shift({"use_dynamic_shifting": False, "shift": 3.0}, 4096) == 3.0
    # More tokens, more shift toward noise, as the sampler does.
    assert family.time_shift(dynamic, 4096) > family.time_shift(dynamic, 256) > 1.0
    assert training_family("klein") is not training_family("base")
