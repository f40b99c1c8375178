"""Which request model each generation endpoint takes, and which of its fields are images.

One table for the server's routes, the SDK's typed methods and the CLI's flags; the route
paths are `/v1/<endpoint>`."""

from __future__ import annotations

from pydantic import BaseModel

from fluxhost.wire.base_inputs import (
    CannyInputs,
    DepthInputs,
    FluxDevInputs,
    FluxKontextProInputs,
    FluxPro11Inputs,
    FluxProExpandInputs,
    FluxProFillInputs,
    FluxProInputs,
    FluxUltraInput,
)
from fluxhost.wire.inputs import (
    FinetuneCannyInputs,
    FinetuneDepthInputs,
    FinetuneFluxProFillInputs,
    FinetuneFluxUltraInput,
    FluxProFinetuneInputs,
)

ENDPOINT_MODELS: dict[str, type[BaseModel]] = {
    "flux-pro-finetuned": FluxProFinetuneInputs,
    "flux-pro-1.1-ultra-finetuned": FinetuneFluxUltraInput,
    "flux-pro-1.0-fill-finetuned": FinetuneFluxProFillInputs,
    "flux-pro-1.0-canny-finetuned": FinetuneCannyInputs,
    "flux-pro-1.0-depth-finetuned": FinetuneDepthInputs,
    "flux-pro-1.1": FluxPro11Inputs,
    "flux-pro": FluxProInputs,
    "flux-dev": FluxDevInputs,
    "flux-pro-1.1-ultra": FluxUltraInput,
    "flux-pro-1.0-fill": FluxProFillInputs,
    "flux-pro-1.0-expand": FluxProExpandInputs,
    "flux-pro-1.0-canny": CannyInputs,
    "flux-pro-1.0-depth": DepthInputs,
    "flux-kontext-pro": FluxKontextProInputs,
    "flux-kontext-max": FluxKontextProInputs,
}

# The base64 image fields of each request model (Kontext's may also be http(s) URLs).
IMAGE_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {
    FluxProFinetuneInputs: ("image_prompt",),
    FinetuneFluxUltraInput: ("image_prompt",),
    FinetuneFluxProFillInputs: ("image", "mask"),
    FinetuneCannyInputs: ("control_image",),
    FinetuneDepthInputs: ("control_image",),
    FluxPro11Inputs: ("image_prompt",),
    FluxProInputs: ("image_prompt",),
    FluxDevInputs: ("image_prompt",),
    FluxUltraInput: ("image_prompt",),
    FluxProFillInputs: ("image", "mask"),
    FluxProExpandInputs: ("image",),
    CannyInputs: ("control_image", "preprocessed_image"),
    DepthInputs: ("control_image", "preprocessed_image"),
    FluxKontextProInputs: ("input_image", "input_image_2", "input_image_3", "input_image_4"),
}


def endpoint_model(endpoint: str) -> type[BaseModel]:
    """The request model of `endpoint` ("flux-dev" or "/v1/flux-dev"); KeyError naming it."""
    name = endpoint.strip("/").removeprefix("v1/")
    try:
        return ENDPOINT_MODELS[name]
    except KeyError:
        raise KeyError(f"unknown endpoint {endpoint!r}; known: "
                       f"{', '.join(ENDPOINT_MODELS)}") from None
