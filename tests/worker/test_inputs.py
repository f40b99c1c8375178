"""Input images for the engine: masks, alpha, EXIF orientation, output sizes."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from fluxhost.worker.inputs import InputError, fill_mask, fit_size, open_image


def encode(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_mask_is_binarized_white_repaints() -> None:
    image = Image.new("RGB", (8, 8))
    mask = Image.new("L", (8, 8), 0)
    mask.putpixel((1, 1), 255)
    mask.putpixel((2, 2), 130)  # grey at or above half: repaint
    mask.putpixel((3, 3), 120)  # grey below half: keep
    out = fill_mask(image, mask)
    assert (out.getpixel((1, 1)), out.getpixel((2, 2)), out.getpixel((3, 3))) == (255, 255, 0)
    assert set(out.getdata()) == {0, 255}


def test_mask_from_alpha_transparent_repaints() -> None:
    image = Image.new("RGBA", (8, 8), (10, 10, 10, 255))
    image.putpixel((4, 4), (0, 0, 0, 0))
    out = fill_mask(image, None)
    assert out.getpixel((4, 4)) == 255 and out.getpixel((0, 0)) == 0


@pytest.mark.parametrize(("image", "mask", "message"), [
    (Image.new("RGB", (8, 8)), None, "no alpha channel"),
    (Image.new("RGB", (8, 8)), Image.new("L", (8, 8), 0), "blank"),
    (Image.new("RGBA", (8, 8), (1, 1, 1, 255)), None, "blank"),
    (Image.new("RGB", (8, 8)), Image.new("L", (4, 8), 255), "must match"),
])
def test_bad_masks_are_input_errors(image: Image.Image, mask: Image.Image | None,
                                    message: str) -> None:
    with pytest.raises(InputError, match=message):
        fill_mask(image, mask)


@pytest.mark.parametrize(("size", "expected"), [
    ((1024, 768), (1024, 768)),
    ((2880, 1440), (1440, 720)),  # scaled into the API's bounds
    ((100, 100), (256, 256)),  # scaled up to the minimum
    ((1000, 750), (1008, 752)),  # rounded to multiples of 16
    ((5000, 200), (1440, 256)),  # extreme aspect: clamped on both sides
])
def test_fit_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    w, h = fit_size(*size)
    assert (w, h) == expected
    assert w % 16 == 0 and h % 16 == 0


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    out = open_image(encode(img, "JPEG", exif=exif), "image")
    assert out.size == (20, 40)


def test_corrupt_image_is_an_input_error() -> None:
    data = encode(Image.new("RGB", (64, 64)))
    with pytest.raises(InputError, match="image: not a decodable image"):
        open_image(data[: len(data) // 2], "image")
