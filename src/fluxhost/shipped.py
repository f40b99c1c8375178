"""The model set shipped in a source checkout (models/emoji64), known without importing the
engine: settings resolve FLUXHOST_MODEL_SET=emoji to it.

Two generations share the set: gen 1 (`base`, a FLUX.1-architecture FluxPipeline folder) serves
the FLUX.1 endpoints, text to image and, as an inpainting pipeline on the same weights, fill and
expand; gen 2 (`klein`, a FLUX.2 [klein]-architecture Flux2KleinPipeline folder, when exported)
serves the FLUX.2 family and, as an editing model, the Kontext endpoints. No folder holds canny
or depth weights (no control-trained transformer): those endpoints stay unserved (501) on the
demo. Reading which folders exist touches the disk, so it happens when settings are made, never
at import."""

from __future__ import annotations

from functools import cache
from pathlib import Path

# src/fluxhost/shipped.py -> <repo>/models/emoji64.
DEMO_ROOT = Path(__file__).resolve().parents[2] / "models" / "emoji64"
# The FLUX.2 kinds the klein folder serves: the same weights under both built-in klein names,
# so each klein endpoint (and its LoRA endpoint) keeps its own kind, claims and metrics.
DEMO_KLEIN_KINDS = ("klein-4b", "klein-9b")
# The endpoints whose default kind the set lacks -> the klein kind that serves them: it has no
# FLUX.2 [dev] (pro, pro-preview, max, flex), and no KV-cache kind: Flux2KleinKVPipeline takes
# no guidance, and the demo, not guidance-distilled, draws mud without true CFG.
# Kontext's endpoints edit on the klein too (kinds.pipelines_for): the set has no Kontext model.
DEMO_ENDPOINT_KINDS = {"flux-2-pro": "klein-4b", "flux-2-pro-preview": "klein-4b",
                       "flux-2-max": "klein-4b", "flux-2-flex": "klein-4b",
                       "flux-2-klein-9b-preview": "klein-9b",
                       "flux-kontext-pro": "klein-4b", "flux-kontext-max": "klein-4b"}
# What the klein demo is run at where a FLUX.2 request has no steps or guidance fields: it is
# not step-distilled (the built-in klein default is a distilled klein's 4 steps) and wants true
# classifier-free guidance (docs/emoji64.md's figures are at these settings).
DEMO_KLEIN_STEPS, DEMO_KLEIN_GUIDANCE = 20, 4.0


@cache  # looked up once per process: settings ask on every /health
def demo_folders(root: Path = DEMO_ROOT) -> dict[str, Path]:
    """The set's pipeline folders that are present: "base" and, once exported, "klein"."""
    folders = {"base": root / "base"}
    if (root / "klein" / "model_index.json").is_file():
        folders["klein"] = root / "klein"
    return folders
