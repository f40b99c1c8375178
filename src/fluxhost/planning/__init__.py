"""Planning a generation task: what the engine runs (`plan`) and at which size (`sizes`).
Below both the API (which prices a submission from its plan) and the workers (which run it);
imports no engine, so no torch."""

from fluxhost.catalog import FLUX2_IMAGE_FIELDS, KONTEXT_IMAGE_FIELDS
from fluxhost.planning.plan import Plan, plan
from fluxhost.planning.sizes import (
    area_size,
    fit_size,
    flux2_size,
    kontext_image_size,
    ultra_size,
)

__all__ = ["FLUX2_IMAGE_FIELDS", "KONTEXT_IMAGE_FIELDS", "Plan", "area_size", "fit_size",
           "flux2_size", "kontext_image_size", "plan", "ultra_size"]
