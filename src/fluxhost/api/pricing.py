"""The figures a submit answer carries: `input_mp`, `output_mp` (megapixels, 2 decimal places,
as the contract describes them) and `cost` (credits, from the operator's price table).

- `input_mp`: the input images as decoded at submit (their pixel count; a fill's `mask` is
  not counted: it only marks the image's pixels). 0.0 when the request has none.
- `output_mp`: the size the worker will render, from the same functions the worker uses:
  `worker.jobs.plan` (width x height; ultra's and Kontext's aspect ratio at their megapixels)
  and, where the size follows an input image, the rules of `worker.requests.engine_request`
  with its helpers: `worker.inputs.fit_size` of the fill image, of the control (or
  preprocessed) image, of expand's padded canvas; `worker.jobs.kontext_image_size` of
  Kontext's first input image. None when the size cannot be known here.
- `cost`: `flat + per_output_mp * output_mp + per_input_mp * input_mp` from
  `Settings.prices[endpoint]` (or its `"*"` entry); None when no price applies, or when a
  per-megapixel price needs a figure that is None.

They are also stored on the task (`params[FIGURES_PARAM]`) so the usage record written when
the task finishes (store/usage.py) counts what the client was told."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fluxhost.api.images import oriented_sizes
from fluxhost.settings import Price, Settings
from fluxhost.store.usage import FIGURES_PARAM
from fluxhost.worker.inputs import fit_size
from fluxhost.worker.jobs import KONTEXT_IMAGE_FIELDS, kontext_image_size, plan

__all__ = ["FIGURES_PARAM", "Figures", "cost", "figures", "megapixels", "output_size"]

# Input fields that only qualify another image: not counted as input megapixels.
NOT_COUNTED = frozenset({"mask"})


@dataclass(frozen=True)
class Figures:
    input_mp: float | None
    output_mp: float | None
    cost: float | None

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def megapixels(pixels: int) -> float:
    """Pixels as megapixels, to 2 decimal places (the contract's precision)."""
    return round(pixels / 1_000_000, 2)


def image_sizes(images: dict[str, bytes]) -> dict[str, tuple[int, int]]:
    """Width and height of each (already checked) input image as the worker sees it (EXIF
    rotation applied). Submit has them from its decode (api/images.py); this is for callers
    holding only the bytes."""
    return oriented_sizes(images)


def output_size(endpoint: str, params: dict[str, Any], sizes: dict[str, tuple[int, int]],
                settings: Settings) -> tuple[int, int] | None:
    """The output size the worker will produce for this submission, or None if unknown."""
    try:
        p = plan(endpoint, params, settings)
    except (KeyError, ValueError, TypeError):
        return None
    if p.width and p.height:
        return p.width, p.height
    # The size follows an input image: worker/requests.py's rules, kind by kind.
    if p.kind == "kontext":
        first = next((sizes[n] for n in KONTEXT_IMAGE_FIELDS if n in sizes), None)
        return None if first is None else kontext_image_size(*first, p.megapixels)
    if p.kind == "fill" and p.padding is not None:  # expand: the padded canvas, fitted
        if "image" not in sizes:
            return None
        (w, h), (top, bottom, left, right) = sizes["image"], p.padding
        return fit_size(left + w + right, top + h + bottom)
    if p.kind == "fill":
        name = "image"
    elif p.kind in ("canny", "depth"):
        name = "preprocessed_image" if p.preprocessed else "control_image"
    else:
        return None
    return fit_size(*sizes[name]) if name in sizes else None


def cost(endpoint: str, input_mp: float | None, output_mp: float | None,
         prices: dict[str, Price]) -> float | None:
    price = prices.get(endpoint) or prices.get("*")
    if price is None:
        return None
    total = price.flat
    for rate, figure in ((price.per_output_mp, output_mp), (price.per_input_mp, input_mp)):
        if rate:
            if figure is None:
                return None
            total += rate * figure
    return round(total, 6)  # no float noise (0.1 + 0.2); credits may be fractional


def figures(endpoint: str, params: dict[str, Any], sizes: dict[str, tuple[int, int]],
            settings: Settings) -> Figures:
    """The figures of a submission: `params` as stored (seed drawn, input blobs set), `sizes`
    those of its input images as the worker sees them."""
    input_mp = megapixels(sum(w * h for name, (w, h) in sizes.items()
                              if name not in NOT_COUNTED))
    size = output_size(endpoint, params, sizes, settings)
    output_mp = megapixels(size[0] * size[1]) if size is not None else None
    return Figures(input_mp, output_mp, cost(endpoint, input_mp, output_mp, settings.prices))
