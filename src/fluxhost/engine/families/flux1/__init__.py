"""The FLUX.1 families: text to image (+ Redux), fill and expand, control (canny, depth),
Kontext; what they share (`common`: CLIP-L + T5-XXL, the VAE, prompt length), how LoRAs train
on them (`training`) and the dev model set's FLUX.1 pipelines (`dev`)."""
