"""Stage `decoder`: the VAE decoder trained on to draw the seven colour words as it is told.

Gen 1's VAE learnt Noto's own palette, where purple and pink are rare: decoding the latents of
the bank's images, a purple object came back purple (by colours.dominant) 13% of the time and a
pink one 22% (all seven colour words: 64%), so no transformer could pass the edit bench however
well it denoised. This stage trains the decoder alone on the latents the transformer stage
froze (`vae/latents.pt`: the encoder, hence every latent the transformer learns, is untouched),
so it runs beside the transformer and a resumed transformer run is unaffected.

Training images: every bank image that is not held out (a held-out combination trains nothing,
here either) and the native emoji that train. Loss: L1 + MSE on pixels, each pixel weighted
1 + COLOUR_WEIGHT where the target has colour (colours.coloured_mask): the white background is
most of every image and easy. A little Gaussian noise on the latents teaches it to decode the
transformer's imperfect ones too. Checkpoints DIR/decoder/latest.pt (weights, EMA, optimizer,
step, generator); `transformer.pipeline` and export use its EMA weights when it exists.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from fluxhost.training.emoji import common
from fluxhost.training.emoji2 import colours, data
from fluxhost.training.emoji2 import vae as vae_stage

SEED = 5
LR = 3e-4
EMA_DECAY = 0.998
LATENT_NOISE = 0.05  # in normalised latent units (the BatchNorm's std 1)
COLOUR_WEIGHT = 4.0
STAGE = "decoder"


def load_vae(work: Path) -> Any:
    """The transformer stage's AutoencoderKLFlux2, with this stage's decoder (EMA) if any."""
    model = snapshot_vae(work)
    state = common.load_checkpoint(work / STAGE)
    if state is not None:
        model.decoder.load_state_dict(state["ema"])
    return model.eval().requires_grad_(False)


def decoder_input(model: Any, packed: Any) -> Any:
    """Packed, normalised latents (N x 16 x 64) -> what vae.decode takes (N x 16 x 8 x 8), as
    Flux2KleinPipeline undoes its normalisation before decoding."""
    import torch
    from diffusers import Flux2KleinPipeline

    ids = torch.zeros(packed.shape[0], 16, 4, dtype=torch.long)
    ids[:, :, 1] = torch.arange(16) // 4
    ids[:, :, 2] = torch.arange(16) % 4
    grid = Flux2KleinPipeline._unpack_latents_with_ids(packed, ids)
    mean = model.bn.running_mean.view(1, -1, 1, 1)
    std = torch.sqrt(model.bn.running_var.view(1, -1, 1, 1) + model.config.batch_norm_eps)
    return Flux2KleinPipeline._unpatchify_latents(grid * std + mean)


def training_set(work: Path) -> tuple[Any, np.ndarray]:
    """(packed latents N x 16 x 64, uint8 images N x 64 x 64 x 3) of every image that trains."""
    import torch

    d = data.load(work)
    latents = torch.load(work / "vae" / "latents.pt", weights_only=False)
    keep = ~d.heldout.reshape(-1)
    bank = latents["bank"].reshape(-1, *latents["bank"].shape[2:])[torch.from_numpy(keep)]
    rows = [i for i, _ in d.natives]
    packed = torch.cat([bank, latents["natives"][rows]])
    images = np.concatenate([d.bank.reshape(-1, *d.bank.shape[2:])[keep], d.images[rows]])
    return packed, images


def pixel_weights(images: np.ndarray) -> Any:
    import torch

    mask = colours.coloured_mask(colours.rgb_to_hsv(images))
    return torch.from_numpy(1.0 + COLOUR_WEIGHT * mask.astype(np.float32))[:, None]


def train(work: Path, budget: common.Budget, batch: int) -> None:
    import torch

    model = snapshot_vae(work)
    packed, images = training_set(work)
    inputs = decoder_input(model, packed)
    pixels, weights = vae_stage.to_tensor(images), pixel_weights(images)
    decoder = model.decoder.train().requires_grad_(True)
    ema = copy.deepcopy(decoder).eval().requires_grad_(False)
    opt = torch.optim.AdamW(decoder.parameters(), lr=LR, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED)
    out = common.stage_dir(work, STAGE)
    start = common.resume(out, STAGE, decoder, ema, opt, gen)
    noise_scale = LATENT_NOISE * torch.sqrt(model.bn.running_var).mean()

    def step_fn(step: int) -> float:
        pick = torch.randint(0, len(inputs), (batch,), generator=gen)
        z = inputs[pick] + noise_scale * torch.randn(inputs[pick].shape, generator=gen)
        for group in opt.param_groups:
            group["lr"] = common.cosine_lr(LR, step, budget.steps)
        err, w = model.decode(z).sample - pixels[pick], weights[pick]
        loss = (w * (err.abs() + err.pow(2))).mean() / w.mean()
        return common.optimizer_step(decoder, opt, ema, loss, step, EMA_DECAY)

    save_fn, log_fn = common.stage_callbacks(out, decoder, ema, opt, gen, STAGE)
    common.run_loop(budget, start, step_fn, save_fn, log_fn)
    model.decoder.load_state_dict(ema.state_dict())
    print(f"decoder: colour words kept {colour_kept(model, inputs, images):.1%}", flush=True)


def snapshot_vae(work: Path) -> Any:
    """The VAE as the vae stage saved it (gen 1's decoder)."""
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2.from_pretrained(work / "vae" / "vae")


def colour_kept(model: Any, inputs: Any, images: np.ndarray, n: int = 512) -> float:
    """Of `n` images (evenly spaced), the share whose decoded latent keeps its dominant colour
    word."""
    import torch

    idx = np.linspace(0, len(images) - 1, n).astype(int)
    with torch.no_grad():
        recon = model.decode(inputs[torch.from_numpy(idx)]).sample.clamp(-1, 1)
    out = ((recon + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return float(np.mean([colours.dominant(o)[0] == colours.dominant(images[i])[0]
                          for o, i in zip(out, idx, strict=True)]))
