"""Stage `init`: a work directory's transformer and decoder checkpoints from an exported set, so
that training continues from the shipped weights when the work directory they came from is gone
(a fresh checkout of this project has none; the stages before the transformer are deterministic
and rebuild in about a minute).

The exported weights are the EMA's in float16: model and EMA both start from them, the optimizer
starts empty (its moments were not exported), the generator from the seed and the step, and the
step counts on from the set's manifest. The continued run is therefore not the run the set came
from, step for step; it is the same weights trained on by the same recipe.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fluxhost.training.emoji import common
from fluxhost.training.emoji2 import decoder, export, transformer


def _checkpoint(model: Any, lr: float, seed: int, step: int) -> dict[str, Any]:
    import torch

    weights = model.float().state_dict()  # the exported EMA: model and EMA alike
    return {"model": weights, "ema": weights,
            "opt": torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0).state_dict(),
            "gen": torch.Generator().manual_seed(seed + step).get_state(), "step": step}


def init(work: Path, source: Path) -> int:
    """Write DIR/transformer and DIR/decoder checkpoints from the set `source`; its step."""
    from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel

    existing = work / "transformer" / common.CHECKPOINT
    if existing.is_file():
        raise FileExistsError(f"{existing} exists: init would overwrite a run")
    manifest = json.loads((source / export.MANIFEST).read_text())
    step = int(manifest["klein_transformer_step"])
    folder = source / export.FOLDER
    shipped = Flux2Transformer2DModel.from_pretrained(folder / "transformer")
    model = transformer.build_transformer()
    model.load_state_dict(shipped.state_dict())
    common.save_checkpoint(common.stage_dir(work, "transformer"),
                           _checkpoint(model, transformer.LR, transformer.SEED, step))
    vae = AutoencoderKLFlux2.from_pretrained(folder / "vae")
    decoder_step = int(manifest.get("klein_decoder_step", 0))
    common.save_checkpoint(common.stage_dir(work, decoder.STAGE),
                           _checkpoint(vae.decoder, decoder.LR, decoder.SEED, decoder_step))
    print(f"init: transformer at step {step:,} and decoder at step {decoder_step:,} from "
          f"{source} (optimizer restarts)", flush=True)
    return step
