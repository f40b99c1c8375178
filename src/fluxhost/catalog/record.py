"""One generation endpoint, as every layer needs it: its route, request model and image fields,
the kind it runs on, how it is sized and its defaults. Frozen: the catalog is data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fluxhost.kinds import pipelines_for
from fluxhost.wire.base_inputs import BaseGenerationInputs
from fluxhost.wire.flux2 import Flux2BaseInputs
from fluxhost.wire.flux2_finetuned import Flux2KleinFinetunedInputs
from fluxhost.wire.inputs import GenerationInputs

# How an endpoint's output size is decided (fluxhost.planning):
# - "request": the request's width x height;
# - "ultra": its aspect_ratio at FLUXHOST_ULTRA_MEGAPIXELS, with ultra's steps and guidance
#   (raw mode caps the guidance);
# - "kontext": its aspect_ratio, else the aspect of the first input image given (`size_from`),
#   else 1:1, at FLUXHOST_KONTEXT_MEGAPIXELS, with Kontext's steps and guidance;
# - "input": the first input image given (`size_from`), fitted to the API's 256..1440 bounds;
# - "flux2": the request's width x height, a side 0 or null taken from the first reference
#   image given (`size_from`; none: 1024 x 1024), capped at 4 MP keeping the aspect, sides
#   snapped to multiples of 16 (`planning.flux2_size`).
Sizing = Literal["request", "ultra", "kontext", "input", "flux2"]
# A request body: finetuned (names a finetune), base (FLUX.1) or FLUX.2.
RequestModel = type[GenerationInputs] | type[BaseGenerationInputs] | type[Flux2BaseInputs]
# Request fields that become plan fields of their own (e.g. canny thresholds, expand's
# padding): params -> Plan keyword arguments.
Extras = Callable[[Mapping[str, Any]], dict[str, Any]]


def no_extras(params: Mapping[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Endpoint:
    name: str  # the route is /v1/<name>; also the task's `endpoint` column
    model: RequestModel  # the request body (wire/)
    kind: str  # the pipeline kind it runs on unless FLUXHOST_ENDPOINT_KINDS moves it
    sizing: Sizing
    # The route's documentation: the contract's words verbatim (tests/wire compares them).
    summary: str
    description: str
    operation_id: str
    tag: str = "Tasks"
    # The body's base64 image fields, in the order the request model has them.
    image_fields: tuple[str, ...] = ()
    # Those the contract also allows as http(s) URLs (this server does not fetch them).
    url_fields: frozenset[str] = frozenset()
    # Those that only qualify another image (a fill's mask): not counted as input megapixels.
    uncounted_fields: frozenset[str] = frozenset()
    # The input images the output size follows ("input" and "kontext" sizing): the first given.
    size_from: tuple[str, ...] = ()
    # Steps and guidance where the request leaves them null (or has no such fields); None: the
    # request always carries both (the finetuned endpoints), or they follow the pipeline that
    # serves it (the FLUX.2 endpoints without such fields: `planning.FLUX2_STEPS_GUIDANCE`).
    steps_guidance: tuple[int, float] | None = None
    output_format: str = "jpeg"  # where the request leaves it null
    extras: Extras = field(default=no_extras)
    # The provider's per-megapixel price in credits, where the operator's FLUXHOST_PRICES has
    # none: (the first output megapixel, each further output and each input megapixel), in
    # whole megapixels rounded up (api/pricing.py). None: no built-in price (cost: null).
    megapixel_price: tuple[float, float] | None = None

    @property
    def path(self) -> str:
        return f"/v1/{self.name}"

    @property
    def reference_fields(self) -> tuple[str, ...]:
        """Its reference images in order, `input_image`, `input_image_2`, ... (FLUX.2's eight or
        klein's four, Kontext's four; none elsewhere): what the SDK's `references=[...]` and
        the CLI's repeated `-i` fill, first to last."""
        return tuple(n for n in self.image_fields
                     if n == "input_image" or n.startswith("input_image_"))

    @property
    def pipelines(self) -> tuple[str, ...]:
        """The pipelines that can serve it: FLUXHOST_ENDPOINT_KINDS may move it only to a
        kind that runs one of these."""
        return pipelines_for(self.kind)

    @property
    def finetuned(self) -> bool:
        """Runs a finetune the request names (ownership checked at submit: 404 otherwise)."""
        return issubclass(self.model, GenerationInputs | Flux2KleinFinetunedInputs)

    @property
    def lora_base(self) -> str | None:
        """The klein base whose uploaded LoRAs it serves ("klein-4b"); None: FLUX.1's
        finetunes (a finetuned endpoint) or none at all."""
        if issubclass(self.model, Flux2KleinFinetunedInputs):
            return self.kind
        return None

    @property
    def method(self) -> str:
        """Its SDK method: "flux-pro-1.1" -> "flux_pro_1_1"."""
        return method_name(self.name)


def method_name(endpoint: str) -> str:
    """The SDK method of an endpoint name: "flux-pro-1.1" -> "flux_pro_1_1"."""
    return endpoint.replace("-", "_").replace(".", "_")
