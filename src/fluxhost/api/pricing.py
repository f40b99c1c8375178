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
- `cost`: `flat + per_output_mp * output_mp + per_input_mp * input_mp` from
  `Settings.prices[endpoint]` (or its `"*"` entry); None when no price applies, or when a
  per-megapixel price needs a figure that is None.

They are also stored on the task (`params[FIGURES_PARAM]`) so the usage record written when
the task finishes (store/usage.py) counts what the client was told."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fluxhost import catalog
from fluxhost.api.images import oriented_sizes
from fluxhost.planning import fit_size, kontext_image_size, plan
from fluxhost.settings import Price, Settings
from fluxhost.store.usage import FIGURES_PARAM

__all__ = ["FIGURES_PARAM", "Figures", "cost", "figures", "megapixels", "output_size"]


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
    if first is None:
        return None
    if p.megapixels:  # Kontext's editing: the image's aspect at Kontext's megapixels
        return kontext_image_size(*first, p.megapixels)
    if p.padding is not None:  # expand: the padded canvas, fitted
        (w, h), (top, bottom, left, right) = first, p.padding
        return fit_size(left + w + right, top + h + bottom)
    return fit_size(*first)


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
    record = catalog.find(endpoint)
    uncounted = record.uncounted_fields if record is not None else frozenset()
    input_mp = megapixels(sum(w * h for name, (w, h) in sizes.items() if name not in uncounted))
    size = output_size(endpoint, params, sizes, settings)
    output_mp = megapixels(size[0] * size[1]) if size is not None else None
    return Figures(input_mp, output_mp, cost(endpoint, input_mp, output_mp, settings.prices))
