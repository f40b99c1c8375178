"""Control-image preprocessing: canny edges (OpenCV) and depth maps (a transformers model).

FLUX.1-Canny and FLUX.1-Depth were trained on conditioning images made this way: the edges of
cv2.Canny and the relative depth of Depth Anything, both as 3-channel images with white = edge
or near. cv2, torch and transformers are imported inside the functions (see fluxhost.engine).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from fluxhost.engine.hf import quiet_progress

if TYPE_CHECKING:
    import torch


def canny_edges(image: Image.Image, low: int, high: int) -> Image.Image:
    """cv2.Canny edges of `image` (thresholds on the gradient magnitude of its grayscale) as an
    RGB image: white edges on black."""
    import cv2

    if low < 0 or high < 0:
        raise ValueError(f"canny thresholds must not be negative, got {low}, {high}")
    gray = np.asarray(image.convert("L"))
    # cv2.Canny swaps thresholds given in the wrong order itself.
    edges = cv2.Canny(gray, float(low), float(high))
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


class DepthEstimator:
    """A transformers depth-estimation model (Depth Anything, DPT, ...) and its processor.

    Runs in float32 whatever the engine's dtype: these models are small (25M parameters for
    Depth-Anything-V2-Small), and bf16 depth quantises visibly once stretched to 0..255.
    """

    def __init__(self, model: Any, processor: Any, device: torch.device) -> None:
        self.model = model
        self.processor = processor
        self.device = device

    @classmethod
    def load(cls, source: str, device: torch.device, *, local: bool) -> DepthEstimator:
        """From a hub id or local dir (`local`: load with local_files_only=True)."""
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        where: str | Path = Path(source).expanduser() if local else source
        with quiet_progress():
            model = AutoModelForDepthEstimation.from_pretrained(where, local_files_only=local)
            processor = AutoImageProcessor.from_pretrained(where, local_files_only=local)
        return cls(model.to(device=device).eval(), processor, device)

    def predict(self, image: Image.Image) -> np.ndarray:
        """Relative depth (larger = nearer for Depth Anything) at the image's size, float32 HxW."""
        import torch

        inputs = self.processor(images=image.convert("RGB"), return_tensors="pt")
        pixels = inputs["pixel_values"].to(device=self.device, dtype=torch.float32)
        with torch.no_grad():
            depth = self.model(pixel_values=pixels).predicted_depth  # (1, h, w)
            depth = torch.nn.functional.interpolate(
                depth[:, None].float(),
                size=(image.height, image.width),
                mode="bicubic",
                align_corners=False,
            )[0, 0]
        result: np.ndarray = depth.cpu().numpy()
        return result


def depth_map(image: Image.Image, estimator: DepthEstimator) -> Image.Image:
    """The estimator's depth of `image`, min-max normalised to 0..255, as an RGB image of the
    same size (a flat map -- no depth variation -- becomes black)."""
    depth = estimator.predict(image)
    low, high = float(depth.min()), float(depth.max())
    if high - low < 1e-12 or not np.isfinite([low, high]).all():
        scaled = np.zeros(depth.shape, dtype=np.uint8)
    else:
        scaled = np.clip((depth - low) / (high - low) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([scaled] * 3, axis=-1))
