"""Stage `export`: the trained klein demo as a stock Flux2KleinPipeline folder beside gen 1's.

OUT/klein is `Flux2KleinPipeline.save_pretrained` output (model_index.json with is_distilled
false, scheduler, tokenizer, text encoder, VAE, transformer), float16 safetensors, the EMA
weights. The set's manifest (OUT/fluxhost-model.json, which fluxhost.engine.demo reads for every
folder of the set) gains "klein" in its kinds, the transformer step, and the prompt length the
pipeline must be called with (`flux2_max_sequence_length`: the pipeline's default pads to 512
tokens, which the model never saw). OUT/eval/klein.npz is the bench's evaluation set
(bench.EvalSet: bank thumbnails, held-out pairs and their edit references). float16 is checked
as in gen 1: the PSNR between images of the float32 pipeline and of the float16 files loaded
back as float32 is printed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fluxhost.training.emoji import common
from fluxhost.training.emoji2 import bench, data, encoders, transformer

MANIFEST = "fluxhost-model.json"
FOLDER = "klein"
CHECK_PROMPTS = ("red apple", "blue heart", "rocket")
CARD = "MODEL.md"
CARD_MARK = "\n## klein: "
CARD_SECTION = """
## klein: a FLUX.2 [klein]-architecture demo at 64x64 -- not FLUX.2

`klein/` is a Flux2KleinPipeline folder (Flux2Transformer2DModel {params:,} parameters, trained
{step:,} steps; AutoencoderKLFlux2 with gen 1's encoder and a decoder trained {decoder_step:,}
more steps on the colour bank; a random frozen Qwen3-shaped text encoder with a word-level
tokenizer, 20 tokens) trained from scratch on CPU by `python -m fluxhost.training.emoji2`
(src/fluxhost/training/emoji2) on the same emoji, recoloured into seven colour words. It draws
emoji names and colour/object combinations ("blue apple"), and edits a reference image ("make
it blue", "turn it into a book", two references "put them side by side"). It is not
guidance-distilled: it runs true CFG at `guidance_scale` (is_distilled false). Weights: float16
safetensors, EMA; licence as above (OFL-1.1). Figures: docs/emoji64.md.
"""


def images(pipe: Any, prompts: tuple[str, ...] = CHECK_PROMPTS) -> Any:
    import torch

    return torch.cat([pipe(prompt=p, height=64, width=64, num_inference_steps=8,
                           guidance_scale=4.0, max_sequence_length=encoders.TEXT_TOKENS,
                           generator=torch.Generator().manual_seed(0),
                           output_type="pt").images for p in prompts])


def psnr(a: Any, b: Any) -> float:
    mse = float((a - b).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def update_manifest(out: Path, step: int, decoder_step: int) -> None:
    path = out / MANIFEST
    manifest: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {
        "name": "emoji64", "native_size": 64, "kinds": [],
        "description": "a demo at 64x64 trained on emoji, not FLUX"}
    manifest["kinds"] = sorted({*manifest.get("kinds", []), FOLDER})
    manifest["klein_transformer_step"] = step
    manifest["klein_decoder_step"] = decoder_step
    manifest["flux2_max_sequence_length"] = encoders.TEXT_TOKENS
    path.write_text(json.dumps(manifest, indent=1) + "\n")


def update_card(out: Path, step: int, params: int, decoder_step: int) -> None:
    """The set's model card with its klein section written (replaced if there)."""
    path = out / CARD
    card = path.read_text() if path.is_file() else "# emoji64\n"
    card = card.split(CARD_MARK)[0].rstrip("\n") + "\n"
    path.write_text(card + CARD_SECTION.format(params=params, step=step,
                                               decoder_step=decoder_step))


def export(work: Path, out: Path) -> Path:
    import torch
    from diffusers import Flux2KleinPipeline

    pipe = transformer.pipeline(work)
    pipe.set_progress_bar_config(disable=True)
    target = out / FOLDER
    pipe.to(torch.float16).save_pretrained(target, safe_serialization=True)
    pipe.to(torch.float32)
    for config in target.rglob("config.json"):  # where this machine loaded it from: not shipped
        entries = json.loads(config.read_text())
        if entries.pop("_name_or_path", None) is not None:
            config.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    back: Any = Flux2KleinPipeline.from_pretrained(target, dtype=torch.float32,
                                                   local_files_only=True)
    back.set_progress_bar_config(disable=True)
    step = int(common.require_checkpoint(work, "transformer")["step"])
    decoder_step = int((common.load_checkpoint(work / "decoder") or {}).get("step", 0))
    update_manifest(out, step, decoder_step)
    update_card(out, step, sum(p.numel() for p in pipe.transformer.parameters()), decoder_step)
    bench.EvalSet.from_data(data.load(work)).save(out / bench.EVAL_FILE)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(f"export: {target} ({size / 1e6:.1f} MB), transformer step {step}, float16 vs "
          f"float32 {psnr(images(pipe), images(back)):.1f} dB PSNR", flush=True)
    return target
