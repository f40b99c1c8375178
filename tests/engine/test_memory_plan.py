"""The memory plan's arithmetic against figures computed by hand from the published configs of
FLUX.1 [dev] and FLUX.2 [klein] 4B, its advice when they do not fit, and the multi-GPU
planning (which cards, what fits) on fake device lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from fluxhost.engine.memory.advice import advice, multi_gpu, place
from fluxhost.engine.memory.params import Count, count
from fluxhost.engine.memory.plan import WORKING_BYTES, Device, gguf_bits, need_on_device, total
from fluxhost.engine.memory.published import KIND_MODELS
from fluxhost.engine.memory.report import kind_plan, plan_lines
from fluxhost.modes import KindModes

GiB = 2 ** 30
D = 3072  # both transformers' width: 24 heads x 128


def flux1_transformer() -> Count:
    """FluxTransformer2DModel at FLUX.1 [dev]'s config, by hand: Linear weights, then the
    rest (biases and the q/k RMSNorms)."""
    embed = 64 * D + 4096 * D + 2 * (256 * D + D * D) + (768 * D + D * D)
    double = 2 * D * 6 * D + 8 * D * D + 2 * (D * 4 * D + 4 * D * D)
    single = D * 3 * D + D * 4 * D + 3 * D * D + 5 * D * D
    out = D * 2 * D + D * 64
    linear = embed + 19 * double + 38 * single + out
    double_rest = 2 * 6 * D + 8 * D + 2 * (4 * D + D) + 4 * 128
    single_rest = 3 * D + 4 * D + 3 * D + D + 2 * 128
    rest = 8 * D + 19 * double_rest + 38 * single_rest + 2 * D + 64
    return Count(linear, rest)


def t5_xxl() -> Count:
    """The T5-XXL encoder: 24 layers of attention (4 x 4096^2) and gated FF (3 x 4096 x
    10240); the token embedding, layer norms and layer 0's relative position buckets."""
    linear = 24 * (4 * 4096 * 4096 + 3 * 4096 * 10240)
    return Count(linear, 32128 * 4096 + 24 * 2 * 4096 + 4096 + 32 * 64)


def clip_l() -> Count:
    w = 768
    linear = 12 * (4 * w * w + 2 * w * 4 * w)
    rest = 49408 * w + 77 * w + 12 * (4 * w + 4 * w + w + 4 * w) + 2 * w
    return Count(linear, rest)


def klein4b_transformer() -> Count:
    """Flux2Transformer2DModel at klein 4B's config (no biases, SwiGLU MLPs of 3 x D)."""
    mlp = 3 * D
    double = 8 * D * D + 2 * (D * 2 * mlp + mlp * D)
    single = D * (3 * D + 2 * mlp) + (D + mlp) * D
    linear = (256 * D + D * D) + 2 * D * 6 * D + D * 3 * D + 128 * D + 7680 * D \
        + 5 * double + 20 * single + D * 2 * D + D * 128
    return Count(linear, 5 * 4 * 128 + 20 * 2 * 128)


def qwen3_4b() -> Count:
    """Qwen3-4B: 36 layers (q 2560->4096, k/v 2560->1024, o 4096->2560, SwiGLU 9728), the
    embedding tied to the LM head (a Linear: counted once, as quantizable)."""
    h = 2560
    layer = h * 4096 + 2 * h * 1024 + 4096 * h + 3 * h * 9728
    return Count(36 * layer + 151936 * h, 36 * (2 * 128 + 2 * h) + h)


def test_parameter_counts_match_the_hand_computed_figures() -> None:
    flux1, klein = KIND_MODELS["base"], KIND_MODELS["klein-4b"]
    assert count(flux1["transformer"]) == flux1_transformer()
    assert flux1_transformer().total == 11_901_408_320  # "12B" on the model card
    assert count(flux1["text_encoder_2"]) == t5_xxl()
    assert count(flux1["text_encoder"]) == clip_l()
    assert count(klein["transformer"]) == klein4b_transformer()
    assert klein4b_transformer().total == 3_875_544_576
    assert count(klein["text_encoder"]) == qwen3_4b()


def vae_bytes(kind: str) -> int:
    return count(KIND_MODELS[kind]["vae"]).total * 2  # not quantized: bf16


def plan(kind: str, **modes: str) -> list:
    return list(kind_plan(kind, kind, f"black-forest-labs/{kind}", KindModes(**modes), 2).parts)


def test_flux1_dev_bytes_per_mode() -> None:
    t, t5, clip = flux1_transformer(), t5_xxl(), clip_l()
    bf16 = 2 * (t.total + t5.total + clip.total) + vae_bytes("base")
    assert total(plan("base")) == bf16
    assert round(bf16 / 1e9, 1) == 33.7  # the "about 34 GB"
    int8 = t.linear + 2 * t.other + 2 * (t5.total + clip.total) + vae_bytes("base")
    assert total(plan("base", transformer_quant="int8")) == int8
    nf4 = round(t.linear * 0.5625 + 2 * t.other) + round(t5.linear * 0.5625 + 2 * t5.other) \
        + round(clip.linear * 0.5625 + 2 * clip.other) + vae_bytes("base")
    assert total(plan("base", transformer_quant="nf4", text_encoder_quant="nf4")) == nf4


def test_klein_4b_bytes_per_mode() -> None:
    t, q = klein4b_transformer(), qwen3_4b()
    assert total(plan("klein-4b")) == 2 * (t.total + q.total) + vae_bytes("klein-4b")
    float8 = t.linear + 2 * t.other + q.linear + 2 * q.other + vae_bytes("klein-4b")
    assert total(plan("klein-4b", transformer_quant="float8",
                      text_encoder_quant="float8")) == float8


def test_kinds_of_one_family_count_shared_parts_once() -> None:
    base, fill = plan("base"), plan("fill")
    extra = 2 * count(KIND_MODELS["fill"]["transformer"]).total
    assert total(base + fill) == total(base) + extra
    klein4, klein9 = plan("klein-4b"), plan("klein-9b")  # their own Qwen3s, one VAE
    assert total(klein4 + klein9) == total(klein4) + total(klein9) - vae_bytes("klein-4b")


def test_a_gguf_transformer_counts_its_file(tmp_path: Path) -> None:
    gguf = tmp_path / "flux1-dev-Q4_K_S.gguf"
    gguf.write_bytes(b"\0" * 1000)
    parts = list(kind_plan("base", "base", "black-forest-labs/FLUX.1-dev",
                           KindModes(gguf=str(gguf)), 2).parts)
    assert [p.bytes for p in parts if p.name == "transformer"] == [1000]
    absent = kind_plan("base", "base", "black-forest-labs/FLUX.1-dev",
                       KindModes(gguf="/not/here/flux1-dev-Q4_K_S.gguf"), 2).parts
    assert [p.bytes for p in absent if p.name == "transformer"] == \
        [round(flux1_transformer().total * 4.5 / 8)]
    assert gguf_bits("flux1-dev-Q8_0.gguf") == 8.5 and gguf_bits("model.gguf") is None


GPU24 = Device("cuda:0", 24 * GiB, cuda=True, float8=True)  # an RTX 4090 (Ada: FP8)
GPU16 = Device("cuda:0", 16 * GiB, cuda=True, float8=False)  # an RTX 4080-class without FP8


def test_flux1_dev_on_a_24gb_card_names_what_to_change() -> None:
    need = total(plan("base")) + WORKING_BYTES
    told = advice(plan("base"), GPU24, "none")
    assert told == (
        f"needs {need / 1e9:.1f} GB, this GPU (cuda:0) has 25.8 GB: quantize the transformer "
        "to float8 (FLUXHOST_TRANSFORMER_QUANT=float8: 23.3 GB) or set "
        "FLUXHOST_CPU_OFFLOAD=model (one model on the GPU at a time: 25.3 GB)")
    assert advice(plan("base", transformer_quant="float8"), GPU24, "none") is None
    assert advice(plan("base"), GPU24, "model") is None


def test_without_fp8_the_advice_is_int8_and_nf4() -> None:
    told = advice(plan("klein-4b"), GPU16, "none")
    assert told is not None and "float8" not in told
    assert "quantize the transformer to int8 (FLUXHOST_TRANSFORMER_QUANT=int8: 13.6 GB)" in told
    cpu = Device("cpu", 8 * GiB, cuda=False)
    told = advice(plan("klein-4b"), cpu, "model")  # offload means nothing on a CPU
    assert told is not None and "RAM" in told and "OFFLOAD" not in told and "nf4" not in told


def test_nothing_fits_says_so() -> None:
    tiny = Device("cuda:0", 1 * GiB, cuda=True)
    assert advice(plan("flux2-dev"), tiny, "none") == (
        f"needs {(total(plan('flux2-dev')) + WORKING_BYTES) / 1e9:.1f} GB, this GPU (cuda:0) "
        "has 1.1 GB: no memory mode makes it fit; serve fewer kinds or a larger device")


def gpus(*sizes: int) -> list[Device]:
    return [Device(f"cuda:{i}", s * GiB, cuda=True) for i, s in enumerate(sizes)]


def test_one_worker_per_gpu_when_each_card_fits_the_set() -> None:
    told = multi_gpu(plan("klein-4b"), gpus(24, 24))
    assert told is not None and told.endswith(
        "one worker per GPU: fluxhost worker --device cuda:0, fluxhost worker --device cuda:1")
    assert multi_gpu(plan("klein-4b"), gpus(24)) is None  # one card: nothing to place


def test_a_set_bigger_than_one_card_is_placed_across_them() -> None:
    # FLUX.2 [dev] in bf16: a 64.4 GB transformer and a 48.0 GB Mistral, on two 80 GB cards.
    parts = plan("flux2-dev")
    assert need_on_device(parts, "none") > 80 * GiB
    placed = place(parts, gpus(80, 80))
    assert placed == {"flux2-dev FLUX.2 [dev] transformer": "cuda:0",
                      "flux2-dev Mistral Small 3.x 24B": "cuda:1",
                      "flux2-dev FLUX.2 VAE": "cuda:1"}
    told = multi_gpu(parts, gpus(80, 80))
    assert told is not None and told.startswith(
        "does not fit one GPU, fits across cuda:0, cuda:1 with FLUXHOST_DEVICE_MAP=balanced")
    # A component larger than any one card cannot be split by whole-component placement.
    assert place(parts, gpus(48, 48, 48)) is None and multi_gpu(parts, gpus(48, 48, 48)) is None


def test_plan_lines_list_each_kind_and_the_verdict() -> None:
    lines, fits = plan_lines([kind_plan("base", "base", "black-forest-labs/FLUX.1-dev",
                                        KindModes(), 2),
                              kind_plan("pro11", "base", "someone/flux-finetune",
                                        KindModes(transformer_quant="int8"), 2)],
                             [GPU24], "none", "bfloat16")
    assert not fits
    assert lines[0] == "memory plan: cuda:0, 25.8 GB; weights in bfloat16"
    assert lines[1].startswith("  base: FLUX.1 [dev] transformer none 23.8 GB, CLIP-L none")
    assert lines[2] == ("  pro11: FLUX.1 [dev] transformer int8 11.9 GB, CLIP-L none 0.2 GB "
                        "(shared), T5-XXL none 9.5 GB (shared), FLUX.1 VAE none 0.2 GB (shared)")
    assert lines[3] == "    (someone/flux-finetune: planned as FLUX.1)"
    assert lines[-1].startswith("  does not fit: needs ")


@pytest.mark.parametrize("kind", sorted(KIND_MODELS))
def test_every_published_model_builds_on_the_meta_device(kind: str) -> None:
    assert all(count(model).total > 0 for model in KIND_MODELS[kind].values())
