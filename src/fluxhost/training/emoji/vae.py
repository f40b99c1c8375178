"""Stage `vae`: a FLUX-shaped AutoencoderKL (16 latent channels, 8x down) trained on the emoji.

Loss: L1 + MSE on pixels in [-1, 1] plus a very small KL term (as in SD/FLUX VAEs: the latent
space stays close to a deterministic autoencoder's, but is regular enough to sample). Only the
training split trains it. After training, `latent_stats` gives the shift and scale that make the
latents zero-mean, unit-variance -- the `shift_factor`/`scaling_factor` FluxPipeline applies.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from fluxhost.training.emoji import common, dataset

SEED = 1
KL_WEIGHT = 1e-6
LR = 1e-3
EMA_DECAY = 0.998


def build_vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 32, 48, 64),
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=16,
        sample_size=64,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )


def to_tensor(images: Any) -> Any:
    """uint8 N x H x W x 3 -> float N x 3 x H x W in [-1, 1]."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def psnr(vae: Any, pixels: Any) -> float:
    import torch

    with torch.no_grad():
        out = vae.decode(vae.encode(pixels).latent_dist.mode()).sample.clamp(-1, 1)
    mse = float(((out - pixels) / 2).pow(2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def train(work: Path, budget: common.Budget, batch: int) -> None:
    import torch

    images, entries = dataset.load(work)
    train_idx = [i for i, e in enumerate(entries) if e.split == "train"]
    pixels = to_tensor(images[train_idx])
    out = common.stage_dir(work, "vae")
    torch.manual_seed(SEED)
    vae = build_vae().train()
    ema = copy.deepcopy(vae).eval()
    opt = torch.optim.AdamW(vae.parameters(), lr=LR, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED)
    state = common.load_checkpoint(out)
    start = 0
    if state is not None:
        vae.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start = state["step"]
        print(f"vae: resuming at step {start}")
    print(f"vae: {sum(p.numel() for p in vae.parameters()):,} parameters, "
          f"{len(train_idx)} images")

    def step_fn(step: int) -> float:
        idx = torch.randint(0, len(pixels), (batch,), generator=gen)
        x = pixels[idx]
        # Cosine decay to 10% over the planned steps.
        lr = LR * (0.1 + 0.45 * (1 + math.cos(math.pi * min(step / budget.steps, 1.0))))
        for group in opt.param_groups:
            group["lr"] = lr
        posterior = vae.encode(x).latent_dist
        z = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=gen)
        recon = vae.decode(z).sample
        loss = (recon - x).abs().mean() + (recon - x).pow(2).mean()
        loss = loss + KL_WEIGHT * posterior.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        common.update_ema(ema, vae, EMA_DECAY, step)
        return float(loss.detach())

    def save_fn(step: int) -> None:
        common.save_checkpoint(out, {
            "model": vae.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
            "gen": gen.get_state(), "step": step,
        })

    def log_fn(step: int, loss: float, rate: float) -> None:
        print(f"vae step {step} loss {loss:.4f} {rate:.2f} it/s", flush=True)

    step = common.run_loop(budget, start, step_fn, save_fn, log_fn)
    held = [i for i, e in enumerate(entries) if e.split == "heldout"]
    vae.eval()
    print(f"vae: step {step}, PSNR train {psnr(vae, pixels[:256]):.2f} dB, "
          f"held out {psnr(vae, to_tensor(images[held])):.2f} dB", flush=True)


def load_trained(work: Path) -> Any:
    """The trained weights of the latest VAE checkpoint, with FLUX latent normalisation set.

    The raw weights, not the EMA: the first runs of this recipe kept an EMA without warm-up,
    which after 650 steps still carried its random start (12.2 dB against 18.9 dB)."""
    state = common.require_checkpoint(work, "vae")
    vae = build_vae()
    vae.load_state_dict(state["model"])
    vae.eval().requires_grad_(False)
    shift, scale = latent_stats(vae, work)
    vae.register_to_config(shift_factor=shift, scaling_factor=scale)
    return vae


def latent_stats(vae: Any, work: Path) -> tuple[float, float]:
    """(shift, scale): the training latents' mean and 1/std, FLUX's shift_factor and
    scaling_factor."""
    import torch

    images, entries = dataset.load(work)
    train_idx = [i for i, e in enumerate(entries) if e.split == "train"]
    with torch.no_grad():
        z = torch.cat([
            vae.encode(to_tensor(images[train_idx[i:i + 128]])).latent_dist.mean
            for i in range(0, len(train_idx), 128)
        ])
    return round(float(z.mean()), 4), round(1.0 / float(z.std()), 4)
