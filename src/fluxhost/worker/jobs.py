"""The worker's view of planning, which lives in `fluxhost.planning` (below the API too, which
prices a submission from the same plan): the names worker/requests.py and worker/worker.py
import from here."""

from __future__ import annotations

from fluxhost.planning import KONTEXT_IMAGE_FIELDS, Plan, kontext_image_size, plan

__all__ = ["KONTEXT_IMAGE_FIELDS", "Plan", "kontext_image_size", "plan"]
