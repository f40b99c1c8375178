"""The figures a submit answer carries: `input_mp`, `output_mp` (megapixels, 2 decimal places,
as the contract describes them) and `cost` (credits, from the operator's price table).

- `input_mp`: the input images as decoded at submit (their pixel count; the fields the catalog
  marks uncounted are not, e.g. a fill's `mask`: it only marks the image's pixels). 0.0 when
  the request has none.
- `output_mp`: the size the worker will render, from the same plan the worker runs
  (`fluxhost.planning.plan`: width x height; ultra's and Kontext's aspect ratio at their
  megapixels) and, where the size follows an input image, from the first of the endpoint's
  catalog `size_from` images given, by the rules of `worker.requests.engine_request`: the
  image fitted (`planning.fit_size`), expand's padded canvas fitted, Kontext's at its aspect
  (`planning.kontext_image_size`). None when the size cannot be known here.
- `cost`: by the endpoint's price (`price_for`): the operator's `Settings.prices[endpoint]`
  (or its `"*"` entry), else the catalog's built-in one (the FLUX.2 endpoints': the provider's
  table), else none (None). A price without `first_mp` is linear in the reported figures:
  `flat + per_output_mp * output_mp + per_input_mp * input_mp`. One with `first_mp` is billed
  as the provider bills FLUX.2: in whole megapixels of 1024 x 1024 pixels, rounded up, each
  image on its own (at least one each): `flat + first_mp + per_output_mp * (output MPs - 1) +
  per_input_mp * (each input image's MPs)`. None when a per-megapixel price needs a figure
  that is None.

They are also stored on the task (`params[FIGURES_PARAM]`) so the usage record written when
the task finishes (store/usage.py) counts what the client was told."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fluxhost import catalog
from fluxhost.api.images import oriented_sizes
from fluxhost.planning import fit_size, flux2_size, kontext_image_size, plan
from fluxhost.settings import Price, Settings
from fluxhost.store.usage import FIGURES_PARAM

__all__ = ["FIGURES_PARAM", "Figures", "billed_megapixels", "cost", "figures", "megapixels",
           "output_size", "price_for"]

# The provider's billing megapixel (FLUX.2): a 1024 x 1024 image is one.
BILLED_MEGAPIXEL = 1024 * 1024


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
    record = catalog.find(endpoint)
    try:
        p = plan(endpoint, params, settings)
    except (KeyError, ValueError, TypeError):
        return None
    if p.width and p.height:
        return p.width, p.height
    # The size follows an input image: worker/requests.py's rules.
    first = next((sizes[n] for n in record.size_from if n in sizes), None) if record else None
    if first is None or record is None:
        return None
    if record.sizing == "flux2":  # a side left to the model: the first reference decides
        return flux2_size(p.width, p.height, first)
    if p.megapixels:  # Kontext's editing: the image's aspect at Kontext's megapixels
        return kontext_image_size(*first, p.megapixels)
    if p.padding is not None:  # expand: the padded canvas, fitted
        (w, h), (top, bottom, left, right) = first, p.padding
        return fit_size(left + w + right, top + h + bottom)
    return fit_size(*first)


def price_for(endpoint: str, prices: dict[str, Price]) -> Price | None:
    """The operator's price of `endpoint` (its FLUXHOST_PRICES entry, else the `"*"` one), else
    its built-in one (the catalog's `megapixel_price`), else None."""
    price = prices.get(endpoint) or prices.get("*")
    if price is not None:
        return price
    record = catalog.find(endpoint)
    if record is None or record.megapixel_price is None:
        return None
    first, further = record.megapixel_price
    return Price(flat=0.0, first_mp=first, per_output_mp=further, per_input_mp=further)


def billed_megapixels(pixels: int) -> int:
    """One image's megapixels as the provider bills FLUX.2: whole ones of 1024 x 1024 pixels,
    rounded up, at least one."""
    return max(1, -(-pixels // BILLED_MEGAPIXEL))


def cost(price: Price, output_pixels: int | None, input_pixels: list[int]) -> float | None:
    """What a submission costs by `price`, from its output's pixels (None: unknown) and each
    counted input image's (see the module's docstring)."""
    total = price.flat
    if price.first_mp is not None:  # billed in whole megapixels, image by image
        if output_pixels is None:
            return None
        total += price.first_mp + price.per_output_mp * (billed_megapixels(output_pixels) - 1)
        total += price.per_input_mp * sum(map(billed_megapixels, input_pixels))
        return round(total, 6)
    output_mp = megapixels(output_pixels) if output_pixels is not None else None
    for rate, figure in ((price.per_output_mp, output_mp),
                         (price.per_input_mp, megapixels(sum(input_pixels)))):
        if rate:
            if figure is None:
                return None
            total += rate * figure
    return round(total, 6)  # no float noise (0.1 + 0.2); credits may be fractional


def figures(endpoint: str, params: dict[str, Any], sizes: dict[str, tuple[int, int]],
            settings: Settings) -> Figures:
    """The figures of a submission: `params` as stored (seed drawn, input blobs set), `sizes`
    those of its input images as the worker sees them."""
    record = catalog.find(endpoint)
    uncounted = record.uncounted_fields if record is not None else frozenset()
    inputs = [w * h for name, (w, h) in sizes.items() if name not in uncounted]
    size = output_size(endpoint, params, sizes, settings)
    output = size[0] * size[1] if size is not None else None
    price = price_for(endpoint, settings.prices)
    return Figures(megapixels(sum(inputs)), megapixels(output) if output is not None else None,
                   cost(price, output, inputs) if price is not None else None)
