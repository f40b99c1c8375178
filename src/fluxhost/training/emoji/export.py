"""Stage `export`: the trained components as a stock diffusers FluxPipeline folder.

OUT/base is `FluxPipeline.save_pretrained` output (model_index.json, scheduler, tokenizers,
text encoders, VAE, transformer) with float16 safetensors, loadable by fluxhost's normal
model-set code (FLUXHOST_MODELS='{"base": "OUT/base"}' or the `emoji` model set). The EMA
weights are exported; the VAE is the transformer stage's frozen snapshot. OUT/MODEL.md states
what the model is, its training steps, and the data and weights licence.

float16 is checked, not assumed: the same prompts and seeds are generated with the float32
pipeline and with the float16 files loaded back as float32 (how the engine runs on CPU), and
the PSNR between the two is printed.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from fluxhost.training.emoji import adherence, common, decoder, transformer

# Which the engine reads to serve the set (see fluxhost.engine.demo).
MANIFEST = "fluxhost-model.json"
# True CFG above this is taken as this: FLUX.1 Fill's default guidance (60) is a distilled
# guidance scale, meaningless as true CFG; the model was measured at 4.
MAX_TRUE_CFG = 8.0
NATIVE_SIZE = 64
CHECK_PROMPTS = ("red apple", "grinning face", "blue heart", "rocket")

KLEIN_CARD_MARK = "\n## klein: "  # fluxhost.training.emoji2.export.CARD_MARK
MODEL_CARD = """# emoji64: a demo model at 64x64 trained on emoji -- not FLUX

A FLUX-architecture model set (FluxPipeline: FluxTransformer2DModel {transformer_params:,}
parameters, AutoencoderKL {vae_params:,}, random frozen CLIP/T5-shaped text encoders with a
word-level tokenizer) trained from scratch on CPU by `python -m fluxhost.training.emoji`
(src/fluxhost/training/emoji). It draws 64x64 emoji-like images from emoji names
("red apple", "grinning face"). It is a demonstration of the serving stack, not FLUX.1.

- Training data: {images} single-code-point emoji of Noto Color Emoji, {source}, rendered at
  109 px and downsampled to 64x64; captions are their Unicode names. Font licence: {license}.
- Training: VAE {vae_step} steps, transformer {transformer_step} steps, VAE decoder alone
  {decoder_step} more steps (EMA weights exported).
- Weights: float16 safetensors. As a work derived from the font's glyphs they are distributed
  under the SIL Open Font License 1.1, like the font; the training code is Apache-2.0.
"""


def build_pipeline(work: Path) -> Any:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline

    from fluxhost.engine.families.flux1.dev_components import FLUX_SCHEDULER_CONFIG
    from fluxhost.training.emoji.encoders import text_pipeline

    vae = decoder.trained_vae(work)
    text = text_pipeline(work / "encoders")
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER_CONFIG),
        vae=vae.eval(),
        text_encoder=text.text_encoder,
        tokenizer=text.tokenizer,
        text_encoder_2=text.text_encoder_2,
        tokenizer_2=text.tokenizer_2,
        transformer=transformer.load_trained(work),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(torch.float32)


def generate(pipe: Any, prompts: tuple[str, ...] | list[str], seed: int = 0,
             steps: int = 20, cfg: float = 4.0) -> Any:
    """A float tensor N x 3 x 64 x 64 in [0, 1], with true CFG against the empty prompt."""
    import torch

    return pipe(
        prompt=list(prompts), negative_prompt=[""] * len(prompts), true_cfg_scale=cfg,
        height=NATIVE_SIZE, width=NATIVE_SIZE, num_inference_steps=steps,
        generator=torch.Generator("cpu").manual_seed(seed), output_type="pt",
        max_sequence_length=pipe.tokenizer_2.model_max_length,
    ).images


def _psnr(a: Any, b: Any) -> float:
    mse = float((a - b).pow(2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def export(work: Path, out: Path) -> Path:
    import torch
    from diffusers import FluxPipeline

    from fluxhost.training.emoji import dataset

    pipe = build_pipeline(work)
    reference = generate(pipe, CHECK_PROMPTS)
    base = out / "base"
    tmp = out / ".base.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.to(torch.float16).save_pretrained(tmp, safe_serialization=True)
    reloaded = FluxPipeline.from_pretrained(tmp, dtype=torch.float32, local_files_only=True)
    reloaded.set_progress_bar_config(disable=True)
    half = generate(reloaded, CHECK_PROMPTS)
    print(f"export: float16 vs float32 outputs PSNR {_psnr(reference, half):.1f} dB")
    shutil.rmtree(base, ignore_errors=True)
    tmp.rename(base)
    _, entries = dataset.load(work)
    meta = json.loads((work / "dataset" / "meta.json").read_text())
    vae_step = transformer.latents_snapshot(work)["vae_step"]
    t_step = common.require_checkpoint(work, "transformer")["step"]
    card = out / "MODEL.md"
    # The set's second generation (emoji2's export) keeps its section of the card.
    old_card = card.read_text() if card.is_file() else ""
    klein_section = old_card[old_card.find(KLEIN_CARD_MARK):] if KLEIN_CARD_MARK in old_card \
        else ""
    card.write_text(MODEL_CARD.format(
        transformer_params=sum(p.numel() for p in pipe.transformer.parameters()),
        vae_params=sum(p.numel() for p in pipe.vae.parameters()),
        images=len(entries), source=meta["source"], license=meta["license"],
        vae_step=vae_step, transformer_step=t_step,
        decoder_step=(common.load_checkpoint(work / "decoder") or {}).get("step", 0),
    ) + klein_section)
    images, _ = dataset.load(work)
    adherence.save_reference(images, [e.caption for e in entries], [e.split for e in entries],
                             out / adherence.THUMBS_FILE)
    # Merged into what is there: the set's second generation (emoji2's klein) has its entries.
    path = out / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    manifest.update({
        "name": "emoji64", "native_size": NATIVE_SIZE, "true_cfg": True,
        "max_true_cfg": MAX_TRUE_CFG, "pipeline_classes": {"fill": "FluxInpaintPipeline"},
        "kinds": sorted({*manifest.get("kinds", []), "base"}), "vae_step": vae_step,
        "transformer_step": t_step, "description": "a demo at 64x64 trained on emoji, not FLUX",
    })
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"export: {out} ({size / 1e6:.1f} MB)")
    return out
