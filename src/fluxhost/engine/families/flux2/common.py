"""FLUX.2's pipelines, built-in kinds, component sharing and reference limits.

Component sharing: every FLUX.2 checkpoint BFL released holds the same VAE, but not the same
text encoder: FLUX.2 [dev] has Mistral Small 3.x (24B), [klein] 4B (distilled and Base) Qwen3-4B,
[klein] 9B (distilled, Base and KV) Qwen3-8B. So the VAE, text encoder and tokenizer are shared
between the FLUX.2 checkpoints whose config of them is the same (PipelineSpec.identified_by): a
klein-4b and a klein-4b Base kind load one Qwen3-4B, a klein-9b kind loads its own Qwen3-8B.
"""

from __future__ import annotations

from fluxhost.engine.families.protocol import PipelineSpec
from fluxhost.kinds import FLUX2_KINDS

GROUP = "flux2"
SHARED_COMPONENTS: tuple[str, ...] = ("text_encoder", "tokenizer", "vae")
# A tokenizer goes with its text encoder: the encoder's config tells which one it is.
IDENTIFIED_BY: tuple[tuple[str, str], ...] = (
    ("text_encoder", "text_encoder"),
    ("tokenizer", "text_encoder"),
    ("vae", "vae"),
)


def pipeline(name: str, class_name: str) -> PipelineSpec:
    return PipelineSpec(name, class_name, shared=SHARED_COMPONENTS, group=GROUP,
                        identified_by=IDENTIFIED_BY)


FLUX2 = pipeline("flux2", "Flux2Pipeline")  # FLUX.2 [dev]
KLEIN = pipeline("klein", "Flux2KleinPipeline")  # [klein] 4B / 9B, distilled or Base
# [klein] 9B KV: caches the references' attention keys and values after the first step.
KLEIN_KV = pipeline("klein-kv", "Flux2KleinKVPipeline")
# The names are fluxhost.kinds.FLUX2_PIPELINES (tests/engine/test_families.py checks).
PIPELINES = (FLUX2, KLEIN, KLEIN_KV)

# The built-in FLUX.2 kinds (flux2-dev, klein-4b, klein-9b, klein-9b-kv) -> the pipeline each
# runs; settings answers the same through Settings.kind_pipeline.
BUILTIN_KINDS: dict[str, str] = FLUX2_KINDS

# diffusers 0.42 puts no limit on the references (each adds its latent tokens, up to 4096 at its
# 1 MP cap, to every step's attention); the request type takes up to ten (the most the FLUX.2
# API's endpoints take is eight).
MAX_REFERENCES = 10
# What the pipelines refuse (Flux2ImageProcessor.check_image_input), checked before anything
# loads so the error names the reference.
MIN_REFERENCE_SIDE = 64
MAX_REFERENCE_ASPECT = 8
