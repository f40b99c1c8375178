"""The dev model set's depth estimator: a Depth Anything (V2 architecture: DINOv2 backbone + DPT
head) with 137k random parameters, loadable like depth-anything/Depth-Anything-V2-Small-hf with
the Auto classes. It turns control images into depth maps for the dev set's depth pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fluxhost.engine.devparts import DevParts
from fluxhost.engine.hf import pil_processor_class, quiet_progress
from fluxhost.engine.rng import seeded

SEED_DEPTH_ESTIMATOR = 9
HIDDEN = 32


def build_depth_estimator(out_dir: Path, parts: DevParts) -> None:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    # At the default initializer_range (0.02) the relu head outputs ~1e-7 almost everywhere;
    # 0.2 gives a map with visible structure that depends on the input image.
    init_range = 0.2
    # The DPT neck reads the outputs of all four layers. A keyword dict because transformers 5
    # declares out_features as a private field while still accepting it.
    stages: dict[str, Any] = {"out_features": ["stage1", "stage2", "stage3", "stage4"]}
    backbone = Dinov2Config(
        hidden_size=HIDDEN,
        num_hidden_layers=4,
        num_attention_heads=2,
        image_size=28,
        patch_size=14,
        reshape_hidden_states=False,
        initializer_range=init_range,
        **stages,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=HIDDEN,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
        initializer_range=init_range,
    )
    model: Any
    with seeded(SEED_DEPTH_ESTIMATOR):
        model = DepthAnythingForDepthEstimation(config).eval()
    # The real processor resizes to 518 px (short side, multiple of 14); 56 keeps the dev one fast.
    processor = pil_processor_class("DPTImageProcessor")(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,  # bicubic, as Depth Anything's
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    with quiet_progress():
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)
