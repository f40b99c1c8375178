"""emoji64, second generation: a FLUX.2 [klein]-architecture demo trained on CPU, the recipe.

`python -m fluxhost.training.emoji2 train --work DIR` runs every stage in order, each skipped
when its output is already in DIR (the dataset, data and encoder stages are deterministic):

    dataset      gen 1's: every single-code-point Noto emoji at 64x64, captioned (seconds)
    data         objects, their images in seven colours (native or recoloured), the held-out
                 combinations, the edit instructions                              (seconds)
    encoders     word-level BPE tokenizer, frozen random Qwen3-shaped encoder, embeddings of
                 every prompt                                                      (minutes)
    vae          gen 1's VAE as an AutoencoderKLFlux2, BatchNorm statistics, latents (minutes)
    transformer  Flux2Transformer2DModel by rectified flow, text to image and edits with
                 one or two reference images                                       (CPU-days)

`python -m fluxhost.training.emoji2 decoder --work DIR --steps 4000 --batch 16` trains the VAE
decoder on (beside or after the transformer: it reads the latents the vae stage froze;
decoder.py says why).

`python -m fluxhost.training.emoji2 export --work DIR [--out models/emoji64]` writes the EMA
weights as a float16 Flux2KleinPipeline folder OUT/klein and adds it to the set's manifest.

`python -m fluxhost.training.emoji2 init --work DIR [--from models/emoji64]` starts DIR's
transformer and decoder checkpoints from an exported set (a fresh checkout has no work
directory); `train` then rebuilds the stages before the transformer and continues.

The transformer stage checkpoints DIR/transformer/latest.pt every 3 minutes and at exit
(weights, EMA, optimizer, step, its generator) and continues from there when run again.
`transformer.pipeline(DIR)` assembles the unchanged Flux2KleinPipeline on the latest EMA weights.
Work directories belong outside the repository.
"""
