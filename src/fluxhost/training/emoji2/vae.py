"""Stage `vae`: the AutoencoderKLFlux2, taken over from the emoji64 demo, and every latent the
transformer trains on.

No VAE is trained here. AutoencoderKLFlux2 is AutoencoderKL's encoder and decoder plus a
BatchNorm over the 2x2-patchified latents (which the pipeline uses to normalise them, in place of
FLUX.1's shift and scale), so the gen-1 VAE's weights (models/emoji64/base/vae: 16 latent
channels, 8x down, trained on these emoji, decoder tuned on the transformer's latents) load into
it unchanged; the BatchNorm's running mean and variance are set to the statistics of the
patchified latents of the whole dataset (the real VAE's are its training set's too).

Latents are as Flux2KleinPipeline._encode_vae_image makes them: the posterior's mode,
patchified, normalised by the BatchNorm statistics, packed to 16 tokens of 64 channels.

Outputs under DIR/vae: vae/ (save_pretrained), latents.pt ({"bank": objects x colours x 16 x 64,
"natives": N x 16 x 64}).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fluxhost.training.emoji2.data import Data

GEN1_VAE = Path("models/emoji64/base/vae")


def convert(source: Path = GEN1_VAE) -> Any:
    from diffusers import AutoencoderKL, AutoencoderKLFlux2

    old = AutoencoderKL.from_pretrained(source)
    keep = ("in_channels", "out_channels", "down_block_types", "up_block_types",
            "block_out_channels", "layers_per_block", "act_fn", "latent_channels",
            "norm_num_groups", "sample_size", "use_quant_conv", "use_post_quant_conv",
            "mid_block_add_attention")
    vae: Any = AutoencoderKLFlux2(**{k: old.config[k] for k in keep})
    missing, unexpected = vae.load_state_dict(old.state_dict(), strict=False)
    if unexpected or any(not k.startswith("bn.") for k in missing):
        raise ValueError(f"gen-1 VAE does not fit: missing {missing}, unexpected {unexpected}")
    return vae.eval().requires_grad_(False)


def to_tensor(images: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def raw_latents(vae: Any, images: np.ndarray, chunk: int = 128) -> Any:
    """Patchified posterior modes (N x 64 x 4 x 4), not yet normalised."""
    import torch
    from diffusers import Flux2KleinPipeline

    with torch.no_grad():
        z = torch.cat([vae.encode(to_tensor(images[i:i + chunk])).latent_dist.mode()
                       for i in range(0, len(images), chunk)])
    return Flux2KleinPipeline._patchify_latents(z)


def set_bn(vae: Any, patchified: Any) -> None:
    import torch

    with torch.no_grad():
        vae.bn.running_mean.copy_(patchified.mean(dim=(0, 2, 3)))
        vae.bn.running_var.copy_(patchified.var(dim=(0, 2, 3)))


def normalise_and_pack(vae: Any, patchified: Any) -> Any:
    import torch
    from diffusers import Flux2KleinPipeline

    mean = vae.bn.running_mean.view(1, -1, 1, 1)
    std = torch.sqrt(vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps)
    return Flux2KleinPipeline._pack_latents((patchified - mean) / std)


def encode(vae: Any, images: np.ndarray) -> Any:
    """Packed, normalised latents of uint8 images, as the pipeline encodes references."""
    return normalise_and_pack(vae, raw_latents(vae, images))


def build(work: Path, d: Data, source: Path = GEN1_VAE) -> tuple[Any, dict[str, Any]]:
    import torch
    from diffusers import AutoencoderKLFlux2

    out = work / "vae"
    if (out / "latents.pt").is_file():
        vae = AutoencoderKLFlux2.from_pretrained(out / "vae").eval().requires_grad_(False)
        return vae, torch.load(out / "latents.pt", weights_only=False)
    vae = convert(source)
    natives = raw_latents(vae, d.images)
    set_bn(vae, natives)
    n_obj, n_col = d.bank.shape[:2]
    bank = raw_latents(vae, d.bank.reshape(-1, *d.bank.shape[2:]))
    latents = {"bank": normalise_and_pack(vae, bank).reshape(n_obj, n_col, 16, -1),
               "natives": normalise_and_pack(vae, natives)}
    vae.save_pretrained(out / "vae")
    torch.save(latents, out / "latents.pt")
    print(f"vae: gen-1 weights, latents of {len(d.images)} emoji and {n_obj * n_col} bank images",
          flush=True)
    return vae, latents
