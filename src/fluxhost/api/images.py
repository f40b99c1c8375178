"""The input images of a submission, checked before anything is stored: base64, format, pixel
bounds from the header, then a full decode, so a truncated or corrupt image is a 422 naming its
field at submit rather than a 500 (or a task that fails later).

The decode is the costly part (a 4096x4096 PNG is ~0.3 s of CPU, and 58 KB of PNG can say
4096x4096), so it never runs on the event loop: `check_images` runs in a worker thread behind
`DecodeLimiter`, which bounds decodes in flight across the process and per key, so one key's
heavy submits queue behind each other instead of taking every thread. What a request may ask to
be decoded is bounded before any decoding starts: each image by MAX_IMAGE_PIXELS and the
request's images together by MAX_REQUEST_PIXELS, both from the headers.

An image given as a URL (the "base64 or URL" fields) arrives here already fetched
(api/imagefetch.py) and is checked from then on exactly as its base64 would be."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from PIL import Image

from fluxhost import catalog
from fluxhost.api.validation import decode_image, field_error, open_image
from fluxhost.wire import FinetuneFluxProFillInputs, GenerationInputs
from fluxhost.wire.base_inputs import (
    BaseGenerationInputs,
    CannyInputs,
    DepthInputs,
    FluxProExpandInputs,
    FluxProFillInputs,
)
from fluxhost.wire.flux2 import REFERENCE_MAX_ASPECT, REFERENCE_MIN_SIDE, Flux2BaseInputs

Inputs = GenerationInputs | BaseGenerationInputs | Flux2BaseInputs
T = TypeVar("T")

# Fields that the provider documents as "base64 or URL": URLs are fetched (api/imagefetch.py)
# unless IMAGE_URL_FETCH is off.
URL_FIELDS = frozenset(name for e in catalog.ENDPOINTS for name in e.url_fields)
URL_PREFIXES = ("http://", "https://")
NOT_FETCHED = "Value error, image URLs are not fetched by this server: send the image " \
    "base64-encoded"
# EXIF orientations that turn the image a quarter (the worker applies them: worker/inputs.py).
QUARTER_TURNS = frozenset({5, 6, 7, 8})
UNDECODABLE = "Value error, not a decodable image: the data is truncated or corrupt"


@dataclass(frozen=True)
class CheckedImage:
    raw: bytes
    size: tuple[int, int]  # as the worker sees it: EXIF rotation applied
    has_alpha: bool


def oriented_size(img: Image.Image) -> tuple[int, int]:
    w, h = img.size
    return (h, w) if img.getexif().get(0x0112) in QUARTER_TURNS else (w, h)


def image_urls(body: Inputs) -> dict[str, str]:
    """The body's images given as http(s) URLs, field -> URL, in field order."""
    return {name: value for name in catalog.IMAGE_FIELDS[type(body)] if name in URL_FIELDS
            and isinstance(value := getattr(body, name), str) and value.startswith(URL_PREFIXES)}


def check_images(body: Inputs, max_pixels: int, max_request_pixels: int,
                 fetched: Mapping[str, bytes | None] | None = None
                 ) -> tuple[dict[str, CheckedImage], list[dict[str, Any]]]:
    """The body's images, decoded and checked, or the 422 errors that refuse them. `fetched`
    holds what `imagefetch.fetch_urls` got for the URLs: bytes, or None where the fetch failed
    (its error is already reported); a URL missing from it is refused as not fetched. Blocking:
    call it through `DecodeLimiter.run`."""
    fetched = fetched or {}
    urls = image_urls(body)
    errors: list[dict[str, Any]] = []
    opened: dict[str, tuple[bytes, Image.Image]] = {}
    for name in catalog.IMAGE_FIELDS[type(body)]:
        value = getattr(body, name)
        if value is None or (name in fetched and fetched[name] is None):
            continue  # absent, or a URL whose fetch failed (reported with the fetch's errors)
        if name in urls:
            raw, img, err = _open_url_image(name, value, fetched.get(name), max_pixels)
        else:
            raw, img, err = decode_image(name, value, max_pixels)
        if err is not None:
            errors.append(err)
            continue
        assert img is not None
        opened[name] = (raw, img)
    errors += _check_request_pixels(opened, max_request_pixels)
    errors += _check_control_source(body)
    if errors or None in fetched.values():
        return {}, errors  # nothing is decoded for a request that is refused anyway
    checked: dict[str, CheckedImage] = {}
    for name, (raw, img) in opened.items():
        try:
            checked[name] = _decode(raw, img)
        except Exception:  # hostile bytes: Pillow raises OSError, ValueError, SyntaxError, ...
            errors.append(field_error(name, UNDECODABLE, "value_error", None))
    if errors:
        return {}, errors
    return checked, _check_combination(body, checked, max_pixels) + _check_references(
        body, checked)


def _open_url_image(name: str, url: str, raw: bytes | None, max_pixels: int
                    ) -> tuple[bytes, Image.Image | None, dict[str, Any] | None]:
    """A URL's fetched bytes opened as a base64 image's are; a URL not fetched is refused."""
    if raw is None:
        return b"", None, field_error(name, NOT_FETCHED, "value_error", url[:50])
    shown = url[:50] + ("..." if len(url) > 50 else "")
    return open_image(name, raw, max_pixels, shown,
                      not_an_image=f"Value error, could not fetch {name}: not an image "
                      "(png, jpeg or webp)")


def _decode(raw: bytes, img: Image.Image) -> CheckedImage:
    with img:
        img.load()  # every byte: truncation and corruption show here, not in the worker
        alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
        return CheckedImage(raw=raw, size=oriented_size(img), has_alpha=alpha)


def _check_request_pixels(opened: dict[str, tuple[bytes, Image.Image]],
                          limit: int) -> list[dict[str, Any]]:
    total = sum(img.width * img.height for _, img in opened.values())
    if total <= limit:
        return []
    names = ", ".join(opened)
    return [field_error(next(reversed(opened)), f"Value error, the request's images ({names}) "
                        f"have {total} pixels together, more than the limit of {limit}",
                        "value_error", None)]


def _check_control_source(body: Inputs) -> list[dict[str, Any]]:
    if isinstance(body, CannyInputs | DepthInputs) and body.control_image is None \
            and body.preprocessed_image is None:
        return [field_error("control_image", "Value error, control_image or preprocessed_image "
                            "is required", "value_error", None)]
    return []


def _check_combination(body: Inputs, images: dict[str, CheckedImage],
                       max_pixels: int) -> list[dict[str, Any]]:
    """What only the decoded images together can tell: a fill's mask, an expanded canvas."""
    errors = []
    if isinstance(body, FinetuneFluxProFillInputs | FluxProFillInputs) and "image" in images \
            and body.mask is None and not images["image"].has_alpha:
        errors.append(field_error(
            "mask", "Value error, a mask is required: the image has no alpha channel to take "
            "one from", "value_error", None))
    if "image" in images and "mask" in images and images["image"].size != images["mask"].size:
        (iw, ih), (mw, mh) = images["image"].size, images["mask"].size
        errors.append(field_error("mask", f"Value error, mask is {mw}x{mh} but image is "
                                  f"{iw}x{ih}; they must match", "value_error", None))
    if isinstance(body, FluxProExpandInputs) and "image" in images:
        width = images["image"].size[0] + (body.left or 0) + (body.right or 0)
        height = images["image"].size[1] + (body.top or 0) + (body.bottom or 0)
        if width * height > max_pixels:
            errors.append(field_error(
                "image", f"Value error, the expanded image would be {width}x{height} = "
                f"{width * height} pixels, more than the limit of {max_pixels}", "value_error",
                None))
    return errors


def _check_references(body: Inputs, images: dict[str, CheckedImage]) -> list[dict[str, Any]]:
    """FLUX.2's references as its pipelines take them (the worker would fail the task)."""
    if not isinstance(body, Flux2BaseInputs):
        return []
    errors = []
    for name, image in images.items():
        (w, h) = image.size
        if min(w, h) < REFERENCE_MIN_SIDE or max(w, h) > REFERENCE_MAX_ASPECT * min(w, h):
            errors.append(field_error(
                name, f"Value error, the reference image is {w}x{h}; FLUX.2 takes both sides "
                f"at least {REFERENCE_MIN_SIDE} px and aspect ratios up to "
                f"{REFERENCE_MAX_ASPECT}:1", "value_error", None))
    return errors


def oriented_sizes(images: dict[str, bytes]) -> dict[str, tuple[int, int]]:
    """Sizes of already checked images from their headers (tests and tools; submit has them
    from `check_images`)."""
    sizes = {}
    for name, raw in images.items():
        with Image.open(io.BytesIO(raw)) as img:
            sizes[name] = oriented_size(img)
    return sizes


class DecodeLimiter:
    """Bounds blocking image work in flight: `total` threads for the process, `per_key` of
    them for one key. A key over its share waits for its own earlier requests, not for the
    other keys'; nobody's poll waits at all (polls never come here)."""

    def __init__(self, total: int, per_key: int) -> None:
        self.total = total
        self.per_key = per_key
        self._limiter: anyio.CapacityLimiter | None = None
        self._keys: dict[Any, tuple[asyncio.Semaphore, int]] = {}

    async def run(self, key: Any, fn: Callable[..., T], *args: Any) -> T:
        if self._limiter is None:  # made in the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self.total)
        sem = self._enter(key)
        try:
            async with sem:
                return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)
        finally:
            self._leave(key)

    def _enter(self, key: Any) -> asyncio.Semaphore:
        sem, users = self._keys.get(key) or (asyncio.Semaphore(self.per_key), 0)
        self._keys[key] = (sem, users + 1)
        return sem

    def _leave(self, key: Any) -> None:
        sem, users = self._keys[key]
        if users <= 1:
            del self._keys[key]  # no entry outlives its last request
        else:
            self._keys[key] = (sem, users - 1)
