"""Stage `transformer`: the base FluxTransformer2DModel, trained by rectified flow.

The objective is FLUX's, exactly as FluxPipeline samples it (see fluxhost.training.trainer for
the derivation): latents normalised with the VAE's shift/scale and packed 2x2 into 16 tokens of
64 channels, sigma = logit-normal shifted by exp(mu(16 tokens)), x_t = (1-sigma) x0 + sigma
noise, target noise - x0, timestep = sigma. No guidance embedding: 10% of captions are dropped
to the empty prompt, so generation uses true classifier-free guidance against "".

The VAE is frozen at the first run of this stage: its EMA weights, normalisation and every
training image's latents are stored in DIR/transformer/latents.pt, and later runs (and export)
use that snapshot even if the vae stage trains on, so a resumed run never sees other latents.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from fluxhost.training.emoji import common, dataset, vae

SEED = 3
LR = 3e-4
WARMUP = 200
EMA_DECAY = 0.999
CFG_DROPOUT = 0.1
LATENT_SIDE = 8  # 64 px / 8


def build_transformer() -> Any:
    from diffusers import FluxTransformer2DModel

    from fluxhost.training.emoji.encoders import CLIP_DIM, T5_DIM

    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        out_channels=64,
        num_layers=2,
        num_single_layers=4,
        attention_head_dim=64,
        num_attention_heads=4,
        joint_attention_dim=T5_DIM,
        pooled_projection_dim=CLIP_DIM,
        guidance_embeds=False,
        axes_dims_rope=(16, 24, 24),
    )


def latents_snapshot(work: Path) -> dict[str, Any]:
    """Frozen VAE + packed latents of every dataset image (see the module docstring)."""
    import torch
    from diffusers import FluxPipeline

    path = common.stage_dir(work, "transformer") / "latents.pt"
    if path.is_file():
        snapshot: dict[str, Any] = torch.load(path, weights_only=False)
        return snapshot
    model = vae.load_trained(work)
    images, _ = dataset.load(work)
    shift, scale = model.config.shift_factor, model.config.scaling_factor
    with torch.no_grad():
        z = torch.cat([
            model.encode(vae.to_tensor(images[i:i + 128])).latent_dist.mean
            for i in range(0, len(images), 128)
        ])
    z = (z - shift) * scale
    packed = FluxPipeline._pack_latents(z, len(z), z.shape[1], LATENT_SIDE, LATENT_SIDE)
    snapshot = {"vae": model.state_dict(), "vae_config": dict(model.config),
                "vae_step": common.require_checkpoint(work, "vae")["step"], "latents": packed}
    torch.save(snapshot, path)
    print(f"transformer: latents of {len(z)} images from the VAE at step "
          f"{snapshot['vae_step']} (shift {shift}, scale {scale})", flush=True)
    return snapshot


def init_from_export(work: Path, model_root: Path) -> None:
    """Start this stage from an exported set (OUT of `export`) instead of from scratch: for a
    later session whose work directory is gone. The VAE snapshot and latents come from the
    exported VAE, the model and EMA from the exported transformer (float16, widened to
    float32); the optimizer starts fresh and the step count continues from the manifest."""
    import json

    import torch
    from diffusers import AutoencoderKL, FluxPipeline, FluxTransformer2DModel

    out = common.stage_dir(work, "transformer")
    if common.load_checkpoint(out) is not None:
        raise FileExistsError(f"{out} already has a checkpoint; --init-from starts a fresh one")
    manifest = json.loads((model_root / "fluxhost-model.json").read_text())
    model = AutoencoderKL.from_pretrained(model_root / "base" / "vae", dtype=torch.float32)
    images, _ = dataset.load(work)
    shift, scale = model.config.shift_factor, model.config.scaling_factor
    with torch.no_grad():
        z = torch.cat([model.encode(vae.to_tensor(images[i:i + 128])).latent_dist.mean
                       for i in range(0, len(images), 128)])
    z = (z - shift) * scale
    packed = FluxPipeline._pack_latents(z, len(z), z.shape[1], LATENT_SIDE, LATENT_SIDE)
    torch.save({"vae": model.state_dict(), "vae_config": dict(model.config),
                "vae_step": manifest["vae_step"], "latents": packed}, out / "latents.pt")
    weights = FluxTransformer2DModel.from_pretrained(
        model_root / "base" / "transformer", dtype=torch.float32).state_dict()
    fresh = build_transformer()
    fresh.load_state_dict(weights)
    opt = torch.optim.AdamW(fresh.parameters(), lr=LR, weight_decay=0.0)
    common.save_checkpoint(out, {
        "model": weights, "ema": weights, "opt": opt.state_dict(),
        "gen": torch.Generator().manual_seed(SEED + manifest["transformer_step"]).get_state(),
        "step": manifest["transformer_step"],
    })
    print(f"transformer: initialised from {model_root} at step {manifest['transformer_step']}")


def sample_sigmas(n: int, gen: Any) -> Any:
    import torch
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift

    from fluxhost.engine.families.flux1.dev_components import FLUX_SCHEDULER_CONFIG as cfg

    mu = calculate_shift((LATENT_SIDE // 2) ** 2, cfg["base_image_seq_len"],
                         cfg["max_image_seq_len"], cfg["base_shift"], cfg["max_shift"])
    s = math.exp(mu)
    t = torch.sigmoid(torch.randn(n, generator=gen))
    return s * t / (1 + (s - 1) * t)


def train(work: Path, budget: common.Budget, batch: int) -> None:
    import torch
    from diffusers import FluxPipeline

    snapshot = latents_snapshot(work)
    embeds = torch.load(work / "encoders" / "embeds.pt", weights_only=False)
    _, entries = dataset.load(work)
    train_idx = torch.tensor([i for i, e in enumerate(entries) if e.split == "train"])
    latents = snapshot["latents"]
    out = common.stage_dir(work, "transformer")
    torch.manual_seed(SEED)
    model = build_transformer().train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED)
    state = common.load_checkpoint(out)
    start = 0
    if state is not None:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start = state["step"]
        print(f"transformer: resuming at step {start}", flush=True)
    print(f"transformer: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{len(train_idx)} images", flush=True)
    img_ids = FluxPipeline._prepare_latent_image_ids(
        batch, LATENT_SIDE // 2, LATENT_SIDE // 2, "cpu", torch.float32)
    txt_ids = torch.zeros(embeds["t5"].shape[1], 3)

    def step_fn(step: int) -> float:
        pick = train_idx[torch.randint(0, len(train_idx), (batch,), generator=gen)]
        x0 = latents[pick]
        # Row 0 of the embeddings is the empty prompt; dataset image i has row i + 1.
        keep = torch.rand(batch, generator=gen) >= CFG_DROPOUT
        rows = torch.where(keep, pick + 1, torch.zeros_like(pick))
        sigma = sample_sigmas(batch, gen)
        noise = torch.randn(x0.shape, generator=gen)

        def forward(xt: Any) -> Any:
            return model(hidden_states=xt, timestep=sigma, guidance=None,
                         pooled_projections=embeds["clip"][rows],
                         encoder_hidden_states=embeds["t5"][rows], txt_ids=txt_ids,
                         img_ids=img_ids, return_dict=False)[0]

        return common.flow_step(model, opt, ema, step, x0, sigma, noise, forward,
                                lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY)

    save_fn, log_fn = common.stage_callbacks(out, model, ema, opt, gen)
    common.run_loop(budget, start, step_fn, save_fn, log_fn)


def load_trained(work: Path) -> Any:
    """The EMA weights of the latest transformer checkpoint."""
    state = common.require_checkpoint(work, "transformer")
    model = build_transformer()
    model.load_state_dict(state["ema"])
    return model.eval().requires_grad_(False)
