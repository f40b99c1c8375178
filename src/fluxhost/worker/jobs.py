"""The worker's view of planning, which lives in `fluxhost.planning` (below the API too, which
prices a submission from the same plan): the names worker/requests.py and worker/worker.py
import from here."""

from __future__ import annotations

from fluxhost.planning import (
    FLUX2_IMAGE_FIELDS,
    KONTEXT_IMAGE_FIELDS,
    Plan,
    flux2_size,
    kontext_image_size,
    plan,
)

__all__ = ["FLUX2_IMAGE_FIELDS", "KONTEXT_IMAGE_FIELDS", "Plan", "flux2_size",
           "kontext_image_size", "plan"]
