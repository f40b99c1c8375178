"""fluxhost.training.dataset: reading the training-image ZIP of `POST /v1/finetune`.

Every archive is built in memory; the zip bombs are written in streamed chunks so that these
tests stay fast and small however large the members claim to be.
"""

from __future__ import annotations

import gzip
import io
import shutil
import stat
import struct
import subprocess
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from fluxhost.training.dataset import (
    DatasetError,
    Limits,
    Sample,
    _read_member,
    read_zip,
)

MiB = 1024 * 1024

# --- building archives -------------------------------------------------------------------------


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (8, 8), color: object = (0, 128, 255), **save: object
) -> bytes:
    mode = "RGBA" if isinstance(color, tuple) and len(color) == 4 else "RGB"
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt, **save)  # type: ignore[arg-type]
    return buf.getvalue()


PNG = image_bytes()


def make_zip(
    members: Sequence[tuple[str | zipfile.ZipInfo, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def central_entries(data: bytes) -> dict[str, int]:
    """Offset of each member's central-directory record, by name."""
    (cd_size, cd_offset) = struct.unpack_from("<LL", data, data.rindex(b"PK\x05\x06") + 12)
    entries: dict[str, int] = {}
    pos = cd_offset
    while pos < cd_offset + cd_size:
        assert data[pos : pos + 4] == b"PK\x01\x02"
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        entries[data[pos + 46 : pos + 46 + name_len].decode()] = pos
        pos += 46 + name_len + extra_len + comment_len
    return entries


# Fields of a central-directory record: (offset in the record, struct format).
FLAGS, METHOD, FILE_SIZE = (8, "<H"), (10, "<H"), (24, "<L")


def patch_central(data: bytes, name: str, field: tuple[int, str], value: int) -> bytes:
    """`data` with one header field of member `name` rewritten in the central directory (the
    copy zipfile trusts), as a hostile uploader could."""
    patched = bytearray(data)
    offset, fmt = field
    struct.pack_into(fmt, patched, central_entries(data)[name] + offset, value)
    return bytes(patched)


def streamed_zeros_zip(name: str, size: int) -> bytes:
    """A zip whose one member is `size` zero bytes, deflated chunk by chunk."""
    buf = io.BytesIO()
    chunk = bytes(MiB)
    with (
        zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open(name, "w") as fh,
    ):
        for _ in range(size // MiB):
            fh.write(chunk)
    return buf.getvalue()


def refused(data: bytes, limits: Limits = Limits()) -> str:
    with pytest.raises(DatasetError) as caught:
        read_zip(data, limits)
    return str(caught.value)


# --- the happy path ----------------------------------------------------------------------------


def test_good_zip_reads_sorted_rgb_samples_with_captions_and_exif_applied() -> None:
    # 40x20, red left half / blue right half, stored with EXIF "rotate 90 clockwise to view".
    landscape = Image.new("RGB", (40, 20), (255, 0, 0))
    landscape.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    landscape.save(buf, "JPEG", exif=exif, quality=95)
    data = make_zip(
        [
            ("sub/", b""),
            ("sub/c.webp", image_bytes("WEBP", (6, 6), (0, 255, 0))),
            ("b.png", image_bytes("PNG", (8, 8), (10, 20, 30, 0))),  # fully transparent
            ("b.txt", b"  a photo of sks dog\n"),
            ("a.jpg", buf.getvalue()),
            ("a.txt", "\ufeffcafé au lait".encode()),  # BOM from a Windows editor
            ("orphan.txt", b"nobody's caption"),
            ("notes.md", b"# ignored"),
            ("__MACOSX/._a.jpg", b"\x00\x05\x16\x07" + bytes(100)),
            (".DS_Store", bytes(4096)),
        ]
    )

    samples = read_zip(data)

    assert [s.name for s in samples] == ["a.jpg", "b.png", "sub/c.webp"]
    assert [s.caption for s in samples] == ["café au lait", "a photo of sks dog", None]
    assert all(isinstance(s, Sample) and s.image.mode == "RGB" for s in samples)
    rotated = samples[0].image
    assert rotated.size == (20, 40)  # EXIF orientation applied: now portrait
    top, bottom = rotated.getpixel((10, 5)), rotated.getpixel((10, 35))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60  # the red half went to the top
    assert bottom[2] > 200 and bottom[0] < 60
    assert samples[1].image.getpixel((0, 0)) == (255, 255, 255)  # transparency -> white
    assert samples[2].image.size == (6, 6)


def test_extensions_are_case_insensitive_and_empty_caption_means_none() -> None:
    data = make_zip([("IMG.PNG", PNG), ("IMG.txt", b"  \n"), ("x/Y.JPEG", image_bytes("JPEG"))])
    samples = read_zip(data)
    assert [(s.name, s.caption) for s in samples] == [("IMG.PNG", None), ("x/Y.JPEG", None)]


def test_caption_must_sit_beside_its_image() -> None:
    data = make_zip([("a/x.png", PNG), ("x.txt", b"wrong folder"), ("a/x.txt", b"right")])
    assert read_zip(data)[0].caption == "right"


# --- refusals: the archive itself --------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not a zip at all", make_zip([("a.png", PNG)])[:40]],
                         ids=["empty", "text", "truncated"])
def test_not_a_zip(data: bytes) -> None:
    assert refused(data) == "upload is not a valid ZIP archive"


def test_empty_zip() -> None:
    assert "no usable image" in refused(make_zip([]))


def test_captions_only() -> None:
    message = refused(make_zip([("a.txt", b"caption"), ("b.txt", b"another")]))
    assert message.startswith("archive contains no usable image")


def test_too_many_images() -> None:
    tiny = image_bytes(size=(1, 1))
    message = refused(make_zip([(f"img{i:02}.png", tiny) for i in range(21)]))
    assert message == "archive contains 21 images; at most 20 are allowed"


def test_too_many_members() -> None:
    data = make_zip([("a.png", PNG)] + [(f"n{i}.md", b"") for i in range(5)])
    assert refused(data, Limits(max_members=5)) == "archive has more than 5 entries"
    assert len(read_zip(data, Limits(max_members=6))) == 1


def test_duplicate_member_names() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = make_zip([("a.png", PNG), ("a.png", PNG)])
    assert refused(data) == "zip member 'a.png' appears more than once in the archive"


# --- refusals: member names and kinds ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../a.png", "zip member '../a.png' escapes the archive root"),
        ("x/../../a.png", "zip member 'x/../../a.png' escapes the archive root"),
        ("/abs.png", "zip member '/abs.png' escapes the archive root (absolute path)"),
        ("C:/win.png", "zip member 'C:/win.png' escapes the archive root (absolute path)"),
        (
            "a\\..\\b.png",
            "zip member 'a\\..\\b.png' uses backslashes in its path (only '/' is allowed)",
        ),
        ("a//b.png", "zip member 'a//b.png' has an invalid path"),
        ("./a.png", "zip member './a.png' has an invalid path"),
        ("a\nb.png", "zip member 'a\\nb.png' has an invalid path"),
    ],
)
def test_zip_slip_and_odd_names(name: str, message: str) -> None:
    assert refused(make_zip([("ok.png", PNG), (name, PNG)])) == message


def test_unsafe_names_are_refused_even_for_skipped_members() -> None:
    data = make_zip([("ok.png", PNG), ("__MACOSX/../../evil.txt", b"x")])
    assert "escapes the archive root" in refused(data)


@pytest.mark.parametrize("name", ["inner.zip", "photos.tar.gz", "x.7z", "X.RAR"])
def test_nested_archive_by_name(name: str) -> None:
    data = make_zip([("ok.png", PNG), (name, make_zip([("a.png", PNG)]))])
    assert refused(data) == f"zip member '{name}' is a nested archive"


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("sneaky.png", make_zip([("a.png", PNG)])),
        ("sneaky.png", gzip.compress(PNG, mtime=0)),
        ("data.bin", make_zip([("a.png", PNG)])),  # a file we would otherwise skip
    ],
    ids=["zip-as-png", "gzip-as-png", "zip-as-bin"],
)
def test_nested_archive_by_magic(name: str, payload: bytes) -> None:
    data = make_zip([("ok.png", PNG), (name, payload)])
    assert refused(data) == f"zip member '{name}' is a nested archive"


def test_symlink_member() -> None:
    link = zipfile.ZipInfo("link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = make_zip([("ok.png", PNG), (link, b"/etc/passwd")])
    assert refused(data) == "zip member 'link.png' is a symbolic link"


def test_encrypted_flag() -> None:
    data = patch_central(make_zip([("a.png", PNG)]), "a.png", FLAGS, 0x1)
    assert refused(data) == "zip member 'a.png' is encrypted"


@pytest.mark.skipif(shutil.which("zip") is None, reason="needs the Info-ZIP `zip` command")
def test_really_encrypted_member(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    subprocess.run(
        ["zip", "-q", "-P", "secret", "out.zip", "a.png"], cwd=tmp_path, check=True, timeout=30
    )
    assert refused((tmp_path / "out.zip").read_bytes()) == "zip member 'a.png' is encrypted"


def test_unsupported_compression_method() -> None:
    data = patch_central(make_zip([("a.png", PNG)]), "a.png", METHOD, 6)  # "imploded"
    assert refused(data) == "zip member 'a.png' uses an unsupported compression method"


# --- refusals: sizes and zip bombs -------------------------------------------------------------


def test_zip_bomb_over_the_member_size_bound() -> None:
    data = streamed_zeros_zip("bomb.png", 100 * MiB)
    assert len(data) < 200 * 1024
    message = refused(data)
    assert message == (
        f"zip member 'bomb.png' is {100 * MiB} bytes uncompressed; "
        f"at most {64 * MiB} are allowed per file"
    )


def test_zip_bomb_over_the_compression_ratio() -> None:
    data = streamed_zeros_zip("bomb.png", 10 * MiB)  # under the size bound, ratio ~1000:1
    message = refused(data)
    assert message.startswith(f"zip member 'bomb.png' compresses {10 * MiB} bytes into ")
    assert message.endswith("(more than 200:1): refusing a likely zip bomb")


def test_total_uncompressed_bound() -> None:
    big = image_bytes(size=(64, 64), compress_level=0)  # ~12 KiB, incompressible enough
    data = make_zip([("a.png", big), ("b.png", big)], compression=zipfile.ZIP_STORED)
    message = refused(data, Limits(max_total_uncompressed=len(big) + 10))
    assert message == f"archive unpacks to more than {len(big) + 10} bytes (at zip member 'b.png')"


def test_overlapping_members() -> None:
    """The "non-recursive" zip bomb: two central-directory records pointing at one member."""
    data = make_zip([("a.png", PNG)])
    record_at = central_entries(data)["a.png"]
    end = data.rindex(b"PK\x05\x06")
    record = data[record_at:end]
    twin = record.replace(b"a.png", b"b.png")
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 2, 2, 2 * len(record), record_at, 0)
    message = refused(data[:record_at] + record + twin + eocd)
    assert message == "zip members 'a.png' and 'b.png' overlap: refusing a likely zip bomb"


def test_header_declaring_less_than_the_data() -> None:
    data = make_zip([("a.png", image_bytes(size=(64, 64)))])
    lying = patch_central(data, "a.png", FILE_SIZE, 100)
    assert refused(lying) == "zip member 'a.png' is corrupt (CRC check failed)"


def test_header_declaring_more_than_the_data() -> None:
    real = image_bytes(size=(16, 16))
    lying = patch_central(make_zip([("a.png", real)]), "a.png", FILE_SIZE, len(real) + 1000)
    assert refused(lying) == (
        f"zip member 'a.png' is corrupt: {len(real)} bytes instead of the "
        f"{len(real) + 1000} its header declares"
    )


def test_reading_stops_at_the_bounds_whatever_the_header_says() -> None:
    """_read_member enforces the bounds on the decompressor's output, not on the header."""
    data = streamed_zeros_zip("z.bin", 4 * MiB)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("z.bin")
        generous = Limits(max_ratio=1e9)
        with pytest.raises(DatasetError, match="is more than 1048576 bytes uncompressed"):
            _read_member(zf, info, Limits(max_member_uncompressed=MiB, max_ratio=1e9))
        with pytest.raises(DatasetError, match="archive unpacks to more than"):
            _read_member(zf, info, generous, used=generous.max_total_uncompressed - MiB)
        with pytest.raises(DatasetError, match="decompresses to more than 200 times"):
            _read_member(zf, info, Limits())
        assert len(_read_member(zf, info, generous)) == 4 * MiB


def test_corrupt_member_data() -> None:
    data = bytearray(make_zip([("a.png", image_bytes(size=(64, 64)))]))
    # Flip bytes in the middle of the deflated data, past the 30+5 byte local header.
    for i in range(60, 80):
        data[i] ^= 0xFF
    assert refused(bytes(data)).startswith("zip member 'a.png' is corrupt")


# --- refusals: images and captions -------------------------------------------------------------


def test_image_over_the_pixel_bound() -> None:
    buf = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buf, "PNG")  # 25 Mpx, but a few KiB as a 1-bit PNG
    data = make_zip([("huge.png", buf.getvalue())])
    assert refused(data) == (
        f"image 'huge.png' is 5000x5000 pixels; at most {4096 * 4096} pixels are allowed"
    )


def test_pixel_bound_from_limits() -> None:
    data = make_zip([("a.png", image_bytes(size=(10, 10)))])
    assert "at most 99 pixels" in refused(data, Limits(max_pixels=99))


@pytest.mark.parametrize(
    "payload",
    [
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 20,  # PNG signature, broken chunks
        image_bytes(size=(64, 64))[:-200],  # truncated PNG
        b"hello, I am text",
        image_bytes("GIF"),  # a real image, but not an allowed format
    ],
)
def test_undecodable_image(payload: bytes) -> None:
    message = refused(make_zip([("bad.png", payload)]))
    assert message.startswith("image 'bad.png' cannot be decoded as JPEG, PNG or WebP")


def test_caption_not_utf8() -> None:
    data = make_zip([("a.png", PNG), ("a.txt", "légende".encode("latin-1"))])
    assert refused(data) == "caption 'a.txt' is not valid UTF-8 (at byte 1)"


def test_caption_too_long() -> None:
    data = make_zip([("a.png", PNG), ("a.txt", b"x" * 2001)])
    assert refused(data) == "caption 'a.txt' is 2001 characters long; at most 2000 are allowed"


def test_two_captions_for_one_image() -> None:
    data = make_zip([("a.png", PNG), ("a.txt", b"one"), ("a.TXT", b"two")])
    assert refused(data) == "zip members 'a.txt' and 'a.TXT' both caption the same image"
