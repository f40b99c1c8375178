"""The twenty-four generation endpoints: the five of finetune-api.openapi.json, the ten of
base-api.openapi.json, the seven of flux2-api.openapi.json, then the two klein -finetuned ones
(FLUX2-API-SOURCES.md, LoRA serving), in the order their routes are served (and /openapi.json
lists them).

Summaries and descriptions are the contracts' verbatim; tags are the provider's ("Models" for
the current base operations and FLUX.2, "Tasks" for the finetune family and the three base
operations rebuilt from older pages, which also have no operationId there: FastAPI's
convention is used, as contract/BASE-API-SOURCES.md expects)."""

from __future__ import annotations

from fluxhost.catalog.extras import canny_thresholds, expand_padding, ultra_image_prompt
from fluxhost.catalog.record import Endpoint
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
from fluxhost.wire.flux2 import IMAGE_FIELDS as FLUX2_IMAGE_FIELDS
from fluxhost.wire.flux2 import KLEIN_IMAGE_FIELDS, Flux2FlexInputs, Flux2Inputs, Flux2KleinInputs
from fluxhost.wire.flux2_finetuned import KLEIN_BASES, Flux2KleinFinetunedInputs
from fluxhost.wire.inputs import (
    FinetuneCannyInputs,
    FinetuneDepthInputs,
    FinetuneFluxProFillInputs,
    FinetuneFluxUltraInput,
    FluxProFinetuneInputs,
)

KONTEXT_IMAGE_FIELDS = ("input_image", "input_image_2", "input_image_3", "input_image_4")
_PROMPT = ("image_prompt",)
_FILL = ("image", "mask")
_CONTROL = ("control_image", "preprocessed_image")
_CONTROL_SIZE = ("preprocessed_image", "control_image")  # a preprocessed image wins when given
_MASK = frozenset({"mask"})
_FILL_DESCRIPTION = ("using an input image and mask. Mask can be applied to alpha channel or "
                     "submitted as a separate image.")

FINETUNED = (
    Endpoint(
        "flux-pro-finetuned", FluxProFinetuneInputs, "base", "request",
        "Generate an image with FLUX.1 [pro] finetune",
        "Submits an image generation task with FLUX.1 [pro] using a finetune.",
        "flux_pro_finetuned_v1_flux_pro_finetuned_post",
        image_fields=_PROMPT,
    ),
    Endpoint(
        "flux-pro-1.1-ultra-finetuned", FinetuneFluxUltraInput, "base", "ultra",
        "Generate an image with FLUX 1.1 [pro] finetune with ultra mode.",
        "Submits an image generation task with FLUX 1.1 [pro] finetune with ultra mode.",
        "generate_bigblue_finetuned_v1_flux_pro_1_1_ultra_finetuned_post",
        image_fields=_PROMPT, extras=ultra_image_prompt,
    ),
    Endpoint(
        "flux-pro-1.0-fill-finetuned", FinetuneFluxProFillInputs, "fill", "input",
        "Generate an image with FLUX.1 Fill [pro] finetune using an input image and mask.",
        f"Submits an image generation task with the FLUX.1 Fill [pro] finetune model "
        f"{_FILL_DESCRIPTION}",
        "flux_pro_1_0_fill_finetuned_v1_flux_pro_1_0_fill_finetuned_post",
        image_fields=_FILL, uncounted_fields=_MASK, size_from=("image",),
    ),
    Endpoint(
        "flux-pro-1.0-canny-finetuned", FinetuneCannyInputs, "canny", "input",
        "Generate an image with FLUX.1 Canny [pro] finetune using a control image.",
        "Submits an image generation task with FLUX.1 Canny [pro] finetune.",
        "flux_pro_1_0_canny_finetuned_v1_flux_pro_1_0_canny_finetuned_post",
        image_fields=("control_image",), size_from=("control_image",),
        extras=canny_thresholds,
    ),
    Endpoint(
        "flux-pro-1.0-depth-finetuned", FinetuneDepthInputs, "depth", "input",
        "Generate an image with FLUX.1 Depth [pro] finetune using a control image.",
        "Submits an image generation task with FLUX.1 Depth [pro] finetune.",
        "flux_pro_1_0_depth_finetuned_v1_flux_pro_1_0_depth_finetuned_post",
        image_fields=("control_image",), size_from=("control_image",),
    ),
)


def _kontext(tier: str) -> Endpoint:
    return Endpoint(
        f"flux-kontext-{tier}", FluxKontextProInputs, "kontext", "kontext",
        f"Create an image with FLUX.1 Kontext [{tier}] (legacy, use FLUX.2 [PRO] for editing)",
        f"Submits an image creation task with FLUX.1 Kontext [{tier}]. For image editing, "
        "prefer FLUX.2 [PRO] (/flux-2-pro) or FLUX.2 [FLEX] (/flux-2-flex) which are the "
        "recommended default models for editing workflows.",
        f"generate_flux_kontext_{tier}_v1_flux_kontext_{tier}_post",
        tag="Models", image_fields=KONTEXT_IMAGE_FIELDS,
        url_fields=frozenset(KONTEXT_IMAGE_FIELDS), size_from=KONTEXT_IMAGE_FIELDS,
        output_format="png",
    )


BASE = (
    Endpoint(
        # No steps or guidance fields: FLUX.1 [dev] at flux-dev's defaults.
        "flux-pro-1.1", FluxPro11Inputs, "base", "request",
        "Generate an image with FLUX 1.1 [pro].",
        "Submits an image generation task with FLUX 1.1 [pro].",
        "flux_pro_1_1_v1_flux_pro_1_1_post",
        tag="Models", image_fields=_PROMPT, steps_guidance=(28, 3.0),
    ),
    Endpoint(
        "flux-pro", FluxProInputs, "base", "request",
        "Generate an image with FLUX.1 [pro].",
        "Submits an image generation task with FLUX.1 [pro].",
        "flux_pro_v1_flux_pro_post",
        image_fields=_PROMPT, steps_guidance=(40, 2.5),
    ),
    Endpoint(
        "flux-dev", FluxDevInputs, "base", "request",
        "Generate an image with FLUX.1 [dev].",
        "Submits an image generation task with FLUX.1 [dev].",
        "flux_dev_v1_flux_dev_post",
        tag="Models", image_fields=_PROMPT, steps_guidance=(28, 3.0),
    ),
    Endpoint(
        "flux-pro-1.1-ultra", FluxUltraInput, "base", "ultra",
        "Generate an image with FLUX 1.1 [pro] with ultra mode and optional raw mode.",
        "Submits an image generation task with FLUX 1.1 [pro] with ultra mode and optional raw "
        "mode.",
        "generate_flux_1_1_ultra_v1_flux_pro_1_1_ultra_post",
        tag="Models", image_fields=_PROMPT, extras=ultra_image_prompt,
    ),
    Endpoint(
        "flux-pro-1.0-fill", FluxProFillInputs, "fill", "input",
        "Generate an image with FLUX.1 Fill [pro] using an input image and mask.",
        f"Submits an image generation task with the FLUX.1 Fill [pro] model {_FILL_DESCRIPTION}",
        "fill_v1_flux_pro_1_0_fill_post",
        tag="Models", image_fields=_FILL, uncounted_fields=_MASK, size_from=("image",),
        steps_guidance=(50, 60.0),
    ),
    Endpoint(
        # Sized by the padded canvas of its image (`expand_padding`), fitted.
        "flux-pro-1.0-expand", FluxProExpandInputs, "fill", "input",
        "Expand an image by adding pixels on any side.",
        "Submits an image expansion task that adds the specified number of pixels to any "
        "combination of sides (top, bottom, left, right) while maintaining context.",
        "expand_v1_flux_pro_1_0_expand_post",
        tag="Models", image_fields=("image",), size_from=("image",),
        steps_guidance=(50, 60.0), extras=expand_padding,
    ),
    Endpoint(
        "flux-pro-1.0-canny", CannyInputs, "canny", "input",
        "Generate an image with FLUX.1 Canny [pro] using a control image.",
        "Submits an image generation task with FLUX.1 Canny [pro].",
        "canny_v1_flux_pro_1_0_canny_post",
        image_fields=_CONTROL, size_from=_CONTROL_SIZE, steps_guidance=(50, 30.0),
        extras=canny_thresholds,
    ),
    Endpoint(
        "flux-pro-1.0-depth", DepthInputs, "depth", "input",
        "Generate an image with FLUX.1 Depth [pro] using a control image.",
        "Submits an image generation task with FLUX.1 Depth [pro].",
        "depth_v1_flux_pro_1_0_depth_post",
        image_fields=_CONTROL, size_from=_CONTROL_SIZE, steps_guidance=(50, 15.0),
    ),
    _kontext("pro"),
    _kontext("max"),
)



def _flux2(name: str, model: type[Flux2Inputs | Flux2FlexInputs | Flux2KleinInputs], kind: str,
           label: str, summary_note: str, description: str, price: tuple[float, float],
           operation: str | None = None) -> Endpoint:
    """A FLUX.2 endpoint: references in input_image, input_image_2, ... (base64; a URL is
    refused, as on Kontext), sized by `planning.flux2_size`, priced per megapixel."""
    images = KLEIN_IMAGE_FIELDS if model is Flux2KleinInputs else FLUX2_IMAGE_FIELDS
    snake = (operation or name).replace("-", "_")
    return Endpoint(
        name, model, kind, "flux2",
        f"Generate or edit an image with {label} ({summary_note})",
        f"Submits an image generation or editing task with {description}",
        f"generate_{snake}_v1_{name.replace('-', '_')}_post",
        tag="Models", image_fields=images, url_fields=frozenset(images), size_from=images,
        steps_guidance=(50, 5.0) if model is Flux2FlexInputs else None, megapixel_price=price,
    )


# The provider's prices (contract/FLUX2-API-SOURCES.md, "Pricing"), in credits (cents): the
# first output megapixel, then each further output and each input megapixel. The previews are
# priced as what they preview. Flex is flat per megapixel at 6: its price list (bfl.ai/pricing)
# and the resellers that pass it on say 6, an older docs table 5; the higher figure never
# under-reports what the provider would charge.
PRO_PRICE, MAX_PRICE, FLEX_PRICE = (3.0, 1.5), (7.0, 3.0), (6.0, 6.0)
KLEIN_4B_PRICE, KLEIN_9B_PRICE = (1.4, 0.1), (1.5, 0.2)

FLUX2 = (
    _flux2("flux-2-pro", Flux2Inputs, "flux2-dev", "FLUX.2 [PRO]", "recommended for editing",
           "FLUX.2 [PRO]. This is the recommended default model for image editing and "
           "generation. Supports text-to-image and image-to-image editing workflows.",
           PRO_PRICE),
    _flux2("flux-2-pro-preview", Flux2Inputs, "flux2-dev", "FLUX.2 [PRO] Preview",
           "recommended for editing",
           "FLUX.2 [PRO] Preview. This is a recommended model for image editing and generation.",
           PRO_PRICE),
    _flux2("flux-2-max", Flux2Inputs, "flux2-dev", "FLUX.2 [MAX]", "highest quality",
           "FLUX.2 [MAX]. Highest quality FLUX.2 model for image generation and editing.",
           MAX_PRICE),
    _flux2("flux-2-flex", Flux2FlexInputs, "flux2-dev", "FLUX.2 [FLEX]", "recommended for editing",
           "FLUX.2 [FLEX]. This is a recommended model for image editing and generation. "
           "Supports flexible text-to-image and image-to-image editing workflows.",
           FLEX_PRICE),
    _flux2("flux-2-klein-4b", Flux2KleinInputs, "klein-4b", "FLUX.2 [Klein 4B]", "fastest editing",
           "FLUX.2 [Klein 4B]. Fastest, most lightweight model for image generation and "
           "editing.", KLEIN_4B_PRICE),
    _flux2("flux-2-klein-9b", Flux2KleinInputs, "klein-9b", "FLUX.2 [Klein 9B]", "fast editing",
           "FLUX.2 [Klein 9B]. Fast, lightweight model for image generation and editing.",
           KLEIN_9B_PRICE),
    _flux2("flux-2-klein-9b-preview", Flux2KleinInputs, "klein-9b-kv", "FLUX.2 [Klein 9B KV]",
           "fast editing with caching",
           "FLUX.2 [Klein 9B] with KV caching for improved performance.", KLEIN_9B_PRICE,
           operation="flux-2-klein-9b-kv"),
)



def _klein_finetuned(base: str, label: str, price: tuple[float, float]) -> Endpoint:
    """A klein base with a LoRA uploaded for it (fluxhost's words: the provider's copy of its
    LoRA page has no route documentation); priced as its base endpoint."""
    name = KLEIN_BASES[base]
    return Endpoint(
        name, Flux2KleinFinetunedInputs, base, "flux2",
        f"Generate or edit an image with {label} and a LoRA",
        f"Submits an image generation or editing task with {label} and a LoRA uploaded for "
        "it, named by finetune_id, at finetune_strength.",
        f"generate_{name.replace('-', '_')}_v1_{name.replace('-', '_')}_post",
        tag="Models", image_fields=KLEIN_IMAGE_FIELDS, url_fields=frozenset(KLEIN_IMAGE_FIELDS),
        size_from=KLEIN_IMAGE_FIELDS, megapixel_price=price,
    )


# The klein -finetuned endpoints that map onto open checkpoints (4B and 9B). No KV variant: its
# route is not in the provider's stored copy, and a 9B LoRA runs on klein-9b already.
KLEIN_FINETUNED = (
    _klein_finetuned("klein-4b", "FLUX.2 [Klein 4B]", KLEIN_4B_PRICE),
    _klein_finetuned("klein-9b", "FLUX.2 [Klein 9B]", KLEIN_9B_PRICE),
)

ENDPOINTS: tuple[Endpoint, ...] = (*FINETUNED, *BASE, *FLUX2, *KLEIN_FINETUNED)
# The endpoints `serve --dev`'s first-request printout tries, in order: plain text to image,
# no input image, no finetune.
FIRST_REQUEST = ("flux-dev", "flux-pro-1.1", "flux-pro")
# The finetuned text-to-image endpoint: the dev finetune's example, and the endpoint of the
# CLI's earlier form (`generate --finetune-id X`).
FINETUNED_TEXT_TO_IMAGE = "flux-pro-finetuned"
