"""Stage `decoder`: more training for the VAE's decoder alone, after the transformer stage froze
the VAE.

The encoder -- hence every latent the transformer learns -- stays exactly as the transformer
stage's snapshot has it; only the decoder, which turns the transformer's latents into pixels,
trains on (L1 + MSE on pixels of the training split, from the snapshot's latents plus a little
Gaussian noise so it also decodes the transformer's imperfect latents). A short VAE run leaves
saturated colours unlearnt (red apples come out orange); this stage fixes that without
retraining the transformer. Export uses its weights when it has a checkpoint.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from fluxhost.training.emoji import common, dataset, transformer, vae

SEED = 4
LR = 5e-4
EMA_DECAY = 0.998
LATENT_NOISE = 0.05  # in normalised latent units (std 1)


def snapshot_vae(snapshot: dict[str, Any]) -> Any:
    from diffusers import AutoencoderKL

    # Without diffusers' record of which values were defaults at construction, from_config
    # would reset the normalisation set after it (shift_factor, scaling_factor) to defaults.
    config = {k: v for k, v in snapshot["vae_config"].items() if k != "_use_default_values"}
    model = AutoencoderKL.from_config(config)
    model.load_state_dict(snapshot["vae"])
    return model.eval()


def trained_vae(work: Path) -> Any:
    """The snapshot VAE with this stage's decoder (EMA) if it has a checkpoint."""
    model = snapshot_vae(transformer.latents_snapshot(work))
    state = common.load_checkpoint(work / "decoder")
    if state is not None:
        model.decoder.load_state_dict(state["ema"])
    return model.eval()


def train(work: Path, budget: common.Budget, batch: int) -> None:
    import torch
    from diffusers import FluxPipeline

    snapshot = transformer.latents_snapshot(work)
    model = snapshot_vae(snapshot)
    shift, scale = model.config.shift_factor, model.config.scaling_factor
    images, entries = dataset.load(work)
    train_idx = torch.tensor([i for i, e in enumerate(entries) if e.split == "train"])
    side = transformer.LATENT_SIDE * 8
    latents = FluxPipeline._unpack_latents(snapshot["latents"], side, side, 8)
    pixels = vae.to_tensor(images)
    decoder = model.decoder.train()
    ema = copy.deepcopy(decoder).eval().requires_grad_(False)
    opt = torch.optim.AdamW(decoder.parameters(), lr=LR, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED)
    out = common.stage_dir(work, "decoder")
    state = common.load_checkpoint(out)
    start = 0
    if state is not None:
        decoder.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start = state["step"]
        print(f"decoder: resuming at step {start}", flush=True)

    def step_fn(step: int) -> float:
        pick = train_idx[torch.randint(0, len(train_idx), (batch,), generator=gen)]
        z = latents[pick] + LATENT_NOISE * torch.randn(latents[pick].shape, generator=gen)
        for group in opt.param_groups:
            group["lr"] = common.cosine_lr(LR, step, budget.steps)
        recon = model.decode(z / scale + shift).sample
        x = pixels[pick]
        loss = (recon - x).abs().mean() + (recon - x).pow(2).mean()
        return common.optimizer_step(decoder, opt, ema, loss, step, EMA_DECAY)

    save_fn, log_fn = common.stage_callbacks(out, decoder, ema, opt, gen, "decoder")
    common.run_loop(budget, start, step_fn, save_fn, log_fn)
    model.decoder.load_state_dict(ema.state_dict())
    print(f"decoder: PSNR train {psnr(model, latents, pixels, train_idx[:256]):.2f} dB",
          flush=True)


def psnr(model: Any, latents: Any, pixels: Any, idx: Any) -> float:
    import torch

    shift, scale = model.config.shift_factor, model.config.scaling_factor
    with torch.no_grad():
        recon = model.decode(latents[idx] / scale + shift).sample.clamp(-1, 1)
    mse = float(((recon - pixels[idx]) / 2).pow(2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))
