"""emoji64: a small FLUX-architecture model set trained on CPU, the recipe.

One entry, `python -m fluxhost.training.emoji <stage> --work DIR`, stages in order:

    dataset      render Noto Color Emoji (Debian fonts-noto-color-emoji, OFL-1.1) to 64x64 with
                 Unicode-name captions; hold out unseen word combinations   (seconds)
    vae          AutoencoderKL, 16 latent channels, 8x down                (tens of minutes)
    encoders     word-level tokenizers, frozen random CLIP/T5-shaped encoders, caption
                 embeddings                                                (seconds)
    transformer  the base FluxTransformer2DModel by rectified flow         (CPU-hours)
    decoder      more training for the VAE decoder alone, on the transformer's frozen
                 latents (colours), without touching what the transformer learnt
    export       float16 FluxPipeline folder, default models/emoji64/base

Every training stage is resumable: it checkpoints DIR/<stage>/latest.pt every few minutes and at
exit (weights, EMA, optimizer, step, RNG), and a rerun continues from there. `--minutes` bounds
one run, `--steps` the total. Seeds are fixed per stage, so two uninterrupted runs on the same
torch build draw the same batches. A package (not a script) so the bench and tests import its
model builders and the export's generation helper instead of copying them.

Work directories belong outside the repository; only `export`'s output is committed.
"""
